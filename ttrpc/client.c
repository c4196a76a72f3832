#include "ttrpc/client.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "google/rpc/status.pb-c.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"
#include "ttrpc/frame.h"
#include "ttrpc/request.pb-c.h"

struct pending {
    uint32_t stream_id;
    bool done;
    Ttrpc__Response *resp; /* when done with a response */
    int code;              /* when done without one (oversized response) */
    char *msg;
    pthread_cond_t cond;
    struct pending *next;
};

struct ttrpc_client {
    int fd;
    int wake_fd; /* eventfd: interrupts the reader when the client is closed */

    pthread_mutex_t write_lock; /* stream ids must reach the wire in increasing order */
    uint32_t next_stream_id;

    pthread_mutex_t lock;
    struct pending *pending;
    bool reading; /* some caller holds the reader role */
    bool closed;
    int close_code;
    char *close_msg;
    unsigned active_calls;
    pthread_cond_t idle_cond;

    struct ttrpc_frame_reader rd; /* touched only by the reader-role holder */
};

struct ttrpc_client *ttrpc_client_new(int fd)
{
    struct ttrpc_client *c = xcalloc(1, sizeof(*c));
    c->fd = fd;
    c->wake_fd = eventfd(0, EFD_CLOEXEC);
    if (c->wake_fd < 0)
        abort(); /* out of fds or memory */
    c->next_stream_id = 1;
    pthread_mutex_init(&c->write_lock, NULL);
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->idle_cond, NULL);
    return c;
}

/* Marks the connection closed and wakes every waiter. Called with c->lock held. */
static void mark_closed_locked(struct ttrpc_client *c, int code, const char *msg)
{
    if (c->closed)
        return;
    c->closed = true;
    c->close_code = code;
    c->close_msg = xstrdup(msg);
    shutdown(c->fd, SHUT_RDWR);
    uint64_t one = 1;
    (void)!write(c->wake_fd, &one, sizeof(one));
    for (struct pending *p = c->pending; p; p = p->next)
        pthread_cond_signal(&p->cond);
}

void ttrpc_client_close(struct ttrpc_client *c)
{
    pthread_mutex_lock(&c->lock);
    mark_closed_locked(c, GRPC_UNAVAILABLE, "ttrpc: closed");
    pthread_mutex_unlock(&c->lock);
}

bool ttrpc_client_closed(struct ttrpc_client *c)
{
    pthread_mutex_lock(&c->lock);
    bool closed = c->closed;
    pthread_mutex_unlock(&c->lock);
    return closed;
}

void ttrpc_client_free(struct ttrpc_client *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    mark_closed_locked(c, GRPC_UNAVAILABLE, "ttrpc: closed");
    while (c->active_calls > 0)
        pthread_cond_wait(&c->idle_cond, &c->lock);
    pthread_mutex_unlock(&c->lock);
    close(c->fd);
    close(c->wake_fd);
    free(c->close_msg);
    ttrpc_frame_reader_free(&c->rd);
    pthread_cond_destroy(&c->idle_cond);
    pthread_mutex_destroy(&c->lock);
    pthread_mutex_destroy(&c->write_lock);
    free(c);
}

static struct pending *find_pending_locked(struct ttrpc_client *c, uint32_t stream_id)
{
    for (struct pending *p = c->pending; p; p = p->next)
        if (p->stream_id == stream_id)
            return p;
    return NULL;
}

