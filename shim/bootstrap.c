/* The shim binary's bootstrap (containerd.md §3): Go-style flags, the runtime options on stdin,
 * the socket address, and the short-lived `start`, `delete` and `-info` processes.
 *
 * `start` and `delete` talk to containerd through stdout only (containerd reads stdout and stderr
 * together at `start`), so nothing but the answer is ever written there. */
#include "shim/bootstrap.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <linux/close_range.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "containerd/runtime/bootstrap/v1/bootstrap.pb-c.h"
#include "containerd/runtimeoptions/v1/api.pb-c.h"
#include "containerd/task/v2/shim.pb-c.h"
#include "containerd/types/introspection.pb-c.h"
#include "google/protobuf/any.pb-c.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "shim/config.h"
#include "shim/sandbox-vm.h"
#include "ttrpc/dial.h"
#include "vmm/domain.h"

#define USAGE                                                                                      \
    "Usage: " SHIM_BINARY_NAME " -namespace NS -id ID -address ADDR [-publish-binary PATH] "       \
    "[-bundle DIR] [-socket ADDR] [-debug] [-v] [-info] [start|delete]"

#define MAX_OPTIONS_SIZE (1 << 20)      /* runtime options are a few hundred bytes */
#define MAX_CONFIG_JSON_SIZE (16 << 20) /* an OCI config.json is KiBs; refuse absurd ones */
#define MAX_SMALL_FILE_SIZE 4096        /* shim.pid, cocoon-config */
#define LIVE_DIAL_TIMEOUT_MS 100        /* runc's CanConnect */
#define DAEMON_EXIT_WAIT_MS 1000        /* after SIGKILL, before the socket is judged */
#define EXIT_STATUS_KILLED 137          /* 128 + SIGKILL, what runc and Kata report */

/* --- flags --- */

enum flag_kind { FLAG_STRING, FLAG_BOOL };

struct flag_def {
    const char *name;
    enum flag_kind kind;
    size_t offset;
};

#define OFF(m) offsetof(struct shim_flags, m)
static const struct flag_def flag_defs[] = {
    {"namespace", FLAG_STRING, OFF(namespace_)},
    {"id", FLAG_STRING, OFF(id)},
    {"address", FLAG_STRING, OFF(address)},
    {"publish-binary", FLAG_STRING, OFF(publish_binary)},
    {"bundle", FLAG_STRING, OFF(bundle)},
    {"socket", FLAG_STRING, OFF(socket)},
    {"debug", FLAG_BOOL, OFF(debug)},
    {"v", FLAG_BOOL, OFF(version)},
    {"version", FLAG_BOOL, OFF(version)},
    {"info", FLAG_BOOL, OFF(info)},
};
#undef OFF

static int usage_error(struct error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int usage_error(struct error *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    return error_set(err, GRPC_INVALID_ARGUMENT, "%s\n%s", msg ? msg : fmt, USAGE);
}

/* Go's strconv.ParseBool. */
static int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

static const struct flag_def *find_flag(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(flag_defs) / sizeof(flag_defs[0]); i++)
        if (strlen(flag_defs[i].name) == len && strncmp(flag_defs[i].name, name, len) == 0)
            return &flag_defs[i];
    return NULL;
}

int shim_flags_parse(int argc, char **argv, struct shim_flags *f, struct error *err)
{
    memset(f, 0, sizeof(*f));
    int i = 0;
    for (; i < argc; i++) {
        const char *arg = argv[i];
        if (arg[0] != '-' || arg[1] == '\0')
            break; /* the first non-flag argument ends the flags, as in Go */
        const char *name = arg + 1;
        if (name[0] == '-') {
            name++;
            if (name[0] == '\0') { /* "--" ends the flags */
                i++;
                break;
            }
        }
        if (name[0] == '-' || name[0] == '=')
            return usage_error(err, "bad flag syntax: %s", arg);
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const struct flag_def *def = find_flag(name, len);
        if (!def)
            return usage_error(err, "flag provided but not defined: -%.*s", (int)len, name);
        char *field = (char *)f + def->offset;
        if (def->kind == FLAG_BOOL) {
            bool v = true;
            if (eq && parse_bool(eq + 1, &v) < 0)
                return usage_error(err, "invalid boolean value \"%s\" for -%s", eq + 1, def->name);
            *(bool *)field = v;
        } else {
            const char *v;
            if (eq)
                v = eq + 1;
            else if (i + 1 < argc)
                v = argv[++i]; /* Go takes the next argument whatever it looks like */
            else
                return usage_error(err, "flag needs an argument: -%s", def->name);
            *(const char **)field = v;
        }
    }
    if (i < argc) {
        const char *action = argv[i];
        if (strcmp(action, "start") != 0 && strcmp(action, "delete") != 0)
            return usage_error(err, "unknown action \"%s\" (expected start or delete)", action);
        if (i + 1 < argc)
            return usage_error(err, "unexpected argument \"%s\" after %s", argv[i + 1], action);
        f->action = action;
    }
    return 0;
}

