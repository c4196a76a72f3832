/* shim/stdio-relay: containerd's stdio paths <-> the agent's stdio RPCs (see the header). */
#include "shim/stdio-relay.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/clock.h"
#include "lib/fs.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#define CHUNK (32 * 1024) /* Kata's relay buffer; one ReadStdout / WriteStdin at most */
#ifdef __SANITIZE_ADDRESS__
#define RELAY_STACK (512 * 1024) /* ASan's redzones make frames larger */
#else
#define RELAY_STACK (64 * 1024) /* a copier's deepest path is an agent call and a log line */
#endif
#define STDIN_CLOSE_WAIT_MS 2000 /* how long CloseIO lets the stdin copier finish first */
#define LOGGER_KILL_WAIT_MS 1000

extern char **environ;

/* --- limits --- */

static int64_t stall_ms = 10000, ready_ms = 10000, exit_ms = 5000;

void stdio_set_limits(const struct stdio_limits *l)
{
    __atomic_store_n(&stall_ms, l && l->output_stall_ms > 0 ? l->output_stall_ms : 10000,
                     __ATOMIC_RELAXED);
    __atomic_store_n(&ready_ms, l && l->logger_ready_ms > 0 ? l->logger_ready_ms : 10000,
                     __ATOMIC_RELAXED);
    __atomic_store_n(&exit_ms, l && l->logger_exit_ms > 0 ? l->logger_exit_ms : 5000,
                     __ATOMIC_RELAXED);
}

static int64_t limit(int64_t *v)
{
    return __atomic_load_n(v, __ATOMIC_RELAXED);
}

static int remaining_ms(int64_t deadline)
{
    int64_t left = deadline - now_ms();
    return left < 0 ? 0 : left > 1000000 ? 1000000 : (int)left;
}

/* --- the state --- */

struct output {
    struct stdio *s;
    const char *name; /* "stdout", "stderr" */
    int fd;           /* containerd's side (FIFOs, pipes non-blocking); -1: drain and discard */
    bool owns_fd;     /* false when stderr shares stdout's file */
    int keep_fd;      /* our read end of an output FIFO, so it never loses its last reader */
    bool relay;       /* read from the agent (not stderr with a terminal) */
    bool started;
    pthread_t thread;
    /* the copier's own */
    bool stalled; /* waited a full stall limit; written around until the reader drains it */
    bool failed;  /* a write error has been logged */
    uint64_t dropped;
};

struct stdio {
    char *cid, *exec_id;
    char *who;    /* "container C" or "exec E of container C", for log lines */
    int stdin_fd; /* -1: none */
    struct output out[2];
    pid_t logger; /* 0: none */
    int stop_fd;  /* eventfd, readable once stdio_free began: wakes every copier */
    int close_fd; /* eventfd, readable once CloseIO asked the stdin copier to close */
    struct agent *agent;
    pthread_t stdin_thread;
    bool stopping; /* atomic */

    pthread_mutex_t lock; /* guards what follows */
    pthread_cond_t cond;
    bool started;
    bool stdin_started;
    unsigned outputs_running;
    bool stdin_done;      /* the stdin copier has ended */
    bool close_requested; /* CloseIO came */
    bool stdin_closed;    /* CloseStdin was sent (or is being sent) */
    bool close_done;      /* the copier sent the requested CloseStdin; result below */
    int close_rc;
    struct error close_err;
};

