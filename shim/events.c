#include "shim/events.h"

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "containerd/services/events/ttrpc/v1/events.pb-c.h"
#include "google/protobuf/any.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "lib/cleanup.h"
#include "lib/clock.h"
#include "lib/error.h"
#include "lib/log.h"
#include "lib/subprocess.h"
#include "lib/xalloc.h"
#include "lib/thread.h"
#include "ttrpc/client.h"
#include "ttrpc/dial.h"

#define EVENTS_SERVICE "containerd.services.events.ttrpc.v1.Events"
#define NAMESPACE_KEY "containerd-namespace-ttrpc"

#define DEFAULT_MAX_QUEUED 2048
#define DEFAULT_CALL_TIMEOUT_MS 5000
#define DEFAULT_BINARY_TIMEOUT_MS 10000
#define DEFAULT_BACKOFF_MS 1000
#define MAX_REQUEUES 5   /* as containerd's own shim publisher: 6 attempts in all */
#define STDERR_KEEP 2048 /* of the publish binary's stderr, for the log */

#ifdef __SANITIZE_ADDRESS__
#define SENDER_STACK (1024 * 1024) /* ASan's redzones make frames larger */
#else
#define SENDER_STACK (128 * 1024)
#endif

extern char **environ;

/* An event as it will be sent: packed and timestamped when it was published. */
struct event {
    char *topic;
    char *type_url;
    uint8_t *value;
    size_t len;
    struct timespec ts; /* CLOCK_REALTIME */
};

enum mode { MODE_LOG, MODE_TTRPC, MODE_BINARY };

struct publisher {
    enum mode mode;
    char *address; /* TTRPC_ADDRESS, or containerd's gRPC address for the binary */
    char *binary;
    char *ns;
    unsigned max_queued;
    int call_timeout_ms, binary_timeout_ms, backoff_ms;

    pthread_mutex_t lock;
    pthread_cond_t wake; /* for the sender: an event, stopping, aborting (CLOCK_MONOTONIC) */
    pthread_cond_t done; /* for publisher_free: the sender has finished */
    struct event **ring; /* the events not yet taken by the sender, oldest at head */
    unsigned head, count;
    bool stopping, aborting, finished;
    /* The sender's connection; published here so publisher_free can close it to cut short a
     * call in flight. Only the sender creates and frees it. */
    struct ttrpc_client *client;
    int wake_fd; /* eventfd: cuts short a run of the publish binary on abort */
    pthread_t thread;
};

static struct timespec ms_to_timespec(int64_t ms)
{
    return (struct timespec){ms / 1000, (ms % 1000) * 1000000};
}

static void event_free(struct event *ev)
{
    if (!ev)
        return;
    free(ev->topic);
    free(ev->type_url);
    free(ev->value);
    free(ev);
}

/* --- sending over ttrpc --- */

static struct ttrpc_client *get_client(struct publisher *p, struct error *err)
{
    pthread_mutex_lock(&p->lock);
    struct ttrpc_client *c = p->client;
    pthread_mutex_unlock(&p->lock);
    if (c)
        return c;
    int fd = ttrpc_dial(p->address, p->call_timeout_ms, err);
    if (fd < 0)
        return NULL;
    c = ttrpc_client_new(fd);
    pthread_mutex_lock(&p->lock);
    p->client = c;
    if (p->aborting)
        ttrpc_client_close(c); /* publisher_free may have looked for a client before we set it */
    pthread_mutex_unlock(&p->lock);
    return c;
}

static void drop_client(struct publisher *p)
{
    pthread_mutex_lock(&p->lock);
    struct ttrpc_client *c = p->client;
    p->client = NULL;
    pthread_mutex_unlock(&p->lock);
    ttrpc_client_free(c);
}

static int forward(struct publisher *p, const struct event *ev, struct error *err)
{
    struct ttrpc_client *c = get_client(p, err);
    if (!c)
        return -1;
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    ts.seconds = ev->ts.tv_sec;
    ts.nanos = (int32_t)ev->ts.tv_nsec;
    Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
    any.type_url = ev->type_url;
    any.value.data = ev->value;
    any.value.len = ev->len;
    Containerd__Services__Events__Ttrpc__V1__Envelope env =
        CONTAINERD__SERVICES__EVENTS__TTRPC__V1__ENVELOPE__INIT;
    env.timestamp = &ts;
    env.namespace_ = p->ns;
    env.topic = ev->topic;
    env.event = &any;
    Containerd__Services__Events__Ttrpc__V1__ForwardRequest req =
        CONTAINERD__SERVICES__EVENTS__TTRPC__V1__FORWARD_REQUEST__INIT;
    req.envelope = &env;
    const struct ttrpc_metadata md = {NAMESPACE_KEY, p->ns};
    int r = ttrpc_client_call(c, EVENTS_SERVICE, "Forward", &req.base, NULL, NULL,
                              p->call_timeout_ms, &md, 1, err);
    /* containerd restarted (or we are stopping): the next attempt dials afresh. */
    if (r < 0 && ttrpc_client_closed(c))
        drop_client(p);
    return r;
}