/* ids and namespaces name files and directories below; containerd never sends such names. */
static int check_name(const char *flag, const char *v, struct error *err)
{
    if (!v || !*v)
        return error_set(err, GRPC_INVALID_ARGUMENT, "-%s is required", flag);
    if (strchr(v, '/') || strcmp(v, ".") == 0 || strcmp(v, "..") == 0)
        return error_set(err, GRPC_INVALID_ARGUMENT, "-%s \"%s\": not a valid name", flag, v);
    return 0;
}

/* --- reading files --- */

/* Reads fd to EOF, at most max bytes (NUL-terminated). A closed fd reads as empty. */
static int read_fd(int fd, size_t max, const char *what, char **out, size_t *out_len,
                   struct error *err)
{
    size_t cap = 4096, len = 0;
    _cleanup_free_ char *buf = xmalloc(cap);
    for (;;) {
        if (cap - len < 2)
            buf = xrealloc(buf, cap *= 2);
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EBADF && len == 0)
            break;
        if (n < 0)
            return error_set_errno(err, errno, "read %s", what);
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > max)
            return error_set(err, GRPC_INVALID_ARGUMENT, "%s is larger than %zu bytes", what, max);
    }
    buf[len] = '\0';
    *out = TAKE_PTR(buf);
    *out_len = len;
    return 0;
}

/* GRPC_NOT_FOUND if path does not exist. */
static int read_file(const char *path, size_t max, char **out, size_t *len, struct error *err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return error_set_errno(err, errno, "open %s", path);
    return read_fd(fd, max, path, out, len, err);
}

/* Writes data to dir/name through a temporary file and rename, so readers never see half. */
static int write_file_atomic(const char *dir, const char *name, const char *data, mode_t mode,
                             struct error *err)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
    _cleanup_free_ char *tmp = xasprintf("%s/.%s.tmp", dir, name);
    _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return error_set_errno(err, errno, "create %s", tmp);
    size_t len = strlen(data), off = 0;
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            unlink(tmp);
            return error_set_errno(err, e, "write %s", tmp);
        }
        off += (size_t)n;
    }
    if (rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        return error_set_errno(err, e, "rename %s to %s", tmp, path);
    }
    return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* --- runtime options on stdin --- */

/* "runtimeoptions.v1.Options" after the last '/', or the name CRI used in containerd 1.x. */
static bool is_runtime_options(const char *type_url)
{
    const char *slash = strrchr(type_url, '/');
    const char *name = slash ? slash + 1 : type_url;
    return strcmp(name, "runtimeoptions.v1.Options") == 0 ||
           strcmp(name, "cri-containerd.runtimeoptions.v1.Options") == 0;
}

int shim_config_path_from_any(const Google__Protobuf__Any *any, char **config_path,
                              struct error *err)
{
    if (!any->type_url || !is_runtime_options(any->type_url))
        return 0; /* another runtime's options: nothing for us */
    Runtimeoptions__V1__Options *o =
        runtimeoptions__v1__options__unpack(NULL, any->value.len, any->value.data);
    if (!o)
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "runtime options: the %s value (%zu bytes) does not decode", any->type_url,
                         any->value.len);
    if (o->config_path && *o->config_path)
        *config_path = xstrdup(o->config_path);
    runtimeoptions__v1__options__free_unpacked(o, NULL);
    return 0;
}

static void bootstrap_params_free(Containerd__Runtime__Bootstrap__V1__BootstrapParams *p)
{
    containerd__runtime__bootstrap__v1__bootstrap_params__free_unpacked(p, NULL);
}
DEFINE_CLEANUP_FUNC(Containerd__Runtime__Bootstrap__V1__BootstrapParams *, bootstrap_params_free)

