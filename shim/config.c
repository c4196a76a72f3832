/* Loading the configuration (shim/config.h): the keys table, the defaults, applying the main file
 * and its drop-ins, and the checks across keys. shim/config-keys.h says where the rest is. */
#include "shim/config.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "annotations/overrides.h"
#include "annotations/verity.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/toml.h"
#include "lib/xalloc.h"
#include "shim/config-keys.h"
#include "shim/oci.h"

#define MAX_FILE_SIZE (1 << 20) /* a configuration is a few KiB; refuse anything absurd */
#define MAX_TIMEOUT 86400
/* The OCI config.json an annotation comes in is read up to OCI_MAX_JSON_SIZE (16 MiB): no
 * init-data annotation can be longer, and its document needs no more room either. */
#define MAX_INITDATA_LIMIT_KIB (OCI_MAX_JSON_SIZE / 1024)
#define SNP_POLICY_RESERVED_1 (UINT64_C(1) << 17)
#define TDX_POLICY_ALLOWED ((UINT64_C(1) << 0) | (UINT64_C(1) << 28))

/* --- the keys --- */

static const char *const domain_types[] = {"kvm", "qemu", NULL};
static const char *const tees[] = {"none", "snp", "tdx", NULL}; /* enum vm_tee order */
static const char *const agent_channels[] = {"vsock", "virtio-serial", NULL}; /* enum order */

_Static_assert(VM_TEE_NONE == 0 && VM_TEE_SNP == 1 && VM_TEE_TDX == 2, "tees[] order");
_Static_assert(VM_AGENT_VSOCK == 0 && VM_AGENT_SERIAL == 1, "agent_channels[] order");
_Static_assert(sizeof(enum vm_tee) == sizeof(int) && sizeof(enum vm_agent_channel) == sizeof(int),
               "KIND_ENUM stores an int");

static const char *check_snp_policy(uint64_t v)
{
    return v & SNP_POLICY_RESERVED_1 ? NULL
                                     : "bit 17 is reserved and must be set (the usual policy is "
                                       "0x30000)";
}

static const char *check_tdx_policy(uint64_t v)
{
    return v & ~TDX_POLICY_ALLOWED ? "only bit 0 (debug) and bit 28 (sept-ve-disable) may be set"
                                   : NULL;
}

/* Designated, so each entry names only what its kind uses. */
#define KEY(sec, key_name, key_kind, member, ...)                                                  \
    {                                                                                              \
        .section = sec, .name = key_name, .kind = key_kind,                                        \
        .offset = offsetof(struct config, member), __VA_ARGS__                                     \
    }

