/* cocoonctl: look at what the cocoon shim would do, without doing it.
 *
 *   cocoonctl render        the libvirt domain XML for a config, sandbox id and annotations
 *   cocoonctl config dump   the effective configuration, drop-ins applied
 *   cocoonctl initdata      init-data digests and reference values, the annotation, a check
 *   cocoonctl install       cocoon's runtimes registered in containerd's config
 *   cocoonctl check         is this node ready for pods with a configuration
 *
 * Errors go to stderr as "cocoonctl: <message>" with exit status 1; usage errors exit 2. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "annotations/initdata-ref.h"
#include "annotations/initdata.h"
#include "annotations/overrides.h"
#include "cmd/cocoonctl-node.h"
#include "lib/cleanup.h"
#include "lib/error.h"
#include "lib/xalloc.h"
#include "node/containerd-install.h"
#include "shim/config.h"
#include "shim/sandbox-vm.h"
#include "vmm/domain-xml.h"

#define EXIT_USAGE 2
#define EXAMPLE_SANDBOX_ID "example-sandbox"

static const char usage_text[] =
    "Usage: cocoonctl COMMAND [OPTIONS]\n"
    "\n"
    "Commands:\n"
    "  render [--config FILE] [--id SANDBOX_ID] [--annotation KEY=VALUE]...\n"
    "        Print the libvirt domain XML the shim would create for this configuration,\n"
    "        sandbox id and pod annotations. Starts nothing, does not talk to libvirt and\n"
    "        does not need the configured kernel, initrd or firmware to exist here.\n"
    "        --id defaults to \"" EXAMPLE_SANDBOX_ID "\"; --annotation may be repeated.\n"
    "        With the annotation " ANNOTATION_INITDATA "\n"
    "        it shows the init-data disk and the SNP <hostData> or TDX <mrConfigId> the\n"
    "        shim would bind; it writes no file.\n"
    "  config dump [--config FILE]\n"
    "        Print the effective configuration (config.d/*.toml drop-ins applied) as TOML.\n"
    "  initdata digest [--json] FILE\n"
    "        Check an init-data TOML document the way the shim checks the annotation, and\n"
    "        print its algorithm, its digest and the reference values a verifier expects:\n"
    "        SNP HOST_DATA and TDX MRCONFIGID (the digest cut or zero-padded to 32 and 48\n"
    "        bytes; hex and base64) and, for a sha256 document, the vTPM PCR 8 value,\n"
    "        sha256(32 zero bytes || digest) (the attestation agent extends PCR 8 with\n"
    "        sha256 digests only). --json prints one JSON object with the keys algorithm,\n"
    "        digest, snp_host_data, tdx_mrconfigid and pcr8 (lower-case hex; pcr8 null\n"
    "        for sha384 and sha512).\n"
    "  initdata annotate FILE\n"
    "        Check an init-data TOML document and print the value for the pod annotation\n"
    "        " ANNOTATION_INITDATA ":\n"
    "        base64 of the gzip-compressed document.\n"
    "  initdata verify VALUE [--host-data BASE64] [--mrconfigid BASE64]\n"
    "        Decode an annotation VALUE (or @FILE: the value is read from FILE) and check\n"
    "        that its init-data is what an SNP HOST_DATA (base64 of 32 bytes) or a TDX\n"
    "        MRCONFIGID (base64 of 48 bytes), e.g. from an attestation report, binds.\n"
    "        At least one of the two; exit 0 if every one given matches, 1 if not.\n"
    "        FILE \"-\" is stdin for all three.\n"
    "        --config FILE (all three): check against that configuration's init-data\n"
    "        limits, [runtime] initdata_annotation_limit_kib and initdata_document_limit_kib,\n"
    "        as the shim on that node would; without it, the defaults (256 and 1024 KiB).\n"
    "  install containerd [--config PATH] [--dry-run] [--config-version 2|3]\n"
    "                     [--cocoon-dir DIR]\n"
    "        Register the runtimes cocoon-snp, cocoon-tdx and cocoon-dev (ConfigPath\n"
    "        DIR/cocoon-<tee>.toml) and their debug runtimes cocoon-snp-debug,\n"
    "        cocoon-tdx-debug and cocoon-dev-debug (ConfigPath DIR/debug-<tee>/cocoon.toml)\n"
    "        in containerd's config (default " CTD_DEFAULT_CONFIG ")\n"
    "        (DIR defaults to " COCOON_SYSCONF_DIR "). Config version 2 (containerd 1.6/1.7)\n"
    "        and 3 (2.x) are read from the file; a missing file is written for the version\n"
    "        --config-version names, else for the containerd in PATH. Missing runtimes are\n"
    "        appended as new tables after a backup (PATH.cocoon-backup-<time>); nothing else\n"
    "        in the file changes. A file that is not valid TOML, has version 1, or has a\n"
    "        cocoon runtime with other values is left unchanged, with what to do. A second\n"
    "        run changes nothing. --dry-run prints the change as a unified diff.\n"
    "  check [--config FILE] [--containerd-config PATH] [--json]\n"
    "        Check that this node can run pods with that configuration: it loads, the\n"
    "        kernel/initrd/image/firmware it names are readable files, /dev/kvm and\n"
    "        /dev/vhost-vsock when it needs them, libvirt answers at its uri and (for\n"
    "        tee snp or tdx) lists the TEE in its domain capabilities, the shim is in PATH,\n"
    "        and containerd's config (default " CTD_DEFAULT_CONFIG ") registers a\n"
    "        runtime whose ConfigPath is this configuration. Lists every check; exit 1 if\n"
    "        one failed, each failure with what to do. --json prints {\"ok\", \"checks\":\n"
    "        [{\"name\", \"ok\", \"detail\", \"remedy\"}]}.\n"
    "  version\n"
    "        Print the version.\n"
    "\n"
    "render, config dump and check: --config defaults to $" CONFIG_ENV ", else " CONFIG_DEFAULT_PATH
    ".\n"
    "Exit status: 0 success, 1 error (or a mismatch for initdata verify), 2 usage error.\n";

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("cocoonctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (see cocoonctl --help)\n", stderr);
    va_end(ap);
    return EXIT_USAGE;
}

static int fail(const struct error *err)
{
    fprintf(stderr, "cocoonctl: %s\n", err->msg ? err->msg : "unknown error");
    return EXIT_FAILURE;
}

/* stdout may be a full disk or a closed pipe; say so rather than exit 0 with half the output. */
static int finish_stdout(void)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        perror("cocoonctl: write to stdout");
        return EXIT_FAILURE;
    }
    return EXIT_SUCCESS;
}

