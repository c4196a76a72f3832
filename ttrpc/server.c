#include "ttrpc/server.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "google/rpc/status.pb-c.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "lib/thread.h"
#include "ttrpc/frame.h"
#include "ttrpc/request.pb-c.h"

struct service {
    char *name;
    const struct ttrpc_method *methods;
    size_t n_methods;
    void *user;
    struct service *next;
};

/* Who reads a connection. Exactly one thread reads at a time; while the thread that read a
 * request runs its handler the role is ARMED: the fd waits in the server's epoll and an idle
 * worker takes the role if input arrives before the handler returns (containerd calls Wait,
 * which blocks, then Start on the same connection). A handler that returns first simply
 * reclaims the role, so a request costs no thread wake-up. */
enum reader_role {
    ROLE_READING, /* a thread holds the role (or the conn is queued for one) */
    ROLE_ARMED,   /* up for grabs: the fd is armed in the epoll */
};

struct conn {
    struct ttrpc_server *srv;
    uint64_t id; /* epoll data: conns are found by id, never by pointer */
    int fd;
    int role;                     /* enum reader_role, atomic */
    struct ttrpc_frame_reader rd; /* touched only by the thread holding the reader role */
    uint32_t last_stream_id;      /* likewise */
    pthread_mutex_t write_lock;
    int refs;                 /* the reader role + running handlers; under srv->lock */
    struct conn *prev, *next; /* srv->conns */
    struct conn *next_queued; /* srv->read_queue */
};

struct worker {
    pthread_t thread;
    struct worker *next;
};

struct ttrpc_server {
    struct ttrpc_server_options opts;
    struct service *services; /* fixed once serving starts */
    int stop_fd;              /* eventfd: readable once the server stops */

    int epoll_fd; /* idle workers wait here: armed conns, queue_fd, stop_fd */
    int queue_fd; /* eventfd, readable while read_queue is not empty */
    uint64_t next_conn_id;

    pthread_mutex_t lock;
    pthread_cond_t exit_cond; /* a worker exited, or a conn was freed */
    struct conn *conns;
    unsigned n_conns;
    struct conn *read_queue, *read_queue_tail;
    unsigned n_workers, n_idle;
    struct worker *workers, *exited; /* exited ones are joined later */
    bool stopping;

    int listen_fd;
    bool listening;
    pthread_t accept_thread;
};

static void *worker_main(void *arg);

/* epoll data values; conns use their id. */
#define EVENT_STOP 0
#define EVENT_QUEUE 1
#define EVENT_FIRST_CONN 2

/* --- helpers for handlers --- */

const char *ttrpc_call_metadata(const struct ttrpc_call *call, const char *key)
{
    const Ttrpc__Request *req = call->request_;
    for (size_t i = 0; i < req->n_metadata; i++)
        if (req->metadata[i]->key && strcmp(req->metadata[i]->key, key) == 0)
            return req->metadata[i]->value;
    return NULL;
}

void ttrpc_reply_set(struct ttrpc_reply *reply, const ProtobufCMessage *msg)
{
    free(reply->data);
    reply->len = protobuf_c_message_get_packed_size(msg);
    reply->data = xmalloc(reply->len);
    protobuf_c_message_pack(msg, reply->data);
}

/* --- server lifetime --- */