/* Reads one frame while holding the reader role (c->lock not held) and delivers it. */
static void read_and_deliver(struct ttrpc_client *c, int64_t deadline_ns)
{
    struct ttrpc_frame f;
    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    enum ttrpc_read_result r = ttrpc_frame_read(&c->rd, c->fd, c->wake_fd, deadline_ns, &f, &err);
    if (r == TTRPC_READ_TIMEOUT)
        return;
    if (r == TTRPC_READ_FRAME && f.hdr.type != TTRPC_TYPE_RESPONSE)
        return; /* data frames and unknown types carry nothing for unary calls */

    Ttrpc__Response *resp = NULL;
    if (r == TTRPC_READ_FRAME) {
        resp = ttrpc__response__unpack(NULL, f.hdr.length, f.data);
        if (!resp) {
            /* The stream is no longer trustworthy: fail everything. */
            r = TTRPC_READ_ERROR;
            error_set(&err, GRPC_UNAVAILABLE, "ttrpc: undecodable response on stream %u",
                      f.hdr.stream_id);
        }
    }

    pthread_mutex_lock(&c->lock);
    if (r == TTRPC_READ_FRAME || r == TTRPC_READ_OVERSIZE) {
        struct pending *p = find_pending_locked(c, f.hdr.stream_id);
        if (p && !p->done) {
            p->done = true;
            p->resp = resp;
            if (r == TTRPC_READ_OVERSIZE) {
                p->code = GRPC_RESOURCE_EXHAUSTED;
                p->msg = xasprintf("ttrpc: response of %u bytes exceeds maximum message size of %u",
                                   f.hdr.length, TTRPC_MESSAGE_LENGTH_MAX);
            }
            pthread_cond_signal(&p->cond);
            resp = NULL;
        }
    } else if (r == TTRPC_READ_EOF || r == TTRPC_READ_WOKEN) {
        mark_closed_locked(c, GRPC_UNAVAILABLE, "ttrpc: closed");
    } else {
        char msg[512];
        snprintf(msg, sizeof(msg), "ttrpc: closed: %s", err.msg ? err.msg : "read failed");
        mark_closed_locked(c, GRPC_UNAVAILABLE, msg);
    }
    pthread_mutex_unlock(&c->lock);
    if (resp) /* late (timed out) or unknown stream */
        ttrpc__response__free_unpacked(resp, NULL);
}

/* Packs the Request envelope. */
static uint8_t *pack_request(const char *service, const char *method, const ProtobufCMessage *req,
                             int64_t timeout_ms, const struct ttrpc_metadata *md, size_t n_md,
                             size_t *len)
{
    size_t plen = protobuf_c_message_get_packed_size(req);
    _cleanup_free_ uint8_t *payload = xmalloc(plen);
    protobuf_c_message_pack(req, payload);

    Ttrpc__KeyValue kvs[n_md ? n_md : 1];
    Ttrpc__KeyValue *kvp[n_md ? n_md : 1];
    for (size_t i = 0; i < n_md; i++) {
        ttrpc__key_value__init(&kvs[i]);
        kvs[i].key = (char *)md[i].key;
        kvs[i].value = (char *)md[i].value;
        kvp[i] = &kvs[i];
    }
    Ttrpc__Request r = TTRPC__REQUEST__INIT;
    r.service = (char *)service;
    r.method = (char *)method;
    r.payload.data = payload;
    r.payload.len = plen;
    r.timeout_nano = timeout_ms > 0 ? timeout_ms * 1000000 : 0;
    r.metadata = kvp;
    r.n_metadata = n_md;
    *len = ttrpc__request__get_packed_size(&r);
    uint8_t *buf = xmalloc(*len);
    ttrpc__request__pack(&r, buf);
    return buf;
}

/* Sends the frame and registers p. Returns 0 or -1 with err set. */
static int send_request(struct ttrpc_client *c, struct pending *p, const uint8_t *buf, size_t len,
                        struct error *err)
{
    pthread_mutex_lock(&c->write_lock);
    pthread_mutex_lock(&c->lock);
    if (c->closed) {
        error_set(err, c->close_code, "%s", c->close_msg);
        pthread_mutex_unlock(&c->lock);
        pthread_mutex_unlock(&c->write_lock);
        return -1;
    }
    if (c->next_stream_id > UINT32_MAX - 2) {
        /* ttrpc has no wraparound: a connection this old must be replaced. */
        mark_closed_locked(c, GRPC_UNAVAILABLE, "ttrpc: stream ids exhausted");
        error_set(err, GRPC_UNAVAILABLE, "ttrpc: stream ids exhausted on this connection");
        pthread_mutex_unlock(&c->lock);
        pthread_mutex_unlock(&c->write_lock);
        return -1;
    }
    p->stream_id = c->next_stream_id;
    c->next_stream_id += 2;
    p->next = c->pending;
    c->pending = p;
    pthread_mutex_unlock(&c->lock);
    int r = ttrpc_frame_write(c->fd, p->stream_id, TTRPC_TYPE_REQUEST, 0, buf, len);
    pthread_mutex_unlock(&c->write_lock);
    if (r < 0) {
        pthread_mutex_lock(&c->lock);
        char msg[256];
        snprintf(msg, sizeof(msg), "ttrpc: closed: write: %s", strerror(-r));
        mark_closed_locked(c, GRPC_UNAVAILABLE, msg);
        pthread_mutex_unlock(&c->lock);
    }
    return 0; /* a write failure surfaces through the closed state */
}