/* getopt's complaint about argv[optind - 1], as a usage error naming the command. */
static int bad_option(const char *command, int c, char *const argv[])
{
    const char *arg = argv[optind - 1];
    if (c == ':')
        return usage_error("%s: option %s needs a value", command, arg);
    return usage_error("%s: unknown option %s", command, arg);
}

/* --- render --- */

struct annotations {
    struct annotation *items;
    size_t len;
};

static void annotations_free(struct annotations *a)
{
    for (size_t i = 0; i < a->len; i++)
        free((char *)a->items[i].key); /* value points into the same allocation */
    free(a->items);
}

static int add_annotation(struct annotations *a, const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg)
        return usage_error("render: --annotation wants KEY=VALUE, got \"%s\"", arg);
    char *copy = xstrdup(arg);
    copy[eq - arg] = '\0';
    a->items = xrealloc(a->items, (a->len + 1) * sizeof(*a->items));
    a->items[a->len++] = (struct annotation){copy, copy + (eq - arg) + 1};
    return 0;
}

DEFINE_CLEANUP_FUNC(struct config *, config_free)

static int render(const char *config_path, const char *id, const struct annotations *anns)
{
    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    _cleanup_(config_freep) struct config *cfg = NULL;
    if (config_load(config_path, &cfg, &err) < 0)
        return fail(&err);
    _cleanup_(vm_spec_free) struct vm_spec spec = {0};
    if (sandbox_vm_spec(cfg, id, anns->items, anns->len, &spec, NULL, &err) < 0)
        return fail(&err);
    _cleanup_free_ char *xml = NULL;
    if (domain_xml_build(&spec, &xml, &err) < 0)
        return fail(&err);
    fputs(xml, stdout);
    return finish_stdout();
}

static int cmd_render(int argc, char *argv[])
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"id", required_argument, NULL, 'i'},
        {"annotation", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *config_path = config_default_path();
    const char *id = EXAMPLE_SANDBOX_ID;
    _cleanup_(annotations_free) struct annotations anns = {0};
    int c;
    while ((c = getopt_long(argc, argv, ":c:i:a:h", options, NULL)) != -1) {
        switch (c) {
        case 'c':
            config_path = optarg;
            break;
        case 'i':
            id = optarg;
            break;
        case 'a':
            if (add_annotation(&anns, optarg) != 0)
                return EXIT_USAGE;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return finish_stdout();
        default:
            return bad_option("render", c, argv);
        }
    }
    if (optind < argc)
        return usage_error("render: unexpected argument \"%s\"", argv[optind]);
    return render(config_path, id, &anns);
}

