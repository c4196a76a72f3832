#include "node/containerd-config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

const struct ctd_runtime ctd_runtimes[CTD_N_RUNTIMES] = {
    {"cocoon-snp", "cocoon-snp.toml"},
    {"cocoon-tdx", "cocoon-tdx.toml"},
    {"cocoon-dev", "cocoon-dev.toml"},
    {"cocoon-snp-debug", "debug-snp/cocoon.toml"},
    {"cocoon-tdx-debug", "debug-tdx/cocoon.toml"},
    {"cocoon-dev-debug", "debug-dev/cocoon.toml"},
};

const char *ctd_cri_runtime_plugin(int version)
{
    switch (version) {
    case 2:
        return "io.containerd.grpc.v1.cri";
    case 3:
        return "io.containerd.cri.v1.runtime";
    default:
        return NULL;
    }
}

/* The plugin ids that, listed in disabled_plugins, leave the CRI runtimes unused. */
static const char *const cri_plugins_v2[] = {"io.containerd.grpc.v1.cri", "cri", NULL};
static const char *const cri_plugins_v3[] = {"io.containerd.grpc.v1.cri",
                                             "io.containerd.cri.v1.runtime",
                                             "io.containerd.cri.v1.images", NULL};

const char *ctd_toml_string(const struct toml_value *table, const char *dotted)
{
    _cleanup_free_ char *copy = xstrdup(dotted);
    const struct toml_value *v = table;
    char *save = NULL;
    for (char *k = strtok_r(copy, ".", &save); k && v; k = strtok_r(NULL, ".", &save))
        v = toml_table_get(v, k);
    return v && v->type == TOML_STRING ? v->u.string.ptr : NULL;
}

int ctd_config_version(const char *path, const struct toml_value *root, int *version,
                       struct error *err)
{
    const struct toml_value *v = toml_table_get(root, "version");
    if (!v) {
        *version = 1;
        return 0;
    }
    if (v->type != TOML_INTEGER || v->u.integer < 1 || v->u.integer > 1000)
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "%s:%d: version: want an integer (2 for containerd 1.6/1.7, 3 for 2.x), "
                         "got a %s",
                         path, v->pos.line, toml_type_name(v->type));
    *version = (int)v->u.integer;
    return 0;
}

/* plugins.<plugin>.containerd.runtimes of root: the table, NULL if absent; -1 with err set if
 * one of them is something else than a table (then nothing can be appended under it). */
static int runtimes_table(const char *path, const struct toml_value *root, int version,
                          const struct toml_value **out, struct error *err)
{
    const char *chain[] = {"plugins", ctd_cri_runtime_plugin(version), "containerd", "runtimes"};
    const struct toml_value *t = root;
    *out = NULL;
    for (size_t i = 0; i < sizeof(chain) / sizeof(chain[0]); i++) {
        const struct toml_value *next = toml_table_get(t, chain[i]);
        if (!next)
            return 0;
        if (next->type != TOML_TABLE)
            return error_set(err, GRPC_INVALID_ARGUMENT,
                             "%s:%d: %s is a %s, where containerd wants a table (the CRI "
                             "runtimes go under plugins.\"%s\".containerd.runtimes)",
                             path, next->pos.line, chain[i], toml_type_name(next->type),
                             ctd_cri_runtime_plugin(version));
        t = next;
    }
    *out = t;
    return 0;
}

const struct toml_value *ctd_config_runtimes(const struct toml_value *root, int version)
{
    if (!ctd_cri_runtime_plugin(version))
        return NULL;
    const struct toml_value *t = NULL;
    struct error ignored = ERROR_INIT;
    runtimes_table("", root, version, &t, &ignored);
    error_clear(&ignored);
    return t;
}

static bool array_has(const struct toml_value *a, const char *s)
{
    if (!a || a->type != TOML_ARRAY)
        return false;
    for (size_t i = 0; i < a->u.array.len; i++) {
        const struct toml_value *e = a->u.array.items[i];
        if (e->type == TOML_STRING && strcmp(e->u.string.ptr, s) == 0)
            return true;
    }
    return false;
}