int shim_read_start_options(int fd, const struct shim_flags *f, char **config_path,
                            struct error *err)
{
    *config_path = NULL;
    if (isatty(fd))
        return 0; /* run by hand: containerd always gives a pipe or /dev/null */
    _cleanup_free_ char *buf = NULL;
    size_t len;
    if (read_fd(fd, MAX_OPTIONS_SIZE, "runtime options on stdin", &buf, &len, err) < 0)
        return -1;
    if (len == 0)
        return 0;
    const uint8_t *data = (const uint8_t *)buf;

    /* Both formats start with field 1 as a string; containerd tells them apart the same way. */
    _cleanup_(bootstrap_params_freep) Containerd__Runtime__Bootstrap__V1__BootstrapParams *bp =
        containerd__runtime__bootstrap__v1__bootstrap_params__unpack(NULL, len, data);
    if (bp && f->id && *f->id && strcmp(bp->instance_id, f->id) == 0 &&
        strcmp(bp->namespace_, f->namespace_ ? f->namespace_ : "") == 0) {
        for (size_t i = 0; i < bp->n_extensions; i++) {
            const Google__Protobuf__Any *any = bp->extensions[i]->value;
            if (any && any->type_url && is_runtime_options(any->type_url))
                return shim_config_path_from_any(any, config_path, err);
        }
        return 0;
    }

    Google__Protobuf__Any *any = google__protobuf__any__unpack(NULL, len, data);
    if (!any)
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "runtime options on stdin (%zu bytes): neither a google.protobuf.Any nor "
                         "a BootstrapParams for this -id and -namespace",
                         len);
    int r = 0;
    if (!any->type_url || !*any->type_url)
        r = error_set(err, GRPC_INVALID_ARGUMENT,
                      "runtime options on stdin (%zu bytes): a google.protobuf.Any without a "
                      "type_url",
                      len);
    else
        r = shim_config_path_from_any(any, config_path, err);
    google__protobuf__any__free_unpacked(any, NULL);
    return r;
}

/* --- the socket address --- */

/* Go's path.Clean: one '/' between elements, no "." elements, ".." resolved against the element
 * before it (dropped at the root), no trailing '/', "." for nothing. */
static char *path_clean(const char *p)
{
    size_t n = strlen(p);
    bool rooted = p[0] == '/';
    char *out = xmalloc(n + 3);
    size_t len = 0, dotdot = 0; /* out[0..dotdot) cannot be backtracked over */
    if (rooted) {
        out[len++] = '/';
        dotdot = 1;
    }
    for (size_t i = 0; i < n;) {
        if (p[i] == '/') {
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && p[j] != '/')
            j++;
        size_t seg = j - i;
        if (seg == 1 && p[i] == '.') {
            /* nothing */
        } else if (seg == 2 && p[i] == '.' && p[i + 1] == '.') {
            if (len > dotdot) {
                len--;
                while (len > dotdot && out[len] != '/')
                    len--;
            } else if (!rooted) {
                if (len > 0)
                    out[len++] = '/';
                out[len++] = '.';
                out[len++] = '.';
                dotdot = len;
            }
        } else {
            if (len > (rooted ? 1u : 0u))
                out[len++] = '/';
            memcpy(out + len, p + i, seg);
            len += seg;
        }
        i = j;
    }
    if (len == 0)
        out[len++] = '.';
    out[len] = '\0';
    return out;
}

/* Go's filepath.Join: the non-empty elements joined by '/' and cleaned; "" if all are empty. */
static char *path_join3(const char *a, const char *b, const char *c)
{
    const char *parts[] = {a ? a : "", b ? b : "", c ? c : ""};
    _cleanup_free_ char *joined = xstrdup("");
    for (size_t i = 0; i < 3; i++) {
        if (!*parts[i])
            continue;
        char *next = *joined ? xasprintf("%s/%s", joined, parts[i]) : xstrdup(parts[i]);
        free(joined);
        joined = next;
    }
    return *joined ? path_clean(joined) : TAKE_PTR(joined);
}

const char *shim_socket_dir(void)
{
    const char *env = getenv(SHIM_SOCKET_DIR_ENV);
    return env && *env ? env : SHIM_SOCKET_DIR_DEFAULT;
}