struct ttrpc_server *ttrpc_server_new(const struct ttrpc_server_options *opts)
{
    struct ttrpc_server *srv = xcalloc(1, sizeof(*srv));
    if (opts)
        srv->opts = *opts;
    if (!srv->opts.thread_stack_size)
        srv->opts.thread_stack_size = 512 * 1024;
    if (!srv->opts.max_threads)
        srv->opts.max_threads = 1024;
    if (!srv->opts.idle_timeout_ms)
        srv->opts.idle_timeout_ms = 10000;
    srv->stop_fd = eventfd(0, EFD_CLOEXEC);
    srv->queue_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    srv->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (srv->stop_fd < 0 || srv->queue_fd < 0 || srv->epoll_fd < 0)
        abort(); /* only fails when out of fds or memory at start-up */
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = EVENT_STOP};
    epoll_ctl(srv->epoll_fd, EPOLL_CTL_ADD, srv->stop_fd, &ev);
    ev.data.u64 = EVENT_QUEUE;
    epoll_ctl(srv->epoll_fd, EPOLL_CTL_ADD, srv->queue_fd, &ev);
    srv->next_conn_id = EVENT_FIRST_CONN;
    srv->listen_fd = -1;
    pthread_mutex_init(&srv->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&srv->exit_cond, &ca);
    pthread_condattr_destroy(&ca);
    return srv;
}

int ttrpc_server_register(struct ttrpc_server *srv, const char *service,
                          const struct ttrpc_method *methods, size_t n_methods, void *user,
                          struct error *err)
{
    for (struct service *s = srv->services; s; s = s->next)
        if (strcmp(s->name, service) == 0)
            return error_set(err, GRPC_ALREADY_EXISTS, "ttrpc: service %s registered twice",
                             service);
    struct service *s = xcalloc(1, sizeof(*s));
    s->name = xstrdup(service);
    s->methods = methods;
    s->n_methods = n_methods;
    s->user = user;
    s->next = srv->services;
    srv->services = s;
    return 0;
}

/* Joins workers that have exited. Called with srv->lock held. */
static void reap_exited_locked(struct ttrpc_server *srv)
{
    while (srv->exited) {
        struct worker *w = srv->exited;
        srv->exited = w->next;
        pthread_join(w->thread, NULL); /* it is past its last touch of srv */
        free(w);
    }
}

static void spawn_worker_locked(struct ttrpc_server *srv)
{
    reap_exited_locked(srv);
    struct worker *w = xcalloc(1, sizeof(*w));
    int r = thread_start(&w->thread, srv->opts.thread_stack_size, worker_main, srv);
    if (r != 0) {
        /* Out of threads: the queued read waits for a worker that is busy now. */
        log_warn("ttrpc: cannot start a server thread: %s", strerror(r));
        free(w);
        return;
    }
    w->next = srv->workers;
    srv->workers = w;
    srv->n_workers++;
}

/* Makes sure an idle worker waits in the epoll, so armed or queued conns are picked up. */
static void ensure_idle_worker_locked(struct ttrpc_server *srv)
{
    if (srv->n_idle == 0 && srv->n_workers < srv->opts.max_threads && !srv->stopping)
        spawn_worker_locked(srv);
}

/* Passes conn's reader role to a worker at once: bytes are already buffered, so epoll would
 * never report them. */
static void queue_read(struct conn *c)
{
    struct ttrpc_server *srv = c->srv;
    pthread_mutex_lock(&srv->lock);
    c->next_queued = NULL;
    if (srv->read_queue_tail)
        srv->read_queue_tail->next_queued = c;
    else
        srv->read_queue = c;
    srv->read_queue_tail = c;
    uint64_t one = 1;
    (void)!write(srv->queue_fd, &one, sizeof(one));
    ensure_idle_worker_locked(srv);
    pthread_mutex_unlock(&srv->lock);
}

static bool take_role(struct conn *c);

/* Puts conn's reader role up for grabs: the next input wakes an idle worker to take it. If the
 * fd can't be armed, the role goes to a worker at once instead, so the conn is never left
 * unread. */
static void arm_read(struct conn *c, int op)
{
    struct ttrpc_server *srv = c->srv;
    pthread_mutex_lock(&srv->lock);
    ensure_idle_worker_locked(srv);
    pthread_mutex_unlock(&srv->lock);
    __atomic_store_n(&c->role, ROLE_ARMED, __ATOMIC_RELEASE);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT, .data.u64 = c->id};
    if (epoll_ctl(srv->epoll_fd, op, c->fd, &ev) < 0) {
        log_warn("ttrpc: cannot watch connection fd %d: %s", c->fd, strerror(errno));
        if (take_role(c))
            queue_read(c);
    }
}