static bool stopping(struct stdio *s)
{
    return __atomic_load_n(&s->stopping, __ATOMIC_ACQUIRE);
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* --- parsing the paths --- */

enum kind { KIND_NONE, KIND_FIFO, KIND_FILE, KIND_BINARY, KIND_BINARY_V2 };

struct target {
    enum kind kind;
    char *path;
    char **args; /* KIND_BINARY*: k v k2 v2 ..., NULL-terminated */
};

static void target_clear(struct target *t)
{
    free(t->path);
    for (char **a = t->args; a && *a; a++)
        free(*a);
    free(t->args);
    *t = (struct target){0};
}

static int unhex(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Percent-decodes s[0..n) as Go's net/url does (in a query, '+' is a space). NULL for a bad
 * escape or an escaped NUL, which no path or argument can hold. */
static char *url_decode(const char *s, size_t n, bool query)
{
    char *out = xmalloc(n + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int hi = i + 2 < n ? unhex(s[i + 1]) : -1;
            int lo = i + 2 < n ? unhex(s[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                free(out);
                return NULL;
            }
            *o++ = (char)(hi << 4 | lo);
            i += 2;
        } else {
            *o++ = query && s[i] == '+' ? ' ' : s[i];
        }
    }
    *o = '\0';
    return out;
}

/* binary://path?k=v&k2=v2 -> {k, v, k2, v2}: as containerd, a key given twice counts once (its
 * first value) and a key without '=' has the value "". */
static int parse_query(const char *stream, const char *uri, const char *q, size_t n, char ***out,
                       struct error *err)
{
    size_t cap = 8, len = 0;
    char **args = xcalloc(cap, sizeof(*args));
    const char *end = q + n;
    int r = 0;
    while (q < end && r == 0) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *pe = amp ? amp : end;
        if (pe > q) {
            const char *eq = memchr(q, '=', (size_t)(pe - q));
            char *k = url_decode(q, (size_t)((eq ? eq : pe) - q), true);
            char *v = eq ? url_decode(eq + 1, (size_t)(pe - eq - 1), true) : xstrdup("");
            bool dup = false;
            for (size_t i = 0; k && i < len; i += 2)
                dup = dup || strcmp(args[i], k) == 0;
            if (!k || !v) {
                r = error_set(err, GRPC_INVALID_ARGUMENT,
                              "%s: %s: bad %%-escape in the logger's arguments", stream, uri);
                free(k);
                free(v);
            } else if (dup) {
                free(k);
                free(v);
            } else {
                if (len + 3 > cap) {
                    cap *= 2;
                    args = xrealloc(args, cap * sizeof(*args));
                }
                args[len++] = k;
                args[len++] = v;
                args[len] = NULL;
            }
        }
        q = amp ? amp + 1 : end;
    }
    *out = args;
    return r;
}

static int parse_target(const char *stream, const char *uri, struct target *t, struct error *err)
{
    *t = (struct target){.kind = KIND_NONE};
    if (!uri[0])
        return 0;
    if (uri[0] == '/') { /* a plain path, taken as it is (no URL decoding) */
        t->kind = KIND_FIFO;
        t->path = xstrdup(uri);
        return 0;
    }
    const char *sep = strstr(uri, "://");
    static const struct {
        const char *name;
        enum kind kind;
    } schemes[] = {{"fifo", KIND_FIFO},
                   {"file", KIND_FILE},
                   {"binary", KIND_BINARY},
                   {"binary-v2", KIND_BINARY_V2}};
    for (size_t i = 0; sep && i < sizeof(schemes) / sizeof(schemes[0]); i++)
        if ((size_t)(sep - uri) == strlen(schemes[i].name) &&
            strncasecmp(uri, schemes[i].name, (size_t)(sep - uri)) == 0)
            t->kind = schemes[i].kind;
    if (t->kind == KIND_NONE)
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "%s: %s is neither an absolute path nor a fifo://, file://, binary:// or "
                         "binary-v2:// URI",
                         stream, uri);
    const char *p = sep + 3;
    if (*p != '/')
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "%s: %s: want %.*s:///absolute/path (a host part is not supported)",
                         stream, uri, (int)(sep - uri), uri);
    size_t n = strcspn(p, "?#");
    t->path = url_decode(p, n, false);
    if (!t->path)
        return error_set(err, GRPC_INVALID_ARGUMENT, "%s: %s: bad %%-escape in the path", stream,
                         uri);
    if (p[n] == '?' && (t->kind == KIND_BINARY || t->kind == KIND_BINARY_V2))
        return parse_query(stream, uri, p + n + 1, strcspn(p + n + 1, "#"), &t->args, err);
    if (t->kind == KIND_BINARY || t->kind == KIND_BINARY_V2)
        t->args = xcalloc(1, sizeof(*t->args));
    return 0;
}

/* --- opening containerd's side --- */

static int open_fifo(const char *stream, const char *path, int flags, int *out, struct error *err)
{
    int fd = open(path, flags | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return error_set_errno(err, errno, "%s: open FIFO %s", stream, path);
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode)) {
        close(fd);
        return error_set(err, GRPC_INVALID_ARGUMENT, "%s: %s is not a FIFO", stream, path);
    }
    *out = fd;
    return 0;
}