/* --- sending through the publish binary --- */

/* A write to a pipe whose reader has gone raises SIGPIPE at this thread, where it stays pending
 * (every signal is blocked here); take it so it never reaches anyone. */
static void discard_sigpipe(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    const struct timespec zero = {0, 0};
    while (sigtimedwait(&set, NULL, &zero) > 0) {
    }
}

static void log_stderr(const char *binary, char *buf, size_t len)
{
    buf[len] = '\0';
    for (char *line = buf, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (*line)
            log_warn("events: %s: %s", binary, line);
    }
}

/* Feeds `in` to the child's stdin and collects its stderr until it closes stderr, the timeout
 * passes or the publisher aborts. Returns 0, or -1 with err set (the child is then still to be
 * killed). */
static int pump_child(struct publisher *p, int in_fd, const uint8_t *in, size_t in_len, int err_fd,
                      char *keep, size_t *kept, struct error *err)
{
    int64_t deadline = now_ms() + p->binary_timeout_ms;
    size_t written = 0;
    for (;;) {
        struct pollfd fds[3] = {
            {err_fd, POLLIN, 0},
            {p->wake_fd, POLLIN, 0},
            {in_fd, POLLOUT, 0},
        };
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return error_set(err, GRPC_DEADLINE_EXCEEDED, "%s did not finish within %d ms",
                             p->binary, p->binary_timeout_ms);
        int n = poll(fds, in_fd >= 0 ? 3 : 2, (int)left);
        if (n < 0 && errno != EINTR)
            return error_set_errno(err, errno, "poll %s", p->binary);
        if (n <= 0)
            continue;
        if (fds[1].revents)
            return error_set(err, GRPC_CANCELLED, "%s cut short", p->binary);
        if (in_fd >= 0 && fds[2].revents) {
            ssize_t w = write(in_fd, in + written, in_len - written);
            if (w > 0)
                written += (size_t)w;
            if (w < 0 && errno == EPIPE)
                discard_sigpipe();
            if ((w < 0 && errno != EAGAIN && errno != EINTR) || written == in_len) {
                close(in_fd); /* end of stdin; a child that left early just misses the rest */
                in_fd = -1;
            }
        }
        if (fds[0].revents) {
            char buf[512];
            ssize_t rd = read(err_fd, buf, sizeof(buf));
            if (rd < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (rd <= 0)
                break; /* the child closed stderr: it has exited or is about to */
            size_t take = (size_t)rd < STDERR_KEEP - *kept ? (size_t)rd : STDERR_KEEP - *kept;
            memcpy(keep + *kept, buf, take);
            *kept += take;
        }
    }
    if (in_fd >= 0)
        close(in_fd);
    return 0;
}

/* Spawns the child with stdin and stderr our pipes, stdout /dev/null, default signals. */
static int spawn_binary(struct publisher *p, const struct event *ev, int in_fd, int err_fd,
                        pid_t *pid, struct error *err)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in_fd, STDIN_FILENO);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, err_fd, STDERR_FILENO);
    posix_spawnattr_t attr;
    spawn_attr_init_clean(&attr);
    char *argv[] = {p->binary, "--address",   p->address, "publish", "--topic",
                    ev->topic, "--namespace", p->ns,      NULL};
    int r = posix_spawn(pid, p->binary, &fa, &attr, argv, environ);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    if (r != 0)
        return error_set_errno(err, r, "run %s", p->binary);
    return 0;
}

static int run_binary(struct publisher *p, const struct event *ev, struct error *err)
{
    /* The binary wants the Any alone: containerd adds the envelope itself. */
    Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
    any.type_url = ev->type_url;
    any.value.data = ev->value;
    any.value.len = ev->len;
    size_t len = google__protobuf__any__get_packed_size(&any);
    _cleanup_free_ uint8_t *packed = xmalloc(len);
    google__protobuf__any__pack(&any, packed);

    int in[2], errp[2];
    if (pipe2(in, O_CLOEXEC) < 0)
        return error_set_errno(err, errno, "pipe for %s", p->binary);
    _cleanup_close_ int in_r = in[0], in_w = in[1];
    if (pipe2(errp, O_CLOEXEC) < 0)
        return error_set_errno(err, errno, "pipe for %s", p->binary);
    _cleanup_close_ int err_r = errp[0], err_w = errp[1];
    fcntl(in_w, F_SETFL, O_NONBLOCK); /* the pump must never block on a child that stops reading */

    pid_t pid;
    if (spawn_binary(p, ev, in_r, err_w, &pid, err) < 0)
        return -1;
    close(TAKE_FD(in_r));
    close(TAKE_FD(err_w));

    char keep[STDERR_KEEP + 1];
    size_t kept = 0;
    int r = pump_child(p, TAKE_FD(in_w), packed, len, err_r, keep, &kept, err);
    if (r < 0)
        kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            status = -1; /* someone else reaped it: its outcome is unknown */
            break;
        }
    }
    log_stderr(p->binary, keep, kept);
    if (r < 0)
        return -1;
    if (status == -1)
        return error_set(err, GRPC_UNKNOWN, "%s: exit status lost (reaped elsewhere)", p->binary);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFSIGNALED(status))
        return error_set(err, GRPC_UNKNOWN, "%s killed by signal %d", p->binary, WTERMSIG(status));
    return error_set(err, GRPC_UNKNOWN, "%s exited with status %d", p->binary, WEXITSTATUS(status));
}