/* How a value reads in a message: a string quoted, anything else by its type. */
static char *describe(const struct toml_value *v)
{
    if (!v)
        return xstrdup("not set");
    if (v->type == TOML_STRING)
        return xasprintf("\"%s\"", v->u.string.ptr);
    if (v->type == TOML_BOOL)
        return xstrdup(v->u.boolean ? "true" : "false");
    return xasprintf("a %s", toml_type_name(v->type));
}

static int line_of(const struct toml_value *v, const struct toml_value *table)
{
    return v ? v->pos.line : table->pos.line;
}

static void want_string(struct buf *problems, const char *path, const struct toml_value *table,
                        const struct toml_value *v, const char *key, const char *want)
{
    if (v && v->type == TOML_STRING && strcmp(v->u.string.ptr, want) == 0)
        return;
    _cleanup_free_ char *got = describe(v);
    _cleanup_free_ char *line = xasprintf("  %s:%d: %s is %s, cocoon's is \"%s\"\n", path,
                                          line_of(v, table), key, got, want);
    buf_append_str(problems, line);
}

static void want_in_array(struct buf *problems, const char *path, const struct toml_value *table,
                          const struct toml_value *v, const char *key, const char *want)
{
    if (array_has(v, want))
        return;
    _cleanup_free_ char *got = describe(v);
    _cleanup_free_ char *line =
        xasprintf("  %s:%d: %s is %s, without \"%s\"\n", path, line_of(v, table), key, got, want);
    buf_append_str(problems, line);
}

/* Appends to problems one line per key of an existing runtime table that differs from what
 * cocoon would write. Keys cocoon does not write (snapshotter, ...) are the user's business. */
static void compare_runtime(struct buf *problems, const char *path, const struct toml_value *rt,
                            int version, const char *config_path)
{
    if (rt->type != TOML_TABLE) {
        _cleanup_free_ char *line = xasprintf("  %s:%d: it is a %s, not a table\n", path,
                                              rt->pos.line, toml_type_name(rt->type));
        buf_append_str(problems, line);
        return;
    }
    want_string(problems, path, rt, toml_table_get(rt, "runtime_type"), "runtime_type",
                CTD_RUNTIME_TYPE);
    const struct toml_value *opts = toml_table_get(rt, "options");
    const struct toml_value *cp =
        opts && opts->type == TOML_TABLE ? toml_table_get(opts, "ConfigPath") : NULL;
    want_string(problems, path, opts ? opts : rt, cp, "options.ConfigPath", config_path);
    want_in_array(problems, path, rt, toml_table_get(rt, "pod_annotations"), "pod_annotations",
                  CTD_POD_ANNOTATIONS);
    want_in_array(problems, path, rt, toml_table_get(rt, "container_annotations"),
                  "container_annotations", CTD_CONTAINER_ANNOTATIONS);
    const struct toml_value *priv = toml_table_get(rt, "privileged_without_host_devices");
    if (!priv || priv->type != TOML_BOOL || !priv->u.boolean) {
        _cleanup_free_ char *got = describe(priv);
        _cleanup_free_ char *line =
            xasprintf("  %s:%d: privileged_without_host_devices is %s, cocoon's is true (a "
                      "privileged pod must not get the host's devices: they are not in its VM)\n",
                      path, line_of(priv, rt), got);
        buf_append_str(problems, line);
    }
    /* containerd 2.x: cocoon serves the task API only, not the sandbox API. */
    const struct toml_value *sb = toml_table_get(rt, "sandboxer");
    if (version >= 3 && sb)
        want_string(problems, path, rt, sb, "sandboxer", "podsandbox");
}

static void append_runtime(struct buf *b, int version, const char *name, const char *config_path)
{
    _cleanup_free_ char *table = version >= 3 ? xasprintf("plugins.'%s'.containerd.runtimes.%s",
                                                          ctd_cri_runtime_plugin(version), name)
                                              : xasprintf("plugins.\"%s\".containerd.runtimes.%s",
                                                          ctd_cri_runtime_plugin(version), name);
    _cleanup_free_ char *s =
        xasprintf("\n[%s]\n"
                  "  runtime_type = \"" CTD_RUNTIME_TYPE "\"\n"
                  "%s"
                  "  pod_annotations = [\"" CTD_POD_ANNOTATIONS "\"]\n"
                  "  container_annotations = [\"" CTD_CONTAINER_ANNOTATIONS "\"]\n"
                  "  privileged_without_host_devices = true\n"
                  "  [%s.options]\n"
                  "    ConfigPath = \"%s\"\n",
                  table, version >= 3 ? "  sandboxer = \"podsandbox\"\n" : "", table, config_path);
    buf_append_str(b, s);
}

