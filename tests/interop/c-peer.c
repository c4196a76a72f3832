/* c-peer: the C side of the ttrpc interop tests and benchmark, on the project's ttrpc library
 * and the shared "test.Echo" service (tests/common/echo-service.h).
 *
 *   c-peer server SOCKETPATH               serve "test.Echo" until SIGTERM/SIGINT
 *   c-peer client SOCKETPATH               run the interop checks against a server (TAP)
 *   c-peer bench SOCKETPATH CALLERS CALLS  serve on SOCKETPATH and measure unary calls
 *
 * The checks mirror those of the Go peer (tests/interop/go/src/cocoon-ttrpc-peer), so the two
 * directions can be read side by side. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "google/protobuf/empty.pb-c.h"
#include "google/protobuf/wrappers.pb-c.h"
#include "google/rpc/status.pb-c.h"
#include "lib/xalloc.h"
#include "tests/common/echo-service.h"
#include "ttrpc/client.h"
#include "ttrpc/dial.h"
#include "ttrpc/frame.h"
#include "ttrpc/request.pb-c.h"
#include "ttrpc/server.h"

#define SERVICE "test.Echo"

/* --- the server --- */

struct peer_server {
    struct ttrpc_server *srv;
    struct echo_service *svc;
};

static int server_start(struct peer_server *ps, const char *path)
{
    struct error err = ERROR_INIT;
    struct ttrpc_server_options opts = {.require_same_uid = true};
    ps->srv = ttrpc_server_new(&opts);
    ps->svc = echo_service_new();
    if (echo_service_register(ps->svc, ps->srv, &err) < 0)
        goto fail;
    int lfd = ttrpc_listen_unix(path, &err);
    if (lfd < 0)
        goto fail;
    if (ttrpc_server_listen(ps->srv, lfd, &err) < 0)
        goto fail;
    return 0;
fail:
    fprintf(stderr, "c-peer: serve %s: %s\n", path, err.msg);
    error_clear(&err);
    return -1;
}

static void server_stop(struct peer_server *ps, const char *path)
{
    ttrpc_server_free(ps->srv);
    echo_service_free(ps->svc);
    unlink(path);
}

