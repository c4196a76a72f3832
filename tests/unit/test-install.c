/* node/containerd-config and node/containerd-install: cocoon's runtimes (cocoon-<tee> and
 * cocoon-<tee>-debug) added to containerd configs of version 2 (1.6/1.7) and 3 (2.x), the tables
 * written as the shipped snippets have them, idempotence, refusals that leave the file as it
 * was (malformed TOML, version 1, a cocoon runtime with other values, an inline runtimes table),
 * a file written from nothing, the backup, and the dry run's diff. */
#include <check.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/toml.h"
#include "lib/xalloc.h"
#include "node/containerd-config.h"
#include "node/containerd-install.h"
#include "tests/common/run-tap.h"

#define DIR_ETC "/etc/cocoon"

/* The runtime part of `containerd config default` of 1.6, trimmed. */
static const char v2_default[] =
    "disabled_plugins = []\n"
    "imports = []\n"
    "oom_score = 0\n"
    "root = \"/var/lib/containerd\"\n"
    "version = 2\n"
    "\n"
    "[plugins]\n"
    "\n"
    "  [plugins.\"io.containerd.grpc.v1.cri\"]\n"
    "    sandbox_image = \"registry.k8s.io/pause:3.6\"\n"
    "\n"
    "    [plugins.\"io.containerd.grpc.v1.cri\".containerd]\n"
    "      default_runtime_name = \"runc\"\n"
    "      snapshotter = \"overlayfs\"\n"
    "\n"
    "      [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes]\n"
    "\n"
    "        [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n"
    "          runtime_type = \"io.containerd.runc.v2\"\n"
    "\n"
    "          [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]\n"
    "            SystemdCgroup = false\n"
    "\n"
    "  [plugins.\"io.containerd.internal.v1.opt\"]\n"
    "    path = \"/opt/containerd\"\n";

/* The same of 2.1 (config version 3), trimmed; no trailing newline on purpose. */
static const char v3_default[] =
    "version = 3\n"
    "root = '/var/lib/containerd'\n"
    "\n"
    "[plugins]\n"
    "  [plugins.'io.containerd.cri.v1.images']\n"
    "    snapshotter = 'overlayfs'\n"
    "    discard_unpacked_layers = false\n"
    "\n"
    "  [plugins.'io.containerd.cri.v1.runtime']\n"
    "    [plugins.'io.containerd.cri.v1.runtime'.containerd]\n"
    "      default_runtime_name = 'runc'\n"
    "\n"
    "      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes]\n"
    "        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]\n"
    "          runtime_type = 'io.containerd.runc.v2'\n"
    "          sandboxer = 'podsandbox'";

static struct toml_value *parse_ok(const char *text, size_t len)
{
    struct error err = ERROR_INIT;
    struct toml_value *root = toml_parse(text, len, &err);
    ck_assert_msg(root != NULL, "does not parse: %s\n%s", err.msg, text);
    return root;
}

/* The runtime `name` of a parsed config of `version` is cocoon's. */
static void assert_registered(const struct toml_value *root, int version, const char *name,
                              const char *config_path)
{
    const struct toml_value *rts = ctd_config_runtimes(root, version);
    ck_assert_ptr_nonnull(rts);
    const struct toml_value *rt = toml_table_get(rts, name);
    ck_assert_msg(rt != NULL, "no runtime %s", name);
    ck_assert_str_eq(ctd_toml_string(rt, "runtime_type"), CTD_RUNTIME_TYPE);
    ck_assert_str_eq(ctd_toml_string(rt, "options.ConfigPath"), config_path);
    const struct toml_value *pa = toml_table_get(rt, "pod_annotations");
    ck_assert_ptr_nonnull(pa);
    ck_assert_str_eq(pa->u.array.items[0]->u.string.ptr, CTD_POD_ANNOTATIONS);
    const struct toml_value *sb = toml_table_get(rt, "sandboxer");
    if (version >= 3)
        ck_assert_str_eq(sb->u.string.ptr, "podsandbox");
    else
        ck_assert_ptr_null(sb);
}

static void plan_ok(const char *text, int new_version, struct ctd_plan *plan)
{
    struct error err = ERROR_INIT;
    int r = ctd_config_plan("config.toml", text, text ? strlen(text) : 0, new_version, DIR_ETC,
                            plan, &err);
    ck_assert_msg(r == 0, "plan failed: %s", err.msg);
}

