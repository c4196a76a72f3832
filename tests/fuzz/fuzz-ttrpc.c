/* Fuzz target: arbitrary bytes arrive on a ttrpc connection (ttrpc/frame.h, ttrpc/server.h).
 * The harness decodes the input itself (model_decode: the wire format as the header comment of
 * frame.h states it) and predicts what each part must produce; then
 *   - the frame decoder: the input is written to a socket in pieces of varying size, and after
 *     each piece ttrpc_frame_read runs with a deadline already passed (the resumable path: a
 *     partial frame stays buffered), then to the end; the frames, oversize headers and the
 *     final EOF or error must be exactly the predicted ones;
 *   - the server: one server (kept across inputs, as the shim keeps its own) gets the input on a
 *     new connection and must send exactly the predicted responses, in any order: an Echo
 *     (BytesValue), a Fail (StringValue, NOT_FOUND with that message) and a Meta (the value of
 *     the metadata key the StringValue names) per valid call, and the status the Go server sends
 *     for each frame it refuses. It must then close the connection and free it: nothing is
 *     left behind for the next input. Never crash, hang or leak. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "google/protobuf/wrappers.pb-c.h"
#include "google/rpc/status.pb-c.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"
#include "tests/fuzz/fuzz.h"
#include "ttrpc/frame.h"
#include "ttrpc/request.pb-c.h"
#include "ttrpc/server.h"

#define SERVICE "fuzz.Echo"
#define WAIT_MS 5000 /* longer than any answer takes: a hang is a finding */

static void check_at(bool ok, int line)
{
    if (!ok) {
        fprintf(stderr, "fuzz-ttrpc.c:%d: check failed\n", line);
        abort();
    }
}
#define check(ok) check_at(ok, __LINE__)

/* --- the wire format, decoded independently of ttrpc/frame.c --- */

struct model_frame {
    enum ttrpc_read_result kind; /* FRAME or OVERSIZE */
    struct ttrpc_frame_header hdr;
    const uint8_t *data;
};

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Splits data into frames; returns how the stream ends: EOF (between frames) or ERROR (inside
 * a frame or the data of an oversized one). */
static enum ttrpc_read_result model_decode(const uint8_t *data, size_t size,
                                           struct model_frame **out, size_t *n_out)
{
    size_t pos = 0, n = 0, cap = 0;
    struct model_frame *fr = NULL;
    enum ttrpc_read_result end = TTRPC_READ_EOF;
    while (pos < size) {
        if (size - pos < TTRPC_HEADER_LEN) {
            end = TTRPC_READ_ERROR;
            break;
        }
        struct model_frame f = {.kind = TTRPC_READ_FRAME};
        f.hdr.length = be32(data + pos);
        f.hdr.stream_id = be32(data + pos + 4);
        f.hdr.type = data[pos + 8];
        f.hdr.flags = data[pos + 9];
        pos += TTRPC_HEADER_LEN;
        if (f.hdr.length > TTRPC_MESSAGE_LENGTH_MAX)
            f.kind = TTRPC_READ_OVERSIZE;
        else if (size - pos >= f.hdr.length)
            f.data = data + pos;
        if (f.kind == TTRPC_READ_FRAME && !f.data) {
            end = TTRPC_READ_ERROR;
            break;
        }
        if (n == cap)
            fr = xrealloc(fr, (cap = cap ? 2 * cap : 16) * sizeof(*fr));
        fr[n++] = f;
        if (size - pos < f.hdr.length) { /* an oversized frame's data runs past the end */
            end = TTRPC_READ_ERROR;
            break;
        }
        pos += f.hdr.length;
    }
    *out = fr;
    *n_out = n;
    return end;
}

/* --- the frame decoder --- */