static int run_server(const char *path)
{
    /* Block the signals before any thread exists, so that only sigwait sees them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    struct peer_server ps;
    if (server_start(&ps, path) < 0)
        return 1;
    printf("ready\n");
    fflush(stdout);
    int sig;
    sigwait(&set, &sig);
    server_stop(&ps, path);
    return 0;
}

/* --- client helpers --- */

static struct ttrpc_client *cli;

static int dial_client(const char *path, struct ttrpc_client **out)
{
    struct error err = ERROR_INIT;
    int fd = ttrpc_dial(path, 2000, &err);
    if (fd < 0) {
        fprintf(stderr, "c-peer: dial %s: %s\n", path, err.msg);
        error_clear(&err);
        return -1;
    }
    *out = ttrpc_client_new(fd);
    return 0;
}

static int call_echo(struct ttrpc_client *c, const void *data, size_t len, int64_t timeout_ms,
                     struct error *err)
{
    Google__Protobuf__BytesValue in = GOOGLE__PROTOBUF__BYTES_VALUE__INIT;
    in.value.data = (uint8_t *)data;
    in.value.len = len;
    ProtobufCMessage *resp = NULL;
    if (ttrpc_client_call(c, SERVICE, "Echo", &in.base, &google__protobuf__bytes_value__descriptor,
                          &resp, timeout_ms, NULL, 0, err) < 0)
        return -1;
    const Google__Protobuf__BytesValue *o = (const void *)resp;
    int r = 0;
    if (o->value.len != len || (len && memcmp(o->value.data, data, len) != 0))
        r = error_set(err, GRPC_DATA_LOSS, "echo of %zu bytes came back as %zu different bytes",
                      len, o->value.len);
    protobuf_c_message_free_unpacked(resp, NULL);
    return r;
}

/* Calls a method taking a StringValue; *out (if given) receives a returned StringValue. */
static int call_string(const char *method, const char *arg, int64_t timeout_ms,
                       const struct ttrpc_metadata *md, size_t n_md, char **out, struct error *err)
{
    Google__Protobuf__StringValue in = GOOGLE__PROTOBUF__STRING_VALUE__INIT;
    in.value = (char *)arg;
    ProtobufCMessage *resp = NULL;
    if (ttrpc_client_call(cli, SERVICE, method, &in.base,
                          out ? &google__protobuf__string_value__descriptor : NULL,
                          out ? &resp : NULL, timeout_ms, md, n_md, err) < 0)
        return -1;
    if (out) {
        *out = xstrdup(((Google__Protobuf__StringValue *)resp)->value);
        protobuf_c_message_free_unpacked(resp, NULL);
    }
    return 0;
}

static int call_empty(const char *service, const char *method, int64_t timeout_ms,
                      struct error *err)
{
    Google__Protobuf__Empty in = GOOGLE__PROTOBUF__EMPTY__INIT;
    return ttrpc_client_call(cli, service, method, &in.base, NULL, NULL, timeout_ms, NULL, 0, err);
}

static uint8_t *pattern(size_t n, uint8_t seed)
{
    uint8_t *b = xmalloc(n ? n : 1);
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(i * 31) ^ seed;
    return b;
}

/* A check fills why (and returns false) when it fails; note() adds a TAP comment line. */
static char notes[4096];

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
    size_t used = strlen(notes);
    va_list ap;
    va_start(ap, fmt);
    (void)!snprintf(notes + used, sizeof(notes) - used, "# ");
    used = strlen(notes);
    vsnprintf(notes + used, sizeof(notes) - used, fmt, ap);
    va_end(ap);
    used = strlen(notes);
    (void)!snprintf(notes + used, sizeof(notes) - used, "\n");
}