/* --- the sender thread --- */

/* Waits ms unless the publisher aborts first; returns false if it did. */
static bool backoff(struct publisher *p, int64_t ms)
{
    struct timespec until = ms_to_timespec(now_ms() + ms);
    pthread_mutex_lock(&p->lock);
    while (!p->aborting && pthread_cond_timedwait(&p->wake, &p->lock, &until) != ETIMEDOUT) {
    }
    bool ok = !p->aborting;
    pthread_mutex_unlock(&p->lock);
    return ok;
}

static bool aborting(struct publisher *p)
{
    pthread_mutex_lock(&p->lock);
    bool a = p->aborting;
    pthread_mutex_unlock(&p->lock);
    return a;
}

/* Sends one event, retrying it before anything else so that order holds. */
static void deliver(struct publisher *p, const struct event *ev)
{
    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    for (int attempt = 1;; attempt++) {
        int r = p->mode == MODE_TTRPC ? forward(p, ev, &err) : run_binary(p, ev, &err);
        if (r == 0) {
            log_debug("events: published %s", ev->topic);
            return;
        }
        bool stopping = aborting(p);
        if (attempt > MAX_REQUEUES || stopping) {
            log_error("events: dropping %s event after %d attempt%s%s: %s", ev->topic, attempt,
                      attempt == 1 ? "" : "s", stopping ? ", shim stopping" : "", err.msg);
            return;
        }
        int64_t wait = (int64_t)attempt * p->backoff_ms;
        log_warn("events: publish %s (attempt %d): %s; retrying in %" PRId64 " ms", ev->topic,
                 attempt, err.msg, wait);
        if (!backoff(p, wait)) {
            log_error("events: dropping %s event: shim stopping (last error: %s)", ev->topic,
                      err.msg);
            return;
        }
    }
}

static void *run_sender(void *arg)
{
    struct publisher *p = arg;
    /* asynchronous signals belong to the shim's own threads */
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);

    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->count && !p->stopping && !p->aborting)
            pthread_cond_wait(&p->wake, &p->lock);
        if (p->aborting || !p->count)
            break;
        struct event *ev = p->ring[p->head];
        p->ring[p->head] = NULL;
        p->head = (p->head + 1) % p->max_queued;
        p->count--;
        pthread_mutex_unlock(&p->lock);
        deliver(p, ev);
        event_free(ev);
        pthread_mutex_lock(&p->lock);
    }
    unsigned left = p->count;
    for (; p->count; p->count--, p->head = (p->head + 1) % p->max_queued) {
        event_free(p->ring[p->head]);
        p->ring[p->head] = NULL;
    }
    pthread_mutex_unlock(&p->lock);
    if (left)
        log_error("events: shim stopping: %u queued event%s not published", left,
                  left == 1 ? "" : "s");
    drop_client(p);

    pthread_mutex_lock(&p->lock);
    p->finished = true;
    pthread_cond_signal(&p->done);
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* --- the public side --- */

static int opt_int(int v, int dflt)
{
    return v > 0 ? v : dflt;
}

static bool start_sender(struct publisher *p)
{
    p->wake_fd = eventfd(0, EFD_CLOEXEC);
    if (p->wake_fd < 0) {
        log_error("events: eventfd: %s; events will only be logged", strerror(errno));
        return false;
    }
    int r = thread_start(&p->thread, SENDER_STACK, run_sender, p);
    if (r != 0) {
        log_error("events: start the sender thread: %s; events will only be logged", strerror(r));
        close(p->wake_fd);
        p->wake_fd = -1;
        return false;
    }
    return true;
}

