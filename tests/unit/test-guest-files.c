/* shim/guest-files: which bind mounts of a spec are copied into a guest without a shared
 * filesystem, their guest paths (Kata's, which genpolicy's policies match), the rewritten spec,
 * and the spec left alone on every error. Real files in a temporary directory: regular files, a
 * directory, a socket, a FIFO, a symlink, names with odd characters. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/xalloc.h"
#include "shim/guest-files.h"

#define CID "3f4b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b"

static char tmpdir[] = "/tmp/cocoon-guest-files-XXXXXX";

static char *tmp_path(const char *name)
{
    return xasprintf("%s/%s", tmpdir, name);
}

static void write_file(const char *name, const char *content)
{
    _cleanup_free_ char *p = tmp_path(name);
    FILE *f = fopen(p, "w");
    ck_assert_msg(f != NULL, "%s: %s", p, strerror(errno));
    fputs(content, f);
    fclose(f);
}

#define ODD_NAME "we ird\tname'\"$(x)\\ü.txt"

static void setup(void)
{
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    write_file("hostname", "pod\n");
    write_file("hosts", "127.0.0.1 localhost\n");
    write_file("resolv.conf", "nameserver 10.0.2.3\n");
    write_file("termination-log", "");
    write_file(ODD_NAME, "odd\n");
    _cleanup_free_ char *dir = tmp_path("vol");
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    _cleanup_free_ char *fifo = tmp_path("fifo");
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    _cleanup_free_ char *link = tmp_path("link");
    ck_assert_int_eq(symlink("hosts", link), 0);
    _cleanup_free_ char *dangling = tmp_path("dangling");
    ck_assert_int_eq(symlink("nowhere", dangling), 0);

    _cleanup_free_ char *sock = tmp_path("sock");
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    ck_assert_uint_lt(strlen(sock), sizeof(sa.sun_path));
    strcpy(sa.sun_path, sock);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(fd);
}

static void teardown(void)
{
    static const char *const names[] = {"hostname", "hosts", "resolv.conf", "termination-log",
                                        ODD_NAME,   "fifo",  "link",        "dangling",
                                        "sock"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        _cleanup_free_ char *p = tmp_path(names[i]);
        unlink(p);
    }
    _cleanup_free_ char *dir = tmp_path("vol");
    rmdir(dir);
    rmdir(tmpdir);
    strcpy(tmpdir, "/tmp/cocoon-guest-files-XXXXXX");
}

/* A spec allocated the way protobuf-c's unpacker does (and oci_spec_from_json), so that
 * protobuf_c_message_free_unpacked frees it whole. */
static Grpc__Spec *new_spec(void)
{
    Grpc__Spec *s = xmalloc(sizeof(*s));
    *s = (Grpc__Spec)GRPC__SPEC__INIT;
    return s;
}

/* Options end with NULL; a NULL type leaves the proto default (""). */
static void add_mount(Grpc__Spec *s, const char *dest, const char *type, const char *source, ...)
{
    Grpc__Mount *m = xmalloc(sizeof(*m));
    *m = (Grpc__Mount)GRPC__MOUNT__INIT;
    m->destination = xstrdup(dest);
    if (type)
        m->type = xstrdup(type);
    m->source = xstrdup(source);
    va_list ap;
    va_start(ap, source);
    for (const char *o; (o = va_arg(ap, const char *));) {
        m->options = xrealloc(m->options, (m->n_options + 1) * sizeof(char *));
        m->options[m->n_options++] = xstrdup(o);
    }
    va_end(ap);
    s->mounts = xrealloc(s->mounts, (s->n_mounts + 1) * sizeof(*s->mounts));
    s->mounts[s->n_mounts++] = m;
}

static void free_spec(Grpc__Spec *s)
{
    protobuf_c_message_free_unpacked(&s->base, NULL);
}