static bool fail(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool fail(char *why, size_t why_len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
    return false;
}

#define FAIL(...) fail(why, why_len, __VA_ARGS__)

static int64_t ms_since(int64_t t0)
{
    return (ttrpc_now_ns() - t0) / 1000000;
}

static bool expect_status(const struct error *err, int code, const char *msg, char *why,
                          size_t why_len)
{
    if (err->code != code || (msg && strcmp(err->msg ? err->msg : "", msg) != 0))
        return FAIL("got %s \"%s\", want %s \"%s\"", grpc_code_name(err->code),
                    err->msg ? err->msg : "", grpc_code_name(code), msg ? msg : "...");
    return true;
}

/* --- the checks --- */

static bool check_echo(const char *path, char *why, size_t why_len)
{
    static const size_t sizes[] = {0, 1, 64 * 1024};
    for (size_t i = 0; i < 3; i++) {
        struct error err = ERROR_INIT;
        uint8_t *data = pattern(sizes[i], 0x5a);
        int r = call_echo(cli, data, sizes[i], 5000, &err);
        free(data);
        if (r < 0) {
            FAIL("%zu bytes: %s %s", sizes[i], grpc_code_name(err.code), err.msg);
            error_clear(&err);
            return false;
        }
    }
    return true;
}

static bool check_large_echo(const char *path, char *why, size_t why_len)
{
    size_t n = TTRPC_MESSAGE_LENGTH_MAX - 1024;
    uint8_t *data = pattern(n, 7);
    struct error err = ERROR_INIT;
    int r = call_echo(cli, data, n, 10000, &err);
    free(data);
    if (r < 0) {
        FAIL("%s %s", grpc_code_name(err.code), err.msg);
        error_clear(&err);
        return false;
    }
    return true;
}

static bool check_errors(const char *path, char *why, size_t why_len)
{
    static const struct {
        int code;
        const char *msg;
    } cases[] = {
        {5, "container abc: not found"},      {3, "invalid: bad spec"},
        {6, "container abc: already exists"}, {9, "process not created"},
        {12, "not implemented: Checkpoint"},  {14, "agent: connection refused"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char arg[128];
        snprintf(arg, sizeof(arg), "%d:%s", cases[i].code, cases[i].msg);
        struct error err = ERROR_INIT;
        if (call_string("Fail", arg, 5000, NULL, 0, NULL, &err) == 0)
            return FAIL("Fail \"%s\" succeeded", arg);
        bool ok = expect_status(&err, cases[i].code, cases[i].msg, why, why_len);
        error_clear(&err);
        if (!ok)
            return false;
    }
    return true;
}

static bool check_unimplemented(const char *path, char *why, size_t why_len)
{
    struct error err = ERROR_INIT;
    if (call_empty("no.Such", "X", 5000, &err) == 0)
        return FAIL("unknown service: call succeeded");
    bool ok = expect_status(&err, GRPC_UNIMPLEMENTED, "service no.Such", why, why_len);
    error_clear(&err);
    if (!ok)
        return false;
    if (call_empty(SERVICE, "Nope", 5000, &err) == 0)
        return FAIL("unknown method: call succeeded");
    ok = expect_status(&err, GRPC_UNIMPLEMENTED, "method Nope", why, why_len);
    error_clear(&err);
    return ok;
}

static bool check_metadata(const char *path, char *why, size_t why_len)
{
    static const struct ttrpc_metadata md[] = {{"containerd-namespace-ttrpc", "k8s.io"}};
    static const struct {
        int64_t timeout_ms;
        const char *want;
    } cases[] = {{0, "k8s.io"}, {3000, "k8s.io;deadline"}};
    for (size_t i = 0; i < 2; i++) {
        struct error err = ERROR_INIT;
        char *out = NULL;
        if (call_string("Meta", "containerd-namespace-ttrpc", cases[i].timeout_ms, md, 1, &out,
                        &err) < 0) {
            FAIL("timeout %lld ms: %s %s", (long long)cases[i].timeout_ms, grpc_code_name(err.code),
                 err.msg);
            error_clear(&err);
            return false;
        }
        bool ok = strcmp(out, cases[i].want) == 0;
        if (!ok)
            FAIL("timeout %lld ms: got \"%s\", want \"%s\"", (long long)cases[i].timeout_ms, out,
                 cases[i].want);
        free(out);
        if (!ok)
            return false;
    }
    return true;
}

struct caller {
    int id;
    char why[256];
};

static void *concurrent_caller(void *arg)
{
    struct caller *c = arg;
    char buf[512];
    for (int i = 0; i < 200; i++) {
        int n = snprintf(buf, sizeof(buf), "caller %d call %d %*s", c->id, i, (i * 7) % 200, "");
        struct error err = ERROR_INIT;
        if (call_echo(cli, buf, (size_t)n, 10000, &err) < 0) {
            snprintf(c->why, sizeof(c->why), "caller %d call %d: %s %s", c->id, i,
                     grpc_code_name(err.code), err.msg);
            error_clear(&err);
            break;
        }
    }
    return NULL;
}

static bool check_concurrent(const char *path, char *why, size_t why_len)
{
    struct caller c[8];
    pthread_t t[8];
    for (int i = 0; i < 8; i++) {
        c[i] = (struct caller){.id = i};
        pthread_create(&t[i], NULL, concurrent_caller, &c[i]);
    }
    bool ok = true;
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        if (ok && c[i].why[0])
            ok = FAIL("%s", c[i].why);
    }
    return ok;
}

struct blocker {
    int result;
    struct error err;
    bool done;
    pthread_mutex_t lock;
};

static void *block_caller(void *arg)
{
    struct blocker *b = arg;
    struct error err = ERROR_INIT;
    int r = call_empty(SERVICE, "Block", 20000, &err);
    pthread_mutex_lock(&b->lock);
    b->result = r;
    error_move(&b->err, &err);
    b->done = true;
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

static bool check_block(const char *path, char *why, size_t why_len)
{
    struct blocker b = {.err = ERROR_INIT, .lock = PTHREAD_MUTEX_INITIALIZER};
    pthread_t t;
    pthread_create(&t, NULL, block_caller, &b);
    nanosleep(&(struct timespec){0, 50 * 1000000}, NULL); /* let Block reach the server */
    bool ok = true;
    for (int i = 0; i < 10 && ok; i++) {
        char msg[32];
        int n = snprintf(msg, sizeof(msg), "ping %d", i);
        struct error err = ERROR_INIT;
        if (call_echo(cli, msg, (size_t)n, 2000, &err) < 0) {
            ok =
                FAIL("echo %d while Block is pending: %s %s", i, grpc_code_name(err.code), err.msg);
            error_clear(&err);
        }
    }
    pthread_mutex_lock(&b.lock);
    if (ok && b.done)
        ok = FAIL("Block returned before Release");
    pthread_mutex_unlock(&b.lock);
    struct error err = ERROR_INIT;
    if (call_empty(SERVICE, "Release", 5000, &err) < 0) {
        if (ok)
            ok = FAIL("Release: %s %s", grpc_code_name(err.code), err.msg);
        error_clear(&err);
    }
    pthread_join(t, NULL); /* Block's own 20 s deadline bounds this */
    if (ok && b.result < 0)
        ok = FAIL("Block: %s %s", grpc_code_name(b.err.code), b.err.msg);
    error_clear(&b.err);
    return ok;
}

/* Our client refuses a request over 4 MiB itself: prove it by calling through a socketpair
 * whose other end nobody reads, which must stay empty; then on the real connection. */
static bool check_oversized_local(const char *path, char *why, size_t why_len)
{
    size_t n = TTRPC_MESSAGE_LENGTH_MAX + 1;
    uint8_t *data = pattern(n, 3);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        free(data);
        return FAIL("socketpair: %s", strerror(errno));
    }
    struct ttrpc_client *lone = ttrpc_client_new(sv[0]);
    struct error err = ERROR_INIT;
    int64_t t0 = ttrpc_now_ns();
    int r = call_echo(lone, data, n, 2000, &err);
    int queued = -1;
    (void)ioctl(sv[1], FIONREAD, &queued);
    bool ok = true;
    if (r == 0)
        ok = FAIL("Echo of 4 MiB + 1 bytes succeeded over an unread socketpair");
    else if (err.code != GRPC_RESOURCE_EXHAUSTED)
        ok = FAIL("got %s \"%s\", want RESOURCE_EXHAUSTED", grpc_code_name(err.code), err.msg);
    else if (queued != 0)
        ok = FAIL("refused, but %d bytes reached the socket", queued);
    else
        note("C client refused Echo(4 MiB + 1 bytes) locally in %lld ms, nothing written: %s "
             "\"%s\"",
             (long long)ms_since(t0), grpc_code_name(err.code), err.msg);
    error_clear(&err);
    ttrpc_client_free(lone);
    close(sv[1]);
    if (ok) {
        if (call_echo(cli, data, n, 5000, &err) == 0 || err.code != GRPC_RESOURCE_EXHAUSTED)
            ok = FAIL("on the connection to the server: got %s \"%s\", want RESOURCE_EXHAUSTED",
                      grpc_code_name(err.code), err.msg ? err.msg : "");
        error_clear(&err);
    }
    free(data);
    if (ok && call_echo(cli, "after oversized", 15, 5000, &err) < 0) {
        ok = FAIL("next call: %s %s", grpc_code_name(err.code), err.msg);
        error_clear(&err);
    }
    return ok;
}

/* Reads one Response frame from a raw connection; returns it unpacked or NULL (why filled). */
static Ttrpc__Response *raw_response(int fd, struct ttrpc_frame_reader *rd, uint32_t want_id,
                                     char *why, size_t why_len)
{
    struct ttrpc_frame f;
    struct error err = ERROR_INIT;
    enum ttrpc_read_result r =
        ttrpc_frame_read(rd, fd, -1, ttrpc_deadline_after_ms(10000), &f, &err);
    if (r != TTRPC_READ_FRAME) {
        FAIL("reading the response: result %d %s", r, err.msg ? err.msg : "");
        error_clear(&err);
        return NULL;
    }
    if (f.hdr.type != TTRPC_TYPE_RESPONSE || f.hdr.stream_id != want_id) {
        FAIL("got a frame of type %u on stream %u, want a response on stream %u", f.hdr.type,
             f.hdr.stream_id, want_id);
        return NULL;
    }
    Ttrpc__Response *resp = ttrpc__response__unpack(NULL, f.hdr.length, f.data);
    if (!resp)
        FAIL("the response on stream %u does not unpack", want_id);
    return resp;
}

/* A raw frame over 4 MiB (a well-formed Echo request whose payload is too big) written with
 * ttrpc_frame_write on a connection of its own: the server must discard it, answer
 * RESOURCE_EXHAUSTED on its stream, and go on serving that connection. */
static bool check_oversized_raw(const char *path, char *why, size_t why_len)
{
    struct error err = ERROR_INIT;
    int fd = ttrpc_dial(path, 2000, &err);
    if (fd < 0) {
        FAIL("dial: %s", err.msg);
        error_clear(&err);
        return false;
    }
    size_t n = TTRPC_MESSAGE_LENGTH_MAX + 1;
    uint8_t *data = pattern(n, 9);
    Google__Protobuf__BytesValue bv = GOOGLE__PROTOBUF__BYTES_VALUE__INIT;
    bv.value.data = data;
    bv.value.len = n;
    size_t plen = google__protobuf__bytes_value__get_packed_size(&bv);
    uint8_t *payload = xmalloc(plen);
    google__protobuf__bytes_value__pack(&bv, payload);
    Ttrpc__Request rq = TTRPC__REQUEST__INIT;
    rq.service = SERVICE;
    rq.method = "Echo";
    rq.payload.data = payload;
    rq.payload.len = plen;
    size_t flen = ttrpc__request__get_packed_size(&rq);
    uint8_t *frame = xmalloc(flen);
    ttrpc__request__pack(&rq, frame);
    free(data);
    free(payload);

    bool ok = true;
    struct ttrpc_frame_reader rd = {0};
    Ttrpc__Response *resp = NULL;
    int64_t t0 = ttrpc_now_ns();
    int w = ttrpc_frame_write(fd, 1, TTRPC_TYPE_REQUEST, 0, frame, flen);
    free(frame);
    if (w < 0) {
        ok = FAIL("writing the oversized frame: %s", strerror(-w));
        goto out;
    }
    resp = raw_response(fd, &rd, 1, why, why_len);
    if (!resp) {
        ok = false;
        goto out;
    }
    int code = resp->status ? resp->status->code : 0;
    const char *msg = resp->status && resp->status->message ? resp->status->message : "";
    note("raw %zu-byte request frame on stream 1: answered %s \"%s\" after %lld ms", flen,
         grpc_code_name(code), msg, (long long)ms_since(t0));
    if (code != GRPC_RESOURCE_EXHAUSTED) {
        ok = FAIL("got %s \"%s\", want RESOURCE_EXHAUSTED", grpc_code_name(code), msg);
        goto out;
    }
    ttrpc__response__free_unpacked(resp, NULL);
    resp = NULL;

    /* The same connection still serves: Echo "hi" on stream 3. */
    uint8_t hi[] = {0x0a, 0x02, 'h', 'i'};
    rq.payload.data = hi;
    rq.payload.len = sizeof(hi);
    uint8_t small[64];
    size_t slen = ttrpc__request__pack(&rq, small);
    if ((w = ttrpc_frame_write(fd, 3, TTRPC_TYPE_REQUEST, 0, small, slen)) < 0) {
        ok = FAIL("writing the next request: %s", strerror(-w));
        goto out;
    }
    resp = raw_response(fd, &rd, 3, why, why_len);
    if (!resp) {
        ok = false;
        goto out;
    }
    if ((resp->status && resp->status->code != 0) || resp->payload.len != sizeof(hi) ||
        memcmp(resp->payload.data, hi, sizeof(hi)) != 0)
        ok = FAIL("the next Echo on the connection failed (status %d)",
                  resp->status ? resp->status->code : 0);
out:
    if (resp)
        ttrpc__response__free_unpacked(resp, NULL);
    ttrpc_frame_reader_free(&rd);
    close(fd);
    return ok;
}

static bool check_deadline(const char *path, char *why, size_t why_len)
{
    struct error err = ERROR_INIT;
    int64_t t0 = ttrpc_now_ns();
    int r = call_string("Sleep", "500", 100, NULL, 0, NULL, &err);
    int64_t ms = ms_since(t0);
    if (r == 0)
        return FAIL("Sleep 500 with a 100 ms timeout succeeded");
    bool ok = expect_status(&err, GRPC_DEADLINE_EXCEEDED, NULL, why, why_len);
    error_clear(&err);
    if (!ok)
        return false;
    if (ms < 100 || ms > 400)
        return FAIL("returned after %lld ms, want 100-400 ms", (long long)ms);
    if (call_echo(cli, "after deadline", 14, 5000, &err) < 0) {
        FAIL("next call: %s %s", grpc_code_name(err.code), err.msg);
        error_clear(&err);
        return false;
    }
    /* The server's late answer to Sleep must not confuse the client either. */
    nanosleep(&(struct timespec){0, 450 * 1000000}, NULL);
    if (call_echo(cli, "after the late reply", 20, 5000, &err) < 0) {
        FAIL("call after the late reply: %s %s", grpc_code_name(err.code), err.msg);
        error_clear(&err);
        return false;
    }
    return true;
}

static int run_client(const char *path)
{
    if (dial_client(path, &cli) < 0) {
        printf("1..1\nnot ok - connect to %s\n", path);
        return 1;
    }
    static const struct {
        const char *name;
        bool (*fn)(const char *path, char *why, size_t why_len);
    } checks[] = {
        {"unary echo of 0, 1 and 65536 bytes is byte-exact", check_echo},
        {"echo of 4 MiB - 1 KiB (just under the frame limit) is byte-exact", check_large_echo},
        {"error codes 5, 3, 6, 9, 12, 14 and their messages come through exactly", check_errors},
        {"unknown service / method -> UNIMPLEMENTED \"service no.Such\" / \"method Nope\"",
         check_unimplemented},
        {"metadata containerd-namespace-ttrpc=k8s.io reaches the handler, timeout too",
         check_metadata},
        {"8 concurrent callers x 200 calls, all byte-exact", check_concurrent},
        {"a blocked call (Block) does not stall 10 Echo calls; Release ends it", check_block},
        {"oversized request (Echo of 4 MiB + 1 bytes) refused locally with RESOURCE_EXHAUSTED, "
         "connection still works",
         check_oversized_local},
        {"raw oversized request frame -> RESOURCE_EXHAUSTED on its stream, connection still works",
         check_oversized_raw},
        {"Sleep 500 with a 100 ms timeout -> DEADLINE_EXCEEDED, connection still works",
         check_deadline},
    };
    size_t n = sizeof(checks) / sizeof(checks[0]);
    printf("1..%zu\n", n);
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        char why[512] = "";
        notes[0] = '\0';
        if (checks[i].fn(path, why, sizeof(why))) {
            printf("ok - %s\n", checks[i].name);
        } else {
            failed++;
            printf("not ok - %s: %s\n", checks[i].name, why);
        }
        fputs(notes, stdout);
        fflush(stdout);
    }
    ttrpc_client_free(cli);
    return failed ? 1 : 0;
}

