/* shim/bootstrap: Go-style flags, the runtime options on stdin (legacy Any and 2.3+
 * BootstrapParams), socket address vectors (computed with Python's hashlib and os.path.normpath);
 * then the built binary: -v, -info, delete (empty, half-removed and missing bundles, twice),
 * start's error paths leaving nothing behind, start reusing a live pod socket, and a real start
 * that spawns the daemon, reuses it for a container, replaces a stale socket, and is cleaned up
 * by delete. Sockets go to a scratch COCOON_SOCKET_DIR, libvirt is test:///default. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmd/shim-path.h"
#include "containerd/runtime/bootstrap/v1/bootstrap.pb-c.h"
#include "containerd/runtimeoptions/v1/api.pb-c.h"
#include "containerd/task/v2/shim.pb-c.h"
#include "containerd/types/introspection.pb-c.h"
#include "google/protobuf/any.pb-c.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"
#include "shim/bundle.h"
#include "shim/commands.h"
#include "shim/flags.h"
#include "shim/runtime-options.h"
#include "shim/shim-socket.h"
#include "ttrpc/client.h"
#include "ttrpc/dial.h"

#define NS "k8s.io"
#define GRPC_ADDR "/run/containerd/containerd.sock"
#define RUN_DEADLINE_S 30

/* The scratch root (set in main): cocoon.toml ($COCOON_CONFIG), stdin.toml (the one start gets
 * on stdin), s/ (sockets), state/, bundles. */
static char root[64];
static char *config_file, *stdin_config_file, *socket_dir, *state_dir;

/* --- helpers --- */

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "create %s", path);
    ck_assert_int_ge(fputs(text, f), 0);
    ck_assert_int_eq(fclose(f), 0);
}

/* The file's text, or NULL if it cannot be read. */
static char *read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = xcalloc(1, 65536);
    size_t n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static char *bundle_file(const char *bundle, const char *name)
{
    return xasprintf("%s/%s", bundle, name);
}

/* A new bundle directory under root, with config.json if json is not NULL. */
static char *make_bundle(const char *json)
{
    char *dir = xasprintf("%s/bundle-XXXXXX", root);
    ck_assert_ptr_nonnull(mkdtemp(dir));
    if (json) {
        _cleanup_free_ char *p = bundle_file(dir, "config.json");
        write_text(p, json);
    }
    return dir;
}

static char *sandbox_json(const char *id)
{
    return xasprintf("{\"ociVersion\":\"1.0.2\",\"process\":{\"args\":[\"/pause\"]},"
                     "\"annotations\":{\"io.kubernetes.cri.container-type\":\"sandbox\","
                     "\"io.kubernetes.cri.sandbox-id\":\"%s\"}}",
                     id);
}

static char *container_json(const char *sandbox_id)
{
    return xasprintf("{\"annotations\":{\"io.kubernetes.cri.container-type\":\"container\","
                     "\"io.kubernetes.cri.sandbox-id\":\"%s\"}}",
                     sandbox_id);
}

/* A configuration using libvirt's test driver and this state_dir. */
static char *config_text(const char *state)
{
    return xasprintf("[hypervisor.libvirt]\nuri = \"test:///default\"\nmachine_type = \"pc\"\n"
                     "kernel = \"/usr/share/cocoon/guest/vmlinux\"\n"
                     "[runtime]\nstate_dir = \"%s\"\n",
                     state);
}

/* A unique id per call, so tests never share a socket. */
static char *new_id(const char *prefix)
{
    static int n;
    return xasprintf("%s-%d-%d", prefix, (int)getpid(), n++);
}

static int pipe_with(const void *data, size_t len)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    ck_assert_uint_le(len, 60000); /* fits the pipe buffer */
    if (len)
        ck_assert_int_eq(write(p[1], data, len), (ssize_t)len);
    close(p[1]);
    return p[0];
}

/* --- protobuf builders --- */

static uint8_t *pack_options(const char *config_path, size_t *len)
{
    Runtimeoptions__V1__Options o = RUNTIMEOPTIONS__V1__OPTIONS__INIT;
    o.config_path = (char *)config_path;
    *len = runtimeoptions__v1__options__get_packed_size(&o);
    uint8_t *buf = xmalloc(*len + 1);
    runtimeoptions__v1__options__pack(&o, buf);
    return buf;
}

static uint8_t *pack_any(const char *type_url, const uint8_t *value, size_t value_len, size_t *len)
{
    Google__Protobuf__Any a = GOOGLE__PROTOBUF__ANY__INIT;
    a.type_url = (char *)type_url;
    a.value.data = (uint8_t *)value;
    a.value.len = value_len;
    *len = google__protobuf__any__get_packed_size(&a);
    uint8_t *buf = xmalloc(*len + 1);
    google__protobuf__any__pack(&a, buf);
    return buf;
}

/* An Any holding runtimeoptions.v1.Options{config_path}. */
static uint8_t *options_any(const char *type_url, const char *config_path, size_t *len)
{
    size_t olen;
    _cleanup_free_ uint8_t *o = pack_options(config_path, &olen);
    return pack_any(type_url, o, olen, len);
}

/* Runs shim_read_start_options on data for -id id -namespace ns. */
static int read_options(const void *data, size_t len, const char *id, const char *ns, char **path,
                        struct error *err)
{
    struct shim_flags f = {.id = id, .namespace_ = ns};
    int fd = pipe_with(data, len);
    int r = shim_read_start_options(fd, &f, path, err);
    close(fd);
    return r;
}

/* --- running the binary --- */

struct run {
    int status; /* exit status, or -1 if it did not exit normally */
    char *out;
    size_t out_len;
    char *err;
};

static void run_free(struct run *r)
{
    free(r->out);
    free(r->err);
}

static void append(char **buf, size_t *len, const char *data, size_t n)
{
    *buf = xrealloc(*buf, *len + n + 1);
    memcpy(*buf + *len, data, n);
    *len += n;
    (*buf)[*len] = '\0';
}

/* Runs the shim in cwd with args (NULL-terminated, without argv[0]) and stdin from `in` (NULL:
 * /dev/null). stdout and stderr are pipes read to EOF, as containerd does, so a daemon keeping
 * either open shows up as a timeout. */
