#include "shim/config.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
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
#include "shim/oci.h"

#define MAX_FILE_SIZE (1 << 20) /* a configuration is a few KiB; refuse anything absurd */
#define MAX_TIMEOUT 86400
/* The OCI config.json an annotation comes in is read up to OCI_MAX_JSON_SIZE (16 MiB): no
 * init-data annotation can be longer, and its document needs no more room either. */
#define MAX_INITDATA_LIMIT_KIB (OCI_MAX_JSON_SIZE / 1024)
#define SNP_POLICY_RESERVED_1 (UINT64_C(1) << 17)
#define TDX_POLICY_ALLOWED ((UINT64_C(1) << 0) | (UINT64_C(1) << 28))

/* --- the keys --- */

enum kind {
    KIND_STRING,     /* char *, any text */
    KIND_PATH,       /* char *, "" or an absolute path */
    KIND_CHOICE,     /* char *, one of choices */
    KIND_ENUM,       /* an enum field: the index into choices */
    KIND_BOOL,       /* bool */
    KIND_UINT,       /* unsigned, min..max */
    KIND_U64,        /* uint64_t, min..max, then check */
    KIND_BASE64,     /* char *, "" or the base64 of `bytes` bytes */
    KIND_VERITY,     /* char *, "" or dm-verity fields (annotations/verity.h) */
    KIND_REGEXES,    /* struct config_list of POSIX EREs */
    KIND_GLOBS,      /* struct config_list of fnmatch globs on absolute paths */
    KIND_INT,        /* int, min..max (CONFIG_UNSET is -1) */
    KIND_MILLI,      /* int, thousandths of a number written as an integer or a float; min..max
                      * in thousandths, or -1 for CONFIG_UNSET */
    KIND_EXTENSIONS, /* struct config_extensions, an array of tables */
};

struct key {
    const char *section;
    const char *name;
    enum kind kind;
    size_t offset; /* into struct config */
    int64_t min, max;
    const char *const *choices;
    bool required;                    /* KIND_STRING, KIND_PATH: must not be empty */
    const char *(*check)(uint64_t v); /* KIND_U64: NULL or why v is wrong */
    size_t bytes;                     /* KIND_BASE64: decoded length */
    const char *want;                 /* KIND_INT, KIND_MILLI: what a wrong value is told */
};

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

#define HV "hypervisor.libvirt"
/* Designated, so each entry names only what its kind uses. */
#define KEY(sec, key_name, key_kind, member, ...)                                                  \
    {                                                                                              \
        .section = sec, .name = key_name, .kind = key_kind,                                        \
        .offset = offsetof(struct config, member), __VA_ARGS__                                     \
    }