const struct key config_keys[] = {
    KEY(HV, "uri", KIND_STRING, hypervisor.uri, .required = true),
    KEY(HV, "domain_type", KIND_CHOICE, hypervisor.domain_type, .choices = domain_types),
    KEY(HV, "emulator", KIND_PATH, hypervisor.emulator),
    KEY(HV, "machine_type", KIND_STRING, hypervisor.machine_type, .required = true),
    KEY(HV, "kernel", KIND_PATH, hypervisor.kernel),
    KEY(HV, "initrd", KIND_PATH, hypervisor.initrd),
    KEY(HV, "image", KIND_PATH, hypervisor.image),
    KEY(HV, "firmware", KIND_PATH, hypervisor.firmware),
    KEY(HV, "kernel_params", KIND_STRING, hypervisor.kernel_params),
    KEY(HV, "kernel_verity_params", KIND_VERITY, hypervisor.kernel_verity_params),
    KEY(HV, "guest_extension_images", KIND_EXTENSIONS, hypervisor.guest_extension_images),
    KEY(HV, "default_vcpus", KIND_UINT, hypervisor.default_vcpus, .min = 1,
        .max = OVERRIDES_MAX_VCPUS),
    KEY(HV, "overhead_vcpus", KIND_MILLI, hypervisor.overhead_millivcpus, .min = 0,
        .max = OVERRIDES_MAX_VCPUS * 1000,
        .want = "must be a number of vCPUs from 0 to 512 (at most 3 decimals), or -1 for "
                "none"),
    KEY(HV, "default_memory", KIND_UINT, hypervisor.default_memory, .min = OVERRIDES_MIN_MEMORY_MIB,
        .max = OVERRIDES_MAX_MEMORY_MIB),
    KEY(HV, "overhead_memory", KIND_INT, hypervisor.overhead_memory, .min = CONFIG_UNSET,
        .max = OVERRIDES_MAX_MEMORY_MIB,
        .want = "must be an integer from 0 to 4194304 (MiB), or -1 for none"),
    KEY(HV, "tee", KIND_ENUM, hypervisor.tee, .choices = tees),
    KEY(HV, "agent_channel", KIND_ENUM, hypervisor.agent_channel, .choices = agent_channels),
    KEY(HV, "user_network", KIND_BOOL, hypervisor.user_network),
    KEY(HV, "enable_annotations", KIND_REGEXES, hypervisor.enable_annotations),
    KEY(HV, "valid_kernel_paths", KIND_GLOBS, hypervisor.valid_kernel_paths),
    KEY(HV, "valid_initrd_paths", KIND_GLOBS, hypervisor.valid_initrd_paths),
    KEY(HV, "valid_image_paths", KIND_GLOBS, hypervisor.valid_image_paths),
    KEY(HV, "valid_firmware_paths", KIND_GLOBS, hypervisor.valid_firmware_paths),
    KEY(HV, "initdata", KIND_STRING, hypervisor.initdata),
    KEY(HV, "snp_guest_policy", KIND_U64, hypervisor.snp_guest_policy, .min = 0, .max = INT64_MAX,
        .check = check_snp_policy),
    KEY(HV, "snp_id_block", KIND_BASE64, hypervisor.snp_id_block, .bytes = 96),
    KEY(HV, "snp_id_auth", KIND_BASE64, hypervisor.snp_id_auth, .bytes = 4096),
    KEY(HV, "snp_cbitpos", KIND_UINT, hypervisor.snp_cbitpos, .min = 0, .max = 63),
    KEY(HV, "snp_reduced_phys_bits", KIND_UINT, hypervisor.snp_reduced_phys_bits, .min = 0,
        .max = 63),
    KEY(HV, "snp_kernel_hashes", KIND_BOOL, hypervisor.snp_kernel_hashes),
    KEY(HV, "tdx_policy", KIND_U64, hypervisor.tdx_policy, .min = 0, .max = INT64_MAX,
        .check = check_tdx_policy),
    KEY(HV, "tdx_quote_generation_service", KIND_BOOL, hypervisor.tdx_quote_generation_service),
    KEY(HV, "tdx_quote_generation_service_socket", KIND_PATH,
        hypervisor.tdx_quote_generation_service_socket),
    KEY(HV, "tdx_mr_owner", KIND_BASE64, hypervisor.tdx_mr_owner, .bytes = 48),
    KEY(HV, "tdx_mr_owner_config", KIND_BASE64, hypervisor.tdx_mr_owner_config, .bytes = 48),

    KEY("agent", "dial_timeout", KIND_UINT, agent.dial_timeout, .min = 1, .max = MAX_TIMEOUT),
    KEY("agent", "request_timeout", KIND_UINT, agent.request_timeout, .min = 1, .max = MAX_TIMEOUT),
    KEY("agent", "health_check_timeout", KIND_UINT, agent.health_check_timeout, .min = 1,
        .max = MAX_TIMEOUT),

    KEY("runtime", "debug", KIND_BOOL, runtime.debug),
    KEY("runtime", "create_container_timeout", KIND_UINT, runtime.create_container_timeout,
        .min = 1, .max = MAX_TIMEOUT),
    KEY("runtime", "experimental_force_guest_pull", KIND_BOOL,
        runtime.experimental_force_guest_pull),
    KEY("runtime", "static_sandbox_resource_mgmt", KIND_BOOL, runtime.static_sandbox_resource_mgmt),
    KEY("runtime", "copy_volume_limit_mib", KIND_UINT, runtime.copy_volume_limit_mib, .min = 1,
        .max = 4096),
    KEY("runtime", "initdata_annotation_limit_kib", KIND_UINT,
        runtime.initdata_annotation_limit_kib, .min = 1, .max = MAX_INITDATA_LIMIT_KIB),
    KEY("runtime", "initdata_document_limit_kib", KIND_UINT, runtime.initdata_document_limit_kib,
        .min = 1, .max = MAX_INITDATA_LIMIT_KIB),
    KEY("runtime", "state_dir", KIND_PATH, runtime.state_dir, .required = true),
};