/* --- config dump --- */

static int cmd_config(int argc, char *argv[])
{
    if (argc < 2 || strcmp(argv[1], "dump") != 0)
        return usage_error("config: want \"config dump\"");
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *config_path = config_default_path();
    int c;
    argc--;
    argv++;
    while ((c = getopt_long(argc, argv, ":c:h", options, NULL)) != -1) {
        switch (c) {
        case 'c':
            config_path = optarg;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return finish_stdout();
        default:
            return bad_option("config dump", c, argv);
        }
    }
    if (optind < argc)
        return usage_error("config dump: unexpected argument \"%s\"", argv[optind]);
    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    _cleanup_(config_freep) struct config *cfg = NULL;
    if (config_load(config_path, &cfg, &err) < 0)
        return fail(&err);
    config_dump(cfg, stdout);
    return finish_stdout();
}

/* --- initdata --- */

/* The whole of path ("-": stdin), NUL-terminated. Returns 1, with nothing read, if it holds
 * more than max bytes: the caller words that. */
static int read_input(const char *path, size_t max, char **data, size_t *len, struct error *err)
{
    bool is_stdin = strcmp(path, "-") == 0;
    _cleanup_fclose_ FILE *owned = is_stdin ? NULL : fopen(path, "re");
    FILE *f = is_stdin ? stdin : owned;
    if (!f)
        return error_set_errno(err, errno, "open %s", path);
    _cleanup_free_ char *buf = xmalloc(max + 2);
    size_t n = fread(buf, 1, max + 1, f);
    if (ferror(f))
        return error_set_errno(err, errno, "read %s", path);
    if (n > max)
        return 1;
    buf[n] = '\0';
    *data = TAKE_PTR(buf);
    *len = n;
    return 0;
}

/* The init-data limits of the configuration at config_path, or without one the defaults: no
 * configuration is read unless asked for (the initdata commands run anywhere, on a verifier's
 * machine too). */
static int load_limits(const char *config_path, struct initdata_limits *lim, struct error *err)
{
    *lim = (struct initdata_limits){.max_annotation = INITDATA_DEFAULT_MAX_ANNOTATION,
                                    .max_decompressed = INITDATA_DEFAULT_MAX_DECOMPRESSED};
    if (!config_path)
        return 0;
    _cleanup_(config_freep) struct config *cfg = NULL;
    if (config_load(config_path, &cfg, err) < 0)
        return -1;
    config_initdata_limits(cfg, lim); /* its names are static */
    return 0;
}

/* " set by <key>" after a limit in a message, or "" */
#define SET_BY(name) (name) ? " set by " : "", (name) ? (name) : ""

/* Reads and checks a TOML document exactly as the annotation's would be checked after gunzip,
 * with the same size limit and the same messages. */
static int load_document(const char *path, const struct initdata_limits *lim, struct initdata **d,
                         struct error *err)
{
    _cleanup_free_ char *raw = NULL;
    size_t len = 0;
    int r = read_input(path, lim->max_decompressed, &raw, &len, err);
    if (r < 0)
        return -1;
    if (r > 0)
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "%s: init-data: document is over the %zu-byte limit%s%s", path,
                         lim->max_decompressed, SET_BY(lim->max_decompressed_name));
    if (initdata_from_toml(raw, len, d, err) < 0)
        return error_wrap(err, "%s", path);
    return 0;
}

/* The one FILE operand of "initdata digest|annotate". */
static int one_operand(const char *command, int argc, char *argv[], const char **operand)
{
    if (optind >= argc)
        return usage_error("initdata %s: FILE is required", command);
    if (optind + 1 < argc)
        return usage_error("initdata %s: unexpected argument \"%s\"", command, argv[optind + 1]);
    *operand = argv[optind];
    return 0;
}

static void print_json(const struct initdata_ref *ref)
{
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:s, s:o}", "algorithm", ref->algorithm, "digest", ref->digest,
                  "snp_host_data", ref->snp_host_data, "tdx_mrconfigid", ref->tdx_mrconfigid,
                  "pcr8", ref->has_pcr8 ? json_string(ref->pcr8) : json_null());
    if (!o)
        abort(); /* only out of memory: the xalloc convention */
    json_dumpf(o, stdout, JSON_INDENT(2));
    fputc('\n', stdout);
    json_decref(o);
}