static void remove_pending_locked(struct ttrpc_client *c, struct pending *p)
{
    for (struct pending **pp = &c->pending; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            return;
        }
    }
}

/* Waits for p's response, taking the reader role whenever nobody holds it. */
static void wait_response(struct ttrpc_client *c, struct pending *p, int64_t deadline_ns)
{
    struct timespec ts = {deadline_ns / 1000000000, deadline_ns % 1000000000};
    pthread_mutex_lock(&c->lock);
    while (!p->done && !c->closed) {
        if (deadline_ns && ttrpc_now_ns() >= deadline_ns)
            break;
        if (!c->reading) {
            c->reading = true;
            pthread_mutex_unlock(&c->lock);
            read_and_deliver(c, deadline_ns);
            pthread_mutex_lock(&c->lock);
            c->reading = false;
            continue;
        }
        if (deadline_ns)
            pthread_cond_timedwait(&p->cond, &c->lock, &ts);
        else
            pthread_cond_wait(&p->cond, &c->lock);
    }
    remove_pending_locked(c, p);
    /* If we were the reader, pass the role to another waiter. */
    if (!c->reading && c->pending && !c->closed)
        pthread_cond_signal(&c->pending->cond);
    pthread_mutex_unlock(&c->lock);
}

/* Turns p's outcome into the call's result. */
static int finish_call(struct ttrpc_client *c, struct pending *p, const char *service,
                       const char *method, const ProtobufCMessageDescriptor *resp_desc,
                       ProtobufCMessage **resp, struct error *err)
{
    if (!p->done) {
        pthread_mutex_lock(&c->lock);
        bool closed = c->closed;
        int code = c->close_code;
        _cleanup_free_ char *msg = closed ? xstrdup(c->close_msg) : NULL;
        pthread_mutex_unlock(&c->lock);
        if (closed)
            return error_set(err, code, "%s", msg);
        return error_set(err, GRPC_DEADLINE_EXCEEDED, "ttrpc: %s/%s: deadline exceeded", service,
                         method);
    }
    if (!p->resp)
        return error_set(err, p->code, "%s", p->msg);
    if (p->resp->status && p->resp->status->code != GRPC_OK)
        return error_set(err, p->resp->status->code, "%s",
                         p->resp->status->message ? p->resp->status->message : "");
    if (resp_desc) {
        ProtobufCMessage *m =
            protobuf_c_message_unpack(resp_desc, NULL, p->resp->payload.len, p->resp->payload.data);
        if (!m)
            return error_set(err, GRPC_INTERNAL, "ttrpc: %s/%s: cannot decode %s response", service,
                             method, resp_desc->name);
        *resp = m;
    }
    return 0;
}

int ttrpc_client_call(struct ttrpc_client *c, const char *service, const char *method,
                      const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
                      ProtobufCMessage **resp, int64_t timeout_ms, const struct ttrpc_metadata *md,
                      size_t n_md, struct error *err)
{
    if (resp)
        *resp = NULL;
    size_t len;
    _cleanup_free_ uint8_t *buf = pack_request(service, method, req, timeout_ms, md, n_md, &len);
    if (len > TTRPC_MESSAGE_LENGTH_MAX)
        return error_set(err, GRPC_RESOURCE_EXHAUSTED,
                         "ttrpc: %s/%s: message length %zu exceeds maximum message size of %u",
                         service, method, len, TTRPC_MESSAGE_LENGTH_MAX);
    int64_t deadline_ns = ttrpc_deadline_after_ms(timeout_ms);

    pthread_mutex_lock(&c->lock);
    c->active_calls++;
    pthread_mutex_unlock(&c->lock);

    struct pending p = {0};
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p.cond, &ca);
    pthread_condattr_destroy(&ca);

    int r = send_request(c, &p, buf, len, err);
    if (r == 0) {
        wait_response(c, &p, deadline_ns);
        r = finish_call(c, &p, service, method, resp_desc, resp, err);
    }
    if (p.resp)
        ttrpc__response__free_unpacked(p.resp, NULL);
    free(p.msg);
    pthread_cond_destroy(&p.cond);

    pthread_mutex_lock(&c->lock);
    if (--c->active_calls == 0)
        pthread_cond_broadcast(&c->idle_cond);
    pthread_mutex_unlock(&c->lock);
    return r;
}