#define N_KEYS (sizeof(config_keys) / sizeof(config_keys[0]))

const size_t config_n_keys = N_KEYS;

/* Tables that hold keys or other tables, in the order config_dump writes them. */
static const char *const sections[] = {"hypervisor", HV, "agent", "runtime"};

static const struct key *find_key(const char *section, const char *name)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (strcmp(config_keys[i].section, section) == 0 && strcmp(config_keys[i].name, name) == 0)
            return &config_keys[i];
    return NULL;
}

static bool is_section(const char *name)
{
    for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
        if (strcmp(sections[i], name) == 0)
            return true;
    return false;
}

/* --- defaults and freeing --- */

void config_set_string(char **slot, const char *value)
{
    free(*slot);
    *slot = xstrdup(value);
}

void config_list_clear(struct config_list *l)
{
    for (size_t i = 0; i < l->len; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->len = 0;
}

void config_list_add(struct config_list *l, const char *s)
{
    l->items = xrealloc(l->items, (l->len + 1) * sizeof(*l->items));
    l->items[l->len++] = xstrdup(s);
}

struct config *config_new_defaults(void)
{
    struct config *cfg = xcalloc(1, sizeof(*cfg));
    struct config_hypervisor *hv = &cfg->hypervisor;
    /* Every string key starts as a string, so nobody has to test for NULL. */
    for (size_t i = 0; i < N_KEYS; i++)
        if (config_keys[i].kind == KIND_STRING || config_keys[i].kind == KIND_PATH ||
            config_keys[i].kind == KIND_CHOICE || config_keys[i].kind == KIND_BASE64 ||
            config_keys[i].kind == KIND_VERITY)
            config_set_string(field(cfg, &config_keys[i]), "");
    config_set_string(&hv->uri, "qemu:///system");
    config_set_string(&hv->domain_type, "kvm");
    config_set_string(&hv->machine_type, "q35");
    hv->default_vcpus = 1;
    hv->overhead_millivcpus = CONFIG_UNSET;
    hv->default_memory = 2048;
    hv->overhead_memory = CONFIG_UNSET;
    hv->tee = VM_TEE_NONE;
    hv->agent_channel = VM_AGENT_VSOCK;
    hv->snp_guest_policy = 0x30000;
    hv->tdx_policy = 0x10000000;
    cfg->agent.dial_timeout = 90;
    cfg->agent.request_timeout = 60;
    cfg->agent.health_check_timeout = 90;
    cfg->runtime.create_container_timeout = 60;
    cfg->runtime.copy_volume_limit_mib = 64;
    cfg->runtime.initdata_annotation_limit_kib = INITDATA_DEFAULT_MAX_ANNOTATION / 1024;
    cfg->runtime.initdata_document_limit_kib = INITDATA_DEFAULT_MAX_DECOMPRESSED / 1024;
    config_set_string(&cfg->runtime.state_dir, "/run/cocoon");
    return cfg;
}

void config_free(struct config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < N_KEYS; i++) {
        switch (config_keys[i].kind) {
        case KIND_STRING:
        case KIND_PATH:
        case KIND_CHOICE:
        case KIND_BASE64:
        case KIND_VERITY:
            free(*(char **)field(cfg, &config_keys[i]));
            break;
        case KIND_REGEXES:
        case KIND_GLOBS:
            config_list_clear(field(cfg, &config_keys[i]));
            break;
        case KIND_EXTENSIONS:
            config_extensions_clear(field(cfg, &config_keys[i]));
            break;
        default:
            break;
        }
    }
    config_list_clear(&cfg->files);
    free(cfg);
}

DEFINE_CLEANUP_FUNC(struct config *, config_free)
DEFINE_CLEANUP_FUNC(struct toml_value *, toml_free)