struct publisher *publisher_new(const struct publisher_options *opts)
{
    static const struct publisher_options none = {0};
    if (!opts)
        opts = &none;
    struct publisher *p = xcalloc(1, sizeof(*p));
    p->wake_fd = -1;
    p->ns = xstrdup(opts->namespace_ && *opts->namespace_ ? opts->namespace_ : "default");
    p->max_queued = opts->max_queued ? opts->max_queued : DEFAULT_MAX_QUEUED;
    p->call_timeout_ms = opt_int(opts->call_timeout_ms, DEFAULT_CALL_TIMEOUT_MS);
    p->binary_timeout_ms = opt_int(opts->binary_timeout_ms, DEFAULT_BINARY_TIMEOUT_MS);
    p->backoff_ms = opt_int(opts->backoff_ms, DEFAULT_BACKOFF_MS);

    if (opts->ttrpc_address && *opts->ttrpc_address) {
        p->mode = MODE_TTRPC;
        p->address = xstrdup(opts->ttrpc_address);
    } else if (opts->publish_binary && *opts->publish_binary && opts->grpc_address &&
               *opts->grpc_address) {
        p->mode = MODE_BINARY;
        p->binary = xstrdup(opts->publish_binary);
        p->address = xstrdup(opts->grpc_address);
    }
    if (p->mode == MODE_LOG) {
        /* CRI-O runs shims with TTRPC_ADDRESS and -address empty (and itself as the publish
         * binary, which has no `publish`): it serves no events API and learns of exits from
         * Wait. Kata does the same. */
        log_info("events: TTRPC_ADDRESS is empty and no containerd address was given (as under "
                 "CRI-O): task events are logged here, not published");
        return p;
    }

    pthread_mutex_init(&p->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->wake, &ca);
    pthread_cond_init(&p->done, &ca);
    pthread_condattr_destroy(&ca);
    p->ring = xcalloc(p->max_queued, sizeof(*p->ring));
    if (!start_sender(p)) {
        p->mode = MODE_LOG;
        free(p->ring);
        p->ring = NULL;
        pthread_cond_destroy(&p->done);
        pthread_cond_destroy(&p->wake);
        pthread_mutex_destroy(&p->lock);
    }
    return p;
}

void publisher_publish(struct publisher *p, const char *topic, const ProtobufCMessage *event)
{
    if (!p)
        return;
    if (!topic || topic[0] != '/' || !topic[1] || !event) {
        /* containerd refuses such an envelope; retrying it would only hold up the queue */
        log_error("events: not publishing an event with topic \"%s\"%s", topic ? topic : "",
                  event ? "" : " and no message");
        return;
    }
    if (p->mode == MODE_LOG) {
        log_info("events: %s (%s), not published", topic, event->descriptor->name);
        return;
    }
    struct event *ev = xcalloc(1, sizeof(*ev));
    clock_gettime(CLOCK_REALTIME, &ev->ts);
    ev->topic = xstrdup(topic);
    ev->type_url = xstrdup(event->descriptor->name);
    ev->len = protobuf_c_message_get_packed_size(event);
    ev->value = xmalloc(ev->len ? ev->len : 1);
    protobuf_c_message_pack(event, ev->value);

    struct event *dropped = NULL;
    pthread_mutex_lock(&p->lock);
    if (p->count == p->max_queued) {
        dropped = p->ring[p->head];
        p->ring[p->head] = NULL;
        p->head = (p->head + 1) % p->max_queued;
        p->count--;
    }
    p->ring[(p->head + p->count) % p->max_queued] = ev;
    p->count++;
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
    if (dropped) {
        log_error("events: queue full (%u waiting): dropped the oldest, a %s event", p->max_queued,
                  dropped->topic);
        event_free(dropped);
    }
}

void publisher_free(struct publisher *p, int timeout_ms)
{
    if (!p)
        return;
    if (p->mode != MODE_LOG) {
        struct timespec until = ms_to_timespec(now_ms() + (timeout_ms > 0 ? timeout_ms : 0));
        pthread_mutex_lock(&p->lock);
        p->stopping = true;
        pthread_cond_signal(&p->wake);
        while (!p->finished && pthread_cond_timedwait(&p->done, &p->lock, &until) != ETIMEDOUT) {
        }
        if (!p->finished) {
            /* Out of time: cut short whatever the sender is waiting for. */
            p->aborting = true;
            pthread_cond_signal(&p->wake);
            if (p->client)
                ttrpc_client_close(p->client);
            uint64_t one = 1;
            (void)!write(p->wake_fd, &one, sizeof(one));
        }
        pthread_mutex_unlock(&p->lock);
        pthread_join(p->thread, NULL);
        close(p->wake_fd);
        free(p->ring);
        pthread_cond_destroy(&p->done);
        pthread_cond_destroy(&p->wake);
        pthread_mutex_destroy(&p->lock);
    }
    free(p->address);
    free(p->binary);
    free(p->ns);
    free(p);
}