/* Takes an armed reader role. Only one of the contenders (the handler that armed it, a woken
 * worker, the server shutting down) wins. */
static bool take_role(struct conn *c)
{
    int armed = ROLE_ARMED;
    return __atomic_compare_exchange_n(&c->role, &armed, ROLE_READING, false, __ATOMIC_ACQ_REL,
                                       __ATOMIC_ACQUIRE);
}

/* After a handler: keep reading on this thread if nobody took the role meanwhile. */
static bool reclaim_role(struct conn *c)
{
    if (!take_role(c))
        return false;
    /* Disarm so the next request does not also wake an idle worker. */
    struct epoll_event ev = {.events = 0, .data.u64 = c->id};
    epoll_ctl(c->srv->epoll_fd, EPOLL_CTL_MOD, c->fd, &ev);
    return true;
}

static void conn_unref(struct conn *c)
{
    struct ttrpc_server *srv = c->srv;
    pthread_mutex_lock(&srv->lock);
    if (--c->refs > 0) {
        pthread_mutex_unlock(&srv->lock);
        return;
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->n_conns--;
    pthread_cond_broadcast(&srv->exit_cond);
    pthread_mutex_unlock(&srv->lock);

    epoll_ctl(srv->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    ttrpc_frame_reader_free(&c->rd);
    pthread_mutex_destroy(&c->write_lock);
    free(c);
    if (srv->opts.connection_closed)
        srv->opts.connection_closed(srv->opts.user);
}

void ttrpc_server_add_connection(struct ttrpc_server *srv, int fd)
{
    struct conn *c = xcalloc(1, sizeof(*c));
    c->srv = srv;
    c->fd = fd;
    c->refs = 1; /* the reader role */
    pthread_mutex_init(&c->write_lock, NULL);
    pthread_mutex_lock(&srv->lock);
    c->id = srv->next_conn_id++;
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->n_conns++;
    pthread_mutex_unlock(&srv->lock);
    arm_read(c, EPOLL_CTL_ADD); /* read by a worker once the peer sends something */
}

unsigned ttrpc_server_connections(struct ttrpc_server *srv)
{
    pthread_mutex_lock(&srv->lock);
    unsigned n = srv->n_conns;
    pthread_mutex_unlock(&srv->lock);
    return n;
}

/* --- responses --- */

static void send_response(struct conn *c, uint32_t stream_id, int code, const char *msg,
                          const struct ttrpc_reply *reply)
{
    Google__Rpc__Status status = GOOGLE__RPC__STATUS__INIT;
    status.code = code;
    status.message = (char *)(msg ? msg : "");
    Ttrpc__Response resp = TTRPC__RESPONSE__INIT;
    resp.status = &status; /* always present, as the Go server does: "0a 00" on success */
    if (reply && reply->len) {
        resp.payload.data = reply->data;
        resp.payload.len = reply->len;
    }
    size_t len = ttrpc__response__get_packed_size(&resp);
    _cleanup_free_ uint8_t *buf = xmalloc(len);
    ttrpc__response__pack(&resp, buf);
    if (len > TTRPC_MESSAGE_LENGTH_MAX) {
        char m[128];
        snprintf(m, sizeof(m), "ttrpc: response of %zu bytes exceeds maximum message size of %u",
                 len, TTRPC_MESSAGE_LENGTH_MAX);
        send_response(c, stream_id, GRPC_RESOURCE_EXHAUSTED, m, NULL);
        return;
    }
    pthread_mutex_lock(&c->write_lock);
    int r = ttrpc_frame_write(c->fd, stream_id, TTRPC_TYPE_RESPONSE, 0, buf, len);
    pthread_mutex_unlock(&c->write_lock);
    if (r < 0 && r != -EPIPE && r != -ECONNRESET)
        log_debug("ttrpc: cannot write response on stream %u: %s", stream_id, strerror(-r));
}

static void send_status(struct conn *c, uint32_t stream_id, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void send_status(struct conn *c, uint32_t stream_id, int code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    send_response(c, stream_id, code, msg, NULL);
}

/* --- dispatch --- */

static const struct ttrpc_method *find_method(struct ttrpc_server *srv, const char *service,
                                              const char *method, void **user, int *code)
{
    for (struct service *s = srv->services; s; s = s->next) {
        if (strcmp(s->name, service) != 0)
            continue;
        *user = s->user;
        for (size_t i = 0; i < s->n_methods; i++)
            if (strcmp(s->methods[i].name, method) == 0)
                return &s->methods[i];
        *code = 1;
        return NULL;
    }
    *code = 0;
    return NULL;
}

/* Runs one call on the current thread. The conn's reader role has already been handed on. */
static void run_call(struct conn *c, uint32_t stream_id, Ttrpc__Request *req,
                     const struct ttrpc_method *m, void *user, ProtobufCMessage *in)
{
    struct ttrpc_call call = {
        .service = req->service,
        .method = req->method,
        .stream_id = stream_id,
        .deadline_ns = req->timeout_nano > 0 ? ttrpc_now_ns() + req->timeout_nano : 0,
        .request_ = req,
    };
    struct ttrpc_reply reply = {NULL, 0};
    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    int r = m->handler(user, &call, in, &reply, &err);
    if (r < 0) {
        if (!error_is_set(&err))
            error_set(&err, GRPC_UNKNOWN, "%s/%s failed", req->service, req->method);
        send_response(c, stream_id, err.code, err.msg, NULL);
    } else {
        send_response(c, stream_id, GRPC_OK, NULL, &reply);
    }
    free(reply.data);
}

/* Handles one frame while holding the reader role. Returns true when the reader role has left
 * this thread (a call ran and someone else took the role), false when this thread reads on. */
static bool handle_frame(struct conn *c, const struct ttrpc_frame *f)
{
    struct ttrpc_server *srv = c->srv;
    uint32_t id = f->hdr.stream_id;
    if (f->hdr.type == TTRPC_TYPE_DATA) {
        send_status(c, id, GRPC_INVALID_ARGUMENT, "StreamID is no longer active");
        return false;
    }
    if (f->hdr.type != TTRPC_TYPE_REQUEST)
        return false; /* unknown types are ignored for future compatibility */

    Ttrpc__Request *req = ttrpc__request__unpack(NULL, f->hdr.length, f->data);
    if (!req) {
        send_status(c, id, GRPC_INVALID_ARGUMENT, "unmarshal request error: invalid protobuf");
        return false;
    }
    if (id % 2 != 1) {
        send_status(c, id, GRPC_INVALID_ARGUMENT,
                    "StreamID must be odd for client initiated streams");
        ttrpc__request__free_unpacked(req, NULL);
        return false;
    }
    if (id <= c->last_stream_id) {
        send_status(c, id, GRPC_INVALID_ARGUMENT, "StreamID cannot be re-used and must increment");
        ttrpc__request__free_unpacked(req, NULL);
        return false;
    }
    c->last_stream_id = id;

    void *user = NULL;
    int which = 0;
    const struct ttrpc_method *m = find_method(srv, req->service, req->method, &user, &which);
    if (!m) {
        if (which == 0)
            send_status(c, id, GRPC_UNIMPLEMENTED, "service %s", req->service);
        else
            send_status(c, id, GRPC_UNIMPLEMENTED, "method %s", req->method);
        ttrpc__request__free_unpacked(req, NULL);
        return false;
    }
    ProtobufCMessage *in =
        protobuf_c_message_unpack(m->request, NULL, req->payload.len, req->payload.data);
    if (!in) {
        send_status(c, id, GRPC_INVALID_ARGUMENT, "ttrpc: cannot decode %s payload of %s/%s",
                    m->request->name, req->service, req->method);
        ttrpc__request__free_unpacked(req, NULL);
        return false;
    }

    pthread_mutex_lock(&srv->lock);
    c->refs++; /* for this call */
    pthread_mutex_unlock(&srv->lock);
    /* Requests already buffered need a reader now; otherwise the role waits armed. */
    bool buffered = c->rd.end > c->rd.start;
    if (buffered)
        queue_read(c);
    else
        arm_read(c, EPOLL_CTL_MOD);
    run_call(c, id, req, m, user, in);
    protobuf_c_message_free_unpacked(in, NULL);
    ttrpc__request__free_unpacked(req, NULL);
    bool keep_reading = !buffered && reclaim_role(c);
    conn_unref(c); /* the call's reference; the role (if reclaimed) holds another */
    return !keep_reading;
}

/* Reads conn while this thread holds its reader role: until the role moves to another thread
 * or the connection ends. */
static void serve_reads(struct conn *c)
{
    for (;;) {
        struct ttrpc_frame f;
        _cleanup_(error_clearp) struct error err = ERROR_INIT;
        enum ttrpc_read_result r = ttrpc_frame_read(&c->rd, c->fd, c->srv->stop_fd, 0, &f, &err);
        if (r == TTRPC_READ_OVERSIZE) {
            send_status(c, f.hdr.stream_id, GRPC_RESOURCE_EXHAUSTED,
                        "message length %u exceed maximum message size of %u", f.hdr.length,
                        TTRPC_MESSAGE_LENGTH_MAX);
            continue;
        }
        if (r != TTRPC_READ_FRAME) {
            if (r == TTRPC_READ_ERROR)
                log_debug("ttrpc: closing connection: %s", err.msg);
            shutdown(c->fd, SHUT_RDWR); /* running handlers' replies have nowhere to go */
            conn_unref(c);              /* the reader role */
            return;
        }
        if (handle_frame(c, &f))
            return;
    }
}

/* Finds conn by id and takes its armed reader role. Called with srv->lock held. */
static struct conn *take_armed_locked(struct ttrpc_server *srv, uint64_t id)
{
    for (struct conn *c = srv->conns; c; c = c->next)
        if (c->id == id)
            return take_role(c) ? c : NULL;
    return NULL; /* gone, or a stale event */
}

static struct conn *pop_queued_locked(struct ttrpc_server *srv)
{
    struct conn *c = srv->read_queue;
    if (!c)
        return NULL;
    srv->read_queue = c->next_queued;
    if (!srv->read_queue) {
        srv->read_queue_tail = NULL;
        uint64_t v;
        (void)!read(srv->queue_fd, &v, sizeof(v));
    }
    return c;
}

static void *worker_main(void *arg)
{
    struct ttrpc_server *srv = arg;
    pthread_mutex_lock(&srv->lock);
    while (!srv->stopping) {
        srv->n_idle++;
        pthread_mutex_unlock(&srv->lock);
        struct epoll_event ev;
        int n = epoll_wait(srv->epoll_fd, &ev, 1, (int)srv->opts.idle_timeout_ms);
        pthread_mutex_lock(&srv->lock);
        srv->n_idle--;
        if (n < 0 && errno != EINTR) {
            log_error("ttrpc: epoll_wait: %s", strerror(errno));
            break;
        }
        if (n == 0) {
            if (srv->n_idle > 0)
                break; /* others are idle too: shrink the pool */
            continue;
        }
        if (n < 0 || ev.data.u64 == EVENT_STOP)
            continue; /* the loop condition sees stopping */
        struct conn *c = ev.data.u64 == EVENT_QUEUE ? pop_queued_locked(srv)
                                                    : take_armed_locked(srv, ev.data.u64);
        if (!c)
            continue;
        pthread_mutex_unlock(&srv->lock);
        serve_reads(c);
        pthread_mutex_lock(&srv->lock);
    }
    /* Move ourselves to the exited list; whoever reaps it joins us. */
    for (struct worker **w = &srv->workers; *w; w = &(*w)->next) {
        if (pthread_equal((*w)->thread, pthread_self())) {
            struct worker *me = *w;
            *w = me->next;
            me->next = srv->exited;
            srv->exited = me;
            break;
        }
    }
    srv->n_workers--;
    pthread_cond_broadcast(&srv->exit_cond);
    pthread_mutex_unlock(&srv->lock);
    return NULL;
}

/* --- accepting --- */

static bool peer_allowed(int fd)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
        log_warn("ttrpc: refusing connection: cannot read peer credentials: %s", strerror(errno));
        return false;
    }
    if (cred.uid != geteuid() || cred.gid != getegid()) {
        log_warn("ttrpc: refusing connection from uid %u gid %u (pid %d): not our uid/gid",
                 cred.uid, cred.gid, cred.pid);
        return false;
    }
    return true;
}

static void *accept_main(void *arg)
{
    struct ttrpc_server *srv = arg;
    for (;;) {
        struct pollfd p[2] = {{.fd = srv->listen_fd, .events = POLLIN},
                              {.fd = srv->stop_fd, .events = POLLIN}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            log_error("ttrpc: poll on listener: %s", strerror(errno));
            return NULL;
        }
        if (p[1].revents)
            return NULL;
        int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED)
                continue;
            /* Out of fds or memory: back off instead of spinning. */
            log_warn("ttrpc: accept: %s", strerror(errno));
            struct timespec ts = {0, 50 * 1000000};
            nanosleep(&ts, NULL);
            continue;
        }
        if (srv->opts.require_same_uid && !peer_allowed(fd)) {
            close(fd);
            continue;
        }
        ttrpc_server_add_connection(srv, fd);
    }
}

