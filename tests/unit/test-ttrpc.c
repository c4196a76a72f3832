/* ttrpc: framing, server, client and dialers, over real sockets. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "google/protobuf/empty.pb-c.h"
#include "google/protobuf/wrappers.pb-c.h"
#include "lib/cleanup.h"
#include "tests/common/echo-service.h"
#include "ttrpc/client.h"
#include "ttrpc/dial.h"
#include "ttrpc/frame.h"
#include "ttrpc/request.pb-c.h"
#include "ttrpc/server.h"
#include "tests/common/run-tap.h"

/* --- fixture: a server and a client joined by a socketpair --- */

static struct ttrpc_server *srv;
static struct echo_service *svc;
static struct ttrpc_client *cli;
static int raw_fd = -1; /* when a test talks raw frames instead of using cli */

static void start_server(void)
{
    struct error err = ERROR_INIT;
    srv = ttrpc_server_new(NULL);
    svc = echo_service_new();
    ck_assert_int_eq(echo_service_register(svc, srv, &err), 0);
}

static void setup(void)
{
    start_server();
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ttrpc_server_add_connection(srv, sv[0]);
    cli = ttrpc_client_new(sv[1]);
}

static void setup_raw(void)
{
    start_server();
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ttrpc_server_add_connection(srv, sv[0]);
    raw_fd = sv[1];
}

static void teardown(void)
{
    ttrpc_client_free(cli);
    cli = NULL;
    if (raw_fd >= 0)
        close(raw_fd);
    raw_fd = -1;
    ttrpc_server_free(srv);
    srv = NULL;
    echo_service_free(svc);
    svc = NULL;
}

static int call_string(const char *method, const char *arg, int64_t timeout_ms, char **out,
                       struct error *err)
{
    Google__Protobuf__StringValue in = GOOGLE__PROTOBUF__STRING_VALUE__INIT;
    in.value = (char *)arg;
    ProtobufCMessage *resp = NULL;
    int r = ttrpc_client_call(cli, "test.Echo", method, &in.base,
                              out ? &google__protobuf__string_value__descriptor : NULL,
                              out ? &resp : NULL, timeout_ms, NULL, 0, err);
    if (r == 0 && out) {
        *out = strdup(((Google__Protobuf__StringValue *)resp)->value);
        protobuf_c_message_free_unpacked(resp, NULL);
    }
    return r;
}

static int call_empty(struct ttrpc_client *c, const char *method, int64_t timeout_ms,
                      struct error *err)
{
    Google__Protobuf__Empty in = GOOGLE__PROTOBUF__EMPTY__INIT;
    return ttrpc_client_call(c, "test.Echo", method, &in.base, NULL, NULL, timeout_ms, NULL, 0,
                             err);
}

static int call_echo(struct ttrpc_client *c, const void *data, size_t len, size_t *out_len,
                     struct error *err)
{
    Google__Protobuf__BytesValue in = GOOGLE__PROTOBUF__BYTES_VALUE__INIT;
    in.value.data = (uint8_t *)data;
    in.value.len = len;
    ProtobufCMessage *resp = NULL;
    int r =
        ttrpc_client_call(c, "test.Echo", "Echo", &in.base,
                          &google__protobuf__bytes_value__descriptor, &resp, 5000, NULL, 0, err);
    if (r == 0) {
        Google__Protobuf__BytesValue *o = (void *)resp;
        *out_len = o->value.len;
        if (o->value.len != len || (len && memcmp(o->value.data, data, len) != 0))
            r = error_set(err, GRPC_DATA_LOSS, "echo mismatch");
        protobuf_c_message_free_unpacked(resp, NULL);
    }
    return r;
}

/* --- framing --- */

START_TEST(test_header_roundtrip)
{
    uint8_t b[TTRPC_HEADER_LEN];
    struct ttrpc_frame_header h = {0x4f, 1, TTRPC_TYPE_REQUEST, 0}, d;
    ttrpc_header_encode(b, &h);
    const uint8_t want[] = {0, 0, 0, 0x4f, 0, 0, 0, 1, 1, 0};
    ck_assert_mem_eq(b, want, sizeof(want));
    h = (struct ttrpc_frame_header){0x01020304, 0xa1b2c3d5, 3, 5};
    ttrpc_header_encode(b, &h);
    ttrpc_header_decode(b, &d);
    ck_assert_uint_eq(d.length, 0x01020304);
    ck_assert_uint_eq(d.stream_id, 0xa1b2c3d5);
    ck_assert_uint_eq(d.type, 3);
    ck_assert_uint_eq(d.flags, 5);
}
END_TEST