/* Plans and returns the error message (caller frees). */
static char *plan_fails(const char *text, int new_version)
{
    struct error err = ERROR_INIT;
    struct ctd_plan plan;
    int r = ctd_config_plan("config.toml", text, text ? strlen(text) : 0, new_version, DIR_ETC,
                            &plan, &err);
    ck_assert_msg(r < 0, "plan succeeded:\n%s", r == 0 ? plan.text : "");
    ck_assert_ptr_nonnull(err.msg);
    return err.msg;
}

/* Adding to `text` keeps every byte of it, registers all six, and a second plan changes
 * nothing. */
static void check_add_and_again(const char *text, int version)
{
    struct ctd_plan plan;
    plan_ok(text, 0, &plan);
    ck_assert_int_eq(plan.version, version);
    ck_assert(plan.changed);
    ck_assert(!plan.created);
    ck_assert_uint_eq(plan.n_added, CTD_N_RUNTIMES);
    ck_assert_uint_eq(plan.n_present, 0);
    ck_assert_int_eq(strncmp(plan.text, text, strlen(text)), 0); /* the user's file, intact */
    struct toml_value *root = parse_ok(plan.text, plan.len);
    for (size_t i = 0; i < CTD_N_RUNTIMES; i++) {
        _cleanup_free_ char *cp = xasprintf(DIR_ETC "/%s", ctd_runtimes[i].config_file);
        assert_registered(root, version, ctd_runtimes[i].name, cp);
    }
    /* runc is still there */
    if (strstr(text, "runtimes.runc]"))
        ck_assert_ptr_nonnull(toml_table_get(ctd_config_runtimes(root, version), "runc"));
    toml_free(root);

    struct ctd_plan again;
    plan_ok(plan.text, 0, &again);
    ck_assert(!again.changed);
    ck_assert_uint_eq(again.n_added, 0);
    ck_assert_uint_eq(again.n_present, CTD_N_RUNTIMES);
    ck_assert_str_eq(again.text, plan.text);
    ctd_plan_free(&again);
    ctd_plan_free(&plan);
}

START_TEST(test_v2_default)
{
    check_add_and_again(v2_default, 2);
}
END_TEST

START_TEST(test_v3_default)
{
    check_add_and_again(v3_default, 3);
    struct ctd_plan plan;
    plan_ok(v3_default, 0, &plan);
    /* the last line had no newline: the appended tables must not join it */
    ck_assert_ptr_nonnull(strstr(plan.text, "sandboxer = 'podsandbox'\n"));
    ck_assert_ptr_nonnull(strstr(plan.text,
                                 "\n[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes."
                                 "cocoon-snp]\n"));
    ctd_plan_free(&plan);
}
END_TEST

/* No CRI tables at all: the appended ones create them. */
START_TEST(test_v2_without_cri_tables)
{
    check_add_and_again("version = 2\n[grpc]\n  address = \"/run/x.sock\"\n", 2);
}
END_TEST

START_TEST(test_no_file)
{
    for (int version = 2; version <= 3; version++) {
        struct ctd_plan plan;
        plan_ok(NULL, version, &plan);
        ck_assert(plan.created);
        ck_assert(plan.changed);
        ck_assert_uint_eq(plan.n_added, CTD_N_RUNTIMES);
        _cleanup_free_ char *first = xasprintf("version = %d\n", version);
        ck_assert_int_eq(strncmp(plan.text, first, strlen(first)), 0);
        struct toml_value *root = parse_ok(plan.text, plan.len);
        assert_registered(root, version, "cocoon-dev", DIR_ETC "/cocoon-dev.toml");
        assert_registered(root, version, "cocoon-dev-debug", DIR_ETC "/debug-dev/cocoon.toml");
        toml_free(root);
        ctd_plan_free(&plan);
    }
    _cleanup_free_ char *msg = plan_fails(NULL, 0);
    ck_assert_msg(strstr(msg, "does not exist") && strstr(msg, "3 for 2.x"), "%s", msg);
}
END_TEST

/* Comments only: kept, and the layout asked for is written below them. */
START_TEST(test_comments_only)
{
    const char *text = "# nothing here yet\n";
    struct ctd_plan plan;
    plan_ok(text, 3, &plan);
    ck_assert(plan.created);
    ck_assert_int_eq(strncmp(plan.text, "# nothing here yet\nversion = 3\n", 31), 0);
    ctd_plan_free(&plan);
    _cleanup_free_ char *msg = plan_fails(text, 0);
    ck_assert_msg(strstr(msg, "holds no setting"), "%s", msg);
}
END_TEST