static const struct key keys[] = {
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

#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

/* Tables that hold keys or other tables, in the order config_dump writes them. */
static const char *const sections[] = {"hypervisor", HV, "agent", "runtime"};

static const struct key *find_key(const char *section, const char *name)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

static bool is_section(const char *name)
{
    for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
        if (strcmp(sections[i], name) == 0)
            return true;
    return false;
}

static void *field(struct config *cfg, const struct key *k)
{
    return (char *)cfg + k->offset;
}

static const void *cfield(const struct config *cfg, const struct key *k)
{
    return (const char *)cfg + k->offset;
}

/* --- defaults and freeing --- */

static void set_string(char **slot, const char *value)
{
    free(*slot);
    *slot = xstrdup(value);
}

static void list_clear(struct config_list *l)
{
    for (size_t i = 0; i < l->len; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->len = 0;
}

static void list_add(struct config_list *l, const char *s)
{
    l->items = xrealloc(l->items, (l->len + 1) * sizeof(*l->items));
    l->items[l->len++] = xstrdup(s);
}

static void extensions_clear(struct config_extensions *l)
{
    for (size_t i = 0; i < l->len; i++) {
        free(l->items[i].name);
        free(l->items[i].path);
        free(l->items[i].verity_params);
    }
    free(l->items);
    l->items = NULL;
    l->len = 0;
}

struct config *config_new_defaults(void)
{
    struct config *cfg = xcalloc(1, sizeof(*cfg));
    struct config_hypervisor *hv = &cfg->hypervisor;
    /* Every string key starts as a string, so nobody has to test for NULL. */
    for (size_t i = 0; i < N_KEYS; i++)
        if (keys[i].kind == KIND_STRING || keys[i].kind == KIND_PATH ||
            keys[i].kind == KIND_CHOICE || keys[i].kind == KIND_BASE64 ||
            keys[i].kind == KIND_VERITY)
            set_string(field(cfg, &keys[i]), "");
    set_string(&hv->uri, "qemu:///system");
    set_string(&hv->domain_type, "kvm");
    set_string(&hv->machine_type, "q35");
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
    set_string(&cfg->runtime.state_dir, "/run/cocoon");
    return cfg;
}

void config_free(struct config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < N_KEYS; i++) {
        switch (keys[i].kind) {
        case KIND_STRING:
        case KIND_PATH:
        case KIND_CHOICE:
        case KIND_BASE64:
        case KIND_VERITY:
            free(*(char **)field(cfg, &keys[i]));
            break;
        case KIND_REGEXES:
        case KIND_GLOBS:
            list_clear(field(cfg, &keys[i]));
            break;
        case KIND_EXTENSIONS:
            extensions_clear(field(cfg, &keys[i]));
            break;
        default:
            break;
        }
    }
    list_clear(&cfg->files);
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

struct loader {
    struct config *cfg;
    const char *file; /* the file being applied */
    struct origin origins[N_KEYS];
};

static int fail_at(const char *file, struct toml_pos pos, struct error *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail_at(const char *file, struct toml_pos pos, struct error *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *msg = xvasprintf(fmt, ap);
    va_end(ap);
    return error_set(err, GRPC_INVALID_ARGUMENT, "%s:%d:%d: %s", file, pos.line, pos.col, msg);
}

/* "got ..." text for a value of the wrong type or out of range. Caller frees. */
static char *describe(const struct toml_value *v)
{
    switch (v->type) {
    case TOML_STRING:
        if (v->u.string.len > 60)
            return xasprintf("\"%.57s...\"", v->u.string.ptr);
        return xasprintf("\"%s\"", v->u.string.ptr);
    case TOML_INTEGER:
        return xasprintf("%" PRId64, v->u.integer);
    case TOML_FLOAT:
        return xasprintf("%g", v->u.flt);
    case TOML_BOOL:
        return xstrdup(v->u.boolean ? "true" : "false");
    case TOML_ARRAY:
        return xstrdup("an array");
    case TOML_TABLE:
        return xstrdup("a table");
    default:
        return xasprintf("a %s", toml_type_name(v->type));
    }
}

static int bad_value(const struct loader *ld, const struct toml_keyval *kv, const char *name,
                     const char *want, struct error *err)
{
    _cleanup_free_ char *got = describe(kv->value);
    return fail_at(ld->file, kv->key_pos, err, "%s: %s, got %s", name, want, got);
}

static bool is_plain_string(const struct toml_value *v)
{
    return v->type == TOML_STRING && strlen(v->u.string.ptr) == v->u.string.len;
}

static bool is_absolute(const char *s)
{
    return s[0] == '/' && s[1] != '\0';
}

static bool is_base64_of(const char *s, size_t want)
{
    size_t n = strlen(s), pad = 0;
    if (n == 0 || n % 4)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '=' && i >= n - 2)
            pad++;
        else if (pad || !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                          (c >= '0' && c <= '9') || c == '+' || c == '/'))
            return false;
    }
    return n / 4 * 3 - pad == want;
}

static char *choices_text(const char *const *choices)
{
    char *text = xstrdup("one of");
    for (size_t i = 0; choices[i]; i++) {
        char *next = xasprintf("%s%s \"%s\"", text, i ? "," : "", choices[i]);
        free(text);
        text = next;
    }
    return text;
}

static int choice_index(const char *const *choices, const char *s)
{
    for (int i = 0; choices[i]; i++)
        if (strcmp(choices[i], s) == 0)
            return i;
    return -1;
}