/* The worked example of reference/containerd.md §1.2, byte for byte. */
START_TEST(test_request_bytes)
{
    const uint8_t want[] = {
        0x0a, 0x17, 'c',  'o',  'n',  't',  'a', 'i',  'n',  'e',  'r',  'd',  '.',  't', 'a', 's',
        'k',  '.',  'v',  '2',  '.',  'T',  'a', 's',  'k',  0x12, 0x07, 'C',  'o',  'n', 'n', 'e',
        'c',  't',  0x1a, 0x05, 0x0a, 0x03, 'a', 'b',  'c',  0x2a, 0x24, 0x0a, 0x1a, 'c', 'o', 'n',
        't',  'a',  'i',  'n',  'e',  'r',  'd', '-',  'n',  'a',  'm',  'e',  's',  'p', 'a', 'c',
        'e',  '-',  't',  't',  'r',  'p',  'c', 0x12, 0x06, 'k',  '8',  's',  '.',  'i', 'o'};
    ck_assert_uint_eq(sizeof(want), 0x4f);
    uint8_t payload[] = {0x0a, 0x03, 'a', 'b', 'c'};
    Ttrpc__KeyValue kv = TTRPC__KEY_VALUE__INIT, *kvp = &kv;
    kv.key = "containerd-namespace-ttrpc";
    kv.value = "k8s.io";
    Ttrpc__Request r = TTRPC__REQUEST__INIT;
    r.service = "containerd.task.v2.Task";
    r.method = "Connect";
    r.payload.data = payload;
    r.payload.len = sizeof(payload);
    r.metadata = &kvp;
    r.n_metadata = 1;
    uint8_t buf[128];
    ck_assert_uint_eq(ttrpc__request__pack(&r, buf), sizeof(want));
    ck_assert_mem_eq(buf, want, sizeof(want));
}
END_TEST

/* Every prefix of two frames, delivered one byte at a time, yields both frames intact. */
START_TEST(test_reader_byte_by_byte)
{
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    const char *p1 = "hello", *p2 = "";
    uint8_t stream[64];
    size_t n = 0;
    struct ttrpc_frame_header h1 = {5, 1, 1, 0}, h2 = {0, 3, 2, 4};
    ttrpc_header_encode(stream, &h1);
    memcpy(stream + 10, p1, 5);
    ttrpc_header_encode(stream + 15, &h2);
    n = 25;
    (void)p2;
    struct ttrpc_frame_reader rd = {0};
    struct ttrpc_frame f;
    struct error err = ERROR_INIT;
    size_t sent = 0;
    int got = 0;
    while (got < 2) {
        /* Nothing complete yet: a zero-timeout read must time out, not block or misparse. */
        enum ttrpc_read_result r =
            ttrpc_frame_read(&rd, sv[0], -1, ttrpc_now_ns() + 1000000, &f, &err);
        if (r == TTRPC_READ_TIMEOUT) {
            ck_assert_uint_lt(sent, n);
            ck_assert_int_eq(write(sv[1], stream + sent, 1), 1);
            sent++;
            continue;
        }
        ck_assert_int_eq(r, TTRPC_READ_FRAME);
        if (got == 0) {
            ck_assert_uint_eq(sent, 15);
            ck_assert_uint_eq(f.hdr.length, 5);
            ck_assert_mem_eq(f.data, "hello", 5);
        } else {
            ck_assert_uint_eq(sent, 25);
            ck_assert_uint_eq(f.hdr.stream_id, 3);
            ck_assert_uint_eq(f.hdr.flags, 4);
        }
        got++;
    }
    close(sv[1]);
    ck_assert_int_eq(ttrpc_frame_read(&rd, sv[0], -1, 0, &f, &err), TTRPC_READ_EOF);
    ttrpc_frame_reader_free(&rd);
    close(sv[0]);
}
END_TEST

START_TEST(test_reader_truncated)
{
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    uint8_t b[14] = {0}; /* a header and 4 bytes of the 100 it announces */
    struct ttrpc_frame_header h = {100, 1, 1, 0};
    ttrpc_header_encode(b, &h);
    ck_assert_int_eq(write(sv[1], b, sizeof(b)), sizeof(b));
    close(sv[1]);
    struct ttrpc_frame_reader rd = {0};
    struct ttrpc_frame f;
    struct error err = ERROR_INIT;
    ck_assert_int_eq(ttrpc_frame_read(&rd, sv[0], -1, 0, &f, &err), TTRPC_READ_ERROR);
    ck_assert_ptr_nonnull(strstr(err.msg, "mid-frame"));
    error_clear(&err);
    ttrpc_frame_reader_free(&rd);
    close(sv[0]);
}
END_TEST

