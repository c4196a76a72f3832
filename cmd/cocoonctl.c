/* cocoonctl: look at what the cocoon shim would do, without doing it.
 *
 *   cocoonctl render        the libvirt domain XML for a config, sandbox id and annotations
 *   cocoonctl config dump   the effective configuration, drop-ins applied
 *
 * Errors go to stderr as "cocoonctl: <message>" with exit status 1; usage errors exit 2. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "annotations/overrides.h"
#include "lib/cleanup.h"
#include "lib/error.h"
#include "lib/xalloc.h"
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
    "  config dump [--config FILE]\n"
    "        Print the effective configuration (config.d/*.toml drop-ins applied) as TOML.\n"
    "  version\n"
    "        Print the version.\n"
    "\n"
    "--config defaults to $" CONFIG_ENV ", else " CONFIG_DEFAULT_PATH ".\n"
    "Exit status: 0 success, 1 error, 2 usage error.\n";

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
    if (sandbox_vm_spec(cfg, id, anns->items, anns->len, &spec, &err) < 0)
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
    return usage_error("unknown command \"%s\"", cmd);
}