/* guest_path is GUEST_FILES_DIR/<CID>-<16 lower-case hex>-<base>. */
static void check_guest_path(const char *guest_path, const char *base)
{
    static const char prefix[] = "/run/kata-containers/shared/containers/" CID "-";
    ck_assert_msg(strncmp(guest_path, prefix, sizeof(prefix) - 1) == 0, "%s", guest_path);
    const char *hex = guest_path + sizeof(prefix) - 1;
    regex_t re;
    ck_assert_int_eq(regcomp(&re, "^[0-9a-f]{16}-", REG_EXTENDED | REG_NOSUB), 0);
    int rc = regexec(&re, hex, 0, NULL, 0);
    regfree(&re);
    ck_assert_msg(rc == 0, "%s", guest_path);
    ck_assert_str_eq(hex + 17, base);
}

/* The same spec as genpolicy's rules see it: every copied mount's source matches sfprefix. */
static void check_policy_regex(const char *guest_path)
{
    regex_t re;
    ck_assert_int_eq(regcomp(&re,
                             "^/run/kata-containers/shared/containers(/passthrough)?/"
                             "(watchable/)?[a-z0-9]{64}-[a-z0-9]{16}-",
                             REG_EXTENDED | REG_NOSUB),
                     0);
    int rc = regexec(&re, guest_path, 0, NULL, 0);
    regfree(&re);
    ck_assert_msg(rc == 0, "%s", guest_path);
}

