#include "annotations/overrides.h"

#include <errno.h>
#include <fnmatch.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "annotations/verity.h"
#include "lib/xalloc.h"

#define REGEX_FLAGS (REG_EXTENDED | REG_NOSUB)

enum kind {
    KIND_VCPUS,
    KIND_MEMORY,
    KIND_KERNEL_PARAMS,
    KIND_VERITY,
    KIND_PATH,
    KIND_LATER, /* known, handled by another module or a later change */
};

struct supported {
    const char *suffix;
    enum kind kind;
    const char *config_key; /* KIND_PATH: the valid_*_paths list that allows it */
};

static const struct supported supported[] = {
    {"default_vcpus", KIND_VCPUS, NULL},
    {"default_memory", KIND_MEMORY, NULL},
    {"kernel_params", KIND_KERNEL_PARAMS, NULL},
    {"kernel_verity_params", KIND_VERITY, NULL},
    {"kernel", KIND_PATH, "valid_kernel_paths"},
    {"initrd", KIND_PATH, "valid_initrd_paths"},
    {"image", KIND_PATH, "valid_image_paths"},
    {"firmware", KIND_PATH, "valid_firmware_paths"},
    /* Init-data is decoded (initdata.h) and bound to HOST_DATA / MRCONFIGID by the VM plan
     * (shim/sandbox-vm.c); here it is only a known key, gated by enable_annotations like the
     * others. */
    {"cc_init_data", KIND_LATER, NULL},
};

static const struct supported *find_supported(const char *suffix)
{
    for (size_t i = 0; i < sizeof(supported) / sizeof(supported[0]); i++)
        if (strcmp(supported[i].suffix, suffix) == 0)
            return &supported[i];
    return NULL;
}

static int compile(regex_t *re, const char *regex, struct error *err)
{
    int rc = regcomp(re, regex, REGEX_FLAGS);
    if (rc == 0)
        return 0;
    char msg[256];
    regerror(rc, re, msg, sizeof(msg));
    return error_set(err, GRPC_INVALID_ARGUMENT, "invalid regular expression \"%s\": %s", regex,
                     msg);
}

int overrides_check_regex(const char *regex, struct error *err)
{
    regex_t re;
    if (compile(&re, regex, err) < 0)
        return -1;
    regfree(&re);
    return 0;
}

static int is_enabled(const struct overrides_list *regexes, const char *suffix, bool *enabled,
                      struct error *err)
{
    *enabled = false;
    for (size_t i = 0; i < regexes->len && !*enabled; i++) {
        regex_t re;
        if (compile(&re, regexes->items[i], err) < 0)
            return error_wrap(err, "enable_annotations");
        *enabled = regexec(&re, suffix, 0, NULL, 0) == 0;
        regfree(&re);
    }
    return 0;
}

/* A decimal number in [min, max], written plainly (Kata: strconv.ParseUint base 10). */
static int parse_count(const char *key, const char *value, unsigned min, unsigned max,
                       unsigned *out, struct error *err)
{
    bool digits = *value != '\0';
    for (const char *p = value; *p; p++)
        digits = digits && *p >= '0' && *p <= '9';
    errno = 0;
    unsigned long long v = digits ? strtoull(value, NULL, 10) : 0;
    if (!digits || errno == ERANGE || v < min || v > max)
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "annotation \"%s\": must be an integer from %u to %u, got \"%s\"", key,
                         min, max, value);
    *out = (unsigned)v;
    return 0;
}

/* Absolute, with no empty, "." or ".." component, so a glob sees the path the VM will use. */
static bool is_clean_absolute(const char *path)
{
    if (path[0] != '/' || path[1] == '\0')
        return false;
    for (const char *p = path + 1;;) {
        size_t n = strcspn(p, "/");
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        if (p[n] == '\0')
            return true;
        p += n + 1;
    }
}

static bool matches_glob(const struct overrides_list *globs, const char *path)
{
    for (size_t i = 0; i < globs->len; i++)
        if (fnmatch(globs->items[i], path, FNM_PATHNAME) == 0)
            return true;
    return false;
}

static const struct overrides_list *path_globs(const struct overrides_allow *allow,
                                               const char *suffix)
{
    if (strcmp(suffix, "kernel") == 0)
        return &allow->valid_kernel_paths;
    if (strcmp(suffix, "initrd") == 0)
        return &allow->valid_initrd_paths;
    if (strcmp(suffix, "image") == 0)
        return &allow->valid_image_paths;
    return &allow->valid_firmware_paths;
}