/* Our read end first: it makes the write open succeed at once, and keeps the FIFO alive. */
static int open_output_fifo(struct output *o, const char *path, struct error *err)
{
    if (open_fifo(o->name, path, O_RDONLY, &o->keep_fd, err) < 0 ||
        open_fifo(o->name, path, O_WRONLY, &o->fd, err) < 0)
        return -1;
    o->owns_fd = true;
    return 0;
}

static int open_file(struct output *o, const char *path, struct error *err)
{
    _cleanup_free_ char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        if (fs_mkdir_p(dir, 0755, 0755, err) < 0)
            return error_wrap(err, "%s", o->name);
    }
    o->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (o->fd < 0)
        return error_set_errno(err, errno, "%s: open %s", o->name, path);
    o->owns_fd = true;
    return 0;
}

/* --- binary loggers --- */

static bool wait_exit(pid_t pid, int64_t ms)
{
    int64_t deadline = now_ms() + ms;
    long nap_us = 1000;
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD)) /* ECHILD: someone else reaped it */
            return true;
        if (r < 0 && errno != EINTR)
            return false;
        if (now_ms() >= deadline)
            return false;
        usleep((useconds_t)nap_us);
        nap_us = nap_us < 20000 ? nap_us * 2 : nap_us;
    }
}

/* Its pipes are closed by now: a logger exits at their end of file, else it is told to. */
static void reap_logger(pid_t pid, bool at_once)
{
    if (!at_once && wait_exit(pid, limit(&exit_ms)))
        return;
    if (!at_once) {
        log_warn("stdio: logger %d still running after its pipes closed; sending SIGTERM", pid);
        kill(pid, SIGTERM);
        if (wait_exit(pid, limit(&exit_ms)))
            return;
        log_warn("stdio: logger %d ignored SIGTERM; killing it", pid);
    }
    kill(pid, SIGKILL);
    if (!wait_exit(pid, LOGGER_KILL_WAIT_MS))
        log_warn("stdio: logger %d did not die; leaving it", pid);
}

static char **logger_env(const char *cid, const char *ns)
{
    size_t n = 0;
    while (environ && environ[n])
        n++;
    char **env = xcalloc(n + 3, sizeof(*env));
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "CONTAINER_ID=", 13) != 0 &&
            strncmp(environ[i], "CONTAINER_NAMESPACE=", 20) != 0)
            env[k++] = xstrdup(environ[i]);
    env[k++] = xasprintf("CONTAINER_ID=%s", cid);
    env[k++] = xasprintf("CONTAINER_NAMESPACE=%s", ns);
    return env;
}

static void strv_free(char **v)
{
    for (char **p = v; p && *p; p++)
        free(*p);
    free(v);
}
DEFINE_CLEANUP_FUNC(char **, strv_free)

/* Reads a byte, or end of file, from the ready pipe within the limit. */
static int wait_ready(int fd, const struct target *t, const char *stream, struct error *err)
{
    int64_t ms = limit(&ready_ms), deadline = now_ms() + ms;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, remaining_ms(deadline));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return error_set_errno(err, errno, "%s: wait for logger %s", stream, t->path);
        if (r == 0)
            return error_set(err, GRPC_DEADLINE_EXCEEDED,
                             "%s: logger %s did not signal ready on fd 5 within %lld ms", stream,
                             t->path, (long long)ms);
        char b;
        ssize_t n = read(fd, &b, 1);
        if (n == 1)
            return 0;
        if (n == 0 && t->kind == KIND_BINARY)
            return 0; /* binary:// takes end of file as ready, as containerd does */
        if (n == 0)
            return error_set(err, GRPC_FAILED_PRECONDITION,
                             "%s: binary-v2 logger %s closed fd 5 (or exited) without writing "
                             "the ready byte",
                             stream, t->path);
        if (errno != EINTR && errno != EAGAIN)
            return error_set_errno(err, errno, "%s: wait for logger %s", stream, t->path);
    }
}

/* Runs the logger with fd 3 / 4 = the read ends of a stdout / stderr pipe, fd 5 = the write end
 * of the ready pipe, 0-2 = /dev/null; the write ends go to the outputs whose target it is. */