static void print_text(const struct initdata_ref *ref)
{
    printf("algorithm:             %s\n", ref->algorithm);
    printf("digest:                %s\n", ref->digest);
    printf("snp_host_data:         %s\n", ref->snp_host_data);
    printf("snp_host_data_base64:  %s\n", ref->snp_host_data_b64);
    printf("tdx_mrconfigid:        %s\n", ref->tdx_mrconfigid);
    printf("tdx_mrconfigid_base64: %s\n", ref->tdx_mrconfigid_b64);
    if (ref->has_pcr8)
        printf("pcr8:                  %s\n", ref->pcr8);
    else
        printf("pcr8:                  none: the attestation agent extends the vTPM's PCR 8 with "
               "sha256 digests only and refuses a %s one\n",
               ref->algorithm);
}

static int cmd_initdata_digest(int argc, char *argv[])
{
    static const struct option options[] = {
        {"json", no_argument, NULL, 'j'},
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    bool json = false;
    const char *config_path = NULL;
    int c;
    while ((c = getopt_long(argc, argv, ":jc:h", options, NULL)) != -1) {
        switch (c) {
        case 'j':
            json = true;
            break;
        case 'c':
            config_path = optarg;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return finish_stdout();
        default:
            return bad_option("initdata digest", c, argv);
        }
    }
    const char *path;
    if (one_operand("digest", argc, argv, &path) != 0)
        return EXIT_USAGE;
    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    _cleanup_(initdata_freep) struct initdata *d = NULL;
    struct initdata_limits lim;
    struct initdata_ref ref;
    if (load_limits(config_path, &lim, &err) < 0 || load_document(path, &lim, &d, &err) < 0 ||
        initdata_ref_compute(d, &ref, &err) < 0)
        return fail(&err);
    if (json)
        print_json(&ref);
    else
        print_text(&ref);
    return finish_stdout();
}

static int cmd_initdata_annotate(int argc, char *argv[])
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *config_path = NULL;
    int c;
    while ((c = getopt_long(argc, argv, ":c:h", options, NULL)) != -1) {
        switch (c) {
        case 'c':
            config_path = optarg;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return finish_stdout();
        default:
            return bad_option("initdata annotate", c, argv);
        }
    }
    const char *path;
    if (one_operand("annotate", argc, argv, &path) != 0)
        return EXIT_USAGE;
    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    _cleanup_(initdata_freep) struct initdata *d = NULL;
    _cleanup_free_ char *value = NULL;
    struct initdata_limits lim;
    if (load_limits(config_path, &lim, &err) < 0 || load_document(path, &lim, &d, &err) < 0 ||
        initdata_annotation_encode(d->raw, d->raw_len, &value, &err) < 0)
        return fail(&err);
    printf("%s\n", value);
    return finish_stdout();
}

/* An annotation value, or "@FILE" for the value in FILE (trailing white space, such as the
 * newline `base64 -w0 > FILE` leaves out and an editor adds, is dropped). */
static int load_annotation(const char *arg, const struct initdata_limits *lim, struct initdata **d,
                           struct error *err)
{
    if (arg[0] != '@')
        return initdata_from_annotation(arg, lim, d, err);
    const char *path = arg + 1;
    _cleanup_free_ char *value = NULL;
    size_t len = 0;
    /* Room for line breaks (base64(1) wraps at 76); the decoder enforces the real limit. */
    int r = read_input(path, lim->max_annotation * 2, &value, &len, err);
    if (r < 0)
        return -1;
    if (r > 0)
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "%s: init-data: annotation is over the %zu-byte limit%s%s", path,
                         lim->max_annotation, SET_BY(lim->max_annotation_name));
    if (memchr(value, '\0', len))
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "%s: holds a NUL byte; want the annotation value (base64 text)", path);
    while (len > 0 && strchr(" \t\r\n", value[len - 1]))
        value[--len] = '\0';
    if (initdata_from_annotation(value, lim, d, err) < 0)
        return error_wrap(err, "%s", path);
    return 0;
}

struct expected_field {
    const char *option; /* "--host-data" */
    const char *name;   /* "HOST_DATA" */
    size_t len;
    const char *b64; /* NULL: not given */
    uint8_t value[INITDATA_TDX_MRCONFIGID_LEN];
    const char *own_b64; /* the init-data's, for the message */
};

