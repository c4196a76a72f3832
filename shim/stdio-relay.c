/* shim/stdio-relay: containerd's stdio paths <-> the agent's stdio RPCs (see the header). */
#include "shim/stdio-relay.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/clock.h"
#include "lib/fs.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "lib/thread.h"
#include "shim/stdio-parts.h"

#define CHUNK (32 * 1024) /* Kata's relay buffer; one ReadStdout / WriteStdin at most */
#ifdef __SANITIZE_ADDRESS__
#define RELAY_STACK (512 * 1024) /* ASan's redzones make frames larger */
#else
#define RELAY_STACK (64 * 1024) /* a copier's deepest path is an agent call and a log line */
#endif
#define STDIN_CLOSE_WAIT_MS 2000 /* how long CloseIO lets the stdin copier finish first */

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

/* --- the state --- */

struct output {
    struct stdio *s;
    const char *name; /* "stdout", "stderr" */
    int fd;           /* containerd's side (FIFOs, pipes non-blocking); -1: drain and discard */
    bool owns_fd;     /* false when stderr shares stdout's file */
    int keep_fd;      /* our read end of an output FIFO, so it never loses its last reader */
    bool relay;       /* read from the agent (not stderr with a terminal) */
    bool started;
    bool ended; /* the guest's stream ended (under s->lock) */
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

/* The logger's pipes become the outputs it serves. */
static int start_logger(struct stdio *s, const struct stdio_target *t, const bool serves[2],
                        const struct stdio_config *cfg, struct error *err)
{
    int fds[2];
    if (stdio_logger_start(t, serves, s->cid, cfg->namespace_, limit(&ready_ms), fds, &s->logger,
                           err) < 0)
        return -1;
    for (int i = 0; i < 2; i++) {
        if (fds[i] >= 0) {
            s->out[i].fd = fds[i];
            s->out[i].owns_fd = true;
        }
    }
    return 0;
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

/* The guest's stream is over: our write end of containerd's side closes now, so that its reader
 * sees end of file at once (containerd's ExecSync waits for it before it reports the exec's
 * result; an attached client waits for it), as runc's shim closes it when the process's output
 * ends. Our read end of a FIFO stays open until stdio_free: it is no writer, and it keeps what the
 * pipe holds for a reader that is away at this moment (containerd restarting). stderr may share
 * stdout's file: that one closes once both streams ended. Caller holds s->lock. */
static void end_output(struct output *o)
{
    struct stdio *s = o->s;
    struct output *out = &s->out[0], *err = &s->out[1];
    o->ended = true;
    bool shared = !err->owns_fd && err->fd >= 0 && err->fd == out->fd;
    if (o->owns_fd && !(o == out && shared && err->relay && !err->ended))
        close_fd(&o->fd);
    if (o == err && shared) {
        err->fd = -1;
        if (out->ended)
            close_fd(&out->fd);
    }
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
    end_output(o);
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
    struct stdio_target tin = {0}, t[2] = {{0}, {0}};
    int r = stdio_target_parse("stdin", in, &tin, err);
    if (r == 0 && tin.kind != KIND_NONE && tin.kind != KIND_FIFO)
        r = error_set(err, GRPC_INVALID_ARGUMENT, "stdin: %s: stdin can only be a FIFO", in);
    for (int i = 0; i < 2 && r == 0; i++)
        r = stdio_target_parse(s->out[i].name, paths[i], &t[i], err);
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
    stdio_target_clear(&tin);
    stdio_target_clear(&t[0]);
    stdio_target_clear(&t[1]);
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
    /* Signals belong to the shim's own threads; a SIGPIPE from a dead logger's pipe stays
     * pending here instead of killing the shim (see consume_sigpipe). */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int e = thread_start(th, RELAY_STACK, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
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
        stdio_logger_reap(s->logger, false, limit(&exit_ms));
    error_clear(&s->close_err);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    free(s->cid);
    free(s->exec_id);
    free(s->who);
    free(s);
}