const char *config_default_path(void)
{
    const char *env = getenv(CONFIG_ENV);
    return env && *env ? env : CONFIG_DEFAULT_PATH;
}

/* --- applying one file --- */

/* Where each key was last set, for checks that involve several keys. */
struct origin {
    const char *file; /* one of cfg->files, or NULL while the default holds */
    struct toml_pos pos;
};

/* Checked and set, then remembered as where the key was last set. */
static int apply_key(struct loader *ld, const struct key *k, const struct toml_keyval *kv,
                     const char *name, struct error *err)
{
    if (config_apply_value(ld, k, kv, name, err) < 0)
        return -1;
    ld->origins[k - config_keys] = (struct origin){ld->file, kv->key_pos};
    return 0;
}

static int apply_table(struct loader *ld, const struct toml_value *table, const char *section,
                       struct error *err)
{
    for (size_t i = 0; i < table->u.table.len; i++) {
        const struct toml_keyval *kv = &table->u.table.items[i];
        _cleanup_free_ char *name =
            *section ? xasprintf("%s.%s", section, kv->key) : xstrdup(kv->key);
        /* A quoted key holding '.' or NUL ("hypervisor.libvirt" = ...) names nothing here. */
        bool plain = strlen(kv->key) == kv->key_len && !strchr(kv->key, '.');
        const struct key *k = plain ? find_key(section, kv->key) : NULL;
        if (k) {
            if (apply_key(ld, k, kv, name, err) < 0)
                return -1;
        } else if (plain && is_section(name)) {
            if (kv->value->type != TOML_TABLE)
                return config_bad_value(ld, kv, name, "must be a table", err);
            if (apply_table(ld, kv->value, name, err) < 0)
                return -1;
        } else {
            return config_fail_at(ld->file, kv->key_pos, err, "unknown key \"%s\"", name);
        }
    }
    return 0;
}

/* --- files --- */

/* The parser says "line L, column C: msg"; say "file:L:C: msg" like every other config error. */
static int parse_failed(const char *path, struct error *err)
{
    int line, col, skip = 0;
    if (sscanf(err->msg, "line %d, column %d: %n", &line, &col, &skip) == 2 && skip > 0) {
        _cleanup_free_ char *rest = xstrdup(err->msg + skip);
        return error_set(err, GRPC_INVALID_ARGUMENT, "%s:%d:%d: %s", path, line, col, rest);
    }
    return error_wrap(err, "%s", path);
}

static int apply_file(struct loader *ld, const char *path, struct error *err)
{
    _cleanup_free_ char *data = NULL;
    size_t len = 0;
    if (fs_read_file(path, MAX_FILE_SIZE, &data, &len, err) < 0)
        return -1;
    _cleanup_(toml_freep) struct toml_value *root = toml_parse(data, len, err);
    if (!root)
        return parse_failed(path, err);
    config_list_add(&ld->cfg->files, path);
    ld->file = ld->cfg->files.items[ld->cfg->files.len - 1];
    return apply_table(ld, root, "", err);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_dropin_name(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' && n > 5 && strcmp(name + n - 5, ".toml") == 0;
}

DEFINE_CLEANUP_FUNC(DIR *, closedir)

/* <dir of path>/config.d/ *.toml, sorted bytewise so the order does not depend on the locale. */
static int list_dropins(const char *path, struct config_list *out, struct error *err)
{
    const char *slash = strrchr(path, '/');
    _cleanup_free_ char *dir =
        slash ? xasprintf("%.*s/config.d", (int)(slash - path), path) : xstrdup("config.d");
    _cleanup_(closedirp) DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : error_set_errno(err, errno, "open %s", dir);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!is_dropin_name(e->d_name))
            continue;
        _cleanup_free_ char *file = xasprintf("%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(file, &st) == 0 && S_ISREG(st.st_mode))
            config_list_add(out, file);
    }
    if (out->len)
        qsort(out->items, out->len, sizeof(*out->items), compare_names);
    return 0;
}

/* --- checks across keys, once every file is applied --- */

