/* Checking and setting one key's value by its kind (shim/config-keys.h), and the messages that
 * refuse a value. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "annotations/overrides.h"
#include "annotations/verity.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"
#include "shim/config-keys.h"

int config_fail_at(const char *file, struct toml_pos pos, struct error *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *msg = xvasprintf(fmt, ap);
    va_end(ap);
    return error_set(err, GRPC_INVALID_ARGUMENT, "%s:%d:%d: %s", file, pos.line, pos.col, msg);
}

char *config_describe(const struct toml_value *v)
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

int config_bad_value(const struct loader *ld, const struct toml_keyval *kv, const char *name,
                     const char *want, struct error *err)
{
    _cleanup_free_ char *got = config_describe(kv->value);
    return config_fail_at(ld->file, kv->key_pos, err, "%s: %s, got %s", name, want, got);
}

int config_check_verity(const struct loader *ld, const struct toml_keyval *kv, const char *name,
                        const char *s, struct error *err)
{
    struct verity_params p;
    _cleanup_(error_clearp) struct error why = ERROR_INIT;
    if (!s)
        return config_bad_value(ld, kv, name, "must be a string", err);
    if (*s && verity_params_parse(s, &p, &why) < 0)
        return config_fail_at(ld->file, kv->key_pos, err, "%s: %s", name, why.msg);
    return 0;
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
            return config_bad_value(
                ld, kv, name, k->required ? "must be a non-empty string" : "must be a string", err);
        break;
    case KIND_PATH:
        if (!s || (*s && !is_absolute(s)) || (k->required && !*s))
            return config_bad_value(ld, kv, name,
                                    k->required ? "must be an absolute path"
                                                : "must be an absolute path, or \"\" for none",
                                    err);
        break;
    case KIND_CHOICE:
        if (!s || choice_index(k->choices, s) < 0) {
            _cleanup_free_ char *choices = choices_text(k->choices);
            _cleanup_free_ char *want = xasprintf("must be %s", choices);
            return config_bad_value(ld, kv, name, want, err);
        }
        break;
    case KIND_BASE64:
        if (!s || (*s && !is_base64_of(s, k->bytes))) {
            _cleanup_free_ char *want =
                xasprintf("must be the base64 of %zu bytes, or \"\" for none", k->bytes);
            return config_bad_value(ld, kv, name, want, err);
        }
        break;
    case KIND_VERITY:
        if (config_check_verity(ld, kv, name, s, err) < 0)
            return -1;
        break;
    default:
        abort();
    }
    config_set_string(field(ld->cfg, k), s);
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
        return config_bad_value(ld, kv, name, want, err);
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
            return config_bad_value(ld, kv, name, k->want, err);
        _cleanup_free_ char *want =
            xasprintf(k->max == INT64_MAX ? "must be an integer of at least %" PRId64
                                          : "must be an integer from %" PRId64 " to %" PRId64,
                      k->min, k->max);
        return config_bad_value(ld, kv, name, want, err);
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
        return config_fail_at(ld->file, kv->key_pos, err, "%s: 0x%" PRIx64 ": %s", name,
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
        return config_bad_value(ld, kv, name, k->want, err);
    long long milli = (long long)(scaled + 0.5);
    if (scaled - (double)milli > 1e-6 || (double)milli - scaled > 1e-6)
        return config_bad_value(ld, kv, name, k->want, err);
    *(int *)field(ld->cfg, k) = (int)milli;
    return 0;
}

static int check_list_item(struct loader *ld, const struct key *k, const struct toml_value *item,
                           const char *name, size_t i, struct error *err)
{
    if (k->kind == KIND_REGEXES) {
        _cleanup_(error_clearp) struct error why = ERROR_INIT;
        if (overrides_check_regex(item->u.string.ptr, &why) < 0)
            return config_fail_at(ld->file, item->pos, err, "%s[%zu]: %s", name, i, why.msg);
        return 0;
    }
    if (!is_absolute(item->u.string.ptr))
        return config_fail_at(ld->file, item->pos, err,
                              "%s[%zu]: must be a glob on absolute paths, got \"%s\"", name, i,
                              item->u.string.ptr);
    return 0;
}

static int apply_list(struct loader *ld, const struct key *k, const struct toml_keyval *kv,
                      const char *name, struct error *err)
{
    const struct toml_value *v = kv->value;
    if (v->type != TOML_ARRAY)
        return config_bad_value(ld, kv, name, "must be an array of strings", err);
    for (size_t i = 0; i < v->u.array.len; i++) {
        const struct toml_value *item = v->u.array.items[i];
        if (!is_plain_string(item)) {
            _cleanup_free_ char *got = config_describe(item);
            return config_fail_at(ld->file, item->pos, err, "%s[%zu]: must be a string, got %s",
                                  name, i, got);
        }
        if (check_list_item(ld, k, item, name, i, err) < 0)
            return -1;
    }
    struct config_list *l = field(ld->cfg, k);
    config_list_clear(l); /* arrays replace, they do not append */
    for (size_t i = 0; i < v->u.array.len; i++)
        config_list_add(l, v->u.array.items[i]->u.string.ptr);
    return 0;
}

int config_apply_value(struct loader *ld, const struct key *k, const struct toml_keyval *kv,
                       const char *name, struct error *err)
{
    switch (k->kind) {
    case KIND_ENUM:
        return apply_enum(ld, k, kv, name, err);
    case KIND_BOOL:
        if (kv->value->type != TOML_BOOL)
            return config_bad_value(ld, kv, name, "must be true or false", err);
        *(bool *)field(ld->cfg, k) = kv->value->u.boolean;
        return 0;
    case KIND_UINT:
    case KIND_U64:
    case KIND_INT:
        return apply_integer(ld, k, kv, name, err);
    case KIND_MILLI:
        return apply_milli(ld, k, kv, name, err);
    case KIND_REGEXES:
    case KIND_GLOBS:
        return apply_list(ld, k, kv, name, err);
    case KIND_EXTENSIONS:
        return config_apply_extensions(ld, k, kv, name, err);
    default:
        return apply_string(ld, k, kv, name, err);
    }
}