/* Runs binary with args (argv[0] = its file name), stdin = in, in cwd; collects its output. */
static struct run run_binary(const char *binary, const char *cwd, const void *in, size_t in_len,
                             const char *const *args)
{
    const char *slash = strrchr(binary, '/');
    const char *argv[32] = {slash ? slash + 1 : binary};
    size_t n = 1;
    for (; args[n - 1]; n++) {
        ck_assert_uint_lt(n, 31);
        argv[n] = args[n - 1];
    }
    argv[n] = NULL;

    int in_fd;
    if (in) {
        char path[] = "/tmp/cocoon-bootstrap-in-XXXXXX";
        in_fd = mkstemp(path);
        ck_assert_int_ge(in_fd, 0);
        unlink(path);
        ck_assert_int_eq(write(in_fd, in, in_len), (ssize_t)in_len);
        lseek(in_fd, 0, SEEK_SET);
    } else {
        in_fd = open("/dev/null", O_RDONLY);
    }
    int out[2], err[2];
    ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(err, O_CLOEXEC), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(in_fd, 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        if (cwd && chdir(cwd) < 0)
            _exit(126);
        execv(binary, (char *const *)argv);
        _exit(127);
    }
    close(in_fd);
    close(out[1]);
    close(err[1]);

    struct run r = {.status = -1, .out = xcalloc(1, 1), .err = xcalloc(1, 1)};
    size_t err_len = 0;
    struct pollfd p[2] = {{.fd = out[0], .events = POLLIN}, {.fd = err[0], .events = POLLIN}};
    time_t deadline = time(NULL) + RUN_DEADLINE_S;
    while ((p[0].fd >= 0 || p[1].fd >= 0) && time(NULL) < deadline) {
        if (poll(p, 2, 1000) <= 0)
            continue;
        for (int i = 0; i < 2; i++) {
            if (p[i].fd < 0 || !p[i].revents)
                continue;
            char buf[4096];
            ssize_t got = read(p[i].fd, buf, sizeof(buf));
            if (got > 0) {
                if (i == 0)
                    append(&r.out, &r.out_len, buf, (size_t)got);
                else
                    append(&r.err, &err_len, buf, (size_t)got);
            } else if (got == 0 || errno != EINTR) {
                close(p[i].fd);
                p[i].fd = -1;
            }
        }
    }
    bool open_still = p[0].fd >= 0 || p[1].fd >= 0;
    if (open_still)
        kill(pid, SIGKILL);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    if (p[0].fd >= 0)
        close(p[0].fd);
    if (p[1].fd >= 0)
        close(p[1].fd);
    ck_assert_msg(!open_still, "stdout/stderr of `%s` still open after %d s (stderr: %s)",
                  args[n - 2], RUN_DEADLINE_S, r.err);
    if (WIFEXITED(status))
        r.status = WEXITSTATUS(status);
    return r;
}

static struct run run_shim(const char *cwd, const void *in, size_t in_len, const char *const *args)
{
    return run_binary(SHIM_PATH, cwd, in, in_len, args);
}

#define SHIM_ARGS(id)                                                                              \
    "-namespace", NS, "-address", GRPC_ADDR, "-publish-binary", "/usr/bin/containerd", "-id", id

static struct run run_delete(const char *bundle, const char *id)
{
    const char *args[] = {SHIM_ARGS(id), "-bundle", bundle, "delete", NULL};
    return run_shim(bundle, NULL, 0, args);
}

/* Checks a delete run: exit 0, nothing but a DeleteResponse{pid, 137, now} on stdout. */
static void assert_delete_response(const struct run *r, uint32_t pid)
{
    ck_assert_msg(r->status == 0, "delete exited %d: %s", r->status, r->err);
    Containerd__Task__V2__DeleteResponse *resp =
        containerd__task__v2__delete_response__unpack(NULL, r->out_len, (uint8_t *)r->out);
    ck_assert_ptr_nonnull(resp);
    ck_assert_uint_eq(resp->pid, pid);
    ck_assert_uint_eq(resp->exit_status, 137);
    ck_assert_ptr_nonnull(resp->exited_at);
    int64_t now = time(NULL);
    ck_assert_int_le(llabs(resp->exited_at->seconds - now), 60);
    containerd__task__v2__delete_response__free_unpacked(resp, NULL);
}

