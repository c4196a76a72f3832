/* shim/bundle: the bundle's config.json (read bounded, never blocking on a FIFO), the group a
 * task's shim serves, and the small files the shim keeps there. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/xalloc.h"
#include "shim/bundle.h"
#include "tests/common/run-tap.h"

static char *new_bundle(const char *config_json)
{
    char *dir = xstrdup("/tmp/cocoon-bundle-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    if (config_json) {
        _cleanup_free_ char *path = xasprintf("%s/config.json", dir);
        struct error err = ERROR_INIT;
        ck_assert_msg(fs_write_file_atomic(path, config_json, strlen(config_json), 0600, &err) == 0,
                      "%s", err.msg);
    }
    return dir;
}

static void remove_bundle(const char *dir)
{
    struct error err = ERROR_INIT;
    ck_assert_msg(fs_remove_tree(dir, &err) == 0, "%s", err.msg);
}

START_TEST(test_read_config)
{
    char dir[] = "/tmp/cocoon-bundle-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    _cleanup_free_ char *path = xasprintf("%s/config.json", dir);
    struct error err = ERROR_INIT;
    char *json = (char *)1;
    size_t len = 7;

    ck_assert_int_eq(bundle_read_config(dir, &json, &len, &err), -1);
    ck_assert_int_eq(err.code, GRPC_NOT_FOUND);
    ck_assert_ptr_null(json);
    ck_assert_uint_eq(len, 0);
    ck_assert_msg(strstr(err.msg, "config.json: open ") && strstr(err.msg, "No such file"), "%s",
                  err.msg);

    const char *text = "{\"ociVersion\":\"1.0.2\"}";
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    ck_assert_msg(bundle_read_config(dir, &json, &len, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(len, strlen(text));
    ck_assert_str_eq(json, text);
    free(json);

    /* empty file: read fine, refused by the parser */
    ck_assert_int_eq(truncate(path, 0), 0);
    ck_assert_int_eq(bundle_read_config(dir, &json, &len, &err), 0);
    ck_assert_uint_eq(len, 0);
    ck_assert_str_eq(json, "");
    free(json);

    /* exactly at the limit, then one byte over (sparse) */
    ck_assert_int_eq(truncate(path, BUNDLE_MAX_CONFIG_JSON), 0);
    ck_assert_int_eq(bundle_read_config(dir, &json, &len, &err), 0);
    ck_assert_uint_eq(len, BUNDLE_MAX_CONFIG_JSON);
    free(json);
    ck_assert_int_eq(truncate(path, BUNDLE_MAX_CONFIG_JSON + 1), 0);
    ck_assert_int_eq(bundle_read_config(dir, &json, &len, &err), -1);
    ck_assert_int_eq(err.code, GRPC_INVALID_ARGUMENT);
    ck_assert_msg(strstr(err.msg, "is larger than 16777216 bytes"), "%s", err.msg);
    ck_assert_ptr_null(json);
    unlink(path);

    /* not a regular file: a directory, a FIFO (which must not block) */
    ck_assert_int_eq(mkdir(path, 0700), 0);
    ck_assert_int_eq(bundle_read_config(dir, &json, &len, &err), -1);
    ck_assert_int_eq(err.code, GRPC_INVALID_ARGUMENT);
    ck_assert_msg(strstr(err.msg, "is not a regular file"), "%s", err.msg);
    rmdir(path);
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    ck_assert_int_eq(bundle_read_config(dir, &json, &len, &err), -1);
    ck_assert_msg(strstr(err.msg, "is not a regular file"), "%s", err.msg);
    unlink(path);
    rmdir(dir);
    error_clear(&err);
}
END_TEST