/* Prints a line per field given; returns whether all match. */
static bool check_fields(const struct initdata *d, const struct initdata_ref *ref,
                         const struct expected_field *fields, size_t n)
{
    bool all = true;
    for (size_t i = 0; i < n; i++) {
        const struct expected_field *f = &fields[i];
        if (!f->b64)
            continue;
        if (initdata_ref_matches(d, f->value, f->len)) {
            printf("%s matches the init-data (%s %s)\n", f->name, ref->algorithm, ref->digest);
        } else {
            fprintf(stderr,
                    "cocoonctl: %s does not match the init-data: %s is %s, the init-data's is "
                    "%s (%s %s)\n",
                    f->name, f->option, f->b64, f->own_b64, ref->algorithm, ref->digest);
            all = false;
        }
    }
    return all;
}

static int cmd_initdata_verify(int argc, char *argv[])
{
    static const struct option options[] = {
        {"host-data", required_argument, NULL, 's'},
        {"mrconfigid", required_argument, NULL, 't'},
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *config_path = NULL;
    struct expected_field fields[] = {
        {"--host-data", "HOST_DATA", INITDATA_SNP_HOST_DATA_LEN, NULL, {0}, NULL},
        {"--mrconfigid", "MRCONFIGID", INITDATA_TDX_MRCONFIGID_LEN, NULL, {0}, NULL},
    };
    int c;
    while ((c = getopt_long(argc, argv, ":s:t:c:h", options, NULL)) != -1) {
        switch (c) {
        case 'c':
            config_path = optarg;
            break;
        case 's':
            fields[0].b64 = optarg;
            break;
        case 't':
            fields[1].b64 = optarg;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return finish_stdout();
        default:
            return bad_option("initdata verify", c, argv);
        }
    }
    if (optind >= argc)
        return usage_error("initdata verify: the annotation VALUE (or @FILE) is required");
    if (optind + 1 < argc)
        return usage_error("initdata verify: unexpected argument \"%s\"", argv[optind + 1]);
    if (!fields[0].b64 && !fields[1].b64)
        return usage_error("initdata verify: give --host-data or --mrconfigid (or both)");
    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    for (size_t i = 0; i < 2; i++)
        if (fields[i].b64 && initdata_ref_parse_field(fields[i].b64, fields[i].len,
                                                      fields[i].option, fields[i].value, &err) < 0)
            return usage_error("initdata verify: %s", err.msg);

    _cleanup_(initdata_freep) struct initdata *d = NULL;
    struct initdata_limits lim;
    struct initdata_ref ref;
    if (load_limits(config_path, &lim, &err) < 0 ||
        load_annotation(argv[optind], &lim, &d, &err) < 0 ||
        initdata_ref_compute(d, &ref, &err) < 0)
        return fail(&err);
    fields[0].own_b64 = ref.snp_host_data_b64;
    fields[1].own_b64 = ref.tdx_mrconfigid_b64;
    bool match = check_fields(d, &ref, fields, 2);
    int rc = finish_stdout();
    return match ? rc : EXIT_FAILURE;
}

static int cmd_initdata(int argc, char *argv[])
{
    if (argc < 2)
        return usage_error("initdata: want \"initdata digest\", \"annotate\" or \"verify\"");
    const char *sub = argv[1];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
        fputs(usage_text, stdout);
        return finish_stdout();
    }
    if (strcmp(sub, "digest") == 0)
        return cmd_initdata_digest(argc - 1, argv + 1);
    if (strcmp(sub, "annotate") == 0)
        return cmd_initdata_annotate(argc - 1, argv + 1);
    if (strcmp(sub, "verify") == 0)
        return cmd_initdata_verify(argc - 1, argv + 1);
    return usage_error("initdata: unknown command \"%s\" (want digest, annotate or verify)", sub);
}

int main(int argc, char *argv[])
{
    opterr = 0; /* bad_option() words the complaint */
    if (argc < 2)
        return usage_error("a command is required");
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage_text, stdout);
        return finish_stdout();
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("cocoonctl %s\n", COCOON_VERSION);
        return finish_stdout();
    }
    if (strcmp(cmd, "render") == 0)
        return cmd_render(argc - 1, argv + 1);
    if (strcmp(cmd, "config") == 0)
        return cmd_config(argc - 1, argv + 1);
    if (strcmp(cmd, "initdata") == 0)
        return cmd_initdata(argc - 1, argv + 1);
    if (strcmp(cmd, "install") == 0 || strcmp(cmd, "check") == 0) {
        for (int i = 2; i < argc; i++)
            if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
                fputs(usage_text, stdout);
                return finish_stdout();
            }
        return cmd[0] == 'i' ? cocoonctl_install(argc - 1, argv + 1)
                             : cocoonctl_check(argc - 1, argv + 1);
    }
    return usage_error("unknown command \"%s\"", cmd);
}