/* A frame over 4 MiB is reported with its header and skipped; the next frame still parses. */
START_TEST(test_reader_oversize)
{
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    pid_t pid = fork();
    if (pid == 0) {
        uint8_t b[10];
        struct ttrpc_frame_header h = {TTRPC_MESSAGE_LENGTH_MAX + 1, 7, 1, 0};
        ttrpc_header_encode(b, &h);
        (void)!write(sv[1], b, 10);
        static uint8_t zeros[65536];
        size_t left = TTRPC_MESSAGE_LENGTH_MAX + 1;
        while (left) {
            ssize_t w = write(sv[1], zeros, left < sizeof(zeros) ? left : sizeof(zeros));
            if (w <= 0)
                _exit(1);
            left -= (size_t)w;
        }
        h = (struct ttrpc_frame_header){2, 9, 1, 0};
        ttrpc_header_encode(b, &h);
        (void)!write(sv[1], b, 10);
        (void)!write(sv[1], "ok", 2);
        _exit(0);
    }
    close(sv[1]);
    struct ttrpc_frame_reader rd = {0};
    struct ttrpc_frame f;
    struct error err = ERROR_INIT;
    ck_assert_int_eq(ttrpc_frame_read(&rd, sv[0], -1, 0, &f, &err), TTRPC_READ_OVERSIZE);
    ck_assert_uint_eq(f.hdr.stream_id, 7);
    ck_assert_uint_eq(f.hdr.length, TTRPC_MESSAGE_LENGTH_MAX + 1);
    ck_assert_int_eq(ttrpc_frame_read(&rd, sv[0], -1, 0, &f, &err), TTRPC_READ_FRAME);
    ck_assert_uint_eq(f.hdr.stream_id, 9);
    ck_assert_mem_eq(f.data, "ok", 2);
    ck_assert_uint_lt(rd.cap, 1024 * 1024); /* never buffered the oversized data */
    ttrpc_frame_reader_free(&rd);
    close(sv[0]);
    waitpid(pid, NULL, 0);
}
END_TEST

/* --- calls through server and client --- */

START_TEST(test_echo)
{
    struct error err = ERROR_INIT;
    size_t out = 0;
    ck_assert_int_eq(call_echo(cli, "abc", 3, &out, &err), 0);
    ck_assert_uint_eq(out, 3);
    ck_assert_int_eq(call_echo(cli, "", 0, &out, &err), 0);
    ck_assert_uint_eq(out, 0);
}
END_TEST

START_TEST(test_error_status)
{
    struct error err = ERROR_INIT;
    ck_assert_int_eq(call_string("Fail", "5:container abc: not found", 5000, NULL, &err), -1);
    ck_assert_int_eq(err.code, GRPC_NOT_FOUND);
    ck_assert_str_eq(err.msg, "container abc: not found");
    ck_assert_int_eq(call_string("Fail", "9:process not created", 5000, NULL, &err), -1);
    ck_assert_int_eq(err.code, GRPC_FAILED_PRECONDITION);
    ck_assert_str_eq(err.msg, "process not created");
    error_clear(&err);
}
END_TEST

START_TEST(test_unimplemented)
{
    struct error err = ERROR_INIT;
    Google__Protobuf__Empty in = GOOGLE__PROTOBUF__EMPTY__INIT;
    ck_assert_int_eq(
        ttrpc_client_call(cli, "no.Such", "X", &in.base, NULL, NULL, 5000, NULL, 0, &err), -1);
    ck_assert_int_eq(err.code, GRPC_UNIMPLEMENTED);
    ck_assert_str_eq(err.msg, "service no.Such");
    ck_assert_int_eq(
        ttrpc_client_call(cli, "test.Echo", "Nope", &in.base, NULL, NULL, 5000, NULL, 0, &err), -1);
    ck_assert_int_eq(err.code, GRPC_UNIMPLEMENTED);
    ck_assert_str_eq(err.msg, "method Nope");
    error_clear(&err);
}
END_TEST

START_TEST(test_metadata_and_deadline)
{
    struct error err = ERROR_INIT;
    struct ttrpc_metadata md[] = {{"containerd-namespace-ttrpc", "k8s.io"}, {"x", "y"}};
    Google__Protobuf__StringValue in = GOOGLE__PROTOBUF__STRING_VALUE__INIT;
    in.value = "containerd-namespace-ttrpc";
    ProtobufCMessage *resp = NULL;
    ck_assert_int_eq(ttrpc_client_call(cli, "test.Echo", "Meta", &in.base,
                                       &google__protobuf__string_value__descriptor, &resp, 0, md, 2,
                                       &err),
                     0);
    ck_assert_str_eq(((Google__Protobuf__StringValue *)resp)->value, "k8s.io");
    protobuf_c_message_free_unpacked(resp, NULL);
    char *out = NULL;
    ck_assert_int_eq(call_string("Meta", "missing", 3000, &out, &err), 0);
    ck_assert_str_eq(out, ";deadline"); /* timeout_nano reached the handler */
    free(out);
}
END_TEST