static char *socket_path_for(const char *address, const char *group)
{
    char *addr = shim_socket_address(socket_dir, address, NS, group);
    char *path = xstrdup(addr + strlen("unix://"));
    free(addr);
    return path;
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

/* --- flags --- */

static int parse(struct shim_flags *f, struct error *err, ...)
{
    char *argv[32];
    int argc = 0;
    va_list ap;
    va_start(ap, err);
    for (char *a; (a = va_arg(ap, char *));)
        argv[argc++] = a;
    va_end(ap);
    return shim_flags_parse(argc, argv, f, err);
}

START_TEST(test_flags_containerd_start)
{
    struct shim_flags f;
    struct error err = ERROR_INIT;
    ck_assert_int_eq(parse(&f, &err, "-namespace", "k8s.io", "-address", GRPC_ADDR,
                           "-publish-binary", "/usr/bin/containerd", "-id", "abc", "-debug",
                           "start", NULL),
                     0);
    ck_assert_str_eq(f.namespace_, "k8s.io");
    ck_assert_str_eq(f.address, GRPC_ADDR);
    ck_assert_str_eq(f.publish_binary, "/usr/bin/containerd");
    ck_assert_str_eq(f.id, "abc");
    ck_assert(f.debug);
    ck_assert(!f.version && !f.info);
    ck_assert_ptr_null(f.bundle);
    ck_assert_ptr_null(f.socket);
    ck_assert_str_eq(f.action, "start");
    ck_assert(!error_is_set(&err));
}
END_TEST

START_TEST(test_flags_forms)
{
    struct shim_flags f;
    struct error err = ERROR_INIT;
    /* -flag=value, --flag value, --flag=value, bool=false, an empty value (CRI-O) */
    ck_assert_int_eq(parse(&f, &err, "-namespace=default", "--id", "x", "--bundle=/b", "-address",
                           "", "-debug=false", "-socket", "unix:///s", "delete", NULL),
                     0);
    ck_assert_str_eq(f.namespace_, "default");
    ck_assert_str_eq(f.id, "x");
    ck_assert_str_eq(f.bundle, "/b");
    ck_assert_str_eq(f.address, "");
    ck_assert_str_eq(f.socket, "unix:///s");
    ck_assert(!f.debug);
    ck_assert_str_eq(f.action, "delete");

    ck_assert_int_eq(parse(&f, &err, "-debug=1", "--debug=F", "-debug=TRUE", NULL), 0);
    ck_assert(f.debug); /* the last one wins */
    ck_assert_ptr_null(f.action);

    ck_assert_int_eq(parse(&f, &err, "-v", NULL), 0);
    ck_assert(f.version && !f.info);
    ck_assert_int_eq(parse(&f, &err, "--version", NULL), 0);
    ck_assert(f.version);
    ck_assert_int_eq(parse(&f, &err, "-info", "-id", "a", NULL), 0);
    ck_assert(f.info && !f.version);

    /* Go takes the next argument as the value, whatever it looks like */
    ck_assert_int_eq(parse(&f, &err, "-id", "-debug", "start", NULL), 0);
    ck_assert_str_eq(f.id, "-debug");
    ck_assert(!f.debug);
    ck_assert_str_eq(f.action, "start");

    /* "--" ends the flags */
    ck_assert_int_eq(parse(&f, &err, "-id", "a", "--", "start", NULL), 0);
    ck_assert_str_eq(f.action, "start");

    /* no arguments: the daemon */
    ck_assert_int_eq(parse(&f, &err, NULL), 0);
    ck_assert_ptr_null(f.action);
    ck_assert_ptr_null(f.id);
    ck_assert(!error_is_set(&err));
}
END_TEST

static void assert_flag_error(const char *expect, char **argv, int argc)
{
    struct shim_flags f;
    struct error err = ERROR_INIT;
    ck_assert_int_lt(shim_flags_parse(argc, argv, &f, &err), 0);
    ck_assert_int_eq(err.code, GRPC_INVALID_ARGUMENT);
    ck_assert_msg(strstr(err.msg, expect), "\"%s\" not in \"%s\"", expect, err.msg);
    ck_assert_msg(strstr(err.msg, "\nUsage: " SHIM_BINARY_NAME " "), "no usage line: %s", err.msg);
    error_clear(&err);
}

#define FLAG_ERROR(expect, ...)                                                                    \
    do {                                                                                           \
        char *argv_[] = {__VA_ARGS__};                                                             \
        assert_flag_error(expect, argv_, (int)(sizeof(argv_) / sizeof(argv_[0])));                 \
    } while (0)

START_TEST(test_flags_errors)
{
    FLAG_ERROR("flag provided but not defined: -foo", "-foo", "start");
    FLAG_ERROR("flag provided but not defined: -debug-socket", "-debug-socket=x");
    FLAG_ERROR("flag needs an argument: -id", "-namespace", "a", "-id");
    FLAG_ERROR("invalid boolean value \"maybe\" for -debug", "-debug=maybe");
    FLAG_ERROR("bad flag syntax: ---id", "---id", "x");
    FLAG_ERROR("bad flag syntax: -=x", "-=x");
    FLAG_ERROR("unknown action \"stop\"", "-id", "a", "stop");
    FLAG_ERROR("unknown action \"-\"", "-");
    FLAG_ERROR("unexpected argument \"extra\" after start", "start", "extra");
    /* a bool takes no separate value: "false" is then the (unknown) action */
    FLAG_ERROR("unknown action \"false\"", "-debug", "false");
}
END_TEST

/* --- runtime options on stdin --- */

START_TEST(test_options_legacy_any)
{
    static const char *const urls[] = {
        "runtimeoptions.v1.Options",
        "type.googleapis.com/runtimeoptions.v1.Options",
        "cri-containerd.runtimeoptions.v1.Options",
    };
    for (size_t i = 0; i < 3; i++) {
        size_t len;
        _cleanup_free_ uint8_t *any = options_any(urls[i], "/etc/cocoon/snp.toml", &len);
        char *path = NULL;
        struct error err = ERROR_INIT;
        ck_assert_int_eq(read_options(any, len, "id", NS, &path, &err), 0);
        ck_assert_msg(path && strcmp(path, "/etc/cocoon/snp.toml") == 0, "%s: %s", urls[i],
                      path ? path : "(null)");
        free(path);
    }
}
END_TEST

START_TEST(test_options_none)
{
    char *path = (char *)"x";
    struct error err = ERROR_INIT;
    /* empty stdin */
    ck_assert_int_eq(read_options("", 0, "id", NS, &path, &err), 0);
    ck_assert_ptr_null(path);
    /* /dev/null */
    struct shim_flags f = {.id = "id", .namespace_ = NS};
    int fd = open("/dev/null", O_RDONLY);
    ck_assert_int_eq(shim_read_start_options(fd, &f, &path, &err), 0);
    close(fd);
    ck_assert_ptr_null(path);
    /* a closed fd reads as empty */
    ck_assert_int_eq(shim_read_start_options(999, &f, &path, &err), 0);
    ck_assert_ptr_null(path);
    /* another runtime's options */
    size_t len;
    _cleanup_free_ uint8_t *runc =
        pack_any("containerd.runc.v1.Options", (const uint8_t *)"\x08\x01", 2, &len);
    ck_assert_int_eq(read_options(runc, len, "id", NS, &path, &err), 0);
    ck_assert_ptr_null(path);
    /* Options without a config path */
    _cleanup_free_ uint8_t *empty = options_any("runtimeoptions.v1.Options", "", &len);
    ck_assert_int_eq(read_options(empty, len, "id", NS, &path, &err), 0);
    ck_assert_ptr_null(path);
    ck_assert(!error_is_set(&err));
}
END_TEST

/* BootstrapParams{instance_id, namespace, extensions = [other Any, options Any(path)]} */
static uint8_t *pack_bootstrap(const char *instance_id, const char *ns, const char *path,
                               size_t *len)
{
    size_t other_len, opt_len;
    _cleanup_free_ uint8_t *other_value = pack_options("/not/this", &other_len);
    _cleanup_free_ uint8_t *opt_value = pack_options(path, &opt_len);
    Google__Protobuf__Any other = GOOGLE__PROTOBUF__ANY__INIT, opt = GOOGLE__PROTOBUF__ANY__INIT;
    other.type_url = (char *)"example.com/other.v1.Options";
    other.value = (ProtobufCBinaryData){other_len, other_value};
    opt.type_url = (char *)"runtimeoptions.v1.Options";
    opt.value = (ProtobufCBinaryData){opt_len, opt_value};
    Containerd__Runtime__Bootstrap__V1__Extension e0 =
        CONTAINERD__RUNTIME__BOOTSTRAP__V1__EXTENSION__INIT;
    Containerd__Runtime__Bootstrap__V1__Extension e1 =
        CONTAINERD__RUNTIME__BOOTSTRAP__V1__EXTENSION__INIT;
    e0.value = &other;
    e1.value = &opt;
    Containerd__Runtime__Bootstrap__V1__Extension *exts[] = {&e0, &e1};
    Containerd__Runtime__Bootstrap__V1__BootstrapParams bp =
        CONTAINERD__RUNTIME__BOOTSTRAP__V1__BOOTSTRAP_PARAMS__INIT;
    bp.instance_id = (char *)instance_id;
    bp.namespace_ = (char *)ns;
    bp.log_level = CONTAINERD__RUNTIME__BOOTSTRAP__V1__LOG_LEVEL__LOG_LEVEL_DEBUG;
    bp.containerd_version = (char *)"v2.3.0";
    bp.containerd_ttrpc_address = (char *)GRPC_ADDR ".ttrpc";
    bp.containerd_grpc_address = (char *)GRPC_ADDR;
    bp.containerd_binary = (char *)"/usr/bin/containerd";
    bp.n_extensions = 2;
    bp.extensions = exts;
    *len = containerd__runtime__bootstrap__v1__bootstrap_params__get_packed_size(&bp);
    uint8_t *buf = xmalloc(*len);
    containerd__runtime__bootstrap__v1__bootstrap_params__pack(&bp, buf);
    return buf;
}

START_TEST(test_options_bootstrap_params)
{
    size_t len;
    _cleanup_free_ uint8_t *bp = pack_bootstrap("sandbox-1", NS, "/etc/cocoon/tdx.toml", &len);
    char *path = NULL;
    struct error err = ERROR_INIT;
    ck_assert_int_eq(read_options(bp, len, "sandbox-1", NS, &path, &err), 0);
    ck_assert_str_eq(path, "/etc/cocoon/tdx.toml");
    free(path);

    /* BootstrapParams for another id or namespace are read as a legacy Any: instance_id is then
     * the type_url (not the options type here), so there is no config path. */
    ck_assert_int_eq(read_options(bp, len, "sandbox-2", NS, &path, &err), 0);
    ck_assert_ptr_null(path);
    ck_assert_int_eq(read_options(bp, len, "sandbox-1", "default", &path, &err), 0);
    ck_assert_ptr_null(path);
    ck_assert(!error_is_set(&err));
}
END_TEST

/* Bytes that are both: as BootstrapParams, instance_id "runtimeoptions.v1.Options" and namespace
 * the packed Options{"/from/any"}; as Any, that very Options. The flags decide. */
START_TEST(test_options_ambiguous_bytes)
{
    size_t olen, len;
    _cleanup_free_ uint8_t *o = pack_options("/from/any", &olen);
    o[olen] = '\0';
    _cleanup_free_ uint8_t *bp =
        pack_bootstrap("runtimeoptions.v1.Options", (const char *)o, "/from/bootstrap", &len);
    char *path = NULL;
    struct error err = ERROR_INIT;
    ck_assert_int_eq(read_options(bp, len, "sandbox-1", NS, &path, &err), 0);
    ck_assert_str_eq(path, "/from/any");
    free(path);
    ck_assert_int_eq(
        read_options(bp, len, "runtimeoptions.v1.Options", (const char *)o, &path, &err), 0);
    ck_assert_str_eq(path, "/from/bootstrap");
    free(path);
}
END_TEST

START_TEST(test_options_garbage)
{
    char *path = NULL;
    struct error err = ERROR_INIT;
    /* a length running past the end */
    ck_assert_int_lt(read_options("\x0a\xff\x01", 3, "id", NS, &path, &err), 0);
    ck_assert_int_eq(err.code, GRPC_INVALID_ARGUMENT);
    ck_assert_msg(strstr(err.msg, "neither a google.protobuf.Any nor a BootstrapParams"), "%s",
                  err.msg);
    ck_assert_ptr_null(path);
    /* text */
    ck_assert_int_lt(read_options("hello world\n", 12, "id", NS, &path, &err), 0);
    ck_assert_ptr_null(path);
    /* a message, but no type_url */
    ck_assert_int_lt(read_options("\x18\x01", 2, "id", NS, &path, &err), 0);
    ck_assert_msg(strstr(err.msg, "without a type_url"), "%s", err.msg);
    /* the options type with a value that is not Options */
    size_t len;
    _cleanup_free_ uint8_t *bad =
        pack_any("runtimeoptions.v1.Options", (const uint8_t *)"\x12\x7f", 2, &len);
    ck_assert_int_lt(read_options(bad, len, "id", NS, &path, &err), 0);
    ck_assert_msg(strstr(err.msg, "runtimeoptions.v1.Options value (2 bytes) does not decode"),
                  "%s", err.msg);
    ck_assert_ptr_null(path);
    error_clear(&err);
}
END_TEST

START_TEST(test_options_too_large)
{
    char tmp[] = "/tmp/cocoon-bootstrap-big-XXXXXX";
    int fd = mkstemp(tmp);
    ck_assert_int_ge(fd, 0);
    unlink(tmp);
    size_t len = (1 << 20) + 1;
    _cleanup_free_ char *big = xcalloc(1, len);
    ck_assert_int_eq(write(fd, big, len), (ssize_t)len);
    lseek(fd, 0, SEEK_SET);
    struct shim_flags f = {.id = "id", .namespace_ = NS};
    char *path = NULL;
    struct error err = ERROR_INIT;
    ck_assert_int_lt(shim_read_start_options(fd, &f, &path, &err), 0);
    close(fd);
    ck_assert_msg(strstr(err.msg, "larger than 1048576 bytes"), "%s", err.msg);
    ck_assert_ptr_null(path);
    error_clear(&err);
}
END_TEST

/* --- socket address --- */

static void assert_address(const char *dir, const char *addr, const char *ns, const char *group,
                           const char *expect)
{
    _cleanup_free_ char *got = shim_socket_address(dir, addr, ns, group);
    ck_assert_str_eq(got, expect);
}

START_TEST(test_socket_address)
{
    /* python3 -c 'import hashlib; print(hashlib.sha256(b"...").hexdigest())' */
    assert_address(NULL, GRPC_ADDR, "k8s.io", "abc123",
                   "unix:///run/containerd/s/"
                   "5740821878b2b98946e4d6c5f9bdd3b46375d3a89f9c93bb912fb0614aabc409");
    /* cleaned like filepath.Join: "//", "." and ".." go (normpath gives the same path) */
    assert_address(NULL, "/run/containerd//containerd.sock/", "./k8s.io", "../x/sb",
                   "unix:///run/containerd/s/"
                   "19f859f07f199df0e48b6f8b6dff385e5fe1bf32868326c934c537efa4022782");
    /* CRI-O: -address "" */
    assert_address(NULL, "", "default", "abc",
                   "unix:///run/containerd/s/"
                   "0531dfd4f71e7d2a923fd36fc57ffa0e9941aeaa852ec967d2987d93d881347a");
    /* ".." stops at the root, stays in a relative path; empty elements are skipped */
    assert_address(
        "/tmp/s", "/", "..", "x",
        "unix:///tmp/s/b3d1db318671a024a7e4b433389f8820d6ca466e2cf700afc29f37ed64f2fa0d");
    assert_address(
        "/tmp/s/", "", "..", "x",
        "unix:///tmp/s/d6b96a97d147daaae49eb87a5ca7bfbc280e79551016df8aa5edc5920d21c274");
    /* a leading "//" is one '/' in Go (Python's normpath would keep it) */
    assert_address(
        "/tmp/s", "//a", "", NULL,
        "unix:///tmp/s/6a50dc8584134c7de537c0052ff6d236bf874355e050c90523e0c5ff2a543a28");
    /* the socket dir comes from the environment for start and delete */
    setenv(SHIM_SOCKET_DIR_ENV, "", 1);
    ck_assert_str_eq(shim_socket_dir(), SHIM_SOCKET_DIR_DEFAULT);
    setenv(SHIM_SOCKET_DIR_ENV, "/tmp/x", 1);
    ck_assert_str_eq(shim_socket_dir(), "/tmp/x");
    setenv(SHIM_SOCKET_DIR_ENV, socket_dir, 1);
}
END_TEST

/* --- the binary: -v, -info, usage --- */

START_TEST(test_binary_version_info)
{
    const char *v[] = {"-v", NULL};
    struct run r = run_shim(NULL, NULL, 0, v);
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.out, SHIM_BINARY_NAME " version " COCOON_VERSION "\n");
    ck_assert_str_eq(r.err, "");
    run_free(&r);

    size_t len;
    _cleanup_free_ uint8_t *opts = options_any("runtimeoptions.v1.Options", "/x.toml", &len);
    const char *info[] = {"-info", NULL};
    r = run_shim(NULL, opts, len, info);
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.err, "");
    Containerd__Types__RuntimeInfo *ri =
        containerd__types__runtime_info__unpack(NULL, r.out_len, (uint8_t *)r.out);
    ck_assert_ptr_nonnull(ri);
    ck_assert_str_eq(ri->name, SHIM_RUNTIME_NAME);
    ck_assert_ptr_nonnull(ri->version);
    ck_assert_str_eq(ri->version->version, COCOON_VERSION);
    ck_assert_str_eq(ri->version->revision, "");
    containerd__types__runtime_info__free_unpacked(ri, NULL);
    run_free(&r);

    const char *bad[] = {"-namespace", NS, "-bogus", "start", NULL};
    r = run_shim(NULL, NULL, 0, bad);
    ck_assert_int_eq(r.status, 2);
    ck_assert_str_eq(r.out, "");
    ck_assert_msg(strstr(r.err, "flag provided but not defined: -bogus") && strstr(r.err, "Usage:"),
                  "%s", r.err);
    run_free(&r);
}
END_TEST

