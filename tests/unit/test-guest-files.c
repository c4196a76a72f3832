/* shim/guest-files and shim/guest-copy: what a container's mounts become in a guest without a
 * shared filesystem (copies with Kata's guest paths, which genpolicy's policies match; emptyDirs
 * as guest storages; the pod's /dev/shm; the spec left alone on every error), and the copying
 * itself against a fake agent recording every CopyFile: modes with their type bits, owners,
 * 1 MiB chunks, the atomic-writer layout in byte order, what is refused, and the copy again when
 * the kubelet updates a volume. Real files in a temporary directory. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "kata/agent.pb-c.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/xalloc.h"
#include "shim/agent.h"
#include "shim/guest-copy.h"
#include "shim/guest-files.h"
#include "tests/common/fake-agent.h"
#include "tests/common/run-tap.h"
#include "ttrpc/dial.h"
#include "ttrpc/server.h"

#define CID "3f4b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b"
#define SID "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"
#define N(a) (sizeof(a) / sizeof((a)[0]))

static char tmpdir[] = "/tmp/cocoon-guest-files-XXXXXX";

static char *tmp_path(const char *name)
{
    return xasprintf("%s/%s", tmpdir, name);
}

static void write_file(const char *name, const char *content)
{
    _cleanup_free_ char *p = tmp_path(name);
    struct error err = ERROR_INIT;
    ck_assert_msg(fs_write_file_atomic(p, content, strlen(content), 0644, &err) == 0, "%s",
                  err.msg);
}

static void make_dir(const char *name)
{
    _cleanup_free_ char *p = tmp_path(name);
    struct error err = ERROR_INIT;
    ck_assert_msg(fs_mkdir_p(p, 0755, 0755, &err) == 0, "%s", err.msg);
}

static void make_link(const char *target, const char *name)
{
    _cleanup_free_ char *p = tmp_path(name);
    ck_assert_int_eq(symlink(target, p), 0);
}

static void make_socket(const char *name)
{
    _cleanup_free_ char *p = tmp_path(name);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    ck_assert_uint_lt(strlen(p), sizeof(sa.sun_path));
    strcpy(sa.sun_path, p);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(fd);
}

#define ODD_NAME "we ird\tname'\"$(x)\\ü.txt"

/* The kubelet's atomic-writer layout of a ConfigMap with keys a and b. */
static void make_configmap(const char *dir, const char *ts, const char *a, const char *b)
{
    _cleanup_free_ char *tsdir = xasprintf("%s/%s", dir, ts);
    make_dir(tsdir);
    _cleanup_free_ char *fa = xasprintf("%s/a", tsdir), *fb = xasprintf("%s/b", tsdir);
    write_file(fa, a);
    write_file(fb, b);
    _cleanup_free_ char *data = xasprintf("%s/..data", dir);
    make_link(ts, data);
    _cleanup_free_ char *ka = xasprintf("%s/a", dir), *kb = xasprintf("%s/b", dir);
    make_link("..data/a", ka);
    make_link("..data/b", kb);
}

static void setup(void)
{
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    write_file("hostname", "pod\n");
    write_file("hosts", "127.0.0.1 localhost\n");
    write_file("resolv.conf", "nameserver 10.0.2.3\n");
    write_file("termination-log", "");
    write_file(ODD_NAME, "odd\n");
    make_dir("vol/sub");
    write_file("vol/sub/f", "f\n");
    make_link("hosts", "link");
    make_link("nowhere", "dangling");
    make_dir("pods/uid-1/volumes/kubernetes.io~configmap/cfg");
    make_configmap("pods/uid-1/volumes/kubernetes.io~configmap/cfg", "..2026_12_03_10_00_00.1",
                   "one", "two");
    make_dir("pods/uid-1/volumes/kubernetes.io~empty-dir/cache");
    _cleanup_free_ char *fifo = tmp_path("fifo");
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    make_socket("sock");
}