START_TEST(test_deadline_exceeded)
{
    struct error err = ERROR_INIT;
    int64_t t0 = ttrpc_now_ns();
    ck_assert_int_eq(call_string("Sleep", "400", 100, NULL, &err), -1);
    ck_assert_int_eq(err.code, GRPC_DEADLINE_EXCEEDED);
    int64_t ms = (ttrpc_now_ns() - t0) / 1000000;
    ck_assert_int_ge(ms, 100);
    ck_assert_int_lt(ms, 390);
    /* The connection lives on; the late reply is dropped. */
    size_t out;
    ck_assert_int_eq(call_echo(cli, "x", 1, &out, &err), 0);
    ck_assert_int_eq(call_string("Sleep", "500", 0, NULL, &err), 0);
    error_clear(&err);
}
END_TEST

/* containerd calls Wait before Start on one connection: a blocked handler must not hold up the
 * next request. */
struct blocker {
    int result;
    struct error err;
};

static void *block_thread(void *arg)
{
    struct blocker *b = arg;
    b->result = call_empty(cli, "Block", 10000, &b->err);
    return NULL;
}

START_TEST(test_blocking_handler_does_not_stall)
{
    struct blocker b[3] = {{0, ERROR_INIT}, {0, ERROR_INIT}, {0, ERROR_INIT}};
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, block_thread, &b[i]);
    struct error err = ERROR_INIT;
    size_t out;
    for (int i = 0; i < 20; i++)
        ck_assert_int_eq(call_echo(cli, "ping", 4, &out, &err), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(call_empty(cli, "Release", 5000, &err), 0);
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
        ck_assert_int_eq(b[i].result, 0);
    }
}
END_TEST

struct hammer {
    int id;
    int failures;
};

static void *hammer_thread(void *arg)
{
    struct hammer *h = arg;
    char buf[256];
    struct error err = ERROR_INIT;
    for (int i = 0; i < 500; i++) {
        int n = snprintf(buf, sizeof(buf), "caller %d call %d %*s", h->id, i, (i * 7) % 200, "");
        size_t out;
        if (call_echo(cli, buf, (size_t)n, &out, &err) != 0)
            h->failures++;
    }
    error_clear(&err);
    return NULL;
}