/* The front containerd runs for every container and the daemon that lives as long as its pod stay
 * light: neither libvirt nor libcrypto is among the libraries the loader maps for them; cocoon-vm,
 * run for a moment to start or destroy a domain, has libvirt. */
static bool needs_library(const char *binary, const char *lib)
{
    _cleanup_free_ char *cmd = xasprintf("ldd '%s'", binary);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    char line[512];
    bool found = false, any = false;
    while (fgets(line, sizeof(line), p)) {
        any = true;
        found = found || strstr(line, lib) != NULL;
    }
    ck_assert_int_eq(pclose(p), 0);
    ck_assert(any);
    return found;
}

START_TEST(test_front_stays_light)
{
    ck_assert(!needs_library(SHIM_PATH, "libvirt"));
    ck_assert(!needs_library(SHIM_PATH, "libcrypto"));
    ck_assert(!needs_library(SHIMD_PATH, "libvirt"));
    ck_assert(!needs_library(SHIMD_PATH, "libcrypto"));
    ck_assert(needs_library(VM_HELPER_PATH, "libvirt")); /* the check itself works */

    /* the daemon binary answers -v too, and refuses `start` (the front's) */
    const char *v[] = {"-v", NULL};
    struct run r = run_binary(SHIMD_PATH, NULL, NULL, 0, v);
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.out, "cocoon-shimd version " COCOON_VERSION "\n");
    run_free(&r);
    const char *start[] = {"-namespace", NS, "-id", "x", "start", NULL};
    r = run_binary(SHIMD_PATH, NULL, NULL, 0, start);
    ck_assert_int_eq(r.status, 2);
    ck_assert_str_eq(r.out, "");
    run_free(&r);
    /* and the front refuses to be the daemon */
    const char *none[] = {"-namespace", NS, "-id", "x", NULL};
    r = run_shim(NULL, NULL, 0, none);
    ck_assert_int_eq(r.status, 2);
    ck_assert_msg(strstr(r.err, "cocoon-shimd"), "%s", r.err);
    run_free(&r);
}
END_TEST