static void decoder(const uint8_t *data, size_t size, const struct model_frame *want, size_t n_want,
                    enum ttrpc_read_result want_end)
{
    int sv[2];
    check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    struct ttrpc_frame_reader rd = {0};
    size_t got = 0, off = 0;
    uint32_t seed = 2166136261u; /* piece sizes from a hash of the input (FNV-1a) */
    for (size_t i = 0; i < size; i++)
        seed = (seed ^ data[i]) * 16777619u;
    for (;;) {
        bool done = off == size;
        if (!done) {
            seed = seed * 1103515245u + 12345u;
            size_t piece = 1 + (seed >> 16) % (seed & 0x100 ? 7 : 300);
            if (piece > size - off)
                piece = size - off;
            check(write(sv[1], data + off, piece) == (ssize_t)piece);
            off += piece;
        } else {
            shutdown(sv[1], SHUT_WR);
        }
        for (;;) {
            struct ttrpc_frame f;
            _cleanup_(error_clearp) struct error err = ERROR_INIT;
            /* Deadline 1 ns after boot: passed, so only buffered bytes count. */
            enum ttrpc_read_result r = ttrpc_frame_read(&rd, sv[0], -1, done ? 0 : 1, &f, &err);
            if (r == TTRPC_READ_TIMEOUT) {
                check(!done && !error_is_set(&err));
                break;
            }
            if (r == TTRPC_READ_EOF || r == TTRPC_READ_ERROR) {
                check(done && r == want_end && got == n_want);
                check((r == TTRPC_READ_ERROR) == error_is_set(&err));
                ttrpc_frame_reader_free(&rd);
                close(sv[0]);
                close(sv[1]);
                return;
            }
            check(got < n_want && r == want[got].kind && !error_is_set(&err));
            const struct model_frame *w = &want[got++];
            check(f.hdr.length == w->hdr.length && f.hdr.stream_id == w->hdr.stream_id &&
                  f.hdr.type == w->hdr.type && f.hdr.flags == w->hdr.flags);
            if (r == TTRPC_READ_FRAME)
                check(f.hdr.length == 0 || memcmp(f.data, w->data, f.hdr.length) == 0);
            else
                check(f.data == NULL);
        }
    }
}

/* --- the server --- */

static int echo(void *user, const struct ttrpc_call *call, const ProtobufCMessage *req,
                struct ttrpc_reply *reply, struct error *err)
{
    const Ttrpc__Request *r = call->request_;
    check(strcmp(call->service, SERVICE) == 0 && strcmp(call->method, "Echo") == 0);
    check(call->stream_id % 2 == 1 && (r->timeout_nano > 0) == (call->deadline_ns != 0));
    ttrpc_reply_set(reply, req);
    return 0;
}

static int fail(void *user, const struct ttrpc_call *call, const ProtobufCMessage *req,
                struct ttrpc_reply *reply, struct error *err)
{
    return error_set(err, GRPC_NOT_FOUND, "%s",
                     ((const Google__Protobuf__StringValue *)req)->value);
}

static int meta(void *user, const struct ttrpc_call *call, const ProtobufCMessage *req,
                struct ttrpc_reply *reply, struct error *err)
{
    const char *key = ((const Google__Protobuf__StringValue *)req)->value;
    const char *v = ttrpc_call_metadata(call, key);
    if (!v)
        return error_set(err, GRPC_NOT_FOUND, "no metadata");
    Google__Protobuf__StringValue out = GOOGLE__PROTOBUF__STRING_VALUE__INIT;
    out.value = (char *)v;
    ttrpc_reply_set(reply, &out.base);
    return 0;
}

static const struct ttrpc_method methods[] = {
    {"Echo", &google__protobuf__bytes_value__descriptor, echo},
    {"Fail", &google__protobuf__string_value__descriptor, fail},
    {"Meta", &google__protobuf__string_value__descriptor, meta},
};

/* Connections the server has closed and freed. */
static pthread_mutex_t closed_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t closed_cond = PTHREAD_COND_INITIALIZER;
static unsigned long closed;

static void connection_closed(void *user)
{
    pthread_mutex_lock(&closed_lock);
    closed++;
    pthread_cond_broadcast(&closed_cond);
    pthread_mutex_unlock(&closed_lock);
}

static void wait_closed(unsigned long n)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += WAIT_MS / 1000;
    pthread_mutex_lock(&closed_lock);
    while (closed < n)
        check(pthread_cond_timedwait(&closed_cond, &closed_lock, &until) == 0);
    pthread_mutex_unlock(&closed_lock);
}

struct answer {
    uint32_t stream_id;
    int code;
    char *message; /* NULL: not compared (the server's own wording) */
    uint8_t *payload;
    size_t len;
};