static int start_logger(struct stdio *s, const struct target *t, const bool serves[2],
                        const struct stdio_config *cfg, struct error *err)
{
    const char *stream = serves[0] ? "stdout" : "stderr";
    int pipes[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}}; /* stdout, stderr, ready */
    int child[3] = {-1, -1, -1};
    int r = 0;
    for (int i = 0; i < 3 && r == 0; i++)
        if (pipe2(pipes[i], O_CLOEXEC) < 0)
            r = error_set_errno(err, errno, "%s: logger pipes", stream);
    /* The child's ends above 5, so that placing them on 3, 4, 5 never overwrites one another. */
    for (int i = 0; i < 3 && r == 0; i++) {
        int end = i < 2 ? pipes[i][0] : pipes[i][1];
        child[i] = fcntl(end, F_DUPFD_CLOEXEC, 6);
        if (child[i] < 0)
            r = error_set_errno(err, errno, "%s: logger pipes", stream);
    }
    if (r == 0) {
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        posix_spawn_file_actions_init(&fa);
        posix_spawnattr_init(&attr);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
        for (int i = 0; i < 3; i++)
            posix_spawn_file_actions_adddup2(&fa, child[i], 3 + i);
#if __GLIBC_PREREQ(2, 34)
        posix_spawn_file_actions_addclosefrom_np(&fa, 6); /* even a stray fd without O_CLOEXEC */
#endif
        /* The relay's threads block every signal and the shim may ignore SIGPIPE: the logger
         * starts with neither. */
        sigset_t none, all;
        sigemptyset(&none);
        sigfillset(&all);
        sigdelset(&all, SIGKILL);
        sigdelset(&all, SIGSTOP);
        posix_spawnattr_setsigmask(&attr, &none);
        posix_spawnattr_setsigdefault(&attr, &all);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        size_t nargs = 0;
        while (t->args[nargs])
            nargs++;
        _cleanup_free_ char **argv = xcalloc(nargs + 2, sizeof(*argv));
        argv[0] = t->path;
        memcpy(argv + 1, t->args, nargs * sizeof(*argv));
        _cleanup_(strv_freep) char **env =
            logger_env(s->cid, cfg->namespace_ ? cfg->namespace_ : "");
        pid_t pid;
        int e = posix_spawn(&pid, t->path, &fa, &attr, argv, env);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        if (e != 0)
            r = error_set_errno(err, e, "%s: start logger %s", stream, t->path);
        else
            s->logger = pid;
    }
    for (int i = 0; i < 3; i++) {
        close_fd(&child[i]);
        close_fd(i < 2 ? &pipes[i][0] : &pipes[i][1]);
    }
    for (int i = 0; i < 2; i++) {
        if (r == 0 && serves[i]) {
            s->out[i].fd = pipes[i][1];
            s->out[i].owns_fd = true;
            fcntl(s->out[i].fd, F_SETFL, O_NONBLOCK);
        } else {
            close_fd(&pipes[i][1]); /* the logger reads end of file on this one */
        }
    }
    if (r == 0 && wait_ready(pipes[2][0], t, stream, err) < 0) {
        reap_logger(s->logger, true);
        s->logger = 0;
        r = -1;
    }
    close_fd(&pipes[2][0]);
    return r;
}

/* --- the output copiers --- */

/* After EPIPE (a logger that died), drops the SIGPIPE left pending on this thread, which
 * blocks every signal. */
static void consume_sigpipe(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    struct timespec zero = {0, 0};
    while (sigtimedwait(&set, NULL, &zero) > 0)
        ;
}

/* True once o->fd can take more; false when the stall limit passed or stdio_free began. */
static bool wait_writable(struct output *o)
{
    int64_t deadline = now_ms() + limit(&stall_ms);
    for (;;) {
        struct pollfd p[2] = {{.fd = o->fd, .events = POLLOUT},
                              {.fd = o->s->stop_fd, .events = POLLIN}};
        int r = poll(p, 2, remaining_ms(deadline));
        if (r < 0 && errno == EINTR)
            continue;
        return r > 0 && !p[1].revents && p[0].revents;
    }
}

/* Writes data to containerd's side, or as much as it takes: whatever it cannot take is dropped,
 * since the agent has to be drained whatever happens to the reader. */