/* --- delete --- */

START_TEST(test_delete_empty_dir_twice)
{
    _cleanup_free_ char *bundle = make_bundle(NULL);
    _cleanup_free_ char *id = new_id("empty");
    for (int i = 0; i < 2; i++) {
        struct run r = run_delete(bundle, id);
        assert_delete_response(&r, 0);
        run_free(&r);
    }
    /* a bundle that is gone altogether */
    _cleanup_free_ char *gone = xasprintf("%s/no/such/bundle", root);
    const char *args[] = {SHIM_ARGS(id), "-bundle", gone, "delete", NULL};
    struct run r = run_shim(NULL, NULL, 0, args);
    assert_delete_response(&r, 0);
    run_free(&r);
}
END_TEST

START_TEST(test_delete_sandbox_bundle)
{
    _cleanup_free_ char *id = new_id("sb");
    _cleanup_free_ char *json = sandbox_json(id);
    _cleanup_free_ char *bundle = make_bundle(json);
    _cleanup_free_ char *address = bundle_file(bundle, BUNDLE_ADDRESS_FILE);
    _cleanup_free_ char *pid_file = bundle_file(bundle, BUNDLE_PID_FILE);
    _cleanup_free_ char *cfg_file = bundle_file(bundle, BUNDLE_CONFIG_FILE);
    _cleanup_free_ char *sock = socket_path_for(GRPC_ADDR, id);
    write_text(address, "unix:///nowhere");

    /* cocoon-config names the daemon's configuration, whose state_dir is not $COCOON_CONFIG's */
    _cleanup_free_ char *own_state = bundle_file(bundle, "state");
    _cleanup_free_ char *own_config = bundle_file(bundle, "daemon.toml");
    _cleanup_free_ char *own_text = config_text(own_state);
    write_text(own_config, own_text);
    _cleanup_free_ char *marker = xasprintf("%s\n", own_config);
    write_text(cfg_file, marker);
    ck_assert_int_eq(mkdir(own_state, 0700), 0);

    /* shim.pid names a process that is not a shim: it must survive */
    pid_t bystander = fork();
    ck_assert_int_ge(bystander, 0);
    if (bystander == 0) {
        pause();
        _exit(0);
    }
    _cleanup_free_ char *pid_text = xasprintf("%d\n", (int)bystander);
    write_text(pid_file, pid_text);

    /* the sandbox's state directory, with a nested file */
    _cleanup_free_ char *sdir = xasprintf("%s/%s", own_state, id);
    _cleanup_free_ char *sub = xasprintf("%s/sub", sdir);
    _cleanup_free_ char *nested = xasprintf("%s/console.log", sub);
    ck_assert_int_eq(mkdir(sdir, 0700), 0);
    ck_assert_int_eq(mkdir(sub, 0700), 0);
    write_text(nested, "boot\n");

    /* a socket nobody listens on */
    mkdir(socket_dir, 0700);
    struct error err = ERROR_INIT;
    int l = ttrpc_listen_unix(sock, &err);
    ck_assert_msg(l >= 0, "%s", err.msg);
    close(l);

    struct run r = run_delete(bundle, id);
    assert_delete_response(&r, (uint32_t)bystander);
    run_free(&r);
    ck_assert(!exists(address));
    ck_assert(!exists(pid_file));
    ck_assert(!exists(cfg_file));
    ck_assert(!exists(sdir));
    ck_assert(!exists(sock));
    _cleanup_free_ char *cfg_json = bundle_file(bundle, "config.json");
    ck_assert(exists(cfg_json)); /* containerd's, not ours */
    ck_assert_int_eq(waitpid(bystander, NULL, WNOHANG), 0);
    kill(bystander, SIGKILL);
    waitpid(bystander, NULL, 0);

    /* again: nothing left to do, still a response */
    r = run_delete(bundle, id);
    assert_delete_response(&r, 0);
    run_free(&r);
}
END_TEST

/* A container's delete leaves its sandbox alone; without config.json, a state directory under the
 * id says "sandbox". */
START_TEST(test_delete_container_and_half_removed_sandbox)
{
    _cleanup_free_ char *sid = new_id("pod");
    _cleanup_free_ char *cid = new_id("ctr");
    _cleanup_free_ char *sdir = xasprintf("%s/%s", state_dir, sid);
    ck_assert_int_eq(mkdir(sdir, 0700), 0);
    _cleanup_free_ char *json = container_json(sid);
    _cleanup_free_ char *bundle = make_bundle(json);
    _cleanup_free_ char *address = bundle_file(bundle, BUNDLE_ADDRESS_FILE);
    write_text(address, "unix:///nowhere");

    struct run r = run_delete(bundle, cid);
    assert_delete_response(&r, 0);
    run_free(&r);
    ck_assert(!exists(address));
    ck_assert(exists(sdir));

    /* the sandbox's bundle without config.json */
    _cleanup_free_ char *sb_bundle = make_bundle(NULL);
    r = run_delete(sb_bundle, sid);
    assert_delete_response(&r, 0);
    run_free(&r);
    ck_assert(!exists(sdir));
}
END_TEST