static void expect(struct answer **a, size_t *n, uint32_t id, int code, const char *message,
                   const ProtobufCMessage *payload)
{
    *a = xrealloc(*a, (*n + 1) * sizeof(**a));
    struct answer *x = &(*a)[(*n)++];
    *x = (struct answer){.stream_id = id, .code = code};
    x->message = message ? xstrdup(message) : NULL;
    if (payload) {
        x->len = protobuf_c_message_get_packed_size(payload);
        x->payload = xmalloc(x->len ? x->len : 1);
        protobuf_c_message_pack(payload, x->payload);
    }
}

/* The answer of the server to one call, as handle_frame and the Go server decide it. */
static void predict_call(const struct model_frame *f, uint32_t *last, struct answer **a, size_t *n)
{
    uint32_t id = f->hdr.stream_id;
    Ttrpc__Request *req = ttrpc__request__unpack(NULL, f->hdr.length, f->data);
    if (!req || id % 2 != 1 || id <= *last) {
        expect(a, n, id, GRPC_INVALID_ARGUMENT, NULL, NULL);
        if (req)
            ttrpc__request__free_unpacked(req, NULL);
        return;
    }
    *last = id;
    size_t m = 0;
    while (m < 3 && strcmp(req->method, methods[m].name) != 0)
        m++;
    if (strcmp(req->service, SERVICE) != 0 || m == 3) {
        expect(a, n, id, GRPC_UNIMPLEMENTED, NULL, NULL);
        ttrpc__request__free_unpacked(req, NULL);
        return;
    }
    ProtobufCMessage *in =
        protobuf_c_message_unpack(methods[m].request, NULL, req->payload.len, req->payload.data);
    if (!in) {
        expect(a, n, id, GRPC_INVALID_ARGUMENT, NULL, NULL);
    } else if (m == 0) {
        expect(a, n, id, GRPC_OK, "", in);
    } else if (m == 1) {
        expect(a, n, id, GRPC_NOT_FOUND, ((Google__Protobuf__StringValue *)in)->value, NULL);
    } else {
        const char *key = ((Google__Protobuf__StringValue *)in)->value, *v = NULL;
        for (size_t i = 0; i < req->n_metadata && !v; i++)
            if (strcmp(req->metadata[i]->key, key) == 0)
                v = req->metadata[i]->value;
        Google__Protobuf__StringValue out = GOOGLE__PROTOBUF__STRING_VALUE__INIT;
        out.value = (char *)v;
        if (v)
            expect(a, n, id, GRPC_OK, "", &out.base);
        else
            expect(a, n, id, GRPC_NOT_FOUND, "no metadata", NULL);
    }
    if (in)
        protobuf_c_message_free_unpacked(in, NULL);
    ttrpc__request__free_unpacked(req, NULL);
}

static void predict(const struct model_frame *f, size_t n_f, struct answer **a, size_t *n)
{
    uint32_t last = 0;
    for (size_t i = 0; i < n_f; i++) {
        if (f[i].kind == TTRPC_READ_OVERSIZE)
            expect(a, n, f[i].hdr.stream_id, GRPC_RESOURCE_EXHAUSTED, NULL, NULL);
        else if (f[i].hdr.type == TTRPC_TYPE_DATA)
            expect(a, n, f[i].hdr.stream_id, GRPC_INVALID_ARGUMENT, NULL, NULL);
        else if (f[i].hdr.type == TTRPC_TYPE_REQUEST)
            predict_call(&f[i], &last, a, n);
        /* other types are ignored */
    }
}

/* A response frame off the wire: a Response with a status, nothing else. */
static void parse_answer(const struct model_frame *f, struct answer *x)
{
    check(f->kind == TTRPC_READ_FRAME && f->hdr.type == TTRPC_TYPE_RESPONSE && f->hdr.flags == 0);
    Ttrpc__Response *resp = ttrpc__response__unpack(NULL, f->hdr.length, f->data);
    check(resp && resp->status);
    *x = (struct answer){.stream_id = f->hdr.stream_id, .code = resp->status->code};
    x->message = xstrdup(resp->status->message);
    x->len = resp->payload.len;
    x->payload = xmalloc(x->len ? x->len : 1);
    if (x->len)
        memcpy(x->payload, resp->payload.data, x->len);
    check(resp->status->n_details == 0 && (x->code == GRPC_OK || x->len == 0));
    ttrpc__response__free_unpacked(resp, NULL);
}