static int apply_string(struct loader *ld, const struct key *k, const struct toml_keyval *kv,
                        const char *name, struct error *err)
{
    const struct toml_value *v = kv->value;
    const char *s = is_plain_string(v) ? v->u.string.ptr : NULL;
    switch (k->kind) {
    case KIND_STRING:
        if (!s || (k->required && !*s))
            return bad_value(ld, kv, name,
                             k->required ? "must be a non-empty string" : "must be a string", err);
        break;
    case KIND_PATH:
        if (!s || (*s && !is_absolute(s)) || (k->required && !*s))
            return bad_value(ld, kv, name,
                             k->required ? "must be an absolute path"
                                         : "must be an absolute path, or \"\" for none",
                             err);
        break;
    case KIND_CHOICE:
        if (!s || choice_index(k->choices, s) < 0) {
            _cleanup_free_ char *choices = choices_text(k->choices);
            _cleanup_free_ char *want = xasprintf("must be %s", choices);
            return bad_value(ld, kv, name, want, err);
        }
        break;
    case KIND_BASE64:
        if (!s || (*s && !is_base64_of(s, k->bytes))) {
            _cleanup_free_ char *want =
                xasprintf("must be the base64 of %zu bytes, or \"\" for none", k->bytes);
            return bad_value(ld, kv, name, want, err);
        }
        break;
    case KIND_VERITY: {
        struct verity_params p;
        _cleanup_(error_clearp) struct error why = ERROR_INIT;
        if (!s)
            return bad_value(ld, kv, name, "must be a string", err);
        if (*s && verity_params_parse(s, &p, &why) < 0)
            return fail_at(ld->file, kv->key_pos, err, "%s: %s", name, why.msg);
        break;
    }
    default:
        abort();
    }
    set_string(field(ld->cfg, k), s);
    return 0;
}

static int apply_enum(struct loader *ld, const struct key *k, const struct toml_keyval *kv,
                      const char *name, struct error *err)
{
    const struct toml_value *v = kv->value;
    int i = is_plain_string(v) ? choice_index(k->choices, v->u.string.ptr) : -1;
    if (i < 0) {
        _cleanup_free_ char *choices = choices_text(k->choices);
        _cleanup_free_ char *want = xasprintf("must be %s", choices);
        return bad_value(ld, kv, name, want, err);
    }
    *(int *)field(ld->cfg, k) = i;
    return 0;
}

static int apply_integer(struct loader *ld, const struct key *k, const struct toml_keyval *kv,
                         const char *name, struct error *err)
{
    const struct toml_value *v = kv->value;
    if (v->type != TOML_INTEGER || v->u.integer < k->min || v->u.integer > k->max) {
        if (k->want)
            return bad_value(ld, kv, name, k->want, err);
        _cleanup_free_ char *want =
            xasprintf(k->max == INT64_MAX ? "must be an integer of at least %" PRId64
                                          : "must be an integer from %" PRId64 " to %" PRId64,
                      k->min, k->max);
        return bad_value(ld, kv, name, want, err);
    }
    if (k->kind == KIND_UINT) {
        *(unsigned *)field(ld->cfg, k) = (unsigned)v->u.integer;
        return 0;
    }
    if (k->kind == KIND_INT) {
        *(int *)field(ld->cfg, k) = (int)v->u.integer;
        return 0;
    }
    const char *why = k->check ? k->check((uint64_t)v->u.integer) : NULL;
    if (why)
        return fail_at(ld->file, kv->key_pos, err, "%s: 0x%" PRIx64 ": %s", name,
                       (uint64_t)v->u.integer, why);
    *(uint64_t *)field(ld->cfg, k) = (uint64_t)v->u.integer;
    return 0;
}

/* An integer or a float, kept in thousandths so that sums stay exact (0.4 + 1.5 vCPUs is 1.9,
 * not 1.9000000001); -1 is CONFIG_UNSET. */
static int apply_milli(struct loader *ld, const struct key *k, const struct toml_keyval *kv,
                       const char *name, struct error *err)
{
    const struct toml_value *v = kv->value;
    double x = v->type == TOML_INTEGER ? (double)v->u.integer
               : v->type == TOML_FLOAT ? v->u.flt
                                       : -2;
    if (x == -1) {
        *(int *)field(ld->cfg, k) = CONFIG_UNSET;
        return 0;
    }
    double scaled = x * 1000;
    /* the comparisons also refuse NaN */
    if (!(scaled >= (double)k->min && scaled <= (double)k->max))
        return bad_value(ld, kv, name, k->want, err);
    long long milli = (long long)(scaled + 0.5);
    if (scaled - (double)milli > 1e-6 || (double)milli - scaled > 1e-6)
        return bad_value(ld, kv, name, k->want, err);
    *(int *)field(ld->cfg, k) = (int)milli;
    return 0;
}