char *shim_socket_address(const char *socket_dir, const char *grpc_address, const char *ns,
                          const char *group)
{
    _cleanup_free_ char *joined = path_join3(grpc_address, ns, group);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (EVP_Digest(joined, strlen(joined), md, &md_len, EVP_sha256(), NULL) != 1 || md_len != 32)
        abort(); /* sha256 of a short string cannot fail short of a broken libcrypto */
    char hex[65];
    for (unsigned i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    const char *dir = socket_dir ? socket_dir : SHIM_SOCKET_DIR_DEFAULT;
    size_t dlen = strlen(dir);
    while (dlen > 1 && dir[dlen - 1] == '/')
        dlen--;
    return xasprintf("unix://%.*s/%s", (int)dlen, dir, hex);
}

/* --- the bundle's config.json: which shim a task belongs to --- */

static const char *const container_type_keys[] = {
    "io.kubernetes.cri.container-type", /* containerd CRI */
    "io.kubernetes.cri-o.ContainerType",
};
static const char *const sandbox_id_keys[] = {
    "io.kubernetes.cri.sandbox-id",
    "io.kubernetes.cri-o.SandboxID",
};

static int string_annotation(json_t *anns, const char *const *keys, size_t n, const char **key,
                             const char **value, struct error *err)
{
    *value = NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_object_get(anns, keys[i]);
        if (!v)
            continue;
        if (!json_is_string(v))
            return error_set(err, GRPC_INVALID_ARGUMENT,
                             "config.json: annotations.%s: expected a string", keys[i]);
        *key = keys[i];
        *value = json_string_value(v);
        return 0;
    }
    return 0;
}

/* The group a task's shim serves (kata.md §1.2): the sandbox id for a container of a pod, else
 * the task's own id (a sandbox, or a lone container that gets a VM of its own). GRPC_NOT_FOUND
 * if the bundle has no config.json. */
static int bundle_group(const char *bundle, const char *id, char **group, struct error *err)
{
    _cleanup_free_ char *path = xasprintf("%s/config.json", bundle);
    _cleanup_free_ char *text = NULL;
    size_t len;
    if (read_file(path, MAX_CONFIG_JSON_SIZE, &text, &len, err) < 0)
        return -1;
    json_error_t jerr;
    _cleanup_(json_decrefp) json_t *root = json_loadb(text, len, 0, &jerr);
    if (!root)
        return error_set(err, GRPC_INVALID_ARGUMENT, "%s: line %d: %s", path, jerr.line, jerr.text);
    if (!json_is_object(root))
        return error_set(err, GRPC_INVALID_ARGUMENT, "%s: expected a JSON object", path);
    json_t *anns = json_object_get(root, "annotations");
    if (anns && !json_is_object(anns) && !json_is_null(anns))
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "config.json: annotations: expected an object");

    const char *type_key = NULL, *type = NULL, *sid_key = NULL, *sid = NULL;
    if (anns && json_is_object(anns) &&
        (string_annotation(anns, container_type_keys, 2, &type_key, &type, err) < 0 ||
         string_annotation(anns, sandbox_id_keys, 2, &sid_key, &sid, err) < 0))
        return -1;
    if (!type || strcmp(type, "sandbox") == 0) {
        *group = xstrdup(id);
        return 0;
    }
    if (strcmp(type, "container") != 0)
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "config.json: annotations.%s: unknown container type \"%s\" (expected "
                         "sandbox or container)",
                         type_key, type);
    if (!sid || !*sid)
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "config.json: a container (annotations.%s) without a sandbox id "
                         "(annotations.%s)",
                         type_key, sandbox_id_keys[0]);
    *group = xstrdup(sid);
    return 0;
}

/* --- sockets --- */

static bool socket_is_live(const char *address)
{
    int fd = ttrpc_dial(address, LIVE_DIAL_TIMEOUT_MS, NULL);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

/* Creates path (mode) and any missing parent (0711, like containerd's /run/containerd). */
static int mkdir_p(const char *path, mode_t mode, struct error *err)
{
    _cleanup_free_ char *p = xstrdup(path);
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, c && s[1] ? 0711 : mode) < 0 && errno != EEXIST)
            return error_set_errno(err, errno, "create %s", p);
        *s = c;
        if (!c)
            return 0;
    }
}

/* The socket directory, created (0700) and locked: concurrent starts and deletes of one pod
 * judge and replace a socket one at a time. The lock goes with the returned fd. */
static int lock_socket_dir(const char *dir, bool create, struct error *err)
{
    if (create && mkdir_p(dir, 0700, err) < 0)
        return -1;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return error_set_errno(err, errno, "open %s", dir);
    while (flock(fd, LOCK_EX) < 0) {
        if (errno != EINTR) {
            int e = errno;
            close(fd);
            return error_set_errno(err, e, "lock %s", dir);
        }
    }
    return fd;
}