static char **path_slot(struct overrides *o, const char *suffix)
{
    if (strcmp(suffix, "kernel") == 0)
        return &o->kernel;
    if (strcmp(suffix, "initrd") == 0)
        return &o->initrd;
    if (strcmp(suffix, "image") == 0)
        return &o->image;
    return &o->firmware;
}

static int apply_path(const struct overrides_allow *allow, const struct supported *s,
                      const struct annotation *a, struct overrides *o, struct error *err)
{
    if (!is_clean_absolute(a->value))
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "annotation \"%s\": path \"%s\" must be absolute, without \".\", \"..\" "
                         "or empty components",
                         a->key, a->value);
    if (!matches_glob(path_globs(allow, s->suffix), a->value))
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "annotation \"%s\": path \"%s\" is not allowed: add a glob matching it "
                         "to [hypervisor.libvirt] %s",
                         a->key, a->value, s->config_key);
    char **slot = path_slot(o, s->suffix);
    free(*slot);
    *slot = xstrdup(a->value);
    return 0;
}

/* Kata's replace_kernel_verity_params: an empty value keeps the configured parameters, any other
 * must parse and replaces them. */
static int apply_verity(const struct annotation *a, struct overrides *o, struct error *err)
{
    if (!*a->value)
        return 0;
    struct verity_params p;
    if (verity_params_parse(a->value, &p, err) < 0)
        return error_wrap(err, "annotation \"%s\"", a->key);
    free(o->kernel_verity_params);
    o->kernel_verity_params = xstrdup(a->value);
    return 0;
}

static void add_ignored(struct overrides *o, const char *key)
{
    o->ignored = xrealloc(o->ignored, (o->n_ignored + 1) * sizeof(*o->ignored));
    o->ignored[o->n_ignored++] = xstrdup(key);
}

static int apply(const struct overrides_allow *allow, const struct annotation *a,
                 const char *suffix, struct overrides *o, struct error *err)
{
    const struct supported *s = find_supported(suffix);
    if (!s) {
        add_ignored(o, a->key);
        return 0;
    }
    switch (s->kind) {
    case KIND_VCPUS:
        return parse_count(a->key, a->value, 1, OVERRIDES_MAX_VCPUS, &o->vcpus, err);
    case KIND_MEMORY:
        return parse_count(a->key, a->value, OVERRIDES_MIN_MEMORY_MIB, OVERRIDES_MAX_MEMORY_MIB,
                           &o->memory_mib, err);
    case KIND_KERNEL_PARAMS:
        free(o->kernel_params);
        o->kernel_params = *a->value ? xstrdup(a->value) : NULL;
        return 0;
    case KIND_VERITY:
        return apply_verity(a, o, err);
    case KIND_PATH:
        return apply_path(allow, s, a, o, err);
    case KIND_LATER:
        return 0;
    }
    return 0;
}

int overrides_compute(const struct overrides_allow *allow, const struct annotation *anns, size_t n,
                      struct overrides *out, struct error *err)
{
    static const size_t prefix_len = sizeof(ANNOTATION_HYPERVISOR_PREFIX) - 1;
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < n; i++) {
        const struct annotation *a = &anns[i];
        if (strncmp(a->key, ANNOTATION_HYPERVISOR_PREFIX, prefix_len) != 0)
            continue;
        const char *suffix = a->key + prefix_len;
        bool enabled;
        if (is_enabled(&allow->enable_annotations, suffix, &enabled, err) < 0)
            return -1;
        if (!enabled)
            return error_set(err, GRPC_INVALID_ARGUMENT,
                             "annotation \"%s\" is not enabled: add \"%s\" to "
                             "[hypervisor.libvirt] enable_annotations",
                             a->key, suffix);
        if (apply(allow, a, suffix, out, err) < 0)
            return -1;
    }
    return 0;
}

void overrides_free(struct overrides *o)
{
    if (!o)
        return;
    free(o->kernel_params);
    free(o->kernel_verity_params);
    free(o->kernel);
    free(o->initrd);
    free(o->image);
    free(o->firmware);
    for (size_t i = 0; i < o->n_ignored; i++)
        free(o->ignored[i]);
    free(o->ignored);
    memset(o, 0, sizeof(*o));
}