START_TEST(test_concurrent_callers)
{
    struct hammer h[8];
    pthread_t t[8];
    for (int i = 0; i < 8; i++) {
        h[i] = (struct hammer){i, 0};
        pthread_create(&t[i], NULL, hammer_thread, &h[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        ck_assert_int_eq(h[i].failures, 0);
    }
}
END_TEST

START_TEST(test_large_and_oversized_payloads)
{
    struct error err = ERROR_INIT;
    size_t big = TTRPC_MESSAGE_LENGTH_MAX - 1024; /* fits with the envelopes */
    uint8_t *data = malloc(big);
    for (size_t i = 0; i < big; i++)
        data[i] = (uint8_t)(i * 31);
    size_t out = 0;
    ck_assert_int_eq(call_echo(cli, data, big, &out, &err), 0);
    ck_assert_uint_eq(out, big);
    free(data);
    size_t huge = TTRPC_MESSAGE_LENGTH_MAX + 1;
    data = calloc(1, huge);
    ck_assert_int_eq(call_echo(cli, data, huge, &out, &err), -1);
    ck_assert_int_eq(err.code, GRPC_RESOURCE_EXHAUSTED);
    free(data);
    ck_assert_int_eq(call_echo(cli, "still", 5, &out, &err), 0);
    error_clear(&err);
}
END_TEST

static void *sleeper_thread(void *arg)
{
    struct blocker *b = arg;
    b->result = call_string("Sleep", "100", 0, NULL, &b->err);
    return NULL;
}

START_TEST(test_peer_disconnect_fails_pending)
{
    /* Handlers that block forever would keep ttrpc_server_free waiting, so use a fresh pair
     * whose server side is a plain socket we close. */
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    struct ttrpc_client *c = ttrpc_client_new(sv[1]);
    struct ttrpc_client *saved = cli;
    cli = c;
    struct blocker b[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        b[i] = (struct blocker){0, ERROR_INIT};
        pthread_create(&t[i], NULL, sleeper_thread, &b[i]);
    }
    struct timespec ts = {0, 100 * 1000000};
    nanosleep(&ts, NULL);
    int64_t t0 = ttrpc_now_ns();
    close(sv[0]); /* the peer goes away without answering */
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        ck_assert_int_eq(b[i].result, -1);
        ck_assert_int_eq(b[i].err.code, GRPC_UNAVAILABLE);
        error_clear(&b[i].err);
    }
    ck_assert_int_lt((ttrpc_now_ns() - t0) / 1000000, 1000);
    ck_assert(ttrpc_client_closed(c));
    struct error err = ERROR_INIT;
    ck_assert_int_eq(call_string("Sleep", "1", 0, NULL, &err), -1);
    ck_assert_int_eq(err.code, GRPC_UNAVAILABLE);
    error_clear(&err);
    cli = saved;
    ttrpc_client_free(c);
}
END_TEST

/* --- raw frames against the server --- */

static void raw_send(uint32_t id, uint8_t type, const void *data, size_t len)
{
    ck_assert_int_eq(ttrpc_frame_write(raw_fd, id, type, 0, data, len), 0);
}

static Ttrpc__Response *raw_recv(uint32_t *id)
{
    static struct ttrpc_frame_reader rd;
    struct ttrpc_frame f;
    struct error err = ERROR_INIT;
    enum ttrpc_read_result r =
        ttrpc_frame_read(&rd, raw_fd, -1, ttrpc_now_ns() + 5000000000LL, &f, &err);
    ck_assert_int_eq(r, TTRPC_READ_FRAME);
    ck_assert_uint_eq(f.hdr.type, TTRPC_TYPE_RESPONSE);
    *id = f.hdr.stream_id;
    Ttrpc__Response *resp = ttrpc__response__unpack(NULL, f.hdr.length, f.data);
    ck_assert_ptr_nonnull(resp);
    ttrpc_frame_reader_free(&rd);
    return resp;
}

static size_t pack_echo_request(uint8_t *buf, const char *method)
{
    uint8_t payload[] = {0x0a, 0x02, 'h', 'i'};
    Ttrpc__Request r = TTRPC__REQUEST__INIT;
    r.service = "test.Echo";
    r.method = (char *)method;
    r.payload.data = payload;
    r.payload.len = sizeof(payload);
    return ttrpc__request__pack(&r, buf);
}

static void expect_status(uint32_t want_id, int code, const char *msg_part)
{
    uint32_t id;
    Ttrpc__Response *resp = raw_recv(&id);
    ck_assert_uint_eq(id, want_id);
    ck_assert_ptr_nonnull(resp->status);
    ck_assert_int_eq(resp->status->code, code);
    if (msg_part)
        ck_assert_msg(strstr(resp->status->message, msg_part), "message \"%s\" lacks \"%s\"",
                      resp->status->message, msg_part);
    ttrpc__response__free_unpacked(resp, NULL);
}

START_TEST(test_raw_success_has_empty_status)
{
    uint8_t buf[128];
    size_t n = pack_echo_request(buf, "Echo");
    raw_send(1, TTRPC_TYPE_REQUEST, buf, n);
    struct ttrpc_frame_reader rd = {0};
    struct ttrpc_frame f;
    struct error err = ERROR_INIT;
    ck_assert_int_eq(ttrpc_frame_read(&rd, raw_fd, -1, 0, &f, &err), TTRPC_READ_FRAME);
    const uint8_t want[] = {0x0a, 0x00, 0x12, 0x04, 0x0a, 0x02, 'h', 'i'};
    ck_assert_uint_eq(f.hdr.length, sizeof(want));
    ck_assert_mem_eq(f.data, want, sizeof(want));
    ttrpc_frame_reader_free(&rd);
}
END_TEST

START_TEST(test_raw_bad_stream_ids)
{
    uint8_t buf[128];
    size_t n = pack_echo_request(buf, "Echo");
    raw_send(2, TTRPC_TYPE_REQUEST, buf, n);
    expect_status(2, GRPC_INVALID_ARGUMENT, "StreamID must be odd");
    raw_send(5, TTRPC_TYPE_REQUEST, buf, n);
    expect_status(5, GRPC_OK, NULL);
    raw_send(3, TTRPC_TYPE_REQUEST, buf, n);
    expect_status(3, GRPC_INVALID_ARGUMENT, "must increment");
    raw_send(7, TTRPC_TYPE_DATA, "x", 1);
    expect_status(7, GRPC_INVALID_ARGUMENT, "no longer active");
    raw_send(9, 0x42, "x", 1); /* unknown type: ignored */
    raw_send(11, TTRPC_TYPE_REQUEST, buf, n);
    expect_status(11, GRPC_OK, NULL);
}
END_TEST

START_TEST(test_raw_garbage_payloads)
{
    raw_send(1, TTRPC_TYPE_REQUEST, "\xff\xff\xff", 3);
    expect_status(1, GRPC_INVALID_ARGUMENT, "unmarshal request");
    /* A valid envelope whose payload is not a BytesValue. */
    uint8_t bad[] = {0x0a, 0xff};
    Ttrpc__Request r = TTRPC__REQUEST__INIT;
    r.service = "test.Echo";
    r.method = "Echo";
    r.payload.data = bad;
    r.payload.len = sizeof(bad);
    uint8_t buf[128];
    size_t n = ttrpc__request__pack(&r, buf);
    raw_send(3, TTRPC_TYPE_REQUEST, buf, n);
    expect_status(3, GRPC_INVALID_ARGUMENT, "cannot decode");
    n = pack_echo_request(buf, "Echo");
    raw_send(5, TTRPC_TYPE_REQUEST, buf, n);
    expect_status(5, GRPC_OK, NULL);
}
END_TEST

START_TEST(test_raw_oversize_answered_on_its_stream)
{
    uint8_t hdr[10];
    struct ttrpc_frame_header h = {TTRPC_MESSAGE_LENGTH_MAX + 100, 1, TTRPC_TYPE_REQUEST, 0};
    ttrpc_header_encode(hdr, &h);
    ck_assert_int_eq(write(raw_fd, hdr, 10), 10);
    size_t left = h.length;
    uint8_t *junk = calloc(1, 1 << 20);
    /* The server must consume (and discard) as we send, or these writes would block forever. */
    while (left) {
        ssize_t w = write(raw_fd, junk, left < (1u << 20) ? left : (1u << 20));
        ck_assert_int_gt(w, 0);
        left -= (size_t)w;
    }
    free(junk);
    expect_status(1, GRPC_RESOURCE_EXHAUSTED, "exceed maximum message size");
    uint8_t buf[128];
    size_t n = pack_echo_request(buf, "Echo");
    raw_send(3, TTRPC_TYPE_REQUEST, buf, n);
    expect_status(3, GRPC_OK, NULL);
}
END_TEST

START_TEST(test_raw_disconnect_mid_frame)
{
    uint8_t hdr[10];
    struct ttrpc_frame_header h = {1000, 1, TTRPC_TYPE_REQUEST, 0};
    ttrpc_header_encode(hdr, &h);
    ck_assert_int_eq(write(raw_fd, hdr, 10), 10);
    ck_assert_int_eq(write(raw_fd, "partial", 7), 7);
    close(raw_fd);
    raw_fd = -1;
    for (int i = 0; i < 200 && ttrpc_server_connections(srv) > 0; i++) {
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    ck_assert_uint_eq(ttrpc_server_connections(srv), 0);
}
END_TEST

/* A connection epoll cannot watch (a regular file) is still read, by a worker at once. */
START_TEST(test_unwatchable_fd_is_still_served)
{
    start_server();
    char path[] = "/tmp/cocoon-ttrpc-file-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    uint8_t buf[128];
    size_t n = pack_echo_request(buf, "Echo");
    ck_assert_int_eq(ttrpc_frame_write(fd, 1, TTRPC_TYPE_REQUEST, 0, buf, n), 0);
    off_t end = lseek(fd, 0, SEEK_CUR);
    char proc[64];
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    int rfd = open(proc, O_RDONLY); /* a file offset of our own, to read the reply back */
    ck_assert_int_ge(rfd, 0);
    lseek(fd, 0, SEEK_SET);
    ttrpc_server_add_connection(srv, fd); /* reads the request, appends the reply, sees EOF */
    for (int i = 0; i < 300 && ttrpc_server_connections(srv) > 0; i++) {
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    ck_assert_uint_eq(ttrpc_server_connections(srv), 0);
    lseek(rfd, end, SEEK_SET);
    struct ttrpc_frame_reader rd = {0};
    struct ttrpc_frame f;
    struct error err = ERROR_INIT;
    ck_assert_int_eq(ttrpc_frame_read(&rd, rfd, -1, 0, &f, &err), TTRPC_READ_FRAME);
    ck_assert_uint_eq(f.hdr.type, TTRPC_TYPE_RESPONSE);
    ck_assert_uint_eq(f.hdr.stream_id, 1);
    ttrpc_frame_reader_free(&rd);
    close(rfd);
    teardown();
}
END_TEST

/* --- dialers and listener --- */

static char tmpdir[64];

static void dial_setup(void)
{
    strcpy(tmpdir, "/tmp/cocoon-ttrpc-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    start_server();
}

static void dial_teardown(void)
{
    teardown();
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(test_unix_listen_and_dial)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/s.sock", tmpdir);
    struct error err = ERROR_INIT;
    int lfd = ttrpc_listen_unix(path, &err);
    ck_assert_int_ge(lfd, 0);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    ck_assert_int_eq(ttrpc_listen_unix(path, &err), -1);
    ck_assert_int_eq(err.code, GRPC_ALREADY_EXISTS);
    ck_assert_int_eq(ttrpc_server_listen(srv, lfd, &err), 0);
    char addr[160];
    snprintf(addr, sizeof(addr), "unix://%s", path);
    int fd = ttrpc_dial(addr, 1000, &err);
    ck_assert_int_ge(fd, 0);
    cli = ttrpc_client_new(fd);
    size_t out;
    ck_assert_int_eq(call_echo(cli, "u", 1, &out, &err), 0);
    error_clear(&err);
}
END_TEST

START_TEST(test_dial_errors)
{
    struct error err = ERROR_INIT;
    ck_assert_int_eq(ttrpc_dial("tcp://1.2.3.4:5", 100, &err), -1);
    ck_assert_int_eq(err.code, GRPC_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(err.msg, "no known scheme"));
    ck_assert_int_eq(ttrpc_dial("vsock://x:1024", 100, &err), -1);
    ck_assert_int_eq(err.code, GRPC_INVALID_ARGUMENT);
    ck_assert_int_eq(ttrpc_dial("vsock://3", 100, &err), -1);
    ck_assert_int_eq(err.code, GRPC_INVALID_ARGUMENT);
    ck_assert_int_eq(ttrpc_dial("hvsock:///run/x.sock", 100, &err), -1);
    ck_assert_int_eq(err.code, GRPC_INVALID_ARGUMENT);
    ck_assert_int_eq(ttrpc_dial("unix://relative", 100, &err), -1);
    ck_assert_int_eq(err.code, GRPC_INVALID_ARGUMENT);
    char longp[200];
    memset(longp, 'a', sizeof(longp));
    memcpy(longp, "unix:///", 8);
    longp[199] = '\0';
    ck_assert_int_eq(ttrpc_dial(longp, 100, &err), -1);
    ck_assert_int_eq(err.code, GRPC_INVALID_ARGUMENT);
    char path[128];
    snprintf(path, sizeof(path), "unix://%s/missing.sock", tmpdir);
    ck_assert_int_eq(ttrpc_dial(path, 100, &err), -1);
    ck_assert_int_eq(err.code, GRPC_NOT_FOUND);
    /* A virtio-serial socket that never appears: retried, then DEADLINE_EXCEEDED. */
    snprintf(path, sizeof(path), "virtio-serial://%s/missing.sock", tmpdir);
    int64_t t0 = ttrpc_now_ns();
    ck_assert_int_eq(ttrpc_dial(path, 300, &err), -1);
    ck_assert_int_eq(err.code, GRPC_DEADLINE_EXCEEDED);
    int64_t ms = (ttrpc_now_ns() - t0) / 1000000;
    ck_assert_int_ge(ms, 250);
    ck_assert_int_lt(ms, 1000);
    error_clear(&err);
}
END_TEST

struct late_listener {
    char path[128];
    int delay_ms;
    const char *hvsock_reply; /* NULL: plain socket handed to the server */
};

static void *late_listen_thread(void *arg)
{
    struct late_listener *l = arg;
    struct timespec ts = {0, l->delay_ms * 1000000L};
    nanosleep(&ts, NULL);
    struct error err = ERROR_INIT;
    int lfd = ttrpc_listen_unix(l->path, &err);
    if (lfd < 0)
        return NULL;
    if (!l->hvsock_reply) {
        ttrpc_server_listen(srv, lfd, &err);
        return NULL;
    }
    /* A hybrid-vsock multiplexer: read "CONNECT <port>\n", answer, then hand the connection
     * to the ttrpc server. */
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    close(lfd);
    char line[64];
    size_t n = 0;
    while (n < sizeof(line) - 1 && read(fd, line + n, 1) == 1 && line[n++] != '\n')
        ;
    line[n] = '\0';
    if (strcmp(line, "CONNECT 1024\n") != 0) {
        close(fd);
        return NULL;
    }
    (void)!write(fd, l->hvsock_reply, strlen(l->hvsock_reply));
    if (strncmp(l->hvsock_reply, "OK", 2) == 0)
        ttrpc_server_add_connection(srv, fd);
    else
        close(fd);
    return NULL;
}

START_TEST(test_virtio_serial_waits_for_socket)
{
    struct late_listener l = {.delay_ms = 200};
    snprintf(l.path, sizeof(l.path), "%s/agent.sock", tmpdir);
    pthread_t t;
    pthread_create(&t, NULL, late_listen_thread, &l);
    char addr[160];
    snprintf(addr, sizeof(addr), "virtio-serial://%s", l.path);
    struct error err = ERROR_INIT;
    int fd = ttrpc_dial(addr, 3000, &err);
    ck_assert_msg(fd >= 0, "dial: %s", err.msg);
    pthread_join(t, NULL);
    cli = ttrpc_client_new(fd);
    size_t out;
    ck_assert_int_eq(call_echo(cli, "serial", 6, &out, &err), 0);
}
END_TEST

START_TEST(test_hybrid_vsock)
{
    struct late_listener l = {.delay_ms = 0, .hvsock_reply = "OK 1073741824\n"};
    snprintf(l.path, sizeof(l.path), "%s/hv.sock", tmpdir);
    pthread_t t;
    pthread_create(&t, NULL, late_listen_thread, &l);
    char addr[160];
    snprintf(addr, sizeof(addr), "hvsock://%s:1024", l.path);
    struct error err = ERROR_INIT;
    int fd = ttrpc_dial(addr, 3000, &err);
    ck_assert_msg(fd >= 0, "dial: %s", err.msg);
    pthread_join(t, NULL);
    cli = ttrpc_client_new(fd);
    size_t out;
    ck_assert_int_eq(call_echo(cli, "hv", 2, &out, &err), 0);
}
END_TEST

START_TEST(test_hybrid_vsock_refused)
{
    struct late_listener l = {.delay_ms = 0, .hvsock_reply = "FAILURE\n"};
    snprintf(l.path, sizeof(l.path), "%s/hv.sock", tmpdir);
    pthread_t t;
    pthread_create(&t, NULL, late_listen_thread, &l);
    char addr[160];
    snprintf(addr, sizeof(addr), "hvsock://%s:1024", l.path);
    struct error err = ERROR_INIT;
    ck_assert_int_eq(ttrpc_dial(addr, 500, &err), -1);
    ck_assert_int_eq(err.code, GRPC_DEADLINE_EXCEEDED);
    pthread_join(t, NULL);
    error_clear(&err);
}
END_TEST

/* SO_PEERCRED: a peer with another uid is refused before any request is read. */
START_TEST(test_peercred_refuses_other_uid)
{
    if (geteuid() != 0)
        return; /* needs root to become another user */
    ttrpc_server_free(srv);
    struct ttrpc_server_options o = {.require_same_uid = true};
    srv = ttrpc_server_new(&o);
    struct error err = ERROR_INIT;
    ck_assert_int_eq(echo_service_register(svc, srv, &err), 0);
    char path[128];
    snprintf(path, sizeof(path), "%s/cred.sock", tmpdir);
    int lfd = ttrpc_listen_unix(path, &err);
    ck_assert_int_ge(lfd, 0);
    chmod(tmpdir, 0755);
    chmod(path, 0666);
    ck_assert_int_eq(ttrpc_server_listen(srv, lfd, &err), 0);
    pid_t pid = fork();
    if (pid == 0) {
        if (setgid(65534) < 0 || setuid(65534) < 0)
            _exit(2);
        char addr[160];
        snprintf(addr, sizeof(addr), "unix://%s", path);
        int fd = ttrpc_dial(addr, 1000, &err);
        if (fd < 0)
            _exit(3);
        cli = ttrpc_client_new(fd);
        int r = call_string("Sleep", "1", 2000, NULL, &err);
        _exit(r == -1 && err.code == GRPC_UNAVAILABLE ? 0 : 4);
    }
    int status;
    waitpid(pid, &status, 0);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    /* Our own uid is served. */
    char addr[160];
    snprintf(addr, sizeof(addr), "unix://%s", path);
    int fd = ttrpc_dial(addr, 1000, &err);
    ck_assert_int_ge(fd, 0);
    cli = ttrpc_client_new(fd);
    ck_assert_int_eq(call_string("Sleep", "1", 2000, NULL, &err), 0);
}
END_TEST

static Suite *ttrpc_suite(void)
{
    Suite *s = suite_create("ttrpc");
    TCase *tc = tcase_create("frame");
    tcase_add_test(tc, test_header_roundtrip);
    tcase_add_test(tc, test_request_bytes);
    tcase_add_test(tc, test_reader_byte_by_byte);
    tcase_add_test(tc, test_reader_truncated);
    tcase_add_test(tc, test_reader_oversize);
    suite_add_tcase(s, tc);

    tc = tcase_create("calls");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_echo);
    tcase_add_test(tc, test_error_status);
    tcase_add_test(tc, test_unimplemented);
    tcase_add_test(tc, test_metadata_and_deadline);
    tcase_add_test(tc, test_deadline_exceeded);
    tcase_add_test(tc, test_blocking_handler_does_not_stall);
    tcase_add_test(tc, test_concurrent_callers);
    tcase_add_test(tc, test_large_and_oversized_payloads);
    tcase_add_test(tc, test_peer_disconnect_fails_pending);
    suite_add_tcase(s, tc);

    tc = tcase_create("raw");
    tcase_add_checked_fixture(tc, setup_raw, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_raw_success_has_empty_status);
    tcase_add_test(tc, test_raw_bad_stream_ids);
    tcase_add_test(tc, test_raw_garbage_payloads);
    tcase_add_test(tc, test_raw_oversize_answered_on_its_stream);
    tcase_add_test(tc, test_raw_disconnect_mid_frame);
    suite_add_tcase(s, tc);

    tc = tcase_create("fallback");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_unwatchable_fd_is_still_served);
    suite_add_tcase(s, tc);

    tc = tcase_create("dial");
    tcase_add_checked_fixture(tc, dial_setup, dial_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_unix_listen_and_dial);
    tcase_add_test(tc, test_dial_errors);
    tcase_add_test(tc, test_virtio_serial_waits_for_socket);
    tcase_add_test(tc, test_hybrid_vsock);
    tcase_add_test(tc, test_hybrid_vsock_refused);
    tcase_add_test(tc, test_peercred_refuses_other_uid);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    return run_tap(ttrpc_suite());
}