/* A configuration that does not load is a warning: delete still answers. (Only a sandbox's
 * delete reads it: a container's owns no VM and no state directory.) */
START_TEST(test_delete_bad_config_warns)
{
    _cleanup_free_ char *cid = new_id("pod");
    _cleanup_free_ char *json = sandbox_json(cid);
    _cleanup_free_ char *bundle = make_bundle(json);
    _cleanup_free_ char *marker = bundle_file(bundle, BUNDLE_CONFIG_FILE);
    _cleanup_free_ char *missing = xasprintf("%s/no-such.toml", root);
    write_text(marker, missing);
    struct run r = run_delete(bundle, cid);
    assert_delete_response(&r, 0);
    ck_assert_msg(strstr(r.err, "level=warning") && strstr(r.err, "no-such.toml") &&
                      strstr(r.err, "using the default configuration"),
                  "%s", r.err);
    run_free(&r);
    ck_assert(!exists(marker));
}
END_TEST

START_TEST(test_delete_needs_id)
{
    _cleanup_free_ char *bundle = make_bundle(NULL);
    const char *args[] = {"-namespace", NS, "-bundle", bundle, "delete", NULL};
    struct run r = run_shim(bundle, NULL, 0, args);
    ck_assert_int_eq(r.status, 1);
    ck_assert_str_eq(r.out, "");
    ck_assert_msg(strstr(r.err, "-id is required"), "%s", r.err);
    run_free(&r);
}
END_TEST

/* --- start: errors leave nothing behind --- */

static void assert_start_fails(const char *bundle, const char *id, const void *in, size_t in_len,
                               const char *expect)
{
    int before = count_entries(socket_dir);
    const char *args[] = {SHIM_ARGS(id), "start", NULL};
    struct run r = run_shim(bundle, in, in_len, args);
    ck_assert_msg(r.status == 1, "start exited %d (stdout %s)", r.status, r.out);
    ck_assert_str_eq(r.out, "");
    ck_assert_msg(strstr(r.err, expect), "\"%s\" not in stderr: %s", expect, r.err);
    run_free(&r);
    _cleanup_free_ char *address = bundle_file(bundle, BUNDLE_ADDRESS_FILE);
    _cleanup_free_ char *pid_file = bundle_file(bundle, BUNDLE_PID_FILE);
    ck_assert(!exists(address));
    ck_assert(!exists(pid_file));
    ck_assert_int_eq(count_entries(socket_dir), before);
}

START_TEST(test_start_errors)
{
    _cleanup_free_ char *id = new_id("bad");
    _cleanup_free_ char *empty = make_bundle(NULL);
    assert_start_fails(empty, id, NULL, 0, "config.json: No such file or directory");
    /* a bundle holding only the no-config case must stay as it was */
    ck_assert_int_eq(count_entries(empty), 0);

    _cleanup_free_ char *not_json = make_bundle("{nope");
    assert_start_fails(not_json, id, NULL, 0, "config.json: invalid JSON at line 1");

    _cleanup_free_ char *no_sid =
        make_bundle("{\"annotations\":{\"io.kubernetes.cri.container-type\":\"container\"}}");
    assert_start_fails(no_sid, id, NULL, 0, "without a sandbox id");

    _cleanup_free_ char *odd =
        make_bundle("{\"annotations\":{\"io.kubernetes.cri-o.ContainerType\":\"pod\"}}");
    assert_start_fails(odd, id, NULL, 0, "unknown container type \"pod\"");

    _cleanup_free_ char *json = sandbox_json(id);
    _cleanup_free_ char *ok = make_bundle(json);
    assert_start_fails(ok, id, "\x0a\xff\x01", 3, "runtime options on stdin");
    assert_start_fails(ok, "", NULL, 0, "-id is required");
    assert_start_fails(ok, "../x", NULL, 0, "not a valid name");
}
END_TEST

/* A container of a pod whose shim listens: start only writes `address` and prints it. Here the
 * "shim" is a socket this test listens on, so no daemon is involved. */
START_TEST(test_start_reuses_live_socket)
{
    _cleanup_free_ char *sid = new_id("live");
    _cleanup_free_ char *cid = new_id("ctr");
    _cleanup_free_ char *expect = shim_socket_address(socket_dir, GRPC_ADDR, NS, sid);
    mkdir(socket_dir, 0700);
    struct error err = ERROR_INIT;
    int l = ttrpc_listen_unix(expect + strlen("unix://"), &err);
    ck_assert_msg(l >= 0, "%s", err.msg);

    _cleanup_free_ char *json = container_json(sid);
    _cleanup_free_ char *bundle = make_bundle(json);
    const char *args[] = {SHIM_ARGS(cid), "start", NULL};
    struct run r = run_shim(bundle, NULL, 0, args);
    ck_assert_msg(r.status == 0, "start exited %d: %s", r.status, r.err);
    ck_assert_str_eq(r.out, expect);
    ck_assert_str_eq(r.err, "");
    run_free(&r);
    _cleanup_free_ char *address = bundle_file(bundle, BUNDLE_ADDRESS_FILE);
    _cleanup_free_ char *pid_file = bundle_file(bundle, BUNDLE_PID_FILE);
    _cleanup_free_ char *text = read_text(address);
    ck_assert_str_eq(text, expect);
    ck_assert(!exists(pid_file));

    /* CRI-O's keys and its empty -address */
    _cleanup_free_ char *crio_expect = shim_socket_address(socket_dir, "", NS, sid);
    int l2 = ttrpc_listen_unix(crio_expect + strlen("unix://"), &err);
    ck_assert_msg(l2 >= 0, "%s", err.msg);
    _cleanup_free_ char *crio_json =
        xasprintf("{\"annotations\":{\"io.kubernetes.cri-o.ContainerType\":\"container\","
                  "\"io.kubernetes.cri-o.SandboxID\":\"%s\"}}",
                  sid);
    _cleanup_free_ char *crio_bundle = make_bundle(crio_json);
    const char *crio_args[] = {"-namespace", NS, "-address", "", "-id", cid, "start", NULL};
    r = run_shim(crio_bundle, NULL, 0, crio_args);
    ck_assert_msg(r.status == 0, "start exited %d: %s", r.status, r.err);
    ck_assert_str_eq(r.out, crio_expect);
    run_free(&r);

    close(l);
    close(l2);
    unlink(expect + strlen("unix://"));
    unlink(crio_expect + strlen("unix://"));
}
END_TEST

/* --- start with the daemon --- */

static pid_t read_pid(const char *bundle)
{
    _cleanup_free_ char *path = bundle_file(bundle, BUNDLE_PID_FILE);
    _cleanup_free_ char *text = read_text(path);
    ck_assert_msg(text != NULL, "no %s", path);
    return (pid_t)atoi(text);
}

/* Every thread gone or a zombie (a zombie leader's other threads may still hold the fds). */
static bool gone(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return true;
    bool all = true;
    struct dirent *e;
    while (all && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        _cleanup_free_ char *stat_path = xasprintf("%s/%s/stat", path, e->d_name);
        _cleanup_free_ char *text = read_text(stat_path);
        const char *paren = text ? strrchr(text, ')') : NULL;
        all = !paren || paren[2] == 'Z' || paren[2] == 'X';
    }
    closedir(d);
    return all;
}