static void teardown(void)
{
    struct error err = ERROR_INIT;
    ck_assert_msg(fs_remove_tree(tmpdir, &err) == 0, "%s", err.msg);
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

/* genpolicy's sfprefix: every copied mount's guest path matches it. */
static void check_guest_path(const char *guest_path, const char *base)
{
    static const char prefix[] = "/run/kata-containers/shared/containers/" CID "-";
    ck_assert_msg(strncmp(guest_path, prefix, sizeof(prefix) - 1) == 0, "%s", guest_path);
    regex_t re;
    ck_assert_int_eq(regcomp(&re,
                             "^/run/kata-containers/shared/containers(/passthrough)?/"
                             "(watchable/)?[a-z0-9]{64}-[a-z0-9]{16}-",
                             REG_EXTENDED | REG_NOSUB),
                     0);
    int rc = regexec(&re, guest_path, 0, NULL, 0);
    regfree(&re);
    ck_assert_msg(rc == 0, "%s", guest_path);
    ck_assert_str_eq(guest_path + sizeof(prefix) - 1 + 17, base);
}

static void check_options(const Grpc__Mount *m, const char *const *want, size_t n)
{
    ck_assert_uint_eq(m->n_options, n);
    for (size_t i = 0; i < n; i++)
        ck_assert_str_eq(m->options[i], want[i]);
}

/* --- the plan --- */

START_TEST(test_cri_container)
{
    _cleanup_free_ char *hostname = tmp_path("hostname"), *hosts = tmp_path("hosts");
    _cleanup_free_ char *resolv = tmp_path("resolv.conf"), *term = tmp_path("termination-log");
    _cleanup_free_ char *vol = tmp_path("vol"), *link = tmp_path("link");
    _cleanup_free_ char *odd = tmp_path(ODD_NAME);
    _cleanup_free_ char *cfg = tmp_path("pods/uid-1/volumes/kubernetes.io~configmap/cfg");
    _cleanup_free_ char *messy = xasprintf("/%s//vol/.././hosts", tmpdir);

    Grpc__Spec *s = new_spec();
    add_mount(s, "/proc", "proc", "proc", "nosuid", "noexec", "nodev", NULL);            /* 0 */
    add_mount(s, "/dev/shm", "bind", hostname, "rbind", "ro", "nosuid", NULL);           /* 1 */
    add_mount(s, "/etc/hostname", "bind", hostname, "rbind", "rprivate", "rw", NULL);    /* 2 */
    add_mount(s, "/etc/hosts", NULL, hosts, "rbind", "rprivate", "ro", NULL);            /* 3 */
    add_mount(s, "/etc/resolv.conf", "none", resolv, "bind", NULL);                      /* 4 */
    add_mount(s, "/dev/termination-log", "bind", term, "rbind", "rprivate", "rw", NULL); /* 5 */
    add_mount(s, "/data", "bind", vol, "rbind", "rw", NULL);                             /* 6 */
    add_mount(s, "/etc/link", "bind", link, "rbind", "ro", NULL);                        /* 7 */
    add_mount(s, "/odd dir/" ODD_NAME, "bind", odd, "rbind", NULL);                      /* 8 */
    add_mount(s, "/sys/fs/cgroup", "bind", "/sys/fs/cgroup", "rbind", NULL);             /* 9 */
    add_mount(s, "/status", "bind", "/proc/self/status", "rbind", NULL);                 /* 10 */
    add_mount(s, "/dev/null", "bind", "/dev/null", "rbind", NULL);                       /* 11 */
    add_mount(s, "/dev/gone", "bind", "/dev/cocoon-no-such-device", "rbind", NULL);      /* 12 */
    add_mount(s, "/tmp", "tmpfs", "tmpfs", "nosuid", NULL);                              /* 13 */
    add_mount(s, "/rel", "bind", "relative/hosts", "rbind", NULL);                       /* 14 */
    add_mount(s, "/etc/messy/", "bind", messy, "rbind", NULL);                           /* 15 */
    add_mount(s, "/etc/config", "bind", cfg, "rbind", "ro", NULL);                       /* 16 */
    add_mount(s, "/not-bind", "overlay", hosts, "ro", NULL);                             /* 17 */

    static const struct annotation anns[] = {
        {ANNOTATION_TERMINATION_MESSAGE_PATH, "/dev/termination-log"},
        {ANNOTATION_TERMINATION_MESSAGE_POLICY, "File"}};
    struct guest_files f;
    struct error err = ERROR_INIT;
    ck_assert_msg(guest_files_plan(s, CID, SID, 64 << 20, anns, N(anns), &f, &err) == 0, "%s",
                  err.msg);
    ck_assert_str_eq(f.termination_log, term);
    ck_assert_uint_eq(f.n_storages, 0);

    /* The copies, in the order of the mounts. */
    struct {
        const char *host, *base;
        bool tree, watch;
    } want[] = {{hostname, "hostname", false, false},
                {hosts, "hosts", false, false},
                {resolv, "resolv.conf", false, false},
                {term, "termination-log", false, false},
                {vol, "data", true, false},
                {link, "link", false, false},
                {odd, ODD_NAME, false, false},
                {hosts, "messy", false, false},
                {cfg, "config", true, true}};
    ck_assert_uint_eq(f.n_copies, N(want));
    for (size_t i = 0; i < f.n_copies; i++) {
        ck_assert_str_eq(f.copies[i].host_path, want[i].host);
        check_guest_path(f.copies[i].guest_path, want[i].base);
        ck_assert_int_eq(f.copies[i].tree, want[i].tree);
        ck_assert_int_eq(f.copies[i].watch, want[i].watch);
        for (size_t j = 0; j < i; j++)
            ck_assert_str_ne(f.copies[i].guest_path, f.copies[j].guest_path);
    }

    /* The spec: copied sources replaced, /dev/shm binds the pod's, all else as it was. */
    const char *sources[] = {"proc",
                             "/run/kata-containers/sandbox/shm",
                             f.copies[0].guest_path,
                             f.copies[1].guest_path,
                             f.copies[2].guest_path,
                             f.copies[3].guest_path,
                             f.copies[4].guest_path,
                             f.copies[5].guest_path,
                             f.copies[6].guest_path,
                             "/sys/fs/cgroup",
                             "/proc/self/status",
                             "/dev/null",
                             "/dev/cocoon-no-such-device",
                             "tmpfs",
                             "relative/hosts",
                             f.copies[7].guest_path,
                             f.copies[8].guest_path,
                             hosts};
    ck_assert_uint_eq(s->n_mounts, N(sources));
    for (size_t i = 0; i < N(sources); i++)
        ck_assert_str_eq(s->mounts[i]->source, sources[i]);
    static const char *const rbind[] = {"rbind"};
    ck_assert_str_eq(s->mounts[1]->type, "bind");
    check_options(s->mounts[1], rbind, 1);
    /* Types and options of copies are kept (the agent binds the guest file the same way). */
    ck_assert_str_eq(s->mounts[3]->type, "");
    static const char *const hosts_opts[] = {"rbind", "rprivate", "ro"};
    check_options(s->mounts[3], hosts_opts, 3);
    ck_assert_str_eq(s->mounts[4]->type, "none");

    guest_files_free(&f);
    guest_files_free(&f); /* twice is fine */
    free_spec(s);
}
END_TEST

/* A pod without a shared /dev/shm: each container gets a tmpfs of its own; and the shm size of
 * a sandbox's spec. */
START_TEST(test_shm)
{
    Grpc__Spec *s = new_spec();
    add_mount(s, "/dev/shm", "tmpfs", "shm", "nosuid", NULL);
    add_mount(s, "/dev/shm/../shm/", "bind", "/dev/shm", "rbind", NULL); /* the same, cleaned */
    add_mount(s, "/dev/shm", "ephemeral", "/run/kata-containers/sandbox/ephemeral/x", NULL);
    struct guest_files f;
    struct error err = ERROR_INIT;
    ck_assert_int_eq(guest_files_plan(s, CID, SID, 0, NULL, 0, &f, &err), 0);
    ck_assert_uint_eq(f.n_copies, 0);
    ck_assert_ptr_null(f.termination_log);
    static const char *const own[] = {"noexec", "nosuid", "nodev", "mode=1777", "size=67108864"};
    for (int i = 0; i < 2; i++) {
        ck_assert_str_eq(s->mounts[i]->type, "tmpfs");
        ck_assert_str_eq(s->mounts[i]->source, "shm");
        check_options(s->mounts[i], own, N(own));
    }
    /* a memory emptyDir mounted at /dev/shm stays what it is */
    ck_assert_str_eq(s->mounts[2]->type, "ephemeral");
    guest_files_free(&f);

    /* the size: a bind of a tmpfs directory has that filesystem's size */
    ck_assert_uint_eq(guest_files_shm_size(s), GUEST_SHM_DEFAULT_SIZE); /* first: tmpfs type */
    free_spec(s);
    s = new_spec();
    ck_assert_uint_eq(guest_files_shm_size(s), 0);
    add_mount(s, "/dev/shm", "bind", "/dev/shm", "rbind", NULL);
    ck_assert_uint_eq(guest_files_shm_size(s), GUEST_SHM_DEFAULT_SIZE); /* hostIPC */
    free_spec(s);
    s = new_spec();
    add_mount(s, "/dev/shm", "bind", tmpdir, "rbind", NULL);
    struct statfs fs;
    ck_assert_int_eq(statfs(tmpdir, &fs), 0);
    ck_assert_uint_eq(guest_files_shm_size(s), (uint64_t)fs.f_bsize * fs.f_blocks);
    free_spec(s);

    Grpc__Storage *st = guest_files_shm_storage(67108864);
    ck_assert_str_eq(st->driver, "ephemeral");
    ck_assert_str_eq(st->source, "shm");
    ck_assert_str_eq(st->fstype, "tmpfs");
    ck_assert_str_eq(st->mount_point, "/run/kata-containers/sandbox/shm");
    ck_assert_uint_eq(st->n_options, N(own));
    for (size_t i = 0; i < N(own); i++)
        ck_assert_str_eq(st->options[i], own[i]);
    ck_assert_uint_eq(st->n_driver_options, 0);
    protobuf_c_message_free_unpacked(&st->base, NULL);
}
END_TEST

/* emptyDirs become the pod's guest storages: "local" on disk, "ephemeral" in memory. */
START_TEST(test_empty_dir)
{
    _cleanup_free_ char *disk = tmp_path("pods/uid-1/volumes/kubernetes.io~empty-dir/cache");
    ck_assert_int_eq(chown(disk, 0, 1234), 0);
    char mem_root[] = "/dev/shm/cocoon-guest-files-XXXXXX";
    bool have_mem = mkdtemp(mem_root) != NULL;
    _cleanup_free_ char *mem =
        xasprintf("%s/pods/u/volumes/kubernetes.io~empty-dir/scratch", mem_root);
    struct error err = ERROR_INIT;
    if (have_mem)
        ck_assert_int_eq(fs_mkdir_p(mem, 0755, 0755, &err), 0);

    Grpc__Spec *s = new_spec();
    add_mount(s, "/cache", "bind", disk, "rbind", "rprivate", "rw", NULL);
    if (have_mem)
        add_mount(s, "/scratch", "bind", mem, "rbind", "rw", NULL);
    struct guest_files f;
    ck_assert_msg(guest_files_plan(s, CID, SID, 0, NULL, 0, &f, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(f.n_copies, 0);
    ck_assert_uint_eq(f.n_storages, have_mem ? 2 : 1);
    const Grpc__Storage *local = f.storages[0];
    ck_assert_str_eq(local->driver, "local");
    ck_assert_str_eq(local->source, "local");
    ck_assert_str_eq(local->fstype, "local");
    ck_assert_str_eq(local->mount_point,
                     "/run/kata-containers/shared/containers/" SID "/rootfs/local/cache");
    ck_assert_uint_eq(local->n_options, 2);
    ck_assert_str_eq(local->options[0], "mode=0777");
    ck_assert_str_eq(local->options[1], "fsgid=1234");
    ck_assert_str_eq(s->mounts[0]->type, "local");
    ck_assert_str_eq(s->mounts[0]->source, local->mount_point);
    if (have_mem) {
        const Grpc__Storage *eph = f.storages[1];
        ck_assert_str_eq(eph->driver, "ephemeral");
        ck_assert_str_eq(eph->source, "tmpfs");
        ck_assert_str_eq(eph->fstype, "tmpfs");
        ck_assert_str_eq(eph->mount_point, "/run/kata-containers/sandbox/ephemeral/scratch");
        ck_assert_uint_eq(eph->n_options, 0);
        ck_assert_str_eq(s->mounts[1]->type, "bind");
        ck_assert_str_eq(s->mounts[1]->source, eph->mount_point);
        ck_assert_int_eq(fs_remove_tree(mem_root, &err), 0);
    }
    guest_files_free(&f);
    free_spec(s);
}
END_TEST

/* Every error names the mount and leaves the spec as it was. */
START_TEST(test_errors)
{
    _cleanup_free_ char *sock = tmp_path("sock"), *fifo = tmp_path("fifo");
    _cleanup_free_ char *dangling = tmp_path("dangling"), *hosts = tmp_path("hosts");
    static const struct {
        const char *dest, *source, *msg;
        int code;
    } bad[] = {
        {"/run/app.sock", "sock", " is a socket, which cannot be copied into the guest",
         GRPC_INVALID_ARGUMENT},
        {"/run/fifo", "fifo", " is a FIFO", GRPC_INVALID_ARGUMENT},
        {"/etc/d", "dangling", ": No such file", GRPC_NOT_FOUND},
        {"/", "hosts", NULL, GRPC_INVALID_ARGUMENT},
    };
    for (size_t i = 0; i < N(bad); i++) {
        _cleanup_free_ char *src = tmp_path(bad[i].source);
        Grpc__Spec *s = new_spec();
        add_mount(s, "/etc/hosts", "bind", hosts, "rbind", NULL);
        add_mount(s, bad[i].dest, "bind", src, "rbind", NULL);
        struct guest_files f = {.n_copies = 7};
        struct error err = ERROR_INIT;
        ck_assert_int_eq(guest_files_plan(s, CID, SID, 0, NULL, 0, &f, &err), -1);
        ck_assert_int_eq(err.code, bad[i].code);
        _cleanup_free_ char *want =
            bad[i].msg ? xasprintf("mount %s: source %s%s", bad[i].dest, src, bad[i].msg)
                       : xstrdup("mount destination \"/\": a copied mount needs a destination");
        ck_assert_msg(strncmp(err.msg, want, strlen(want)) == 0, "%s", err.msg);
        ck_assert_uint_eq(f.n_copies, 0);
        ck_assert_str_eq(s->mounts[0]->source, hosts); /* untouched */
        error_clear(&err);
        free_spec(s);
    }
    (void)sock;
    (void)fifo;
    (void)dangling;
    Grpc__Spec *s = new_spec();
    struct guest_files f;
    struct error err = ERROR_INIT;
    ck_assert_int_eq(guest_files_plan(s, "a/b", SID, 0, NULL, 0, &f, &err), -1);
    ck_assert_int_eq(guest_files_plan(s, CID, "..", 0, NULL, 0, &f, &err), -1);
    ck_assert_int_eq(err.code, GRPC_INVALID_ARGUMENT);
    error_clear(&err);
    free_spec(s);
}
END_TEST

/* --- copying, against a fake agent --- */

struct copied {
    char *path;
    uint32_t mode, dir_mode;
    int32_t uid, gid;
    int64_t size, offset;
    uint8_t *data;
    size_t len;
};

static struct {
    pthread_mutex_t lock;
    struct copied *v;
    size_t n;
    bool fail; /* answer every CopyFile with an error */
} fk = {.lock = PTHREAD_MUTEX_INITIALIZER};

static struct ttrpc_server *srv;
static struct agent *agent;

static int do_copy_file(void *user, const struct ttrpc_call *call, const ProtobufCMessage *m,
                        struct ttrpc_reply *reply, struct error *err)
{
    const Grpc__CopyFileRequest *r = (const void *)m;
    pthread_mutex_lock(&fk.lock);
    bool fail = fk.fail;
    if (!fail) {
        fk.v = xrealloc(fk.v, (fk.n + 1) * sizeof(*fk.v));
        fk.v[fk.n++] = (struct copied){.path = xstrdup(r->path),
                                       .mode = r->file_mode,
                                       .dir_mode = r->dir_mode,
                                       .uid = r->uid,
                                       .gid = r->gid,
                                       .size = r->file_size,
                                       .offset = r->offset,
                                       .data = xmemdup(r->data.data, r->data.len),
                                       .len = r->data.len};
    }
    pthread_mutex_unlock(&fk.lock);
    return fail ? error_set(err, GRPC_PERMISSION_DENIED, "CopyFileRequest is blocked by policy")
                : 0;
}

static const struct ttrpc_method agent_methods[] = {
    {"CopyFile", &grpc__copy_file_request__descriptor, do_copy_file},
};

static void fake_clear(void)
{
    pthread_mutex_lock(&fk.lock);
    for (size_t i = 0; i < fk.n; i++) {
        free(fk.v[i].path);
        free(fk.v[i].data);
    }
    free(fk.v);
    fk.v = NULL;
    fk.n = 0;
    fk.fail = false;
    pthread_mutex_unlock(&fk.lock);
}

static size_t fake_count(void)
{
    pthread_mutex_lock(&fk.lock);
    size_t n = fk.n;
    pthread_mutex_unlock(&fk.lock);
    return n;
}

static void agent_setup(void)
{
    setup();
    _cleanup_free_ char *sock = tmp_path("agent.sock");
    agent = fake_agent_start(agent_methods, N(agent_methods), sock, &srv);
}

static void agent_teardown(void)
{
    agent_close(agent);
    agent_free(agent);
    ttrpc_server_free(srv);
    fake_clear();
    teardown();
}

static const struct guest_copy_limits limits = {.max_bytes = 64 << 20, .max_entries = 1000};

static struct guest_copy copy_of(const char *host, const char *guest, bool tree)
{
    return (struct guest_copy){.host_path = (char *)host,
                               .guest_path = (char *)guest,
                               .destination = (char *)"/mnt/x",
                               .tree = tree};
}

START_TEST(test_copy_file_chunks)
{
    _cleanup_free_ char *big = tmp_path("big");
    const size_t n = 2 * 1024 * 1024 + 5;
    _cleanup_free_ char *data = xmalloc(n);
    for (size_t i = 0; i < n; i++)
        data[i] = (char)(i * 7);
    struct error err = ERROR_INIT;
    ck_assert_int_eq(fs_write_file_atomic(big, data, n, 0640, &err), 0);
    ck_assert_int_eq(chown(big, 1001, 1002), 0);
    struct guest_copy c = copy_of(big, GUEST_FILES_DIR "/x-1-big", false);
    ck_assert_msg(guest_copy(agent, &c, &limits, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(fk.n, 3);
    for (size_t i = 0; i < 3; i++) {
        ck_assert_str_eq(fk.v[i].path, GUEST_FILES_DIR "/x-1-big");
        ck_assert_uint_eq(fk.v[i].mode, S_IFREG | 0640); /* the whole st_mode: 33184 */
        ck_assert_uint_eq(fk.v[i].dir_mode, S_IFDIR | 0750);
        ck_assert_int_eq(fk.v[i].uid, 1001);
        ck_assert_int_eq(fk.v[i].gid, 1002);
        ck_assert_int_eq(fk.v[i].size, (int64_t)n);
        ck_assert_int_eq(fk.v[i].offset, (int64_t)(i << 20));
        size_t want = i < 2 ? 1u << 20 : 5;
        ck_assert_uint_eq(fk.v[i].len, want);
        ck_assert_mem_eq(fk.v[i].data, data + (i << 20), want);
    }
    fake_clear();

    /* an empty file is one request without data */
    _cleanup_free_ char *term = tmp_path("termination-log");
    c = copy_of(term, GUEST_FILES_DIR "/x-1-termination-log", false);
    ck_assert_int_eq(guest_copy(agent, &c, &limits, &err), 0);
    ck_assert_uint_eq(fk.n, 1);
    ck_assert_int_eq(fk.v[0].size, 0);
    ck_assert_uint_eq(fk.v[0].len, 0);
    ck_assert_uint_eq(fk.v[0].mode, S_IFREG | 0644);
    fake_clear();

    /* the agent's refusal carries its message and names the mount */
    fk.fail = true;
    ck_assert_int_eq(guest_copy(agent, &c, &limits, &err), -1);
    ck_assert_int_eq(err.code, GRPC_PERMISSION_DENIED);
    ck_assert_msg(strstr(err.msg, "mount /mnt/x: copy ") && strstr(err.msg, "blocked by policy"),
                  "%s", err.msg);
    error_clear(&err);
}
END_TEST

START_TEST(test_copy_tree)
{
    _cleanup_free_ char *cfg = tmp_path("pods/uid-1/volumes/kubernetes.io~configmap/cfg");
    struct guest_copy c = copy_of(cfg, GUEST_FILES_DIR "/c-2-config", true);
    struct error err = ERROR_INIT;
    ck_assert_msg(guest_copy(agent, &c, &limits, &err) == 0, "%s", err.msg);
    /* depth first, byte order, the root first; symlinks as symlinks with their targets */
    static const struct {
        const char *rel;
        mode_t type;
        const char *data;
    } want[] = {
        {"", S_IFDIR, ""},
        {"/..2026_12_03_10_00_00.1", S_IFDIR, ""},
        {"/..2026_12_03_10_00_00.1/a", S_IFREG, "one"},
        {"/..2026_12_03_10_00_00.1/b", S_IFREG, "two"},
        {"/..data", S_IFLNK, "..2026_12_03_10_00_00.1"},
        {"/a", S_IFLNK, "..data/a"},
        {"/b", S_IFLNK, "..data/b"},
    };
    ck_assert_uint_eq(fk.n, N(want));
    for (size_t i = 0; i < N(want); i++) {
        _cleanup_free_ char *path = xasprintf(GUEST_FILES_DIR "/c-2-config%s", want[i].rel);
        ck_assert_str_eq(fk.v[i].path, path);
        ck_assert_uint_eq(fk.v[i].mode & S_IFMT, want[i].type);
        ck_assert_uint_eq(fk.v[i].len, strlen(want[i].data));
        ck_assert_mem_eq(fk.v[i].data, want[i].data, fk.v[i].len);
        if (want[i].type == S_IFLNK)
            ck_assert_int_eq(fk.v[i].size, (int64_t)strlen(want[i].data));
    }
    ck_assert_uint_eq(fk.v[0].mode & 07777, 0755);
    error_clear(&err);
}
END_TEST

START_TEST(test_copy_refused)
{
    struct error err = ERROR_INIT;
    _cleanup_free_ char *vol = tmp_path("vol");
    struct {
        const char *name; /* made in vol/ */
        const char *msg;
    } bad[] = {
        {"sock", "is a socket, which cannot be copied into the guest"},
        {"abs", "is a symlink to \"/etc/passwd\": only relative links without \"..\""},
        {"up", "is a symlink to \"../../x\""},
    };
    _cleanup_free_ char *abs = tmp_path("vol/abs"), *up = tmp_path("vol/up");
    for (size_t i = 0; i < N(bad); i++) {
        _cleanup_free_ char *p = xasprintf("vol/%s", bad[i].name);
        if (i == 0)
            make_socket(p);
        else
            make_link(i == 1 ? "/etc/passwd" : "../../x", p);
        struct guest_copy c = copy_of(vol, GUEST_FILES_DIR "/c-3-data", true);
        /* the check finds it before anything is sent */
        ck_assert_int_eq(guest_copy_check(&c, &limits, &err), -1);
        ck_assert_uint_eq(fake_count(), 0);
        ck_assert_int_eq(guest_copy(agent, &c, &limits, &err), -1);
        ck_assert_int_eq(err.code, GRPC_INVALID_ARGUMENT);
        _cleanup_free_ char *where =
            xasprintf("mount /mnt/x: %s/%s %s", vol, bad[i].name, bad[i].msg);
        ck_assert_msg(strncmp(err.msg, where, strlen(where)) == 0, "%s", err.msg);
        _cleanup_free_ char *full = tmp_path(p);
        unlink(full);
        fake_clear();
    }

    /* the limits: bytes and entries */
    struct guest_copy c = copy_of(vol, GUEST_FILES_DIR "/c-3-data", true);
    struct guest_copy_limits tiny = {.max_bytes = 1, .max_entries = 100};
    ck_assert_int_eq(guest_copy(agent, &c, &tiny, &err), -1);
    ck_assert_msg(strstr(err.msg, "more than 100 entries or 1 bytes") &&
                      strstr(err.msg, "copy_volume_limit_mib"),
                  "%s", err.msg);
    tiny = (struct guest_copy_limits){.max_bytes = 100, .max_entries = 2};
    ck_assert_int_eq(guest_copy(agent, &c, &tiny, &err), -1);
    ck_assert_int_eq(err.code, GRPC_INVALID_ARGUMENT);
    /* a plan that no longer fits the disk */
    c.tree = false;
    ck_assert_int_eq(guest_copy(agent, &c, &limits, &err), -1);
    ck_assert_int_eq(err.code, GRPC_ABORTED);
    error_clear(&err);
}
END_TEST

/* The kubelet updates a ConfigMap: a new timestamped directory, `..data` renamed onto it; the
 * whole volume is copied again. */
START_TEST(test_watch_update)
{
    _cleanup_free_ char *cfg = tmp_path("pods/uid-1/volumes/kubernetes.io~configmap/cfg");
    struct guest_copy c = copy_of(cfg, GUEST_FILES_DIR "/c-4-config", true);
    c.watch = true;
    struct guest_watch *w = guest_watch_new(agent, &limits);
    struct error err = ERROR_INIT;
    ck_assert_msg(guest_watch_add(w, CID, &c, &err) == 0, "%s", err.msg);
    usleep(700 * 1000);
    ck_assert_uint_eq(fake_count(), 0); /* nothing changed */

#define CFG "pods/uid-1/volumes/kubernetes.io~configmap/cfg"
    const char *ts2 = CFG "/..2026_12_03_10_05_00.2";
    make_dir(ts2);
    write_file(CFG "/..2026_12_03_10_05_00.2/a", "ONE");
    write_file(CFG "/..2026_12_03_10_05_00.2/b", "TWO");
    _cleanup_free_ char *tmp_link = tmp_path(CFG "/..data_tmp");
    _cleanup_free_ char *data = tmp_path(CFG "/..data");
    make_link("..2026_12_03_10_05_00.2", CFG "/..data_tmp");
    ck_assert_int_eq(rename(tmp_link, data), 0);
    for (int i = 0; i < 50 && fake_count() < 10; i++)
        usleep(100 * 1000);
    /* root, two timestamped dirs with their two files each, ..data, a, b */
    usleep(100 * 1000);
    ck_assert_uint_eq(fake_count(), 10);
    pthread_mutex_lock(&fk.lock);
    bool new_data = false;
    for (size_t i = 0; i < fk.n; i++)
        new_data = new_data || (fk.v[i].len == 3 && !memcmp(fk.v[i].data, "ONE", 3));
    pthread_mutex_unlock(&fk.lock);
    ck_assert(new_data);
    fake_clear();

    /* once the container is gone, updates are not copied */
    guest_watch_remove(w, CID);
    make_dir(CFG "/..2026_12_03_10_06_00.3");
    make_link("..2026_12_03_10_06_00.3", CFG "/..data_tmp");
    ck_assert_int_eq(rename(tmp_link, data), 0);
    usleep(900 * 1000);
    ck_assert_uint_eq(fake_count(), 0);
    guest_watch_free(w);
    guest_watch_free(NULL);
    error_clear(&err);
#undef CFG
}
END_TEST

static Suite *guest_files_suite(void)
{
    Suite *s = suite_create("guest-files");
    TCase *tc = tcase_create("plan");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_cri_container);
    tcase_add_test(tc, test_shm);
    tcase_add_test(tc, test_empty_dir);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);
    tc = tcase_create("copy");
    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, agent_setup, agent_teardown);
    tcase_add_test(tc, test_copy_file_chunks);
    tcase_add_test(tc, test_copy_tree);
    tcase_add_test(tc, test_copy_refused);
    tcase_add_test(tc, test_watch_update);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_tap(guest_files_suite());
}