static int by_answer(const void *pa, const void *pb)
{
    const struct answer *a = pa, *b = pb;
    if (a->stream_id != b->stream_id)
        return a->stream_id < b->stream_id ? -1 : 1;
    if (a->code != b->code)
        return a->code < b->code ? -1 : 1;
    if (a->len != b->len)
        return a->len < b->len ? -1 : 1;
    return a->len ? memcmp(a->payload, b->payload, a->len) : 0;
}

static void answers_free(struct answer *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(a[i].message);
        free(a[i].payload);
    }
    free(a);
}

/* Complete frames in buf (the server only writes frames it can decode itself). */
static size_t count_frames(const uint8_t *buf, size_t len)
{
    size_t n = 0, pos = 0;
    while (len - pos >= TTRPC_HEADER_LEN && len - pos - TTRPC_HEADER_LEN >= be32(buf + pos)) {
        pos += TTRPC_HEADER_LEN + be32(buf + pos);
        n++;
    }
    return n;
}

static struct ttrpc_server *server(void)
{
    static struct ttrpc_server *srv;
    if (!srv) {
        signal(SIGPIPE, SIG_IGN);
        struct ttrpc_server_options o = {.connection_closed = connection_closed};
        srv = ttrpc_server_new(&o);
        check(ttrpc_server_register(srv, SERVICE, methods, 3, NULL, NULL) == 0);
    }
    return srv;
}

static void serve(const uint8_t *data, size_t size, const struct model_frame *fr, size_t n_fr)
{
    static unsigned long opened;
    struct answer *want = NULL;
    size_t n_want = 0;
    predict(fr, n_fr, &want, &n_want);

    int sv[2];
    check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    ttrpc_server_add_connection(server(), sv[0]);
    opened++;
    /* Write the input while reading the answers; once all are in, half-close and read until the
     * server hangs up. Half-closing earlier would be fair too, but the server may then drop the
     * answers of calls still running (their connection is gone), so the count would vary. */
    _cleanup_free_ uint8_t *out = NULL;
    size_t out_len = 0, out_cap = 0, off = 0;
    bool wr_open = true;
    for (;;) {
        if (wr_open && off == size && count_frames(out, out_len) >= n_want) {
            shutdown(sv[1], SHUT_WR);
            wr_open = false;
        }
        struct pollfd p = {.fd = sv[1], .events = POLLIN | (off < size ? POLLOUT : 0)};
        int ready = poll(&p, 1, WAIT_MS);
        if (ready < 0 && errno == EINTR)
            continue; /* libFuzzer's SIGALRM, every few seconds */
        check(ready > 0);
        if (p.revents & POLLOUT) {
            ssize_t w = send(sv[1], data + off, size - off, MSG_DONTWAIT | MSG_NOSIGNAL);
            check(w > 0 || errno == EAGAIN || errno == EINTR);
            if (w > 0)
                off += (size_t)w;
        }
        if (p.revents & (POLLIN | POLLHUP)) {
            if (out_cap - out_len < 65536)
                out = xrealloc(out, out_cap += 65536);
            ssize_t n = read(sv[1], out + out_len, 65536);
            check(n >= 0);
            if (n == 0)
                break;
            out_len += (size_t)n;
        }
    }
    check(!wr_open && off == size); /* the server hung up only after our EOF */
    close(sv[1]);
    wait_closed(opened);

    struct model_frame *got_fr = NULL;
    size_t n_got = 0;
    check(model_decode(out, out_len, &got_fr, &n_got) == TTRPC_READ_EOF);
    check(n_got == n_want);
    struct answer *got = xcalloc(n_got + 1, sizeof(*got));
    for (size_t i = 0; i < n_got; i++)
        parse_answer(&got_fr[i], &got[i]);
    if (n_got > 0) { /* then want is not NULL either */
        qsort(want, n_want, sizeof(*want), by_answer);
        qsort(got, n_got, sizeof(*got), by_answer);
    }
    for (size_t i = 0; i < n_got; i++) {
        check(by_answer(&got[i], &want[i]) == 0);
        check(!want[i].message || strcmp(got[i].message, want[i].message) == 0);
    }
    answers_free(got, n_got);
    answers_free(want, n_want);
    free(got_fr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct model_frame *fr = NULL;
    size_t n = 0;
    enum ttrpc_read_result end = model_decode(data, size, &fr, &n);
    decoder(data, size, fr, n, end);
    serve(data, size, fr, n);
    free(fr);
    return 0;
}