static void wait_gone(pid_t pid)
{
    for (int i = 0; i < 500 && !gone(pid); i++)
        usleep(10000);
    ck_assert_msg(gone(pid), "process %d still runs", (int)pid);
}

/* The log FIFO containerd creates and holds open before it runs start. */
static int make_log_fifo(const char *bundle)
{
    _cleanup_free_ char *path = bundle_file(bundle, "log");
    ck_assert_int_eq(mkfifo(path, 0700), 0);
    int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    return fd;
}

static char *proc_link(pid_t pid, const char *what)
{
    char path[64], target[PATH_MAX];
    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
    ssize_t n = readlink(path, target, sizeof(target) - 1);
    ck_assert_msg(n > 0, "readlink %s: %s", path, strerror(errno));
    target[n] = '\0';
    return xstrdup(target);
}

/* What start promised about the daemon it spawned. */
static void assert_daemon(pid_t pid, const char *bundle, const char *address)
{
    ck_assert_msg(!gone(pid), "the daemon %d is not running", (int)pid);
    struct stat a, b;
    char exe[64];
    snprintf(exe, sizeof(exe), "/proc/%d/exe", (int)pid);
    ck_assert_int_eq(stat(exe, &a), 0);
    ck_assert_int_eq(stat(SHIMD_PATH, &b), 0);
    ck_assert(a.st_ino == b.st_ino && a.st_dev == b.st_dev);
    ck_assert_int_eq(getsid(pid), pid); /* a session (and process group) of its own */

    _cleanup_free_ char *cwd = proc_link(pid, "cwd");
    char real_bundle[PATH_MAX];
    ck_assert_ptr_nonnull(realpath(bundle, real_bundle));
    ck_assert_str_eq(cwd, real_bundle);
    _cleanup_free_ char *in = proc_link(pid, "fd/0");
    ck_assert_str_eq(in, "/dev/null");
    _cleanup_free_ char *out = proc_link(pid, "fd/1");
    ck_assert_str_eq(out, "/dev/null");

    /* the config path from stdin travels in the environment */
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char env[65536];
    size_t n = fread(env, 1, sizeof(env) - 1, f);
    fclose(f);
    env[n] = '\0';
    _cleanup_free_ char *want = xasprintf("COCOON_CONFIG=%s", stdin_config_file);
    bool found = false;
    for (size_t i = 0; i < n; i += strlen(env + i) + 1)
        found |= strcmp(env + i, want) == 0;
    ck_assert_msg(found, "%s not in the daemon's environment", want);

    snprintf(path, sizeof(path), "/proc/%d/oom_score_adj", (int)pid);
    _cleanup_free_ char *theirs = read_text(path);
    _cleanup_free_ char *ours = read_text("/proc/self/oom_score_adj");
    int expect = atoi(ours) + 1;
    ck_assert_int_eq(atoi(theirs), expect > 1000 ? 1000 : expect);

    struct error err = ERROR_INIT;
    int fd = ttrpc_dial(address, 2000, &err);
    ck_assert_msg(fd >= 0, "connect to %s: %s", address, err.msg);
    close(fd);
}

/* Connect on a fresh connection to address; 0, or the call's gRPC code. */
static int call_connect(const char *address)
{
    struct error err = ERROR_INIT;
    int fd = ttrpc_dial(address, 2000, &err);
    if (fd < 0) {
        error_clear(&err);
        return GRPC_UNAVAILABLE;
    }
    struct ttrpc_client *c = ttrpc_client_new(fd);
    Containerd__Task__V2__ConnectRequest req = CONTAINERD__TASK__V2__CONNECT_REQUEST__INIT;
    req.id = (char *)"x";
    ProtobufCMessage *resp = NULL;
    int r = ttrpc_client_call(c, "containerd.task.v2.Task", "Connect", &req.base,
                              &containerd__task__v2__connect_response__descriptor, &resp, 2000,
                              NULL, 0, &err);
    int code = r == 0 ? 0 : err.code;
    if (resp)
        protobuf_c_message_free_unpacked(resp, NULL);
    error_clear(&err);
    ttrpc_client_free(c);
    return code;
}

/* The daemon's socket serves only its own uid: another user is refused even when the file
 * system would let it in (the directory and socket opened up for the test, then closed again). */
#define CONNECT_AS_CHILD "--connect" /* test-bootstrap --connect ADDRESS: exit 0 if refused */
static char self_exe[PATH_MAX];      /* this test's binary (not /proc/self/exe: valgrind's) */

static void assert_other_uid_refused(const char *address)
{
    if (geteuid() != 0)
        return; /* needs root to become another user */
    const char *path = address + strlen("unix://");
    ck_assert_int_eq(call_connect(address), 0); /* our own uid is served */
    ck_assert_int_eq(chmod(root, 0755), 0);
    ck_assert_int_eq(chmod(socket_dir, 0755), 0);
    ck_assert_int_eq(chmod(path, 0666), 0);
    pid_t pid = fork();
    if (pid == 0) {
        if (setgid(65534) < 0 || setuid(65534) < 0)
            _exit(2);
        /* reaching the socket proves the file system let us in: the refusal is the daemon's */
        if (access(path, R_OK | W_OK) < 0)
            _exit(4);
        /* exec'd, not just forked: a child that exits with the test's memory live would be a
         * leak under valgrind (main: CONNECT_AS_CHILD) */
        execl(self_exe, self_exe, CONNECT_AS_CHILD, address, (char *)NULL);
        _exit(5);
    }
    int status;
    waitpid(pid, &status, 0);
    chmod(path, 0600);
    chmod(socket_dir, 0700);
    chmod(root, 0700);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "uid 65534 was not refused by %s (status %d)", address, status);
    ck_assert_int_eq(call_connect(address), 0); /* and the daemon still serves us */
}

/* Live processes running the shim binary (this build's: the inode tells). */
static int count_shims(void)
{
    struct stat shim;
    ck_assert_int_eq(stat(SHIM_PATH, &shim), 0);
    DIR *d = opendir("/proc");
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        pid_t pid = (pid_t)atoi(e->d_name);
        char exe[64];
        struct stat st;
        snprintf(exe, sizeof(exe), "/proc/%d/exe", (int)pid);
        if (pid > 0 && stat(exe, &st) == 0 && st.st_ino == shim.st_ino &&
            st.st_dev == shim.st_dev && !gone(pid))
            n++;
    }
    closedir(d);
    return n;
}

static struct run run_start(const char *bundle, const char *id)
{
    size_t len;
    _cleanup_free_ uint8_t *opts =
        options_any("runtimeoptions.v1.Options", stdin_config_file, &len);
    const char *args[] = {SHIM_ARGS(id), "-debug", "start", NULL};
    return run_shim(bundle, opts, len, args);
}