/* Notes on what would leave the runtimes unused although registered. */
static void collect_notes(struct buf *notes, const char *path, const struct toml_value *root,
                          int version)
{
    const struct toml_value *dis = toml_table_get(root, "disabled_plugins");
    for (const char *const *p = version >= 3 ? cri_plugins_v3 : cri_plugins_v2; *p; p++) {
        if (!array_has(dis, *p))
            continue;
        _cleanup_free_ char *line =
            xasprintf("note: %s:%d: disabled_plugins lists \"%s\": the runtimes are registered, "
                      "but containerd's CRI (what Kubernetes uses) stays off until you remove "
                      "it from that list\n",
                      path, dis->pos.line, *p);
        buf_append_str(notes, line);
    }
    const struct toml_value *imp = toml_table_get(root, "imports");
    if (imp && imp->type == TOML_ARRAY && imp->u.array.len > 0) {
        _cleanup_free_ char *line =
            xasprintf("note: %s:%d: imports other files; only this file was looked at, and a "
                      "runtime of the same name in an imported file overrides its keys\n",
                      path, imp->pos.line);
        buf_append_str(notes, line);
    }
}

/* A value safe between double quotes in TOML without escapes. */
static bool plain_string(const char *s)
{
    for (; *s; s++)
        if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

/* The final guard: the result parses, keeps its version, and registers every runtime as
 * cocoon would. */
static int verify_result(const char *path, const struct ctd_plan *plan, const char *cocoon_dir,
                         struct error *err)
{
    struct toml_value *root = toml_parse(plan->text, plan->len, err);
    if (!root)
        return error_wrap(err,
                          "%s: with cocoon's runtimes appended the file would not parse (the "
                          "runtimes table is probably written inline); left unchanged: add the "
                          "runtimes by hand, as in containerd-cocoon.toml or "
                          "containerd2-cocoon.toml of cocoon's share dir",
                          path);
    int version = 0, r = ctd_config_version(path, root, &version, err);
    const struct toml_value *rts = NULL;
    if (r == 0 && version != plan->version)
        r = error_set(err, GRPC_INTERNAL, "%s: the result has version %d, not %d", path, version,
                      plan->version);
    if (r == 0)
        r = runtimes_table(path, root, version, &rts, err);
    struct buf problems = {0};
    for (size_t i = 0; r == 0 && i < CTD_N_RUNTIMES; i++) {
        const struct toml_value *rt = toml_table_get(rts, ctd_runtimes[i].name);
        _cleanup_free_ char *cp = xasprintf("%s/%s", cocoon_dir, ctd_runtimes[i].config_file);
        if (!rt)
            r = error_set(err, GRPC_INTERNAL, "%s: the result lacks runtime %s", path,
                          ctd_runtimes[i].name);
        else
            compare_runtime(&problems, path, rt, version, cp);
    }
    if (r == 0 && problems.len > 0)
        r = error_set(err, GRPC_INTERNAL, "%s: the result does not register cocoon:\n%s", path,
                      problems.ptr);
    free(problems.ptr);
    toml_free(root);
    return r;
}

int ctd_config_plan(const char *path, const char *text, size_t len, int new_version,
                    const char *cocoon_dir, struct ctd_plan *plan, struct error *err)
{
    *plan = (struct ctd_plan){0};
    if (!plain_string(cocoon_dir) || cocoon_dir[0] != '/')
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "cocoon config dir \"%s\": want an absolute path without quotes, "
                         "backslashes or control characters",
                         cocoon_dir);
    struct toml_value *root = NULL;
    if (text) {
        root = toml_parse(text, len, err);
        if (!root)
            return error_wrap(err,
                              "%s is not valid TOML, so containerd would not start with it "
                              "either; left unchanged: fix it first",
                              path);
        if (memchr(text, '\0', len)) {
            toml_free(root);
            return error_set(err, GRPC_INVALID_ARGUMENT, "%s holds a NUL byte", path);
        }
    }
    int r = 0;
    struct buf out = {0}, notes = {0}, problems = {0};
    buf_append_str(&notes, "");
    plan->created = !root || root->u.table.len == 0;
    if (plan->created) {
        if (new_version != 2 && new_version != 3)
            r = error_set(err, GRPC_INVALID_ARGUMENT,
                          "%s %s: the layout to write depends on containerd's version: say "
                          "which (config version 2 for containerd 1.6/1.7, 3 for 2.x)",
                          path, text ? "holds no setting" : "does not exist");
        plan->version = new_version;
    } else {
        r = ctd_config_version(path, root, &plan->version, err);
        if (r == 0 && plan->version == 1)
            r = error_set(err, GRPC_FAILED_PRECONDITION,
                          "%s has no `version` key, so it is a version 1 config (the plugin "
                          "names of containerd 1.0-1.2, which containerd 2.x no longer reads); "
                          "left unchanged: convert it with `containerd config migrate` "
                          "(containerd 1.7 and later), or start from `containerd config "
                          "default`, then run this again",
                          path);
        else if (r == 0 && plan->version != 2 && plan->version != 3)
            r = error_set(err, GRPC_FAILED_PRECONDITION,
                          "%s:%d: version = %d is not one cocoonctl knows (2: containerd 1.6 "
                          "and 1.7; 3: containerd 2.x); left unchanged",
                          path, toml_table_get(root, "version")->pos.line, plan->version);
    }
    const struct toml_value *rts = NULL;
    if (r == 0 && root)
        r = runtimes_table(path, root, plan->version, &rts, err);

    if (r == 0) {
        if (text)
            buf_append(&out, text, len);
        if (out.len > 0 && out.ptr[out.len - 1] != '\n')
            buf_append_str(&out, "\n");
        if (plan->created)
            buf_append_str(&out, plan->version >= 3 ? "version = 3\n" : "version = 2\n");
        if (root)
            collect_notes(&notes, path, root, plan->version);
    }
    bool header = false;
    for (size_t i = 0; r == 0 && i < CTD_N_RUNTIMES; i++) {
        const struct ctd_runtime *rt = &ctd_runtimes[i];
        _cleanup_free_ char *cp = xasprintf("%s/%s", cocoon_dir, rt->config_file);
        const struct toml_value *have = toml_table_get(rts, rt->name);
        if (have) {
            size_t before = problems.len;
            compare_runtime(&problems, path, have, plan->version, cp);
            if (problems.len == before)
                plan->present[plan->n_present++] = rt->name;
            else {
                _cleanup_free_ char *head =
                    xasprintf("runtime %s (line %d):\n", rt->name, have->pos.line);
                /* the heading goes before this runtime's lines */
                _cleanup_free_ char *lines = xstrndup(problems.ptr + before, problems.len - before);
                problems.len = before;
                problems.ptr[before] = '\0';
                buf_append_str(&problems, head);
                buf_append_str(&problems, lines);
            }
            continue;
        }
        if (!header) {
            buf_append_str(&out, "\n# cocoon's runtimes (containerd-shim-cocoon-v2), added by "
                                 "`cocoonctl install containerd`.\n");
            header = true;
        }
        append_runtime(&out, plan->version, rt->name, cp);
        plan->added[plan->n_added++] = rt->name;
    }
    if (r == 0 && problems.len > 0)
        r = error_set(err, GRPC_FAILED_PRECONDITION,
                      "%s registers cocoon's runtime names with other values:\n%s"
                      "left unchanged: cocoonctl does not edit tables it did not write. Set "
                      "those keys as cocoon's (see containerd-cocoon.toml or "
                      "containerd2-cocoon.toml in cocoon's share dir), or delete those tables, "
                      "then run this again",
                      path, problems.ptr);
    toml_free(root);
    free(problems.ptr);
    if (r < 0) {
        free(out.ptr);
        free(notes.ptr);
        return r;
    }
    plan->text = out.ptr ? out.ptr : xstrdup("");
    plan->len = out.len;
    plan->changed = !text || out.len != len || memcmp(out.ptr, text, len) != 0;
    plan->notes = notes.ptr;
    if (verify_result(path, plan, cocoon_dir, err) < 0) {
        ctd_plan_free(plan);
        return -1;
    }
    return 0;
}

void ctd_plan_free(struct ctd_plan *plan)
{
    free(plan->text);
    free(plan->notes);
    *plan = (struct ctd_plan){0};
}