START_TEST(test_group)
{
    static const struct {
        const char *json, *group;
        enum pod_role role;
    } ok[] = {
        {"{}", "task-1", POD_ROLE_LONE},
        {"{\"annotations\":{\"io.kubernetes.cri.container-type\":\"sandbox\"}}", "task-1",
         POD_ROLE_SANDBOX},
        {"{\"annotations\":{\"io.kubernetes.cri.container-type\":\"container\","
         "\"io.kubernetes.cri.sandbox-id\":\"sb-9\"}}",
         "sb-9", POD_ROLE_CONTAINER},
        {"{\"annotations\":{\"io.kubernetes.cri-o.ContainerType\":\"container\","
         "\"io.kubernetes.cri-o.SandboxID\":\"crio-sb\"}}",
         "crio-sb", POD_ROLE_CONTAINER},
    };
    struct error err = ERROR_INIT;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        _cleanup_free_ char *dir = new_bundle(ok[i].json);
        _cleanup_free_ char *group = NULL;
        enum pod_role role;
        ck_assert_msg(bundle_group(dir, "task-1", &group, &role, &err) == 0, "%s", err.msg);
        ck_assert_str_eq(group, ok[i].group);
        ck_assert_int_eq(role, ok[i].role);
        remove_bundle(dir);
    }
    static const struct {
        const char *json, *msg;
    } bad[] = {
        {NULL, "No such file"},
        {"nope", "config.json: invalid JSON at line 1"},
        {"{\"annotations\":{\"io.kubernetes.cri.container-type\":\"container\"}}",
         "config.json: a container of a pod without a sandbox id (annotation "
         "io.kubernetes.cri.sandbox-id)"},
        {"{\"annotations\":{\"io.kubernetes.cri.container-type\":\"pod\"}}",
         "unknown container type \"pod\""},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        _cleanup_free_ char *dir = new_bundle(bad[i].json);
        char *group = NULL;
        enum pod_role role;
        ck_assert_int_eq(bundle_group(dir, "task-1", &group, &role, &err), -1);
        ck_assert_ptr_null(group);
        ck_assert_msg(strstr(err.msg, bad[i].msg), "%s", err.msg);
        remove_bundle(dir);
    }
    error_clear(&err);
}
END_TEST

START_TEST(test_small_files)
{
    _cleanup_free_ char *dir = new_bundle(NULL);
    struct error err = ERROR_INIT;
    ck_assert_int_eq(bundle_read_pid(dir), 0);
    ck_assert_ptr_null(bundle_read_small_file(dir, BUNDLE_CONFIG_FILE));
    ck_assert_int_eq(bundle_write_file(dir, BUNDLE_PID_FILE, "4242", &err), 0);
    ck_assert_int_eq(bundle_read_pid(dir), 4242);
    ck_assert_int_eq(bundle_write_file(dir, BUNDLE_PID_FILE, "4243\n", &err), 0);
    ck_assert_int_eq(bundle_read_pid(dir), 4243);
    static const char *const bad_pids[] = {"", "x", "-5", "0", "12x", "99999999999"};
    for (size_t i = 0; i < sizeof(bad_pids) / sizeof(bad_pids[0]); i++) {
        ck_assert_int_eq(bundle_write_file(dir, BUNDLE_PID_FILE, bad_pids[i], &err), 0);
        ck_assert_int_eq(bundle_read_pid(dir), 0);
    }
    ck_assert_int_eq(bundle_write_file(dir, BUNDLE_CONFIG_FILE, "/etc/x.toml\r\n", &err), 0);
    _cleanup_free_ char *cfg = bundle_read_small_file(dir, BUNDLE_CONFIG_FILE);
    ck_assert_str_eq(cfg, "/etc/x.toml");
    _cleanup_free_ char *pid_path = xasprintf("%s/%s", dir, BUNDLE_PID_FILE);
    struct stat st;
    ck_assert_int_eq(stat(pid_path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0644);
    ck_assert_int_eq(bundle_write_file(dir, BUNDLE_ADDRESS_FILE, "unix:///x", &err), 0);
    bundle_remove_files(dir);
    bundle_remove_files(dir);        /* twice is fine */
    ck_assert_int_eq(rmdir(dir), 0); /* nothing else was left, no temporary file either */
    error_clear(&err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("bundle");
    TCase *tc = tcase_create("bundle");
    tcase_add_test(tc, test_read_config);
    tcase_add_test(tc, test_group);
    tcase_add_test(tc, test_small_files);
    suite_add_tcase(s, tc);
    return run_tap(s);
}