/* --- the benchmark --- */

struct bench_caller {
    pthread_t thread;
    long calls, warmup;
    pthread_barrier_t *gate;
    int64_t *lat; /* ns per call */
    int64_t start, end;
    bool failed;
};

static const uint8_t bench_payload[16] = "0123456789abcdef";

static int bench_call(void)
{
    struct error err = ERROR_INIT;
    Google__Protobuf__BytesValue in = GOOGLE__PROTOBUF__BYTES_VALUE__INIT;
    in.value.data = (uint8_t *)bench_payload;
    in.value.len = sizeof(bench_payload);
    ProtobufCMessage *resp = NULL;
    if (ttrpc_client_call(cli, SERVICE, "Echo", &in.base,
                          &google__protobuf__bytes_value__descriptor, &resp, 0, NULL, 0,
                          &err) < 0) {
        fprintf(stderr, "c-peer: bench call: %s %s\n", grpc_code_name(err.code), err.msg);
        error_clear(&err);
        return -1;
    }
    int r = ((Google__Protobuf__BytesValue *)resp)->value.len == sizeof(bench_payload) ? 0 : -1;
    protobuf_c_message_free_unpacked(resp, NULL);
    return r;
}

static void *bench_thread(void *arg)
{
    struct bench_caller *b = arg;
    for (long i = 0; i < b->warmup && !b->failed; i++)
        b->failed = bench_call() < 0;
    pthread_barrier_wait(b->gate);
    b->start = ttrpc_now_ns();
    for (long i = 0; i < b->calls && !b->failed; i++) {
        int64_t t0 = ttrpc_now_ns();
        b->failed = bench_call() < 0;
        b->lat[i] = ttrpc_now_ns() - t0;
    }
    b->end = ttrpc_now_ns();
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int run_bench(const char *path, long callers, long calls)
{
    struct peer_server ps;
    if (server_start(&ps, path) < 0)
        return 1;
    if (dial_client(path, &cli) < 0) {
        server_stop(&ps, path);
        return 1;
    }
    pthread_barrier_t gate;
    pthread_barrier_init(&gate, NULL, (unsigned)callers);
    struct bench_caller *b = xcalloc((size_t)callers, sizeof(*b));
    int64_t *lat = xcalloc((size_t)(callers * calls), sizeof(*lat));
    long warmup = calls / 10 < 5000 ? calls / 10 : 5000;
    for (long i = 0; i < callers; i++) {
        b[i] = (struct bench_caller){
            .calls = calls, .warmup = warmup, .gate = &gate, .lat = lat + i * calls};
        pthread_create(&b[i].thread, NULL, bench_thread, &b[i]);
    }
    int64_t first = INT64_MAX, last = 0;
    bool failed = false;
    for (long i = 0; i < callers; i++) {
        pthread_join(b[i].thread, NULL);
        failed |= b[i].failed;
        first = b[i].start < first ? b[i].start : first;
        last = b[i].end > last ? b[i].end : last;
    }
    ttrpc_client_free(cli);
    server_stop(&ps, path);
    if (!failed) {
        size_t n = (size_t)(callers * calls);
        qsort(lat, n, sizeof(*lat), cmp_i64);
        printf("C callers=%ld calls=%zu calls_per_s=%.0f p50_us=%.1f p99_us=%.1f\n", callers, n,
               (double)n * 1e9 / (double)(last - first), (double)lat[n / 2] / 1000.0,
               (double)lat[n * 99 / 100] / 1000.0);
    }
    free(lat);
    free(b);
    pthread_barrier_destroy(&gate);
    return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 3 && strcmp(argv[1], "server") == 0)
        return run_server(argv[2]);
    if (argc == 3 && strcmp(argv[1], "client") == 0)
        return run_client(argv[2]);
    if (argc == 5 && strcmp(argv[1], "bench") == 0) {
        char *e1, *e2;
        long callers = strtol(argv[3], &e1, 10), calls = strtol(argv[4], &e2, 10);
        if (!*e1 && !*e2 && callers >= 1 && callers <= 256 && calls >= 1)
            return run_bench(argv[2], callers, calls);
    }
    fprintf(stderr, "usage: c-peer server|client SOCKETPATH | bench SOCKETPATH CALLERS CALLS\n");
    return 2;
}