/* --- [[hypervisor.libvirt.guest_extension_images]] --- */

static bool is_extension_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > CONFIG_EXTENSION_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
            return false;
    return true;
}

/* One member of an extension's table, checked and set in e. */
static int apply_extension_member(struct loader *ld, const struct toml_keyval *kv, const char *name,
                                  struct config_extension *e, struct error *err)
{
    const struct toml_value *v = kv->value;
    const char *s = is_plain_string(v) ? v->u.string.ptr : NULL;
    char **slot;
    if (strlen(kv->key) != kv->key_len) {
        return fail_at(ld->file, kv->key_pos, err, "%s: unknown key", name);
    } else if (strcmp(kv->key, "name") == 0) {
        if (!s || !is_extension_name(s))
            return bad_value(ld, kv, name,
                             "must be 1 to 10 ASCII letters, digits, '-' or '_' (it names the "
                             "virtio-blk serial extension-<name>, at most 20 bytes, and the "
                             "kernel parameter kata.extension.<name>.verity_params)",
                             err);
        slot = &e->name;
    } else if (strcmp(kv->key, "path") == 0) {
        if (!s || !is_absolute(s))
            return bad_value(ld, kv, name, "must be an absolute path", err);
        slot = &e->path;
    } else if (strcmp(kv->key, "verity_params") == 0) {
        struct verity_params p;
        _cleanup_(error_clearp) struct error why = ERROR_INIT;
        if (!s)
            return bad_value(ld, kv, name, "must be a string", err);
        if (*s && verity_params_parse(s, &p, &why) < 0)
            return fail_at(ld->file, kv->key_pos, err, "%s: %s", name, why.msg);
        slot = &e->verity_params;
    } else {
        return fail_at(ld->file, kv->key_pos, err,
                       "unknown key \"%s\" (an extension has name, path and verity_params)", name);
    }
    set_string(slot, s);
    return 0;
}

static int apply_extension(struct loader *ld, const struct toml_value *t, const char *name,
                           struct config_extension *e, struct error *err)
{
    for (size_t i = 0; i < t->u.table.len; i++) {
        const struct toml_keyval *kv = &t->u.table.items[i];
        _cleanup_free_ char *member = xasprintf("%s.%s", name, kv->key);
        if (apply_extension_member(ld, kv, member, e, err) < 0)
            return -1;
    }
    if (!*e->name || !*e->path)
        return fail_at(ld->file, t->pos, err, "%s: needs %s", name,
                       !*e->name ? "a name" : "a path (an absolute path)");
    return 0;
}

static int apply_extensions(struct loader *ld, const struct key *k, const struct toml_keyval *kv,
                            const char *name, struct error *err)
{
    const struct toml_value *v = kv->value;
    if (v->type != TOML_ARRAY)
        return bad_value(ld, kv, name,
                         "must be an array of tables ([[" HV ".guest_extension_images]])", err);
    struct config_extensions list = {
        .items = xcalloc(v->u.array.len + 1, sizeof(*list.items)),
    };
    int r = 0;
    for (size_t i = 0; r == 0 && i < v->u.array.len; i++) {
        const struct toml_value *t = v->u.array.items[i];
        _cleanup_free_ char *item = xasprintf("%s[%zu]", name, i);
        struct config_extension *e = &list.items[list.len++];
        e->name = xstrdup("");
        e->path = xstrdup("");
        e->verity_params = xstrdup("");
        if (t->type != TOML_TABLE) {
            _cleanup_free_ char *got = describe(t);
            r = fail_at(ld->file, t->pos, err, "%s: must be a table, got %s", item, got);
            break;
        }
        r = apply_extension(ld, t, item, e, err);
        for (size_t j = 0; r == 0 && j + 1 < list.len; j++)
            if (strcmp(list.items[j].name, e->name) == 0)
                r = fail_at(ld->file, t->pos, err,
                            "%s: name \"%s\" is already %s[%zu]'s (the guest finds each "
                            "extension by its name)",
                            item, e->name, name, j);
    }
    if (r < 0) {
        extensions_clear(&list);
        return -1;
    }
    struct config_extensions *slot = field(ld->cfg, k);
    extensions_clear(slot); /* arrays replace, they do not append */
    *slot = list;
    return 0;
}