static int fail_key(const struct loader *ld, const struct key *k, struct error *err,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int fail_key(const struct loader *ld, const struct key *k, struct error *err,
                    const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *msg = xvasprintf(fmt, ap);
    va_end(ap);
    const struct origin *o = &ld->origins[k - config_keys];
    if (o->file)
        return config_fail_at(o->file, o->pos, err, "%s.%s: %s", k->section, k->name, msg);
    return error_set(err, GRPC_INVALID_ARGUMENT, "%s: %s.%s: %s", ld->cfg->files.items[0],
                     k->section, k->name, msg);
}

/* Kata applies dm-verity to the root image when the VM boots from it, never with an initrd. */
static int check_verity(const struct loader *ld, struct error *err)
{
    const struct config_hypervisor *hv = &ld->cfg->hypervisor;
    if (!*hv->kernel_verity_params)
        return 0;
    if (!*hv->image || *hv->initrd)
        return fail_key(ld, find_key(HV, "kernel_verity_params"), err,
                        "needs the VM to boot from " HV ".image (%s), whose partitions 1 and 2 "
                        "hold the root and its hash tree",
                        *hv->initrd ? "and no initrd" : "set none");
    /* the root's file system, from kernel_params, must be one Kata has root flags for */
    struct verity_params p;
    _cleanup_(error_clearp) struct error why = ERROR_INIT;
    _cleanup_free_ char *params = NULL;
    if (verity_params_parse(hv->kernel_verity_params, &p, &why) < 0 ||
        !(params = verity_root_kernel_params(hv->kernel_params, &p, &why)))
        return fail_key(ld, find_key(HV, "kernel_verity_params"), err, "%s", why.msg);
    return 0;
}

static int check_initdata(const struct loader *ld, struct error *err)
{
    _cleanup_(initdata_freep) struct initdata *d = NULL;
    _cleanup_(error_clearp) struct error why = ERROR_INIT;
    if (config_default_initdata(ld->cfg, &d, &why) < 0)
        return fail_key(ld, find_key(HV, "initdata"), err, "%s", why.msg);
    return 0;
}

static int check_config(const struct loader *ld, struct error *err)
{
    const struct config_hypervisor *hv = &ld->cfg->hypervisor;
    if (!*hv->kernel)
        return fail_key(ld, find_key(HV, "kernel"), err,
                        "required: the guest kernel, booted directly (an absolute path)");
    if (hv->tee != VM_TEE_NONE && !*hv->firmware)
        return fail_key(ld, find_key(HV, "tee"), err,
                        "\"%s\" needs " HV ".firmware (%s, loaded as ROM)", tees[hv->tee],
                        hv->tee == VM_TEE_SNP ? "an OVMF AmdSev build" : "a TDVF build");
    if (hv->tee == VM_TEE_TDX && !strstr(hv->machine_type, "q35"))
        return fail_key(ld, find_key(HV, "machine_type"), err, "\"%s\": a TDX guest needs q35",
                        hv->machine_type);
    if (!*hv->snp_id_block != !*hv->snp_id_auth) {
        const struct key *set = find_key(HV, *hv->snp_id_block ? "snp_id_block" : "snp_id_auth");
        return fail_key(ld, set, err,
                        "snp_id_block and snp_id_auth go together: set both or "
                        "neither");
    }
    return check_verity(ld, err) < 0 || check_initdata(ld, err) < 0 ? -1 : 0;
}

int config_load(const char *path, struct config **out, struct error *err)
{
    _cleanup_(config_freep) struct config *cfg = config_new_defaults();
    struct origin origins[N_KEYS] = {0};
    struct loader ld = {.cfg = cfg, .origins = origins};
    if (apply_file(&ld, path, err) < 0)
        return -1;
    struct config_list dropins = {0};
    int r = list_dropins(path, &dropins, err);
    for (size_t i = 0; r == 0 && i < dropins.len; i++)
        r = apply_file(&ld, dropins.items[i], err);
    config_list_clear(&dropins);
    if (r < 0 || check_config(&ld, err) < 0)
        return -1;
    *out = TAKE_PTR(cfg);
    return 0;
}