/* --- start --- */

/* The oom_score_adj for the daemon: ours + 1, at most 1000 (containerd's AdjustOOMScore), so
 * the kernel picks the shim before containerd. "" when ours cannot be read. */
static void daemon_oom_score(char *buf, size_t size)
{
    buf[0] = '\0';
    _cleanup_free_ char *text = NULL;
    size_t len;
    if (read_file("/proc/self/oom_score_adj", 64, &text, &len, NULL) < 0)
        return;
    long v = strtol(text, NULL, 10) + 1;
    snprintf(buf, size, "%ld", v > 1000 ? 1000 : v);
}

/* Marks every fd from `from` on close-on-exec. */
static void cloexec_from(int from)
{
#ifdef SYS_close_range
    if (syscall(SYS_close_range, (unsigned)from, ~0u, CLOSE_RANGE_CLOEXEC) == 0)
        return;
#endif
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 65536)
        max = 65536;
    for (int fd = from; fd < max; fd++)
        fcntl(fd, F_SETFD, FD_CLOEXEC);
}

/* Runs in the forked child (single-threaded, so plain libc calls are fine): fds 0-2 on
 * /dev/null, the listener on fd 3 and nothing else, a session of its own, cwd = bundle. */
__attribute__((noreturn)) static void exec_daemon(int devnull, int listener, int status_fd,
                                                  const char *bundle, const char *oom_score,
                                                  char **argv)
{
    int e = 0;
    if (setsid() < 0 || dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 || dup2(devnull, 2) < 0 ||
        dup2(listener, 3) < 0 || chdir(bundle) < 0)
        e = errno;
    if (!e) {
        cloexec_from(4); /* status_fd included: it closes when exec succeeds */
        if (*oom_score) {
            int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
            if (fd >= 0) {
                (void)!write(fd, oom_score, strlen(oom_score)); /* best effort */
                close(fd);
            }
        }
        execv("/proc/self/exe", argv);
        e = errno;
    }
    (void)!write(status_fd, &e, sizeof(e));
    _exit(127);
}

/* fork+exec of ourselves without an action: the daemon. Returns its pid, or -1. */
static pid_t spawn_daemon(const struct shim_flags *f, const char *bundle, int listener,
                          struct error *err)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        snprintf(exe, sizeof(exe), "%s", SHIM_BINARY_NAME);
    else
        exe[n] = '\0';
    char *argv[] = {exe,
                    "-namespace",
                    (char *)f->namespace_,
                    "-id",
                    (char *)f->id,
                    "-address",
                    (char *)(f->address ? f->address : ""),
                    "-publish-binary",
                    (char *)(f->publish_binary ? f->publish_binary : ""),
                    f->debug ? "-debug" : NULL,
                    NULL};
    char oom_score[24];
    daemon_oom_score(oom_score, sizeof(oom_score));

    /* Above fd 3, so the dup2s in the child cannot overwrite one another. */
    _cleanup_close_ int devnull = -1;
    _cleanup_close_ int listen_fd = -1;
    _cleanup_close_ int status_r = -1;
    _cleanup_close_ int status_w = -1;
    _cleanup_close_ int nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (nullfd < 0)
        return error_set_errno(err, errno, "open /dev/null");
    devnull = fcntl(nullfd, F_DUPFD_CLOEXEC, 10);
    listen_fd = fcntl(listener, F_DUPFD_CLOEXEC, 10);
    int pipefd[2];
    if (devnull < 0 || listen_fd < 0 || pipe2(pipefd, O_CLOEXEC) < 0)
        return error_set_errno(err, errno, "spawn the shim daemon");
    status_r = pipefd[0];
    status_w = pipefd[1];

    pid_t pid = fork();
    if (pid < 0)
        return error_set_errno(err, errno, "fork the shim daemon");
    if (pid == 0)
        exec_daemon(devnull, listen_fd, status_w, bundle, oom_score, argv);
    close(TAKE_FD(status_w));

    /* EOF: exec succeeded (the pipe was close-on-exec); an int: why it did not. */
    int child_errno = 0;
    ssize_t r;
    do
        r = read(status_r, &child_errno, sizeof(child_errno));
    while (r < 0 && errno == EINTR);
    if (r > 0) {
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        return error_set_errno(err, child_errno, "start the shim daemon %s", exe);
    }
    return pid;
}

/* What `start` created, removed again when it fails. */
struct start_undo {
    char *socket_path;
    char *address_file;
    char *pid_file;
    pid_t daemon;
};

