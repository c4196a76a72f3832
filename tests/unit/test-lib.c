/* lib/: the error convention and the log line format. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/error.h"
#include "lib/log.h"

START_TEST(test_error_set_and_wrap)
{
    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    ck_assert(!error_is_set(&err));
    ck_assert_int_eq(error_set(&err, GRPC_INVALID_ARGUMENT, "algorithm \"%s\" is not one of %s", "md5",
                               "sha256, sha384, sha512"), -1);
    ck_assert(error_is_set(&err));
    ck_assert_int_eq(error_wrap(&err, "init-data"), -1);
    ck_assert_int_eq(error_wrap(&err, "create sandbox %s", "abc"), -1);
    ck_assert_str_eq(err.msg, "create sandbox abc: init-data: algorithm \"md5\" is not one of "
                              "sha256, sha384, sha512");
    ck_assert_int_eq(err.code, GRPC_INVALID_ARGUMENT);
    /* A second error replaces the first. */
    error_set(&err, GRPC_NOT_FOUND, "gone");
    ck_assert_str_eq(err.msg, "gone");
    ck_assert_int_eq(err.code, GRPC_NOT_FOUND);
    /* NULL err is allowed: the caller does not want details. */
    ck_assert_int_eq(error_set(NULL, GRPC_INTERNAL, "x"), -1);
}
END_TEST

START_TEST(test_error_errno)
{
    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    error_set_errno(&err, ENOENT, "open %s", "/x");
    ck_assert_str_eq(err.msg, "open /x: No such file or directory");
    ck_assert_int_eq(err.code, GRPC_NOT_FOUND);
    ck_assert_int_eq(errno_to_grpc(EEXIST), GRPC_ALREADY_EXISTS);
    ck_assert_int_eq(errno_to_grpc(EADDRINUSE), GRPC_ALREADY_EXISTS);
    ck_assert_int_eq(errno_to_grpc(ETIMEDOUT), GRPC_DEADLINE_EXCEEDED);
    ck_assert_int_eq(errno_to_grpc(ECONNREFUSED), GRPC_UNAVAILABLE);
    ck_assert_int_eq(errno_to_grpc(EIO), GRPC_INTERNAL);
}
END_TEST

START_TEST(test_error_move_and_names)
{
    struct error a = ERROR_INIT, b = ERROR_INIT;
    error_set(&a, GRPC_ABORTED, "first");
    error_move(&b, &a);
    ck_assert(!error_is_set(&a));
    ck_assert_str_eq(b.msg, "first");
    error_clear(&b);
    ck_assert_str_eq(grpc_code_name(GRPC_NOT_FOUND), "NOT_FOUND");
    ck_assert_str_eq(grpc_code_name(GRPC_UNAUTHENTICATED), "UNAUTHENTICATED");
    ck_assert_str_eq(grpc_code_name(99), "UNKNOWN_CODE");
}
END_TEST

START_TEST(test_log_line)
{
    char buf[256];
    int n = log_format_line(buf, sizeof(buf), LOG_LEVEL_WARN, "say \"hi\"\nnext\x01");
    ck_assert_int_eq(n, (int)strlen(buf));
    ck_assert_ptr_nonnull(strstr(buf, "time=\"20"));
    ck_assert_ptr_nonnull(strstr(buf, "Z\" level=warning msg=\"say \\\"hi\\\"\\nnext\\x01\"\n"));
    ck_assert_int_eq(buf[n - 1], '\n');
    ck_assert_ptr_null(strchr(buf, '\n') == buf + n - 1 ? NULL : buf); /* one line */
    /* A message too long for the buffer is cut, still quoted and terminated. */
    char big[600];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    n = log_format_line(buf, sizeof(buf), LOG_LEVEL_INFO, big);
    ck_assert_int_lt(n, (int)sizeof(buf));
    ck_assert_int_eq(buf[n - 1], '\n');
    ck_assert_int_eq(buf[n - 2], '"');
}
END_TEST

START_TEST(test_log_levels)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    log_set_fd(p[1]);
    log_set_level(LOG_LEVEL_INFO);
    log_debug("hidden");
    log_info("shown %d", 42);
    close(p[1]);
    char buf[512] = {0};
    ck_assert_int_gt(read(p[0], buf, sizeof(buf) - 1), 0);
    ck_assert_ptr_null(strstr(buf, "hidden"));
    ck_assert_ptr_nonnull(strstr(buf, "level=info msg=\"shown 42\""));
    close(p[0]);
    log_set_fd(2);
}
END_TEST

START_TEST(test_buf)
{
    struct buf b = {0};
    buf_append(&b, "", 0);
    ck_assert_str_eq(b.ptr, ""); /* a string even when empty */
    for (int i = 0; i < 1000; i++)
        buf_append_str(&b, "ab");
    buf_append(&b, "x\0y", 3); /* binary data keeps its NUL */
    ck_assert_uint_eq(b.len, 2003);
    ck_assert_mem_eq(b.ptr + 2000, "x\0y", 4); /* and a terminator follows */
    ck_assert_uint_ge(b.cap, b.len + 1);
    free(b.ptr);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("lib");
    TCase *tc = tcase_create("error");
    tcase_add_test(tc, test_error_set_and_wrap);
    tcase_add_test(tc, test_error_errno);
    tcase_add_test(tc, test_error_move_and_names);
    suite_add_tcase(s, tc);
    tc = tcase_create("buf");
    tcase_add_test(tc, test_buf);
    suite_add_tcase(s, tc);
    tc = tcase_create("log");
    tcase_add_test(tc, test_log_line);
    tcase_add_test(tc, test_log_levels);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_tap(sr, "-");
    srunner_run_all(sr, CK_SILENT);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