START_TEST(test_malformed_refused)
{
    _cleanup_free_ char *msg =
        plan_fails("version = 2\n\n[plugins.\"io.containerd.grpc.v1.cri\"\n", 2);
    ck_assert_msg(strstr(msg, "config.toml is not valid TOML") && strstr(msg, "line 3"), "%s", msg);
    ck_assert_msg(strstr(msg, "left unchanged"), "%s", msg);
}
END_TEST

START_TEST(test_version_1_refused)
{
    _cleanup_free_ char *msg =
        plan_fails("[plugins.cri.containerd]\n  snapshotter = \"overlayfs\"\n", 2);
    ck_assert_msg(strstr(msg, "version 1") && strstr(msg, "containerd config migrate"), "%s", msg);
    _cleanup_free_ char *msg4 = plan_fails("version = 4\n", 2);
    ck_assert_msg(strstr(msg4, "config.toml:1: version = 4"), "%s", msg4);
    _cleanup_free_ char *msgs = plan_fails("version = \"2\"\n", 2);
    ck_assert_msg(strstr(msgs, "config.toml:1: version: want an integer"), "%s", msgs);
}
END_TEST

/* A cocoon runtime someone wrote with other values: refused, every differing key named with its
 * line, nothing appended. */
START_TEST(test_differing_runtime_refused)
{
    const char *text = "version = 2\n"
                       "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.cocoon-dev]\n"
                       "  runtime_type = \"io.containerd.kata.v2\"\n"
                       "  [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.cocoon-dev."
                       "options]\n"
                       "    ConfigPath = \"/opt/cocoon/dev.toml\"\n";
    _cleanup_free_ char *msg = plan_fails(text, 2);
    ck_assert_msg(strstr(msg, "runtime cocoon-dev (line 2)"), "%s", msg);
    ck_assert_msg(strstr(msg, "config.toml:3: runtime_type is \"io.containerd.kata.v2\", cocoon's "
                              "is \"io.containerd.cocoon.v2\""),
                  "%s", msg);
    ck_assert_msg(strstr(msg, "config.toml:5: options.ConfigPath is \"/opt/cocoon/dev.toml\""),
                  "%s", msg);
    ck_assert_msg(strstr(msg, "pod_annotations is not set"), "%s", msg);
    ck_assert_msg(strstr(msg, "left unchanged"), "%s", msg);

    /* 2.x: the sandbox API is not served */
    const char *v3 = "version = 3\n"
                     "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.cocoon-snp]\n"
                     "  runtime_type = 'io.containerd.cocoon.v2'\n"
                     "  sandboxer = 'shim'\n"
                     "  pod_annotations = ['io.katacontainers.*']\n"
                     "  container_annotations = ['io.kubernetes.container.terminationMessage*']\n"
                     "  privileged_without_host_devices = true\n"
                     "  options = { ConfigPath = '/etc/cocoon/cocoon-snp.toml' }\n";
    _cleanup_free_ char *msg3 = plan_fails(v3, 3);
    ck_assert_msg(strstr(msg3, "config.toml:4: sandboxer is \"shim\", cocoon's is \"podsandbox\""),
                  "%s", msg3);
}
END_TEST

/* One runtime already there as cocoon writes it (with extra keys of the user's): kept, the other
 * five appended, in the shipped snippets' order. */
START_TEST(test_partial)
{
    const char *text = "version = 2\n"
                       "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.cocoon-dev]\n"
                       "  runtime_type = \"io.containerd.cocoon.v2\"\n"
                       "  snapshotter = \"overlayfs\"\n"
                       "  pod_annotations = [\"io.katacontainers.*\", \"example.com/*\"]\n"
                       "  container_annotations = "
                       "[\"io.kubernetes.container.terminationMessage*\"]\n"
                       "  privileged_without_host_devices = true\n"
                       "  options = { ConfigPath = \"/etc/cocoon/cocoon-dev.toml\" }\n";
    struct ctd_plan plan;
    plan_ok(text, 0, &plan);
    ck_assert_uint_eq(plan.n_present, 1);
    ck_assert_str_eq(plan.present[0], "cocoon-dev");
    ck_assert_uint_eq(plan.n_added, 5);
    ck_assert_str_eq(plan.added[0], "cocoon-snp");
    ck_assert_str_eq(plan.added[1], "cocoon-tdx");
    ck_assert_str_eq(plan.added[2], "cocoon-snp-debug");
    ck_assert_str_eq(plan.added[3], "cocoon-tdx-debug");
    ck_assert_str_eq(plan.added[4], "cocoon-dev-debug");
    ctd_plan_free(&plan);

    /* a debug runtime of the user's that names the class's config (not the debug one): refused */
    const char *dbg =
        "version = 2\n"
        "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.cocoon-tdx-debug]\n"
        "  runtime_type = \"io.containerd.cocoon.v2\"\n"
        "  pod_annotations = [\"io.katacontainers.*\"]\n"
        "  container_annotations = "
        "[\"io.kubernetes.container.terminationMessage*\"]\n"
        "  privileged_without_host_devices = true\n"
        "  options = { ConfigPath = \"/etc/cocoon/cocoon-tdx.toml\" }\n";
    _cleanup_free_ char *msg = plan_fails(dbg, 2);
    ck_assert_msg(strstr(msg, "runtime cocoon-tdx-debug (line 2)") &&
                      strstr(msg, "options.ConfigPath is \"/etc/cocoon/cocoon-tdx.toml\", "
                                  "cocoon's is \"/etc/cocoon/debug-tdx/cocoon.toml\""),
                  "%s", msg);
}
END_TEST