static void start_undo(struct start_undo *u)
{
    if (u->daemon > 0) {
        kill(u->daemon, SIGKILL);
        while (waitpid(u->daemon, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    if (u->socket_path)
        unlink(u->socket_path);
    if (u->address_file)
        unlink(u->address_file);
    if (u->pid_file)
        unlink(u->pid_file);
}

static void start_undo_free(struct start_undo *u)
{
    free(u->socket_path);
    free(u->address_file);
    free(u->pid_file);
}

static char *bundle_dir(const struct shim_flags *f)
{
    if (f->bundle && *f->bundle)
        return xstrdup(f->bundle);
    char *cwd = getcwd(NULL, 0);
    return cwd ? cwd : xstrdup(".");
}

/* Finds the pod's live shim or starts one; fills *address. */
static int start(const struct shim_flags *f, struct start_undo *undo, char **address,
                 struct error *err)
{
    if (check_name("namespace", f->namespace_, err) < 0 || check_name("id", f->id, err) < 0)
        return -1;
    _cleanup_free_ char *config_path = NULL;
    if (shim_read_start_options(STDIN_FILENO, f, &config_path, err) < 0)
        return -1;
    _cleanup_free_ char *bundle = bundle_dir(f);
    _cleanup_free_ char *group = NULL;
    if (bundle_group(bundle, f->id, &group, err) < 0)
        return -1;

    const char *dir = shim_socket_dir();
    _cleanup_free_ char *addr = shim_socket_address(dir, f->address, f->namespace_, group);
    const char *path = addr + strlen("unix://");
    _cleanup_close_ int lock = lock_socket_dir(dir, true, err);
    if (lock < 0)
        return -1;

    struct stat st;
    if (lstat(path, &st) == 0) {
        if (socket_is_live(addr)) { /* another container of the pod: its shim serves this one */
            if (write_file_atomic(bundle, BUNDLE_ADDRESS_FILE, addr, 0644, err) < 0)
                return -1;
            undo->address_file = xasprintf("%s/%s", bundle, BUNDLE_ADDRESS_FILE);
            *address = TAKE_PTR(addr);
            return 0;
        }
        if (unlink(path) < 0 && errno != ENOENT) /* left by a shim that died */
            return error_set_errno(err, errno, "remove stale socket %s", path);
    }

    _cleanup_close_ int listener = ttrpc_listen_unix(path, err);
    if (listener < 0)
        return -1;
    undo->socket_path = xstrdup(path);
    if (write_file_atomic(bundle, BUNDLE_ADDRESS_FILE, addr, 0644, err) < 0)
        return -1;
    undo->address_file = xasprintf("%s/%s", bundle, BUNDLE_ADDRESS_FILE);

    /* The daemon finds the config through the environment when Create carries no options. */
    if (config_path && setenv(CONFIG_ENV, config_path, 1) < 0)
        return error_set_errno(err, errno, "set %s", CONFIG_ENV);
    pid_t pid = spawn_daemon(f, bundle, listener, err);
    if (pid < 0)
        return -1;
    undo->daemon = pid;
    char pid_text[24];
    snprintf(pid_text, sizeof(pid_text), "%d", (int)pid);
    if (write_file_atomic(bundle, BUNDLE_PID_FILE, pid_text, 0644, err) < 0)
        return -1;
    undo->pid_file = xasprintf("%s/%s", bundle, BUNDLE_PID_FILE);
    *address = TAKE_PTR(addr);
    return 0;
}

int shim_cmd_start(const struct shim_flags *f)
{
    struct start_undo undo = {0};
    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    _cleanup_free_ char *address = NULL;
    int r = start(f, &undo, &address, &err);
    if (r == 0 && write_all(STDOUT_FILENO, address, strlen(address)) < 0)
        r = error_set_errno(&err, errno, "write the address to stdout");
    if (r < 0) {
        start_undo(&undo);
        fprintf(stderr, "%s: start: %s\n", SHIM_BINARY_NAME, err.msg);
    }
    start_undo_free(&undo);
    return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* --- the daemon's first step --- */

int shim_daemon_detach(void)
{
    /* Processes the daemon spawns (and theirs) are reaped by it, never by init. */
    return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0 ? -1 : 0;
}

/* --- delete --- */

/* The configuration the daemon used (named in the bundle), else the default one. */
static struct config *delete_config(const char *bundle)
{
    _cleanup_free_ char *named = NULL, *marker = xasprintf("%s/%s", bundle, BUNDLE_CONFIG_FILE);
    size_t len;
    if (read_file(marker, MAX_SMALL_FILE_SIZE, &named, &len, NULL) == 0)
        named[strcspn(named, "\r\n")] = '\0';
    const char *path = named && *named ? named : config_default_path();
    struct config *cfg = NULL;
    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    if (config_load(path, &cfg, &err) < 0) {
        log_warn("delete: %s; using the default configuration", err.msg);
        cfg = config_new_defaults();
    }
    return cfg;
}

/* The pid in the bundle's shim.pid, or 0. */
static pid_t read_pid_file(const char *bundle)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", bundle, BUNDLE_PID_FILE);
    _cleanup_free_ char *text = NULL;
    size_t len;
    if (read_file(path, MAX_SMALL_FILE_SIZE, &text, &len, NULL) < 0)
        return 0;
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    while (*end == '\n' || *end == ' ')
        end++;
    if (errno || end == text || *end || v <= 0 || v > INT32_MAX)
        return 0;
    return (pid_t)v;
}

/* Whether pid runs this very binary: a recycled pid must not be killed. */
static bool is_our_daemon(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
    struct stat theirs, ours;
    return pid != getpid() && stat(path, &theirs) == 0 && stat("/proc/self/exe", &ours) == 0 &&
           theirs.st_dev == ours.st_dev && theirs.st_ino == ours.st_ino;
}

/* Whether every thread of pid is gone or a zombie. The leader turns zombie while other threads
 * still run and hold the fds (the listener too), so each thread is looked at. */
static bool process_gone(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return true;
    bool gone = true;
    struct dirent *e;
    while (gone && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        _cleanup_free_ char *stat_path = xasprintf("%s/%s/stat", path, e->d_name);
        _cleanup_free_ char *text = NULL;
        size_t len;
        if (read_file(stat_path, 4096, &text, &len, NULL) < 0)
            continue; /* that thread just went */
        const char *paren = strrchr(text, ')');
        gone = paren && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X');
    }
    closedir(d);
    return gone;
}

static void kill_daemon(pid_t pid)
{
    if (pid <= 0 || !is_our_daemon(pid))
        return;
    if (kill(pid, SIGKILL) < 0) {
        if (errno != ESRCH)
            log_warn("delete: kill shim daemon %d: %s", (int)pid, strerror(errno));
        return;
    }
    for (int waited = 0; waited < DAEMON_EXIT_WAIT_MS && !process_gone(pid); waited += 10)
        usleep(10 * 1000);
}

/* rm -rf that neither follows symlinks nor crosses into mounts. */
static void remove_tree(const char *dir)
{
    _cleanup_(error_clear) struct error err = ERROR_INIT;
    if (fs_remove_tree(dir, &err) < 0)
        log_warn("delete: %s", err.msg);
}

static void remove_dead_socket(const struct shim_flags *f)
{
    const char *dir = shim_socket_dir();
    _cleanup_free_ char *addr = shim_socket_address(dir, f->address, f->namespace_, f->id);
    const char *path = addr + strlen("unix://");
    _cleanup_close_ int lock = lock_socket_dir(dir, false, NULL);
    if (lock < 0)
        return; /* no socket directory, no socket */
    struct stat st;
    if (lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode) || socket_is_live(addr))
        return;
    if (unlink(path) < 0 && errno != ENOENT)
        log_warn("delete: remove socket %s: %s", path, strerror(errno));
}

DEFINE_CLEANUP_FUNC(struct vmm *, vmm_close)
DEFINE_CLEANUP_FUNC(struct config *, config_free)

static struct vmm *open_vmm(const struct config *cfg)
{
    struct vmm *vmm = NULL;
    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    if (vmm_open(cfg->hypervisor.uri, &vmm, &err) < 0) {
        log_warn("delete: %s; no domain is destroyed", err.msg);
        return NULL;
    }
    return vmm;
}

static bool domain_exists(struct vmm *vmm, const char *name)
{
    struct vmm_domain *dom = NULL;
    if (!vmm || vmm_domain_lookup(vmm, name, &dom, NULL) < 0)
        return false;
    vmm_domain_free(dom);
    return true;
}

/* Whether the task is a sandbox, i.e. owns the VM, the daemon and the state directory. Without
 * a readable config.json, a domain or a state directory under its id says so. */
static bool is_sandbox(const char *bundle, const struct shim_flags *f, const struct config *cfg,
                       struct vmm **vmm, const char *domain, const char *state_dir)
{
    _cleanup_free_ char *group = NULL;
    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    if (bundle_group(bundle, f->id, &group, &err) == 0)
        return strcmp(group, f->id) == 0;
    if (err.code != GRPC_NOT_FOUND)
        log_warn("delete: %s", err.msg);
    struct stat st;
    if (stat(state_dir, &st) == 0)
        return true;
    *vmm = open_vmm(cfg);
    return domain_exists(*vmm, domain);
}

static int write_delete_response(pid_t pid)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    ts.seconds = now.tv_sec;
    ts.nanos = (int32_t)now.tv_nsec;
    Containerd__Task__V2__DeleteResponse resp = CONTAINERD__TASK__V2__DELETE_RESPONSE__INIT;
    resp.pid = (uint32_t)pid;
    resp.exit_status = EXIT_STATUS_KILLED;
    resp.exited_at = &ts;
    size_t len = containerd__task__v2__delete_response__get_packed_size(&resp);
    _cleanup_free_ uint8_t *buf = xmalloc(len);
    containerd__task__v2__delete_response__pack(&resp, buf);
    return write_all(STDOUT_FILENO, buf, len);
}

int shim_cmd_delete(const struct shim_flags *f)
{
    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    if (check_name("namespace", f->namespace_, &err) < 0 || check_name("id", f->id, &err) < 0) {
        fprintf(stderr, "%s: delete: %s\n", SHIM_BINARY_NAME, err.msg);
        return EXIT_FAILURE;
    }
    const char *bundle = f->bundle && *f->bundle ? f->bundle : ".";
    _cleanup_(config_freep) struct config *cfg = delete_config(bundle);
    pid_t pid = read_pid_file(bundle);
    _cleanup_free_ char *domain = vmm_domain_name(f->id);
    _cleanup_free_ char *state_dir = sandbox_state_dir(cfg, f->id);
    _cleanup_(vmm_closep) struct vmm *vmm = NULL;

    if (is_sandbox(bundle, f, cfg, &vmm, domain, state_dir)) {
        /* The daemon first, so it is not around to react to its VM going away. */
        kill_daemon(pid);
        if (!vmm)
            vmm = open_vmm(cfg);
        if (vmm && vmm_destroy_by_name(vmm, domain, &err) < 0)
            log_warn("delete: destroy domain %s: %s", domain, err.msg);
        remove_tree(state_dir);
        remove_dead_socket(f);
    }

    static const char *const files[] = {BUNDLE_ADDRESS_FILE, BUNDLE_PID_FILE, BUNDLE_CONFIG_FILE};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        _cleanup_free_ char *path = xasprintf("%s/%s", bundle, files[i]);
        if (unlink(path) < 0 && errno != ENOENT && errno != ENOTDIR)
            log_warn("delete: remove %s: %s", path, strerror(errno));
    }

    if (write_delete_response(pid) < 0) {
        fprintf(stderr, "%s: delete: write the response to stdout: %s\n", SHIM_BINARY_NAME,
                strerror(errno));
        return EXIT_FAILURE;
    }
    return EXIT_SUCCESS;
}