START_TEST(test_start_spawns_daemon)
{
    _cleanup_free_ char *sid = new_id("pod");
    _cleanup_free_ char *json = sandbox_json(sid);
    _cleanup_free_ char *bundle = make_bundle(json);
    int log_fd = make_log_fifo(bundle);
    _cleanup_free_ char *expect = shim_socket_address(socket_dir, GRPC_ADDR, NS, sid);

    struct run r = run_start(bundle, sid);
    ck_assert_msg(r.status == 0, "start exited %d: %s", r.status, r.err);
    ck_assert_str_eq(r.out, expect);
    ck_assert_str_eq(r.err, "");
    run_free(&r);
    struct stat st;
    ck_assert_int_eq(stat(socket_dir, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0700);
    ck_assert_int_eq(stat(expect + strlen("unix://"), &st), 0);
    ck_assert(S_ISSOCK(st.st_mode));
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    _cleanup_free_ char *address = bundle_file(bundle, BUNDLE_ADDRESS_FILE);
    _cleanup_free_ char *text = read_text(address);
    ck_assert_str_eq(text, expect);
    pid_t daemon = read_pid(bundle);
    assert_daemon(daemon, bundle, expect);
    assert_other_uid_refused(expect);

    /* a container of the pod: the same shim, nothing spawned */
    _cleanup_free_ char *cid = new_id("ctr");
    _cleanup_free_ char *cjson = container_json(sid);
    _cleanup_free_ char *cbundle = make_bundle(cjson);
    int shims = count_shims();
    r = run_start(cbundle, cid);
    ck_assert_msg(r.status == 0, "start exited %d: %s", r.status, r.err);
    ck_assert_str_eq(r.out, expect);
    run_free(&r);
    _cleanup_free_ char *cpid = bundle_file(cbundle, BUNDLE_PID_FILE);
    ck_assert(!exists(cpid));
    ck_assert_int_eq(count_shims(), shims);
    ck_assert(!gone(daemon));

    /* delete kills the live daemon and removes what start made */
    r = run_delete(bundle, sid);
    assert_delete_response(&r, (uint32_t)daemon);
    run_free(&r);
    wait_gone(daemon);
    ck_assert(!exists(expect + strlen("unix://")));
    ck_assert(!exists(address));
    _cleanup_free_ char *pid_file = bundle_file(bundle, BUNDLE_PID_FILE);
    ck_assert(!exists(pid_file));
    close(log_fd);
}
END_TEST

/* A daemon that died leaves its socket; the next start replaces it with a new daemon. */
START_TEST(test_start_replaces_stale_socket)
{
    _cleanup_free_ char *sid = new_id("pod");
    _cleanup_free_ char *json = sandbox_json(sid);
    _cleanup_free_ char *bundle = make_bundle(json);
    int log_fd = make_log_fifo(bundle);
    _cleanup_free_ char *expect = shim_socket_address(socket_dir, GRPC_ADDR, NS, sid);

    struct run r = run_start(bundle, sid);
    ck_assert_msg(r.status == 0, "start exited %d: %s", r.status, r.err);
    run_free(&r);
    pid_t first = read_pid(bundle);
    ck_assert_int_eq(kill(first, SIGKILL), 0);
    wait_gone(first);
    ck_assert(exists(expect + strlen("unix://")));

    r = run_start(bundle, sid);
    ck_assert_msg(r.status == 0, "start exited %d: %s", r.status, r.err);
    ck_assert_str_eq(r.out, expect);
    run_free(&r);
    pid_t second = read_pid(bundle);
    ck_assert_int_ne(second, first);
    assert_daemon(second, bundle, expect);

    r = run_delete(bundle, sid);
    assert_delete_response(&r, (uint32_t)second);
    run_free(&r);
    wait_gone(second);
    ck_assert(!exists(expect + strlen("unix://")));
    close(log_fd);
}
END_TEST

/* --- suite --- */

static Suite *bootstrap_suite(void)
{
    Suite *s = suite_create("bootstrap");
    TCase *tc = tcase_create("flags");
    tcase_add_test(tc, test_flags_containerd_start);
    tcase_add_test(tc, test_flags_forms);
    tcase_add_test(tc, test_flags_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("options");
    tcase_add_test(tc, test_options_legacy_any);
    tcase_add_test(tc, test_options_none);
    tcase_add_test(tc, test_options_bootstrap_params);
    tcase_add_test(tc, test_options_ambiguous_bytes);
    tcase_add_test(tc, test_options_garbage);
    tcase_add_test(tc, test_options_too_large);
    suite_add_tcase(s, tc);

    tc = tcase_create("address");
    tcase_add_test(tc, test_socket_address);
    suite_add_tcase(s, tc);

    tc = tcase_create("binary");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_binary_version_info);
    tcase_add_test(tc, test_front_stays_light);
    tcase_add_test(tc, test_delete_empty_dir_twice);
    tcase_add_test(tc, test_delete_sandbox_bundle);
    tcase_add_test(tc, test_delete_container_and_half_removed_sandbox);
    tcase_add_test(tc, test_delete_bad_config_warns);
    tcase_add_test(tc, test_delete_needs_id);
    tcase_add_test(tc, test_start_errors);
    tcase_add_test(tc, test_start_reuses_live_socket);
    suite_add_tcase(s, tc);

    tc = tcase_create("daemon");
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, test_start_spawns_daemon);
    tcase_add_test(tc, test_start_replaces_stale_socket);
    suite_add_tcase(s, tc);
    return s;
}

/* Kills daemons a failed test left (any shim.pid naming our binary), then removes the root. */
static int cleanup_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    const char *base = path + ftw->base;
    if (type == FTW_F && strcmp(base, BUNDLE_PID_FILE) == 0) {
        _cleanup_free_ char *text = read_text(path);
        pid_t pid = text ? (pid_t)atoi(text) : 0;
        char exe[64];
        struct stat a, b;
        snprintf(exe, sizeof(exe), "/proc/%d/exe", (int)pid);
        if (pid > 0 && stat(exe, &a) == 0 && stat(SHIMD_PATH, &b) == 0 && a.st_ino == b.st_ino)
            kill(pid, SIGKILL);
    }
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    remove(path);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], CONNECT_AS_CHILD) == 0)
        return call_connect(argv[2]) == GRPC_UNAVAILABLE ? 0 : 3;
    if (!realpath(argv[0], self_exe)) {
        perror(argv[0]);
        return 1;
    }
    snprintf(root, sizeof(root), "/tmp/cocoon-bootstrap-XXXXXX");
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    config_file = xasprintf("%s/cocoon.toml", root);
    stdin_config_file = xasprintf("%s/stdin.toml", root);
    socket_dir = xasprintf("%s/s", root);
    state_dir = xasprintf("%s/state", root);
    mkdir(state_dir, 0700);
    _cleanup_free_ char *text = config_text(state_dir);
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(i ? stdin_config_file : config_file, "w");
        if (!f || fputs(text, f) < 0 || fclose(f) != 0)
            return 1;
    }
    setenv(SHIM_SOCKET_DIR_ENV, socket_dir, 1);
    setenv("COCOON_CONFIG", config_file, 1);

    SRunner *sr = srunner_create(bootstrap_suite());
    srunner_set_tap(sr, "-");
    srunner_run_all(sr, CK_SILENT);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);

    nftw(root, cleanup_entry, 16, FTW_PHYS);
    nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(config_file);
    free(stdin_config_file);
    free(socket_dir);
    free(state_dir);
    return failed ? 1 : 0;
}
