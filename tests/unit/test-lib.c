/* lib/: the error convention, the log line format, files, paths, clocks and the SHA-2 digests
 * (checked against the FIPS 180 examples and against OpenSSL). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/clock.h"
#include "lib/error.h"
#include "lib/fs.h"
#include "lib/log.h"
#include "lib/parse.h"
#include "lib/path.h"
#include "lib/sha256.h"
#include "lib/sha512.h"
#include "lib/xalloc.h"
#include "tests/common/run-tap.h"

START_TEST(test_error_set_and_wrap)
{
    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    ck_assert(!error_is_set(&err));
    ck_assert_int_eq(error_set(&err, GRPC_INVALID_ARGUMENT, "algorithm \"%s\" is not one of %s",
                               "md5", "sha256, sha384, sha512"),
                     -1);
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

/* --- SHA-2 --- */

static void hex(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
}

/* All three digests of data, as lower-case hex. */
static void digests(const void *data, size_t len, char h256[65], char h384[97], char h512[129])
{
    uint8_t md[SHA512_LEN];
    struct sha256 a;
    sha256_init(&a);
    sha256_update(&a, data, len);
    sha256_final(&a, md);
    hex(md, SHA256_LEN, h256);
    struct sha512 b;
    sha384_init(&b);
    sha512_update(&b, data, len);
    sha512_final(&b, md, SHA384_LEN);
    hex(md, SHA384_LEN, h384);
    sha512_init(&b);
    sha512_update(&b, data, len);
    sha512_final(&b, md, SHA512_LEN);
    hex(md, SHA512_LEN, h512);
}