static void host_write(struct output *o, const uint8_t *p, size_t n)
{
    if (o->fd < 0) /* no host side: drained for the process's sake only */
        return;
    while (n > 0) {
        ssize_t w = write(o->fd, p, n);
        if (w > 0) {
            if (o->stalled)
                log_info("stdio: %s of %s: the reader is back; relaying again", o->name, o->s->who);
            o->stalled = o->failed = false;
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN) {
            if (!o->stalled && wait_writable(o))
                continue;
            if (!o->stalled && !stopping(o->s))
                log_warn("stdio: %s of %s: nobody read for %lld ms; discarding output until "
                         "the reader drains it",
                         o->name, o->s->who, (long long)limit(&stall_ms));
            o->stalled = true;
            break;
        }
        int e = w < 0 ? errno : EIO;
        if (e == EPIPE)
            consume_sigpipe();
        if (!o->failed)
            log_warn("stdio: %s of %s: write: %s; discarding output", o->name, o->s->who,
                     strerror(e));
        o->failed = true;
        break;
    }
    o->dropped += n;
}

static void *output_main(void *arg)
{
    struct output *o = arg;
    struct stdio *s = o->s;
    bool is_stdout = o == &s->out[0];
    pthread_setname_np(pthread_self(), is_stdout ? "stdio-stdout" : "stdio-stderr");
    while (!stopping(s)) {
        _cleanup_free_ uint8_t *data = NULL;
        size_t len = 0;
        struct error err = ERROR_INIT;
        int r = is_stdout
                    ? agent_read_stdout(s->agent, s->cid, s->exec_id, CHUNK, &data, &len, &err)
                    : agent_read_stderr(s->agent, s->cid, s->exec_id, CHUNK, &data, &len, &err);
        if (r < 0) {
            /* UNAVAILABLE: the VM or the connection is gone, an end like any other */
            log_msg(err.code == GRPC_UNAVAILABLE ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN,
                    "stdio: %s of %s: %s", o->name, s->who, err.msg);
            error_clear(&err);
            break;
        }
        if (len == 0) /* the agent's end of stream */
            break;
        host_write(o, data, len);
    }
    if (o->dropped)
        log_warn("stdio: %s of %s: %llu bytes discarded", o->name, s->who,
                 (unsigned long long)o->dropped);
    pthread_mutex_lock(&s->lock);
    s->outputs_running--;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* --- the stdin copier --- */

/* Sends CloseStdin unless it was sent already. */
static int close_once(struct stdio *s, struct error *err)
{
    pthread_mutex_lock(&s->lock);
    bool first = !s->stdin_closed;
    s->stdin_closed = true;
    pthread_mutex_unlock(&s->lock);
    return first ? agent_close_stdin(s->agent, s->cid, s->exec_id, err) : 0;
}

static int forward(struct stdio *s, const uint8_t *buf, size_t n)
{
    pthread_mutex_lock(&s->lock);
    bool closed = s->stdin_closed; /* CloseIO took over while we were in a WriteStdin */
    pthread_mutex_unlock(&s->lock);
    if (closed)
        return -1;
    struct error err = ERROR_INIT;
    if (agent_write_stdin(s->agent, s->cid, s->exec_id, buf, n, &err) == 0)
        return 0;
    log_msg(err.code == GRPC_UNAVAILABLE ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN,
            "stdio: stdin of %s: %s", s->who, err.msg);
    error_clear(&err);
    return -1;
}

/* Reads up to max bytes and forwards them: > 0 forwarded, 0 nothing there now, < 0 the end (end
 * of file, a read error, or an agent error); *eof says whether it was end of file or a read
 * error. */
static int pump(struct stdio *s, uint8_t *buf, size_t max, bool *eof)
{
    ssize_t n = read(s->stdin_fd, buf, max < CHUNK ? max : CHUNK);
    if (n > 0)
        return forward(s, buf, (size_t)n) == 0 ? (int)n : -1;
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (n < 0)
        log_warn("stdio: stdin of %s: read: %s", s->who, strerror(errno));
    *eof = true;
    return -1;
}

static void *stdin_main(void *arg)
{
    struct stdio *s = arg;
    pthread_setname_np(pthread_self(), "stdio-stdin");
    _cleanup_free_ uint8_t *buf = xmalloc(CHUNK);
    bool eof = false, requested = false;
    for (;;) {
        struct pollfd p[3] = {{.fd = s->stdin_fd, .events = POLLIN},
                              {.fd = s->stop_fd, .events = POLLIN},
                              {.fd = s->close_fd, .events = POLLIN}};
        if (poll(p, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            log_warn("stdio: stdin of %s: poll: %s", s->who, strerror(errno));
            break;
        }
        if (p[1].revents)
            break;
        if (p[2].revents) {
            /* CloseIO: forward what the FIFO holds now (the client wrote it before asking, and
             * a client still writing does not hold the close up), then close */
            int avail = 0, r = 0;
            if (ioctl(s->stdin_fd, FIONREAD, &avail) < 0)
                avail = 0;
            while (avail > 0 && (r = pump(s, buf, (size_t)avail, &eof)) > 0)
                avail -= r;
            requested = r >= 0 || eof; /* not after an agent error: CloseIO then takes over */
            break;
        }
        if (p[0].revents && pump(s, buf, CHUNK, &eof) < 0)
            break;
    }
    struct error err = ERROR_INIT;
    int rc = eof || requested ? close_once(s, &err) : 0;
    if (rc < 0 && !requested)
        log_msg(err.code == GRPC_UNAVAILABLE ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN,
                "stdio: stdin of %s: %s", s->who, err.msg);
    pthread_mutex_lock(&s->lock);
    s->stdin_done = true;
    if (requested) {
        s->close_done = true;
        s->close_rc = rc;
        error_move(&s->close_err, &err);
    }
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    error_clear(&err);
    return NULL;
}

/* --- the API --- */

int stdio_open(const struct stdio_config *cfg, struct stdio **out, struct error *err)
{
    struct stdio *s = xcalloc(1, sizeof(*s));
    s->cid = xstrdup(cfg->container_id ? cfg->container_id : "");
    s->exec_id = xstrdup(cfg->exec_id ? cfg->exec_id : "");
    s->who = s->exec_id[0] ? xasprintf("exec %s of container %s", s->exec_id, s->cid)
                           : xasprintf("container %s", s->cid);
    s->stdin_fd = s->stop_fd = s->close_fd = -1;
    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cond, &ca);
    pthread_condattr_destroy(&ca);
    for (int i = 0; i < 2; i++)
        s->out[i] = (struct output){.s = s,
                                    .name = i ? "stderr" : "stdout",
                                    .fd = -1,
                                    .keep_fd = -1,
                                    .relay = i == 0 || !cfg->terminal};

    const char *in = cfg->stdin_path ? cfg->stdin_path : "";
    const char *paths[2] = {cfg->stdout_path ? cfg->stdout_path : "",
                            cfg->stderr_path && !cfg->terminal ? cfg->stderr_path : ""};
    struct target tin = {0}, t[2] = {{0}, {0}};
    int r = parse_target("stdin", in, &tin, err);
    if (r == 0 && tin.kind != KIND_NONE && tin.kind != KIND_FIFO)
        r = error_set(err, GRPC_INVALID_ARGUMENT, "stdin: %s: stdin can only be a FIFO", in);
    for (int i = 0; i < 2 && r == 0; i++)
        r = parse_target(s->out[i].name, paths[i], &t[i], err);
    bool binary[2] = {t[0].kind >= KIND_BINARY, t[1].kind >= KIND_BINARY};
    if (r == 0 && binary[0] && binary[1] && strcmp(paths[0], paths[1]) != 0)
        r = error_set(err, GRPC_INVALID_ARGUMENT,
                      "stderr: logger %s differs from stdout's %s; one logger serves both",
                      paths[1], paths[0]);

    if (r == 0 && (s->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
        r = error_set_errno(err, errno, "stdio: eventfd");
    if (r == 0 && (s->close_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
        r = error_set_errno(err, errno, "stdio: eventfd");
    if (r == 0 && tin.kind == KIND_FIFO)
        r = open_fifo("stdin", tin.path, O_RDONLY, &s->stdin_fd, err);
    for (int i = 0; i < 2 && r == 0; i++) {
        struct output *o = &s->out[i];
        if (t[i].kind == KIND_FIFO)
            r = open_output_fifo(o, t[i].path, err);
        else if (t[i].kind == KIND_FILE && i == 1 && t[0].kind == KIND_FILE &&
                 strcmp(t[0].path, t[1].path) == 0)
            o->fd = s->out[0].fd; /* one open file, so appends never overwrite one another */
        else if (t[i].kind == KIND_FILE)
            r = open_file(o, t[i].path, err);
    }
    /* last, so that a bad path elsewhere never starts a logger for nothing */
    if (r == 0 && (binary[0] || binary[1]))
        r = start_logger(s, binary[0] ? &t[0] : &t[1], binary, cfg, err);
    target_clear(&tin);
    target_clear(&t[0]);
    target_clear(&t[1]);
    if (r < 0) {
        stdio_free(s);
        return -1;
    }
    *out = s;
    return 0;
}

static int start_thread(pthread_t *th, const char *name, void *(*fn)(void *), void *arg,
                        struct error *err)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, RELAY_STACK);
    /* Signals belong to the shim's own threads; a SIGPIPE from a dead logger's pipe stays
     * pending here instead of killing the shim (see consume_sigpipe). */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int e = pthread_create(th, &attr, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (e != 0)
        return error_set_errno(err, e, "stdio: start the %s thread", name);
    return 0;
}

int stdio_start(struct stdio *s, struct agent *a, struct error *err)
{
    pthread_mutex_lock(&s->lock);
    bool again = s->started;
    s->started = true;
    pthread_mutex_unlock(&s->lock);
    if (again)
        return error_set(err, GRPC_FAILED_PRECONDITION, "stdio of %s: already started", s->who);
    s->agent = a;
    for (int i = 0; i < 2; i++) {
        struct output *o = &s->out[i];
        if (!o->relay)
            continue;
        pthread_mutex_lock(&s->lock);
        s->outputs_running++;
        pthread_mutex_unlock(&s->lock);
        if (start_thread(&o->thread, o->name, output_main, o, err) < 0) {
            pthread_mutex_lock(&s->lock);
            s->outputs_running--;
            pthread_mutex_unlock(&s->lock);
            return -1; /* stdio_free joins what did start */
        }
        o->started = true;
    }
    if (s->stdin_fd >= 0) {
        if (start_thread(&s->stdin_thread, "stdin", stdin_main, s, err) < 0)
            return -1;
        pthread_mutex_lock(&s->lock);
        s->stdin_started = true;
        pthread_mutex_unlock(&s->lock);
    }
    return 0;
}

void stdio_wait_output(struct stdio *s)
{
    pthread_mutex_lock(&s->lock);
    while (s->outputs_running > 0)
        pthread_cond_wait(&s->cond, &s->lock);
    pthread_mutex_unlock(&s->lock);
}

int stdio_close_stdin(struct stdio *s, struct error *err)
{
    if (s->stdin_fd < 0)
        return 0;
    pthread_mutex_lock(&s->lock);
    if (!s->close_requested) {
        s->close_requested = true;
        eventfd_write(s->close_fd, 1);
    }
    if (!s->started || !s->stdin_started || s->stdin_closed) {
        /* not started: the copier closes once it runs */
        pthread_mutex_unlock(&s->lock);
        return 0;
    }
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += STDIN_CLOSE_WAIT_MS / 1000;
    until.tv_nsec += (STDIN_CLOSE_WAIT_MS % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    while (!s->close_done && !s->stdin_done)
        if (pthread_cond_timedwait(&s->cond, &s->lock, &until) == ETIMEDOUT)
            break;
    if (s->close_done) {
        int rc = s->close_rc;
        s->close_rc = 0;
        if (err)
            error_move(err, &s->close_err);
        error_clear(&s->close_err);
        pthread_mutex_unlock(&s->lock);
        return rc;
    }
    pthread_mutex_unlock(&s->lock);
    /* The copier ended without closing, or is held in a WriteStdin: close from here. */
    return close_once(s, err);
}

void stdio_free(struct stdio *s)
{
    if (!s)
        return;
    __atomic_store_n(&s->stopping, true, __ATOMIC_RELEASE);
    if (s->stop_fd >= 0)
        eventfd_write(s->stop_fd, 1);
    for (int i = 0; i < 2; i++)
        if (s->out[i].started)
            pthread_join(s->out[i].thread, NULL);
    if (s->stdin_started)
        pthread_join(s->stdin_thread, NULL);
    for (int i = 0; i < 2; i++) {
        if (s->out[i].owns_fd)
            close_fd(&s->out[i].fd);
        close_fd(&s->out[i].keep_fd);
    }
    close_fd(&s->stdin_fd);
    close_fd(&s->stop_fd);
    close_fd(&s->close_fd);
    if (s->logger > 0)
        reap_logger(s->logger, false);
    error_clear(&s->close_err);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    free(s->cid);
    free(s->exec_id);
    free(s->who);
    free(s);
}