int ttrpc_server_listen(struct ttrpc_server *srv, int listen_fd, struct error *err)
{
    if (srv->listening) {
        close(listen_fd);
        return error_set(err, GRPC_FAILED_PRECONDITION, "ttrpc: server already listening");
    }
    srv->listen_fd = listen_fd;
    int r = thread_start(&srv->accept_thread, 128 * 1024, accept_main, srv);
    if (r != 0)
        return error_set(err, GRPC_RESOURCE_EXHAUSTED, "ttrpc: cannot start accept thread: %s",
                         strerror(r));
    srv->listening = true;
    return 0;
}

void ttrpc_server_free(struct ttrpc_server *srv)
{
    if (!srv)
        return;
    pthread_mutex_lock(&srv->lock);
    srv->stopping = true;
    pthread_mutex_unlock(&srv->lock);
    uint64_t one = 1;
    (void)!write(srv->stop_fd, &one, sizeof(one)); /* readers and the acceptor return WOKEN */
    if (srv->listening)
        pthread_join(srv->accept_thread, NULL);

    /* Workers see stop_fd and exit; readers see it and drop their connections. */
    pthread_mutex_lock(&srv->lock);
    while (srv->n_workers > 0)
        pthread_cond_wait(&srv->exit_cond, &srv->lock);
    reap_exited_locked(srv);
    /* No thread is left: roles still armed or queued belong to nobody; release them. */
    for (;;) {
        struct conn *c = pop_queued_locked(srv);
        if (!c) {
            for (c = srv->conns; c && !take_role(c); c = c->next)
                ;
        }
        if (!c)
            break;
        pthread_mutex_unlock(&srv->lock);
        conn_unref(c);
        pthread_mutex_lock(&srv->lock);
    }
    pthread_mutex_unlock(&srv->lock);

    if (srv->listen_fd >= 0)
        close(srv->listen_fd);
    close(srv->stop_fd);
    close(srv->queue_fd);
    close(srv->epoll_fd);
    while (srv->services) {
        struct service *s = srv->services;
        srv->services = s->next;
        free(s->name);
        free(s);
    }
    pthread_cond_destroy(&srv->exit_cond);
    pthread_mutex_destroy(&srv->lock);
    free(srv);
}