START_TEST(test_sha2_vectors)
{
    char a[65], b[97], c[129];
    /* FIPS 180-2 appendix examples: one block, two blocks */
    digests("abc", 3, a, b, c);
    ck_assert_str_eq(a, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    ck_assert_str_eq(b, "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed"
                        "8086072ba1e7cc2358baeca134c825a7");
    ck_assert_str_eq(c, "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
                        "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    digests(two, strlen(two), a, b, c);
    ck_assert_str_eq(a, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    digests("", 0, a, b, c);
    ck_assert_str_eq(a, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    ck_assert_str_eq(c, "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
                        "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e");
    /* a million 'a', fed in uneven pieces */
    struct sha256 s;
    sha256_init(&s);
    static char piece[1000];
    memset(piece, 'a', sizeof(piece));
    for (size_t done = 0, n = 1; done < 1000000; done += n, n = n % 997 + 1)
        sha256_update(&s, piece, done + n > 1000000 ? 1000000 - done : n);
    uint8_t md[SHA256_LEN];
    sha256_final(&s, md);
    hex(md, SHA256_LEN, a);
    ck_assert_str_eq(a, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    char h[65];
    sha256_hex("abc", 3, h);
    ck_assert_str_eq(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
END_TEST

/* Every length around the block and padding boundaries, against OpenSSL. */
START_TEST(test_sha2_against_openssl)
{
    static uint8_t data[700];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 131 + 7);
    const EVP_MD *mds[] = {EVP_sha256(), EVP_sha384(), EVP_sha512()};
    for (size_t len = 0; len <= sizeof(data); len++) {
        char ours[3][129];
        digests(data, len, ours[0], ours[1], ours[2]);
        for (int k = 0; k < 3; k++) {
            uint8_t md[64];
            unsigned n = 0;
            ck_assert_int_eq(EVP_Digest(data, len, md, &n, mds[k], NULL), 1);
            char want[129];
            hex(md, n, want);
            ck_assert_msg(strcmp(ours[k], want) == 0, "length %zu, digest %d", len, k);
        }
    }
}
END_TEST

/* --- files, paths, clock, Go's booleans --- */

START_TEST(test_fs)
{
    char dir[] = "/tmp/cocoon-lib-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    struct error err = ERROR_INIT;
    _cleanup_free_ char *deep = xasprintf("%s/a/b/c/", dir);
    ck_assert_int_eq(fs_mkdir_p(deep, 0700, 0711, &err), 0);
    ck_assert_int_eq(fs_mkdir_p(deep, 0700, 0711, &err), 0); /* existing: fine */
    struct stat st;
    _cleanup_free_ char *a = xasprintf("%s/a", dir), *c = xasprintf("%s/a/b/c", dir);
    ck_assert_int_eq(stat(a, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0711 & ~umask(022));
    umask(022);
    ck_assert_int_eq(stat(c, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0700);

    _cleanup_free_ char *file = xasprintf("%s/f", c);
    ck_assert_int_eq(fs_write_file_atomic(file, "hello\n", 6, 0640, &err), 0);
    ck_assert_int_eq(stat(file, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0640);
    ck_assert_int_eq(fs_write_file_atomic(file, "x", 1, 0644, &err), 0); /* replaced */
    char *text = NULL;
    size_t len;
    ck_assert_int_eq(fs_read_file(file, 10, &text, &len, &err), 0);
    ck_assert_str_eq(text, "x");
    ck_assert_uint_eq(len, 1);
    free(text);
    ck_assert_int_eq(fs_write_file_atomic(file, "0123456789A", 11, 0644, &err), 0);
    ck_assert_int_eq(fs_read_file(file, 10, &text, &len, &err), -1);
    ck_assert_str_eq(err.msg + strlen(err.msg) - 23, "is larger than 10 bytes");
    ck_assert_int_eq(fs_read_file(c, 10, &text, &len, &err), -1); /* a directory */
    ck_assert_int_eq(err.code, GRPC_INVALID_ARGUMENT);
    _cleanup_free_ char *missing = xasprintf("%s/none", dir);
    ck_assert_int_eq(fs_read_file(missing, 10, &text, &len, &err), -1);
    ck_assert_int_eq(err.code, GRPC_NOT_FOUND);
    /* a write into a directory that is not there fails and leaves nothing */
    _cleanup_free_ char *nowhere = xasprintf("%s/none/f", dir);
    ck_assert_int_eq(fs_write_file_atomic(nowhere, "x", 1, 0644, &err), -1);

    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    ck_assert_int_eq(fs_write_all(fds[1], "abc", 3), 0);
    close(fds[1]);
    ck_assert_int_eq(fs_read_fd(fds[0], 10, "the pipe", &text, &len, &err), 0);
    ck_assert_str_eq(text, "abc");
    free(text);
    close(fds[0]);

    ck_assert_int_eq(fs_remove_tree(dir, &err), 0);
    ck_assert_int_ne(access(dir, F_OK), 0);
    ck_assert_int_eq(fs_remove_tree(dir, &err), 0); /* gone: fine */
    error_clear(&err);
}
END_TEST

START_TEST(test_path_clock_parse)
{
    static const char *const cases[][2] = {
        {"", "."},
        {"/", "/"},
        {"a/b/", "a/b"},
        {"/a//b/./c/..", "/a/b"},
        {"/../a", "/a"},
        {"../../a", "../../a"},
        {"a/../..", ".."},
        {"./", "."},
        {"/run/containerd/containerd.sock/k8s.io/x", "/run/containerd/containerd.sock/k8s.io/x"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        _cleanup_free_ char *got = path_clean(cases[i][0]);
        ck_assert_msg(strcmp(got, cases[i][1]) == 0, "%s -> %s", cases[i][0], got);
    }
    int64_t t = now_ms();
    ck_assert_int_gt(t, 0);
    ck_assert_int_eq(remaining_ms(t - 5), 0);
    ck_assert_int_le(remaining_ms(t + 50), 50);
    ck_assert_int_eq(remaining_ms(t + 5000000000LL), 1000000);
    bool b = false;
    ck_assert_int_eq(parse_go_bool("True", &b), 0);
    ck_assert(b);
    ck_assert_int_eq(parse_go_bool("0", &b), 0);
    ck_assert(!b);
    ck_assert_int_eq(parse_go_bool("yes", &b), -1);
    ck_assert_int_eq(parse_go_bool("", &b), -1);
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
    tc = tcase_create("sha2");
    tcase_add_test(tc, test_sha2_vectors);
    tcase_add_test(tc, test_sha2_against_openssl);
    suite_add_tcase(s, tc);
    tc = tcase_create("fs");
    tcase_add_test(tc, test_fs);
    tcase_add_test(tc, test_path_clock_parse);
    suite_add_tcase(s, tc);
    tc = tcase_create("buf");
    tcase_add_test(tc, test_buf);
    suite_add_tcase(s, tc);
    tc = tcase_create("log");
    tcase_add_test(tc, test_log_line);
    tcase_add_test(tc, test_log_levels);
    suite_add_tcase(s, tc);
    return run_tap(s);
}