START_TEST(test_cri_container)
{
    _cleanup_free_ char *hostname = tmp_path("hostname");
    _cleanup_free_ char *hosts = tmp_path("hosts");
    _cleanup_free_ char *resolv = tmp_path("resolv.conf");
    _cleanup_free_ char *term = tmp_path("termination-log");
    _cleanup_free_ char *vol = tmp_path("vol");
    _cleanup_free_ char *sock = tmp_path("sock");
    _cleanup_free_ char *fifo = tmp_path("fifo");
    _cleanup_free_ char *link = tmp_path("link");
    _cleanup_free_ char *odd = tmp_path(ODD_NAME);
    _cleanup_free_ char *messy = xasprintf("/%s//vol/.././hosts", tmpdir);

    Grpc__Spec *s = new_spec();
    add_mount(s, "/proc", "proc", "proc", "nosuid", "noexec", "nodev", NULL);            /* 0 */
    add_mount(s, "/dev/shm", "bind", hostname, "rbind", "rprivate", "rw", NULL);         /* 1 */
    add_mount(s, "/etc/hostname", "bind", hostname, "rbind", "rprivate", "rw", NULL);    /* 2 */
    add_mount(s, "/etc/hosts", NULL, hosts, "rbind", "rprivate", "ro", NULL);            /* 3 */
    add_mount(s, "/etc/resolv.conf", "none", resolv, "bind", NULL);                      /* 4 */
    add_mount(s, "/dev/termination-log", "bind", term, "rbind", "rprivate", "rw", NULL); /* 5 */
    add_mount(s, "/data", "bind", vol, "rbind", "rw", NULL);                             /* 6 */
    add_mount(s, "/run/app.sock", "bind", sock, "rbind", NULL);                          /* 7 */
    add_mount(s, "/run/fifo", "bind", fifo, "rbind", NULL);                              /* 8 */
    add_mount(s, "/etc/link", "bind", link, "rbind", "ro", NULL);                        /* 9 */
    add_mount(s, "/odd dir/" ODD_NAME, "bind", odd, "rbind", NULL);                      /* 10 */
    add_mount(s, "/sys/fs/cgroup", "bind", "/sys/fs/cgroup", "rbind", NULL);             /* 11 */
    add_mount(s, "/status", "bind", "/proc/self/status", "rbind", NULL);                 /* 12 */
    add_mount(s, "/dev/null", "bind", "/dev/null", "rbind", NULL);                       /* 13 */
    add_mount(s, "/dev/gone", "bind", "/dev/cocoon-no-such-device", "rbind", NULL);      /* 14 */
    add_mount(s, "/tmp", "tmpfs", "tmpfs", "nosuid", NULL);                              /* 15 */
    add_mount(s, "/rel", "bind", "relative/hosts", "rbind", NULL);                       /* 16 */
    add_mount(s, "/etc/messy/", "bind", messy, "rbind", NULL);                           /* 17 */
    add_mount(s, "/etc/copy-of-hosts", "bind", hosts, "rbind", NULL);                    /* 18 */
    add_mount(s, "/not-bind", "overlay", hosts, "ro", NULL);                             /* 19 */
    add_mount(s, "/etc/hosts-v2", "bind", "/proc/../etc/../proc/self/status", "rbind",
              NULL); /* 20: cleaned, under /proc */

    struct guest_file *files;
    size_t n;
    struct error err = ERROR_INIT;
    ck_assert_int_eq(guest_files_plan(s, CID, &files, &n, &err), 0);
    ck_assert(!error_is_set(&err));

    /* The copies, in the order of the mounts. */
    struct {
        const char *host, *base;
    } want[] = {{hostname, "hostname"},    {hosts, "hosts"},        {resolv, "resolv.conf"},
                {term, "termination-log"}, {link, "link"},          {odd, ODD_NAME},
                {messy, "messy"},          {hosts, "copy-of-hosts"}};
    size_t nwant = sizeof(want) / sizeof(want[0]);
    ck_assert_uint_eq(n, nwant);
    for (size_t i = 0; i < n; i++) {
        ck_assert_str_eq(files[i].host_path, want[i].host);
        check_guest_path(files[i].guest_path, want[i].base);
        check_policy_regex(files[i].guest_path);
        for (size_t j = 0; j < i; j++)
            ck_assert_str_ne(files[i].guest_path, files[j].guest_path);
    }

    /* The spec: sockets and FIFOs gone, copied sources replaced, all else as it was. */
    struct {
        const char *dest, *source; /* source NULL: the next guest path */
    } mounts[] = {
        {"/proc", "proc"},
        {"/dev/shm", hostname},
        {"/etc/hostname", NULL},
        {"/etc/hosts", NULL},
        {"/etc/resolv.conf", NULL},
        {"/dev/termination-log", NULL},
        {"/data", vol},
        {"/etc/link", NULL},
        {"/odd dir/" ODD_NAME, NULL},
        {"/sys/fs/cgroup", "/sys/fs/cgroup"},
        {"/status", "/proc/self/status"},
        {"/dev/null", "/dev/null"},
        {"/dev/gone", "/dev/cocoon-no-such-device"},
        {"/tmp", "tmpfs"},
        {"/rel", "relative/hosts"},
        {"/etc/messy/", NULL},
        {"/etc/copy-of-hosts", NULL},
        {"/not-bind", hosts},
        {"/etc/hosts-v2", "/proc/../etc/../proc/self/status"},
    };
    size_t nmounts = sizeof(mounts) / sizeof(mounts[0]);
    ck_assert_uint_eq(s->n_mounts, nmounts);
    size_t next = 0;
    for (size_t i = 0; i < nmounts; i++) {
        const Grpc__Mount *m = s->mounts[i];
        ck_assert_str_eq(m->destination, mounts[i].dest);
        ck_assert_str_eq(m->source, mounts[i].source ? mounts[i].source : files[next++].guest_path);
    }
    ck_assert_uint_eq(next, n);
    /* Types and options are kept (the agent binds the guest file the same way). */
    ck_assert_str_eq(s->mounts[3]->type, "");
    ck_assert_uint_eq(s->mounts[3]->n_options, 3);
    ck_assert_str_eq(s->mounts[3]->options[2], "ro");
    ck_assert_str_eq(s->mounts[4]->type, "none");

    guest_files_free(files, n);
    free_spec(s);
}
END_TEST