/* --- -info --- */

int shim_cmd_info(const struct shim_flags *f)
{
    /* containerd sends the runtime options; nothing in them changes the answer. */
    if (!isatty(STDIN_FILENO)) {
        _cleanup_free_ char *ignored = NULL;
        size_t len;
        (void)read_fd(STDIN_FILENO, MAX_OPTIONS_SIZE, "stdin", &ignored, &len, NULL);
    }
    Containerd__Types__RuntimeVersion version = CONTAINERD__TYPES__RUNTIME_VERSION__INIT;
    version.version = (char *)COCOON_VERSION;
    version.revision = (char *)"";
    Containerd__Types__RuntimeInfo info = CONTAINERD__TYPES__RUNTIME_INFO__INIT;
    info.name = (char *)SHIM_RUNTIME_NAME;
    info.version = &version;
    size_t len = containerd__types__runtime_info__get_packed_size(&info);
    _cleanup_free_ uint8_t *buf = xmalloc(len);
    containerd__types__runtime_info__pack(&info, buf);
    if (write_all(STDOUT_FILENO, buf, len) < 0) {
        fprintf(stderr, "%s: -info: write to stdout: %s\n", SHIM_BINARY_NAME, strerror(errno));
        return EXIT_FAILURE;
    }
    return EXIT_SUCCESS;
}