static int check_list_item(struct loader *ld, const struct key *k, const struct toml_value *item,
                           const char *name, size_t i, struct error *err)
{
    if (k->kind == KIND_REGEXES) {
        _cleanup_(error_clearp) struct error why = ERROR_INIT;
        if (overrides_check_regex(item->u.string.ptr, &why) < 0)
            return fail_at(ld->file, item->pos, err, "%s[%zu]: %s", name, i, why.msg);
        return 0;
    }
    if (!is_absolute(item->u.string.ptr))
        return fail_at(ld->file, item->pos, err,
                       "%s[%zu]: must be a glob on absolute paths, got \"%s\"", name, i,
                       item->u.string.ptr);
    return 0;
}

static int apply_list(struct loader *ld, const struct key *k, const struct toml_keyval *kv,
                      const char *name, struct error *err)
{
    const struct toml_value *v = kv->value;
    if (v->type != TOML_ARRAY)
        return bad_value(ld, kv, name, "must be an array of strings", err);
    for (size_t i = 0; i < v->u.array.len; i++) {
        const struct toml_value *item = v->u.array.items[i];
        if (!is_plain_string(item)) {
            _cleanup_free_ char *got = describe(item);
            return fail_at(ld->file, item->pos, err, "%s[%zu]: must be a string, got %s", name, i,
                           got);
        }
        if (check_list_item(ld, k, item, name, i, err) < 0)
            return -1;
    }
    struct config_list *l = field(ld->cfg, k);
    list_clear(l); /* arrays replace, they do not append */
    for (size_t i = 0; i < v->u.array.len; i++)
        list_add(l, v->u.array.items[i]->u.string.ptr);
    return 0;
}

static int apply_key(struct loader *ld, const struct key *k, const struct toml_keyval *kv,
                     const char *name, struct error *err)
{
    int r;
    switch (k->kind) {
    case KIND_ENUM:
        r = apply_enum(ld, k, kv, name, err);
        break;
    case KIND_BOOL:
        if (kv->value->type != TOML_BOOL)
            return bad_value(ld, kv, name, "must be true or false", err);
        *(bool *)field(ld->cfg, k) = kv->value->u.boolean;
        r = 0;
        break;
    case KIND_UINT:
    case KIND_U64:
    case KIND_INT:
        r = apply_integer(ld, k, kv, name, err);
        break;
    case KIND_MILLI:
        r = apply_milli(ld, k, kv, name, err);
        break;
    case KIND_REGEXES:
    case KIND_GLOBS:
        r = apply_list(ld, k, kv, name, err);
        break;
    case KIND_EXTENSIONS:
        r = apply_extensions(ld, k, kv, name, err);
        break;
    default:
        r = apply_string(ld, k, kv, name, err);
        break;
    }
    if (r == 0)
        ld->origins[k - keys] = (struct origin){ld->file, kv->key_pos};
    return r;
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
                return bad_value(ld, kv, name, "must be a table", err);
            if (apply_table(ld, kv->value, name, err) < 0)
                return -1;
        } else {
            return fail_at(ld->file, kv->key_pos, err, "unknown key \"%s\"", name);
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
    list_add(&ld->cfg->files, path);
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
            list_add(out, file);
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
    const struct origin *o = &ld->origins[k - keys];
    if (o->file)
        return fail_at(o->file, o->pos, err, "%s.%s: %s", k->section, k->name, msg);
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
    struct loader ld = {.cfg = cfg};
    if (apply_file(&ld, path, err) < 0)
        return -1;
    struct config_list dropins = {0};
    int r = list_dropins(path, &dropins, err);
    for (size_t i = 0; r == 0 && i < dropins.len; i++)
        r = apply_file(&ld, dropins.items[i], err);
    list_clear(&dropins);
    if (r < 0 || check_config(&ld, err) < 0)
        return -1;
    *out = TAKE_PTR(cfg);
    return 0;
}

/* --- dump --- */

static void dump_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* CONFIG_UNSET as -1, else the shortest float: 400 -> 0.4, 2000 -> 2.0 */
static void dump_milli(FILE *f, int milli)
{
    if (milli == CONFIG_UNSET) {
        fputs("-1", f);
        return;
    }
    char frac[8];
    snprintf(frac, sizeof(frac), "%03u", (unsigned)milli % 1000);
    for (int i = 2; i > 0 && frac[i] == '0'; i--)
        frac[i] = '\0';
    fprintf(f, "%d.%s", milli / 1000, frac);
}