/* A regular file below /dev is the host's own file, copied like any other (Kata isHostDevice). */
START_TEST(test_regular_file_under_dev)
{
    char path[] = "/dev/shm/cocoon-guest-files-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) {
        fprintf(stderr, "# skipped: /dev/shm not writable: %s\n", strerror(errno));
        return;
    }
    close(fd);
    Grpc__Spec *s = new_spec();
    add_mount(s, "/etc/from-dev", "bind", path, "rbind", NULL);
    add_mount(s, "/dev", "bind", "/dev", "rbind", NULL);
    add_mount(s, "/dev/shm-dir", "bind", "/dev/shm", "rbind", NULL);
    struct guest_file *files;
    size_t n;
    struct error err = ERROR_INIT;
    int rc = guest_files_plan(s, CID, &files, &n, &err);
    unlink(path);
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(files[0].host_path, path);
    check_guest_path(files[0].guest_path, "from-dev");
    ck_assert_str_eq(s->mounts[0]->source, files[0].guest_path);
    ck_assert_str_eq(s->mounts[1]->source, "/dev");
    ck_assert_str_eq(s->mounts[2]->source, "/dev/shm");
    guest_files_free(files, n);
    free_spec(s);
}
END_TEST

START_TEST(test_nothing_to_copy)
{
    struct guest_file *files = (struct guest_file *)1;
    size_t n = 7;
    struct error err = ERROR_INIT;
    Grpc__Spec *s = new_spec();
    ck_assert_int_eq(guest_files_plan(s, CID, &files, &n, &err), 0);
    ck_assert_ptr_null(files);
    ck_assert_uint_eq(n, 0);

    _cleanup_free_ char *vol = tmp_path("vol");
    add_mount(s, "/proc", "proc", "proc", NULL);
    add_mount(s, "/data", "bind", vol, "rbind", NULL);
    ck_assert_int_eq(guest_files_plan(s, CID, &files, &n, &err), 0);
    ck_assert_ptr_null(files);
    ck_assert_uint_eq(n, 0);
    ck_assert_uint_eq(s->n_mounts, 2);
    free_spec(s);

    /* Only mounts that are dropped. */
    s = new_spec();
    _cleanup_free_ char *sock = tmp_path("sock");
    add_mount(s, "/a.sock", "bind", sock, "rbind", NULL);
    add_mount(s, "/b.sock", "bind", sock, "bind", NULL);
    ck_assert_int_eq(guest_files_plan(s, CID, &files, &n, &err), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_uint_eq(s->n_mounts, 0);
    free_spec(s);
}
END_TEST

/* Snapshot of the mounts, to show a failed plan changed nothing. */
static char *describe(const Grpc__Spec *s)
{
    char *d = xstrdup("");
    for (size_t i = 0; i < s->n_mounts; i++) {
        char *next = xasprintf("%s[%s<-%s]", d, s->mounts[i]->destination, s->mounts[i]->source);
        free(d);
        d = next;
    }
    return d;
}

static void expect_failure(Grpc__Spec *s, const char *cid, int code, const char *msg)
{
    _cleanup_free_ char *before = describe(s);
    struct guest_file *files = (struct guest_file *)1;
    size_t n = 7;
    struct error err = ERROR_INIT;
    ck_assert_int_eq(guest_files_plan(s, cid, &files, &n, &err), -1);
    ck_assert_ptr_null(files);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(err.code, code);
    ck_assert_str_eq(err.msg, msg);
    error_clear(&err);
    _cleanup_free_ char *after = describe(s);
    ck_assert_str_eq(after, before);
}

START_TEST(test_errors)
{
    _cleanup_free_ char *hosts = tmp_path("hosts");
    _cleanup_free_ char *sock = tmp_path("sock");
    _cleanup_free_ char *missing = tmp_path("missing");
    _cleanup_free_ char *dangling = tmp_path("dangling");
    Grpc__Spec *s = new_spec();
    add_mount(s, "/etc/hosts", "bind", hosts, "rbind", NULL);
    add_mount(s, "/a.sock", "bind", sock, "rbind", NULL);
    add_mount(s, "/etc/missing", "bind", missing, "rbind", NULL);
    _cleanup_free_ char *msg =
        xasprintf("mount /etc/missing: source %s: %s", missing, strerror(ENOENT));
    expect_failure(s, CID, GRPC_NOT_FOUND, msg);

    /* A dangling symlink: the bind would fail the same way. */
    free(s->mounts[2]->source);
    s->mounts[2]->source = xstrdup(dangling);
    free(msg);
    msg = xasprintf("mount /etc/missing: source %s: %s", dangling, strerror(ENOENT));
    expect_failure(s, CID, GRPC_NOT_FOUND, msg);

    /* A file bound on a destination that names no file. */
    static const char *const bad_dest[] = {"/", "//", "/etc/.", "/etc/..", "/a/../"};
    for (size_t i = 0; i < sizeof(bad_dest) / sizeof(bad_dest[0]); i++) {
        free(s->mounts[2]->source);
        s->mounts[2]->source = xstrdup(hosts);
        free(s->mounts[2]->destination);
        s->mounts[2]->destination = xstrdup(bad_dest[i]);
        free(msg);
        msg = xasprintf("mount destination \"%s\": a file bind mount needs a destination that "
                        "names a file",
                        bad_dest[i]);
        expect_failure(s, CID, GRPC_INVALID_ARGUMENT, msg);
    }
    free(s->mounts[2]->destination);
    s->mounts[2]->destination = xstrdup("/etc/ok");

    static const char *const bad_ids[] = {"", "a/b", ".", ".."};
    for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
        free(msg);
        msg = xasprintf("guest files: invalid container id \"%s\"", bad_ids[i]);
        expect_failure(s, bad_ids[i], GRPC_INVALID_ARGUMENT, msg);
    }
    expect_failure(s, NULL, GRPC_INVALID_ARGUMENT, "guest files: invalid container id \"\"");

    /* Now it is fine. */
    struct guest_file *files;
    size_t n;
    struct error err = ERROR_INIT;
    ck_assert_int_eq(guest_files_plan(s, CID, &files, &n, &err), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(s->n_mounts, 2);
    check_guest_path(files[1].guest_path, "ok");
    guest_files_free(files, n);
    free_spec(s);
}
END_TEST

/* Sources with odd bytes in them go through unchanged: the plan only stats them. */
START_TEST(test_odd_sources)
{
    Grpc__Spec *s = new_spec();
    add_mount(s, "/x", "bind", "/", "rbind", NULL); /* a directory */
    add_mount(s, "/y", "bind", "/proc", "rbind", NULL);
    add_mount(s, "/z", "bind", "/sysfoo/../sys/kernel", "rbind", NULL);
    add_mount(s, "", "bind", "/etc/hostname", "rbind", NULL); /* no destination: not ours */
    add_mount(s, "/empty", "bind", "", "rbind", NULL);
    struct guest_file *files;
    size_t n;
    struct error err = ERROR_INIT;
    ck_assert_int_eq(guest_files_plan(s, CID, &files, &n, &err), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_uint_eq(s->n_mounts, 5);
    free_spec(s);

    /* A source under /proc reached through "..": cleaned first, like Kata's filepath.Clean. */
    s = new_spec();
    _cleanup_free_ char *sneaky = xasprintf("%s/../../proc/self/status", tmpdir);
    add_mount(s, "/s", "bind", sneaky, "rbind", NULL);
    ck_assert_int_eq(guest_files_plan(s, CID, &files, &n, &err), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_str_eq(s->mounts[0]->source, sneaky);
    free_spec(s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("guest-files");
    TCase *tc = tcase_create("plan");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_cri_container);
    tcase_add_test(tc, test_regular_file_under_dev);
    tcase_add_test(tc, test_nothing_to_copy);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_odd_sources);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_tap(sr, "-");
    srunner_run_all(sr, CK_SILENT);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
