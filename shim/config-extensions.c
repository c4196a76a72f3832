/* [[hypervisor.libvirt.guest_extension_images]]: an array of tables, each checked member by
 * member (shim/config.h's struct config_extension). */
#include <stdlib.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/xalloc.h"
#include "shim/config-keys.h"

void config_extensions_clear(struct config_extensions *l)
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
        return config_fail_at(ld->file, kv->key_pos, err, "%s: unknown key", name);
    } else if (strcmp(kv->key, "name") == 0) {
        if (!s || !is_extension_name(s))
            return config_bad_value(
                ld, kv, name,
                "must be 1 to 10 ASCII letters, digits, '-' or '_' (it names the "
                "virtio-blk serial extension-<name>, at most 20 bytes, and the "
                "kernel parameter kata.extension.<name>.verity_params)",
                err);
        slot = &e->name;
    } else if (strcmp(kv->key, "path") == 0) {
        if (!s || !is_absolute(s))
            return config_bad_value(ld, kv, name, "must be an absolute path", err);
        slot = &e->path;
    } else if (strcmp(kv->key, "verity_params") == 0) {
        if (config_check_verity(ld, kv, name, s, err) < 0)
            return -1;
        slot = &e->verity_params;
    } else {
        return config_fail_at(ld->file, kv->key_pos, err,
                              "unknown key \"%s\" (an extension has name, path and verity_params)",
                              name);
    }
    config_set_string(slot, s);
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
        return config_fail_at(ld->file, t->pos, err, "%s: needs %s", name,
                              !*e->name ? "a name" : "a path (an absolute path)");
    return 0;
}

int config_apply_extensions(struct loader *ld, const struct key *k, const struct toml_keyval *kv,
                            const char *name, struct error *err)
{
    const struct toml_value *v = kv->value;
    if (v->type != TOML_ARRAY)
        return config_bad_value(
            ld, kv, name, "must be an array of tables ([[" HV ".guest_extension_images]])", err);
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
            _cleanup_free_ char *got = config_describe(t);
            r = config_fail_at(ld->file, t->pos, err, "%s: must be a table, got %s", item, got);
            break;
        }
        r = apply_extension(ld, t, item, e, err);
        for (size_t j = 0; r == 0 && j + 1 < list.len; j++)
            if (strcmp(list.items[j].name, e->name) == 0)
                r = config_fail_at(ld->file, t->pos, err,
                                   "%s: name \"%s\" is already %s[%zu]'s (the guest finds each "
                                   "extension by its name)",
                                   item, e->name, name, j);
    }
    if (r < 0) {
        config_extensions_clear(&list);
        return -1;
    }
    struct config_extensions *slot = field(ld->cfg, k);
    config_extensions_clear(slot); /* arrays replace, they do not append */
    *slot = list;
    return 0;
}