/* Inline tables, so that the array stays a key of [hypervisor.libvirt] like every other. */
static void dump_extensions(FILE *f, const struct config_extensions *l)
{
    fputc('[', f);
    for (size_t i = 0; i < l->len; i++) {
        fputs(i ? ", {name = " : "{name = ", f);
        dump_string(f, l->items[i].name);
        fputs(", path = ", f);
        dump_string(f, l->items[i].path);
        fputs(", verity_params = ", f);
        dump_string(f, l->items[i].verity_params);
        fputc('}', f);
    }
    fputc(']', f);
}

static void dump_value(const struct config *cfg, const struct key *k, FILE *f)
{
    const void *p = cfield(cfg, k);
    switch (k->kind) {
    case KIND_STRING:
    case KIND_PATH:
    case KIND_CHOICE:
    case KIND_BASE64:
    case KIND_VERITY:
        dump_string(f, *(char *const *)p);
        break;
    case KIND_ENUM:
        dump_string(f, k->choices[*(const int *)p]);
        break;
    case KIND_BOOL:
        fputs(*(const bool *)p ? "true" : "false", f);
        break;
    case KIND_UINT:
        fprintf(f, "%u", *(const unsigned *)p);
        break;
    case KIND_INT:
        fprintf(f, "%d", *(const int *)p);
        break;
    case KIND_MILLI:
        dump_milli(f, *(const int *)p);
        break;
    case KIND_EXTENSIONS:
        dump_extensions(f, p);
        break;
    case KIND_U64: /* policies are bit masks */
        fprintf(f, "0x%" PRIx64, *(const uint64_t *)p);
        break;
    case KIND_REGEXES:
    case KIND_GLOBS: {
        const struct config_list *l = p;
        fputc('[', f);
        for (size_t i = 0; i < l->len; i++) {
            if (i)
                fputs(", ", f);
            dump_string(f, l->items[i]);
        }
        fputc(']', f);
        break;
    }
    }
}

void config_dump(const struct config *cfg, FILE *f)
{
    fputs("# Effective cocoon configuration", f);
    for (size_t i = 0; i < cfg->files.len; i++)
        fprintf(f, "%s%s", i ? "\n#   + " : ", from\n#   ", cfg->files.items[i]);
    fputc('\n', f);
    const char *section = NULL;
    for (size_t i = 0; i < N_KEYS; i++) {
        if (!section || strcmp(section, keys[i].section) != 0) {
            section = keys[i].section;
            fprintf(f, "\n[%s]\n", section);
        }
        fprintf(f, "%s = ", keys[i].name);
        dump_value(cfg, &keys[i], f);
        fputc('\n', f);
    }
}

void config_initdata_limits(const struct config *cfg, struct initdata_limits *out)
{
    *out = (struct initdata_limits){
        .max_annotation = (size_t)cfg->runtime.initdata_annotation_limit_kib * 1024,
        .max_decompressed = (size_t)cfg->runtime.initdata_document_limit_kib * 1024,
        .max_annotation_name = "[runtime] initdata_annotation_limit_kib",
        .max_decompressed_name = "[runtime] initdata_document_limit_kib",
    };
}

/* The annotation's form is all base64 (and line breaks); a TOML document never is, since its
 * version = "0.1.0" needs quotes. */
static bool is_annotation_form(const char *s)
{
    for (; *s; s++)
        if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\r\n", *s))
            return false;
    return true;
}

int config_default_initdata(const struct config *cfg, struct initdata **out, struct error *err)
{
    const char *value = cfg->hypervisor.initdata;
    *out = NULL;
    if (!*value)
        return 0;
    struct initdata_limits lim;
    config_initdata_limits(cfg, &lim);
    if (is_annotation_form(value))
        return initdata_from_annotation(value, &lim, out, err);
    size_t len = strlen(value);
    if (len > lim.max_decompressed)
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "init-data: document is %zu bytes, over the %zu-byte limit set by %s", len,
                         lim.max_decompressed, lim.max_decompressed_name);
    return initdata_from_toml(value, len, out, err);
}