/* Runtimes written as an inline table cannot take appended tables: refused. */
START_TEST(test_inline_runtimes_refused)
{
    const char *text = "version = 2\n"
                       "[plugins.\"io.containerd.grpc.v1.cri\".containerd]\n"
                       "  runtimes = { runc = { runtime_type = \"io.containerd.runc.v2\" } }\n";
    _cleanup_free_ char *msg = plan_fails(text, 2);
    ck_assert_msg(strstr(msg, "would not parse") && strstr(msg, "by hand"), "%s", msg);
}
END_TEST

START_TEST(test_notes)
{
    const char *text = "version = 2\ndisabled_plugins = [\"cri\"]\nimports = [\"/etc/x.toml\"]\n";
    struct ctd_plan plan;
    plan_ok(text, 0, &plan);
    ck_assert_msg(strstr(plan.notes, "config.toml:2: disabled_plugins lists \"cri\""), "%s",
                  plan.notes);
    ck_assert_msg(strstr(plan.notes, "config.toml:3: imports"), "%s", plan.notes);
    ctd_plan_free(&plan);
}
END_TEST

/* --- the file: backup, atomic replace, dry run --- */

struct scratch {
    char dir[64];
    char *config;
    char out[64];
    FILE *outf;
};

static void scratch_init(struct scratch *s)
{
    snprintf(s->dir, sizeof(s->dir), "/tmp/cocoon-install-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(s->dir));
    s->config = xasprintf("%s/etc/containerd/config.toml", s->dir);
    s->outf = tmpfile();
    ck_assert_ptr_nonnull(s->outf);
}

static void scratch_free(struct scratch *s)
{
    struct error err = ERROR_INIT;
    fs_remove_tree(s->dir, &err);
    error_clear(&err);
    free(s->config);
    fclose(s->outf);
}

static char *read_text(const char *path)
{
    char *text = NULL;
    size_t len;
    struct error err = ERROR_INIT;
    ck_assert_msg(fs_read_file(path, 1 << 20, &text, &len, &err) == 0, "%s", err.msg);
    return text;
}

/* What ctd_install wrote to out since the last call. */
static char *take_output(struct scratch *s)
{
    fflush(s->outf);
    long n = ftell(s->outf);
    char *text = xmalloc((size_t)n + 1);
    rewind(s->outf);
    ck_assert_uint_eq(fread(text, 1, (size_t)n, s->outf), (size_t)n);
    text[n] = '\0';
    rewind(s->outf);
    ck_assert_int_eq(ftruncate(fileno(s->outf), 0), 0);
    return text;
}

/* The names in dir/etc/containerd that start with "config.toml.cocoon-backup-". */
static int count_backups(struct scratch *s, char **last)
{
    _cleanup_free_ char *d = xasprintf("%s/etc/containerd", s->dir);
    DIR *dir = opendir(d);
    int n = 0;
    if (!dir)
        return 0;
    for (struct dirent *e; (e = readdir(dir));)
        if (strncmp(e->d_name, "config.toml.cocoon-backup-", 26) == 0) {
            n++;
            if (last) {
                free(*last);
                *last = xasprintf("%s/%s", d, e->d_name);
            }
        } else if (strstr(e->d_name, "cocoon-new")) {
            ck_abort_msg("temporary file left: %s", e->d_name);
        }
    closedir(dir);
    return n;
}

static void write_config(struct scratch *s, const char *text, mode_t mode)
{
    _cleanup_free_ char *d = xasprintf("%s/etc/containerd", s->dir);
    struct error err = ERROR_INIT;
    ck_assert_int_eq(fs_mkdir_p(d, 0755, 0755, &err), 0);
    FILE *f = fopen(s->config, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    chmod(s->config, mode);
}

static int install(struct scratch *s, bool dry_run, int version, struct error *err)
{
    struct ctd_install_opts o = {.config_path = s->config,
                                 .cocoon_dir = DIR_ETC,
                                 .config_version = version,
                                 .containerd = "/nonexistent/containerd",
                                 .dry_run = dry_run,
                                 .out = s->outf};
    return ctd_install(&o, err);
}

START_TEST(test_install_backup_and_again)
{
    struct scratch s;
    scratch_init(&s);
    write_config(&s, v2_default, 0640);
    struct error err = ERROR_INIT;
    ck_assert_msg(install(&s, false, 0, &err) == 0, "%s", err.msg);
    _cleanup_free_ char *out = take_output(&s);
    ck_assert_msg(strstr(out, "added cocoon-snp, cocoon-tdx, cocoon-dev, cocoon-snp-debug, "
                              "cocoon-tdx-debug and cocoon-dev-debug (config version 2)"),
                  "%s", out);
    _cleanup_free_ char *backup = NULL;
    ck_assert_int_eq(count_backups(&s, &backup), 1);
    ck_assert_msg(strstr(out, backup), "the output names the backup %s:\n%s", backup, out);
    _cleanup_free_ char *saved = read_text(backup);
    ck_assert_str_eq(saved, v2_default);
    _cleanup_free_ char *now = read_text(s.config);
    ck_assert_int_eq(strncmp(now, v2_default, strlen(v2_default)), 0);
    ck_assert_ptr_nonnull(strstr(now, "ConfigPath = \"/etc/cocoon/cocoon-tdx.toml\""));
    ck_assert_ptr_nonnull(strstr(now, "ConfigPath = \"/etc/cocoon/debug-tdx/cocoon.toml\""));
    struct stat st;
    ck_assert_int_eq(stat(s.config, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0640);

    /* again: nothing changes, no second backup */
    ck_assert_msg(install(&s, false, 0, &err) == 0, "%s", err.msg);
    _cleanup_free_ char *out2 = take_output(&s);
    ck_assert_msg(strstr(out2, "already registers cocoon-snp, cocoon-tdx, cocoon-dev, "
                               "cocoon-snp-debug, cocoon-tdx-debug and cocoon-dev-debug for "
                               "cocoon: nothing to do"),
                  "%s", out2);
    ck_assert_int_eq(count_backups(&s, NULL), 1);
    _cleanup_free_ char *after = read_text(s.config);
    ck_assert_str_eq(after, now);
    scratch_free(&s);
}
END_TEST

START_TEST(test_install_dry_run)
{
    struct scratch s;
    scratch_init(&s);
    write_config(&s, v3_default, 0644);
    struct error err = ERROR_INIT;
    ck_assert_msg(install(&s, true, 0, &err) == 0, "%s", err.msg);
    _cleanup_free_ char *out = take_output(&s);
    _cleanup_free_ char *minus = xasprintf("--- %s\n", s.config);
    _cleanup_free_ char *plus = xasprintf("+++ %s (with cocoon)\n", s.config);
    ck_assert_msg(strstr(out, minus) && strstr(out, plus), "%s", out);
    ck_assert_msg(strstr(out, "+[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes."
                              "cocoon-dev]\n"),
                  "%s", out);
    ck_assert_msg(strstr(out, "+[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes."
                              "cocoon-dev-debug]\n"),
                  "%s", out);
    ck_assert_msg(strstr(out, "dry run: nothing was changed"), "%s", out);
    _cleanup_free_ char *now = read_text(s.config);
    ck_assert_str_eq(now, v3_default);
    ck_assert_int_eq(count_backups(&s, NULL), 0);
    scratch_free(&s);
}
END_TEST

START_TEST(test_install_malformed_untouched)
{
    struct scratch s;
    scratch_init(&s);
    const char *bad = "version = 2\nroot = \"/var/lib/containerd\n";
    write_config(&s, bad, 0644);
    struct error err = ERROR_INIT;
    ck_assert_int_eq(install(&s, false, 0, &err), -1);
    ck_assert_msg(strstr(err.msg, "line 2"), "%s", err.msg);
    error_clear(&err);
    _cleanup_free_ char *now = read_text(s.config);
    ck_assert_str_eq(now, bad);
    ck_assert_int_eq(count_backups(&s, NULL), 0);
    scratch_free(&s);
}
END_TEST

START_TEST(test_install_new_file)
{
    struct scratch s;
    scratch_init(&s);
    struct error err = ERROR_INIT;
    /* no version given and no containerd to ask: refused, nothing written */
    ck_assert_int_eq(install(&s, false, 0, &err), -1);
    ck_assert_msg(strstr(err.msg, "does not exist") && strstr(err.msg, "3 for 2.x"), "%s", err.msg);
    error_clear(&err);
    ck_assert_int_eq(access(s.config, F_OK), -1);

    ck_assert_msg(install(&s, false, 3, &err) == 0, "%s", err.msg);
    _cleanup_free_ char *out = take_output(&s);
    ck_assert_msg(strstr(out, "wrote "), "%s", out);
    _cleanup_free_ char *now = read_text(s.config);
    ck_assert_int_eq(strncmp(now, "version = 3\n", 12), 0);
    ck_assert_int_eq(count_backups(&s, NULL), 0);
    scratch_free(&s);
}
END_TEST

/* The shipped snippet of this test's source tree: configs/<name>. The source file is __FILE__
 * relative to the build dir, which is three levels above this test (tests/unit/<exe>). */
static char *read_shipped(const char *name)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    ck_assert_int_gt(n, 0);
    exe[n] = '\0';
    for (int up = 0; up < 3; up++) {
        char *slash = strrchr(exe, '/');
        ck_assert_ptr_nonnull(slash);
        *slash = '\0';
    }
    _cleanup_free_ char *src =
        __FILE__[0] == '/' ? xstrdup(__FILE__) : xasprintf("%s/%s", exe, __FILE__);
    *strrchr(src, '/') = '\0';
    _cleanup_free_ char *path = xasprintf("%s/../../configs/%s", src, name);
    return read_text(path);
}

/* Written from nothing with cocoon_dir /etc/cocoon, the runtimes are the shipped snippets'
 * tables byte for byte (containerd-cocoon.toml for version 2, containerd2-cocoon.toml for 3):
 * the same six runtimes, in the same order, with the same keys and values. */
START_TEST(test_same_as_shipped)
{
    for (int version = 2; version <= 3; version++) {
        _cleanup_free_ char *shipped =
            read_shipped(version == 2 ? "containerd-cocoon.toml" : "containerd2-cocoon.toml");
        struct ctd_plan plan;
        plan_ok(NULL, version, &plan);
        const char *want = strstr(shipped, "\n[plugins");
        const char *got = strstr(plan.text, "\n[plugins");
        ck_assert_ptr_nonnull(want);
        ck_assert_ptr_nonnull(got);
        size_t at = 0;
        while (got[at] && got[at] == want[at])
            at++;
        size_t from = at > 80 ? at - 80 : 0;
        ck_assert_msg(got[at] == '\0' && want[at] == '\0',
                      "version %d: the tables written differ from the shipped ones after %zu "
                      "bytes:\nwritten: ...%.160s\nshipped: ...%.160s",
                      version, at, got + from, want + from);
        ctd_plan_free(&plan);
    }
}
END_TEST

static Suite *install_suite(void)
{
    Suite *s = suite_create("install");
    TCase *tc = tcase_create("plan");
    tcase_add_test(tc, test_v2_default);
    tcase_add_test(tc, test_v3_default);
    tcase_add_test(tc, test_v2_without_cri_tables);
    tcase_add_test(tc, test_no_file);
    tcase_add_test(tc, test_comments_only);
    tcase_add_test(tc, test_partial);
    tcase_add_test(tc, test_notes);
    tcase_add_test(tc, test_same_as_shipped);
    suite_add_tcase(s, tc);

    tc = tcase_create("refusals");
    tcase_add_test(tc, test_malformed_refused);
    tcase_add_test(tc, test_version_1_refused);
    tcase_add_test(tc, test_differing_runtime_refused);
    tcase_add_test(tc, test_inline_runtimes_refused);
    suite_add_tcase(s, tc);

    tc = tcase_create("file");
    tcase_add_test(tc, test_install_backup_and_again);
    tcase_add_test(tc, test_install_dry_run);
    tcase_add_test(tc, test_install_malformed_untouched);
    tcase_add_test(tc, test_install_new_file);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_tap(install_suite());
}
