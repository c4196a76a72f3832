/* shim/events: the ordered event publisher against a fake containerd Events service (ttrpc on a
 * unix socket) and against a fake publish binary (a shell script). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "containerd/events/task.pb-c.h"
#include "containerd/services/events/ttrpc/v1/events.pb-c.h"
#include "google/protobuf/any.pb-c.h"
#include "lib/clock.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "shim/events.h"
#include "ttrpc/dial.h"
#include "ttrpc/server.h"
#include "tests/common/run-tap.h"

#define NS "k8s.io"

static char tmpdir[64];
static char sock_path[128];

/* --- the fake containerd: records every Forward, can fail or hang on demand --- */

struct record {
    char *ns, *topic, *type_url, *md;
    int64_t seconds;
    int32_t nanos;
    uint8_t *value;
    size_t len;
    bool ok; /* answered success (else it was a failed attempt) */
};

static struct fake {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct record recs[4096]; /* every attempt, in arrival order */
    size_t n_recs;
    size_t n_ok;
    int fail_first;           /* answer UNAVAILABLE to this many calls */
    const char *poison_topic; /* always fail events with this topic */
    bool block;               /* hold every call until cleared */
    unsigned blocked;
    struct ttrpc_server *srv;
} fake = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static int forward_handler(void *user, const struct ttrpc_call *call, const ProtobufCMessage *req,
                           struct ttrpc_reply *reply, struct error *err)
{
    const Containerd__Services__Events__Ttrpc__V1__ForwardRequest *fr = (const void *)req;
    const Containerd__Services__Events__Ttrpc__V1__Envelope *env = fr->envelope;
    pthread_mutex_lock(&fake.lock);
    if (fake.block) {
        fake.blocked++;
        pthread_cond_broadcast(&fake.cond);
        while (fake.block)
            pthread_cond_wait(&fake.cond, &fake.lock);
    }
    bool fail = fake.fail_first > 0 ||
                (env && fake.poison_topic && strcmp(env->topic, fake.poison_topic) == 0);
    if (fake.fail_first > 0)
        fake.fail_first--;
    if (fake.n_recs < sizeof(fake.recs) / sizeof(fake.recs[0])) {
        struct record *r = &fake.recs[fake.n_recs++];
        const char *md = ttrpc_call_metadata(call, "containerd-namespace-ttrpc");
        r->md = md ? xstrdup(md) : NULL;
        r->ok = !fail;
        if (env) {
            r->ns = xstrdup(env->namespace_);
            r->topic = xstrdup(env->topic);
            if (env->timestamp) {
                r->seconds = env->timestamp->seconds;
                r->nanos = env->timestamp->nanos;
            }
            if (env->event) {
                r->type_url = xstrdup(env->event->type_url);
                r->len = env->event->value.len;
                r->value = xmemdup(env->event->value.data, r->len ? r->len : 1);
            }
        }
    }
    if (!fail)
        fake.n_ok++;
    pthread_cond_broadcast(&fake.cond);
    pthread_mutex_unlock(&fake.lock);
    if (fail)
        return error_set(err, GRPC_UNAVAILABLE, "fake containerd: not now");
    return 0;
}

static const struct ttrpc_method events_methods[] = {
    {"Forward", &containerd__services__events__ttrpc__v1__forward_request__descriptor,
     forward_handler},
};

static void fake_start(void)
{
    struct error err = ERROR_INIT;
    fake.srv = ttrpc_server_new(NULL);
    ck_assert_int_eq(ttrpc_server_register(fake.srv, "containerd.services.events.ttrpc.v1.Events",
                                           events_methods, 1, NULL, &err),
                     0);
    int fd = ttrpc_listen_unix(sock_path, &err);
    ck_assert_msg(fd >= 0, "listen: %s", err.msg);
    ck_assert_int_eq(ttrpc_server_listen(fake.srv, fd, &err), 0);
}

static void fake_stop(void)
{
    pthread_mutex_lock(&fake.lock);
    fake.block = false;
    pthread_cond_broadcast(&fake.cond);
    pthread_mutex_unlock(&fake.lock);
    ttrpc_server_free(fake.srv);
    fake.srv = NULL;
    unlink(sock_path);
}

/* Waits until n calls have succeeded; false after timeout_ms. */
static bool wait_ok(size_t n, int timeout_ms)
{
    int64_t end = now_ms() + timeout_ms;
    pthread_mutex_lock(&fake.lock);
    while (fake.n_ok < n && now_ms() < end) {
        pthread_mutex_unlock(&fake.lock);
        usleep(2000);
        pthread_mutex_lock(&fake.lock);
    }
    bool ok = fake.n_ok >= n;
    pthread_mutex_unlock(&fake.lock);
    return ok;
}

static bool wait_blocked(unsigned n, int timeout_ms)
{
    int64_t end = now_ms() + timeout_ms;
    pthread_mutex_lock(&fake.lock);
    while (fake.blocked < n && now_ms() < end) {
        pthread_mutex_unlock(&fake.lock);
        usleep(2000);
        pthread_mutex_lock(&fake.lock);
    }
    bool ok = fake.blocked >= n;
    pthread_mutex_unlock(&fake.lock);
    return ok;
}

static void release_blocked(void)
{
    pthread_mutex_lock(&fake.lock);
    fake.block = false;
    pthread_cond_broadcast(&fake.cond);
    pthread_mutex_unlock(&fake.lock);
}

/* --- events with a sequence number in their pid, and decoding it back --- */

static const char *const topics[] = {"/tasks/start", "/tasks/exit", "/tasks/exec-started"};

static void publish_seq(struct publisher *p, unsigned i)
{
    switch (i % 3) {
    case 0: {
        Containerd__Events__TaskStart e = CONTAINERD__EVENTS__TASK_START__INIT;
        e.container_id = "c1";
        e.pid = i;
        publisher_publish(p, topics[0], &e.base);
        break;
    }
    case 1: {
        Containerd__Events__TaskExit e = CONTAINERD__EVENTS__TASK_EXIT__INIT;
        e.container_id = "c1";
        e.id = "c1";
        e.pid = i;
        publisher_publish(p, topics[1], &e.base);
        break;
    }
    default: {
        Containerd__Events__TaskExecStarted e = CONTAINERD__EVENTS__TASK_EXEC_STARTED__INIT;
        e.container_id = "c1";
        e.exec_id = "x";
        e.pid = i;
        publisher_publish(p, topics[2], &e.base);
    }
    }
}

/* The sequence number of a recorded event (checking that topic and type agree), or -1. */
static long record_seq(const struct record *r)
{
    static const ProtobufCMessageDescriptor *const descs[] = {
        &containerd__events__task_start__descriptor,
        &containerd__events__task_exit__descriptor,
        &containerd__events__task_exec_started__descriptor,
    };
    for (int k = 0; k < 3; k++) {
        if (!r->topic || strcmp(r->topic, topics[k]) != 0)
            continue;
        if (!r->type_url || strcmp(r->type_url, descs[k]->name) != 0)
            return -1;
        ProtobufCMessage *m = protobuf_c_message_unpack(descs[k], NULL, r->len, r->value);
        if (!m)
            return -1;
        uint32_t pid = k == 0   ? ((Containerd__Events__TaskStart *)m)->pid
                       : k == 1 ? ((Containerd__Events__TaskExit *)m)->pid
                                : ((Containerd__Events__TaskExecStarted *)m)->pid;
        protobuf_c_message_free_unpacked(m, NULL);
        return (long)pid % 3 == k ? (long)pid : -1;
    }
    return -1;
}

/* The sequence numbers of the successful records, in order, into out; returns how many. */
static size_t ok_seqs(long *out, size_t max)
{
    size_t n = 0;
    pthread_mutex_lock(&fake.lock);
    for (size_t i = 0; i < fake.n_recs && n < max; i++)
        if (fake.recs[i].ok)
            out[n++] = record_seq(&fake.recs[i]);
    pthread_mutex_unlock(&fake.lock);
    return n;
}

static struct publisher *ttrpc_publisher(int backoff_ms, unsigned max_queued)
{
    struct publisher_options o = {
        .ttrpc_address = sock_path,
        .namespace_ = NS,
        .backoff_ms = backoff_ms,
        .max_queued = max_queued,
        .call_timeout_ms = 2000,
    };
    return publisher_new(&o);
}

/* --- fixture --- */

static void setup(void)
{
    strcpy(tmpdir, "/tmp/cocoon-events-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(sock_path, sizeof(sock_path), "%s/events.sock", tmpdir);
}

static void teardown(void)
{
    if (fake.srv)
        fake_stop();
    for (size_t i = 0; i < fake.n_recs; i++) {
        struct record *r = &fake.recs[i];
        free(r->ns);
        free(r->topic);
        free(r->type_url);
        free(r->md);
        free(r->value);
    }
    memset(fake.recs, 0, sizeof(fake.recs));
    fake.n_recs = fake.n_ok = 0;
    fake.fail_first = 0;
    fake.poison_topic = NULL;
    fake.blocked = 0;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

/* --- ttrpc path --- */

START_TEST(test_order_1000)
{
    fake_start();
    struct publisher *p = ttrpc_publisher(0, 0);
    for (unsigned i = 0; i < 1000; i++)
        publish_seq(p, i);
    ck_assert(wait_ok(1000, 20000));
    publisher_free(p, 5000);
    static long seqs[1100];
    ck_assert_uint_eq(ok_seqs(seqs, 1100), 1000);
    for (long i = 0; i < 1000; i++)
        ck_assert_int_eq(seqs[i], i);
    ck_assert_uint_eq(fake.n_recs, 1000); /* nothing sent twice */
}
END_TEST

START_TEST(test_envelope_fields)
{
    fake_start();
    struct publisher *p = ttrpc_publisher(0, 0);
    Google__Protobuf__Timestamp at = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    at.seconds = 1700000000;
    at.nanos = 42;
    Containerd__Events__TaskExit e = CONTAINERD__EVENTS__TASK_EXIT__INIT;
    e.container_id = "ctr-1";
    e.id = "exec-7";
    e.pid = 4242;
    e.exit_status = 137;
    e.exited_at = &at;
    struct timespec before, after;
    clock_gettime(CLOCK_REALTIME, &before);
    publisher_publish(p, "/tasks/exit", &e.base);
    clock_gettime(CLOCK_REALTIME, &after);
    e.container_id = "changed after publish"; /* packed at publish time: must not matter */
    ck_assert(wait_ok(1, 5000));
    publisher_free(p, 1000);

    const struct record *r = &fake.recs[0];
    ck_assert_str_eq(r->ns, NS);
    ck_assert_str_eq(r->md, NS);
    ck_assert_str_eq(r->topic, "/tasks/exit");
    ck_assert_str_eq(r->type_url, "containerd.events.TaskExit");
    ck_assert(r->seconds != 0);
    int64_t ts = r->seconds * 1000000000LL + r->nanos;
    ck_assert_int_ge(ts, before.tv_sec * 1000000000LL + before.tv_nsec);
    ck_assert_int_le(ts, after.tv_sec * 1000000000LL + after.tv_nsec);
    Containerd__Events__TaskExit *d = containerd__events__task_exit__unpack(NULL, r->len, r->value);
    ck_assert_ptr_nonnull(d);
    ck_assert_str_eq(d->container_id, "ctr-1");
    ck_assert_str_eq(d->id, "exec-7");
    ck_assert_uint_eq(d->pid, 4242);
    ck_assert_uint_eq(d->exit_status, 137);
    ck_assert_ptr_nonnull(d->exited_at);
    ck_assert_int_eq(d->exited_at->seconds, 1700000000);
    ck_assert_int_eq(d->exited_at->nanos, 42);
    containerd__events__task_exit__free_unpacked(d, NULL);
}
END_TEST

/* No namespace given: "default", in the envelope and the metadata. */
START_TEST(test_default_namespace)
{
    fake_start();
    struct publisher_options o = {.ttrpc_address = sock_path};
    struct publisher *p = publisher_new(&o);
    publish_seq(p, 0);
    ck_assert(wait_ok(1, 5000));
    publisher_free(p, 1000);
    ck_assert_str_eq(fake.recs[0].ns, "default");
    ck_assert_str_eq(fake.recs[0].md, "default");
}
END_TEST

/* The first attempts fail: the failing event is retried and later ones wait for it. */
START_TEST(test_errors_retried_in_order)
{
    fake_start();
    fake.fail_first = 3;
    struct publisher *p = ttrpc_publisher(10, 0);
    for (unsigned i = 0; i < 3; i++)
        publish_seq(p, i);
    ck_assert(wait_ok(3, 5000));
    publisher_free(p, 1000);
    ck_assert_uint_eq(fake.n_recs, 6);
    const long want[] = {0, 0, 0, 0, 1, 2};
    const bool want_ok[] = {false, false, false, true, true, true};
    for (int i = 0; i < 6; i++) {
        ck_assert_int_eq(record_seq(&fake.recs[i]), want[i]);
        ck_assert_int_eq(fake.recs[i].ok, want_ok[i]);
    }
}
END_TEST

/* An event that always fails is tried 6 times, dropped, and the queue moves on. */
START_TEST(test_budget_then_dropped)
{
    fake_start();
    fake.poison_topic = "/tasks/exit";
    struct publisher *p = ttrpc_publisher(5, 0);
    for (unsigned i = 0; i < 3; i++)
        publish_seq(p, i); /* 1 is /tasks/exit */
    ck_assert(wait_ok(2, 5000));
    publisher_free(p, 1000);
    ck_assert_uint_eq(fake.n_recs, 8);
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(record_seq(&fake.recs[i]), i == 0 ? 0 : i == 7 ? 2 : 1);
}
END_TEST

/* containerd not up yet: dialling fails, is retried, and delivers once it listens. */
START_TEST(test_server_late)
{
    struct publisher *p = ttrpc_publisher(50, 0);
    for (unsigned i = 0; i < 3; i++)
        publish_seq(p, i);
    usleep(80 * 1000);
    ck_assert_uint_eq(fake.n_recs, 0);
    fake_start();
    ck_assert(wait_ok(3, 5000));
    publisher_free(p, 1000);
    long seqs[8];
    ck_assert_uint_eq(ok_seqs(seqs, 8), 3);
    for (long i = 0; i < 3; i++)
        ck_assert_int_eq(seqs[i], i);
}
END_TEST

/* containerd restarts: the dropped connection is replaced and nothing is lost or reordered. */
START_TEST(test_server_restart)
{
    fake_start();
    struct publisher *p = ttrpc_publisher(20, 0);
    for (unsigned i = 0; i < 10; i++)
        publish_seq(p, i);
    ck_assert(wait_ok(10, 5000));
    fake_stop();
    for (unsigned i = 10; i < 20; i++)
        publish_seq(p, i);
    usleep(30 * 1000);
    fake_start();
    ck_assert(wait_ok(20, 5000));
    ck_assert_uint_eq(ttrpc_server_connections(fake.srv), 1);
    publisher_free(p, 1000);
    long seqs[40];
    ck_assert_uint_eq(ok_seqs(seqs, 40), 20);
    for (long i = 0; i < 20; i++)
        ck_assert_int_eq(seqs[i], i);
}
END_TEST

/* A full queue drops its oldest waiting event, never blocks the publisher. */
START_TEST(test_queue_full_drops_oldest)
{
    fake_start();
    fake.block = true;
    struct publisher *p = ttrpc_publisher(0, 4);
    publish_seq(p, 0);
    ck_assert(wait_blocked(1, 5000)); /* 0 is in flight, not in the queue */
    int64_t t0 = now_ms();
    for (unsigned i = 1; i < 10; i++)
        publish_seq(p, i);
    ck_assert_int_lt(now_ms() - t0, 500);
    release_blocked();
    ck_assert(wait_ok(5, 5000));
    publisher_free(p, 1000);
    long seqs[16];
    ck_assert_uint_eq(ok_seqs(seqs, 16), 5);
    const long want[] = {0, 6, 7, 8, 9};
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(seqs[i], want[i]);
}
END_TEST

/* publisher_free sends what is queued before it returns. */
START_TEST(test_free_flushes)
{
    fake_start();
    struct publisher *p = ttrpc_publisher(0, 0);
    for (unsigned i = 0; i < 200; i++)
        publish_seq(p, i);
    publisher_free(p, 10000);
    long seqs[256];
    ck_assert_uint_eq(ok_seqs(seqs, 256), 200);
    for (long i = 0; i < 200; i++)
        ck_assert_int_eq(seqs[i], i);
}
END_TEST

/* Nobody listening: publisher_free gives up at its timeout (the backoff alone would be 15 s). */
START_TEST(test_free_no_server_bounded)
{
    struct publisher_options o = {.ttrpc_address = sock_path, .namespace_ = NS};
    struct publisher *p = publisher_new(&o);
    for (unsigned i = 0; i < 5; i++)
        publish_seq(p, i);
    usleep(20 * 1000);
    int64_t t0 = now_ms();
    publisher_free(p, 300);
    int64_t took = now_ms() - t0;
    ck_assert_int_ge(took, 250);
    ck_assert_int_lt(took, 1000);
}
END_TEST

/* containerd accepts but never answers: the call in flight (5 s deadline) is cut short. */
START_TEST(test_free_hung_server_bounded)
{
    fake_start();
    fake.block = true;
    struct publisher_options o = {.ttrpc_address = sock_path, .namespace_ = NS};
    struct publisher *p = publisher_new(&o);
    publish_seq(p, 0);
    publish_seq(p, 1);
    ck_assert(wait_blocked(1, 5000));
    int64_t t0 = now_ms();
    publisher_free(p, 300);
    int64_t took = now_ms() - t0;
    ck_assert_int_ge(took, 250);
    ck_assert_int_lt(took, 1000);
    release_blocked();
}
END_TEST

/* Refused before queueing: a topic containerd would reject, or no message. */
START_TEST(test_bad_topic_refused)
{
    fake_start();
    struct publisher *p = ttrpc_publisher(0, 0);
    Containerd__Events__TaskOOM e = CONTAINERD__EVENTS__TASK_OOM__INIT;
    e.container_id = "c1";
    publisher_publish(p, "tasks/oom", &e.base);
    publisher_publish(p, "/", &e.base);
    publisher_publish(p, NULL, &e.base);
    publisher_publish(p, "/tasks/oom", NULL);
    publish_seq(p, 0);
    ck_assert(wait_ok(1, 5000));
    publisher_free(p, 1000);
    ck_assert_uint_eq(fake.n_recs, 1);
    ck_assert_int_eq(record_seq(&fake.recs[0]), 0);
}
END_TEST

/* Debug logging names the topic of each event sent, never its contents. */
START_TEST(test_log_topic_not_payload)
{
    fake_start();
    _cleanup_free_ char *log_path = xasprintf("%s/log", tmpdir);
    int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    log_set_fd(fd);
    log_set_level(LOG_LEVEL_DEBUG);
    struct publisher *p = ttrpc_publisher(0, 0);
    Containerd__Events__TaskExit e = CONTAINERD__EVENTS__TASK_EXIT__INIT;
    e.container_id = "SECRET-PAYLOAD-1234";
    publisher_publish(p, "/tasks/exit", &e.base);
    ck_assert(wait_ok(1, 5000));
    publisher_free(p, 1000);
    log_set_fd(2);
    log_set_level(LOG_LEVEL_INFO);
    close(fd);
    char buf[4096] = {0};
    FILE *f = fopen(log_path, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    ck_assert_msg(strstr(buf, "level=debug") && strstr(buf, "published /tasks/exit"), "log: %s",
                  buf);
    ck_assert_ptr_null(strstr(buf, "SECRET"));
}
END_TEST

/* --- publish binary path --- */

static char *path_in(const char *name)
{
    return xasprintf("%s/%s", tmpdir, name);
}

/* A script that numbers its runs, saves argv and stdin per run, and then runs `tail`. */
static char *write_script(const char *tail)
{
    char *path = path_in("publish.sh");
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f,
            "#!/bin/sh\n"
            "d=%s\n"
            "n=$(cat $d/count 2>/dev/null || echo 0); n=$((n+1)); echo $n > $d/count\n"
            "printf '%%s\\n' \"$@\" > $d/argv.$n\n"
            "cat > $d/stdin.$n\n"
            "%s\n",
            tmpdir, tail);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(chmod(path, 0755), 0);
    return path;
}

static char *read_whole(const char *name, size_t *len)
{
    _cleanup_free_ char *path = path_in(name);
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = xmalloc(65536);
    *len = fread(buf, 1, 65535, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static int runs(void)
{
    size_t len;
    _cleanup_free_ char *c = read_whole("count", &len);
    return c ? atoi(c) : 0;
}

static struct publisher *binary_publisher(const char *script, int timeout_ms, int backoff_ms)
{
    struct publisher_options o = {
        .publish_binary = script,
        .grpc_address = "/run/containerd/containerd.sock",
        .namespace_ = NS,
        .binary_timeout_ms = timeout_ms,
        .backoff_ms = backoff_ms,
    };
    return publisher_new(&o);
}

START_TEST(test_binary_fallback)
{
    _cleanup_free_ char *script = write_script("exit 0");
    struct publisher *p = binary_publisher(script, 0, 0);
    Containerd__Events__TaskExit e = CONTAINERD__EVENTS__TASK_EXIT__INIT;
    e.container_id = "ctr-1";
    e.id = "ctr-1";
    e.pid = 99;
    e.exit_status = 3;
    publisher_publish(p, "/tasks/exit", &e.base);
    publish_seq(p, 0);
    publisher_free(p, 10000);
    ck_assert_int_eq(runs(), 2);

    size_t len;
    _cleanup_free_ char *argv1 = read_whole("argv.1", &len);
    ck_assert_ptr_nonnull(argv1);
    ck_assert_str_eq(argv1, "--address\n/run/containerd/containerd.sock\npublish\n--topic\n"
                            "/tasks/exit\n--namespace\n" NS "\n");
    _cleanup_free_ char *argv2 = read_whole("argv.2", &len);
    ck_assert_ptr_nonnull(strstr(argv2, "--topic\n/tasks/start\n"));

    _cleanup_free_ char *in = read_whole("stdin.1", &len);
    ck_assert_ptr_nonnull(in);
    Google__Protobuf__Any *any = google__protobuf__any__unpack(NULL, len, (uint8_t *)in);
    ck_assert_ptr_nonnull(any);
    ck_assert_str_eq(any->type_url, "containerd.events.TaskExit");
    Containerd__Events__TaskExit *d =
        containerd__events__task_exit__unpack(NULL, any->value.len, any->value.data);
    ck_assert_ptr_nonnull(d);
    ck_assert_str_eq(d->container_id, "ctr-1");
    ck_assert_uint_eq(d->pid, 99);
    ck_assert_uint_eq(d->exit_status, 3);
    containerd__events__task_exit__free_unpacked(d, NULL);
    google__protobuf__any__free_unpacked(any, NULL);
}
END_TEST

/* A failing run is retried (its stderr goes to our log); a run that hangs is killed. */
START_TEST(test_binary_failure_retried)
{
    _cleanup_free_ char *script =
        write_script("if [ $n -eq 1 ]; then echo 'publish: boom' >&2; exit 3; fi");
    _cleanup_free_ char *log_path = path_in("log");
    int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    log_set_fd(fd);
    struct publisher *p = binary_publisher(script, 0, 10);
    publish_seq(p, 0);
    publish_seq(p, 1);
    publisher_free(p, 10000);
    log_set_fd(2);
    close(fd);
    ck_assert_int_eq(runs(), 3);
    size_t len;
    _cleanup_free_ char *a1 = read_whole("argv.1", &len), *a2 = read_whole("argv.2", &len),
                        *a3 = read_whole("argv.3", &len);
    ck_assert_ptr_nonnull(strstr(a1, "/tasks/start"));
    ck_assert_ptr_nonnull(strstr(a2, "/tasks/start"));
    ck_assert_ptr_nonnull(strstr(a3, "/tasks/exit"));
    _cleanup_free_ char *log = read_whole("log", &len);
    ck_assert_ptr_nonnull(strstr(log, "publish: boom"));
    ck_assert_ptr_nonnull(strstr(log, "exited with status 3"));
}
END_TEST

START_TEST(test_binary_hang_killed)
{
    _cleanup_free_ char *script = write_script("exec sleep 30");
    _cleanup_free_ char *log_path = path_in("log");
    int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    log_set_fd(fd);
    struct publisher *p = binary_publisher(script, 150, 5);
    publish_seq(p, 0);
    int64_t t0 = now_ms();
    publisher_free(p, 20000); /* the budget ends first: 6 runs of 150 ms + 75 ms of backoff */
    int64_t took = now_ms() - t0;
    log_set_fd(2);
    close(fd);
    /* a run killed before the script counted itself leaves no trace but the log */
    ck_assert_int_ge(runs(), 1);
    ck_assert_int_le(runs(), 6);
    size_t len;
    _cleanup_free_ char *log = read_whole("log", &len);
    ck_assert_msg(strstr(log, "after 6 attempts") && strstr(log, "did not finish within 150 ms"),
                  "log: %s", log);
    ck_assert_int_ge(took, 6 * 150);
    ck_assert_int_lt(took, 6000);
}
END_TEST

/* Stopping cuts a hanging run short. */
START_TEST(test_binary_free_bounded)
{
    _cleanup_free_ char *script = write_script("exec sleep 30");
    struct publisher *p = binary_publisher(script, 0, 0);
    publish_seq(p, 0);
    usleep(50 * 1000);
    int64_t t0 = now_ms();
    publisher_free(p, 200);
    int64_t took = now_ms() - t0;
    ck_assert_int_ge(took, 150);
    ck_assert_int_lt(took, 1000);
}
END_TEST

/* --- nothing configured --- */

START_TEST(test_neither_configured)
{
    _cleanup_free_ char *script = write_script("exit 0");
    struct publisher_options none = {.namespace_ = NS};
    struct publisher_options no_addr = {.publish_binary = script, .namespace_ = NS};
    struct publisher *ps[] = {publisher_new(&none), publisher_new(NULL), publisher_new(&no_addr)};
    for (int k = 0; k < 3; k++) {
        for (unsigned i = 0; i < 5; i++)
            publish_seq(ps[k], i);
        publisher_free(ps[k], 1000);
    }
    ck_assert_int_eq(runs(), 0);
    publisher_publish(NULL, "/tasks/exit", NULL);
    publisher_free(NULL, 0);
}
END_TEST

/* CRI-O runs a shim with TTRPC_ADDRESS="", -address "" and itself as -publish-binary: events are
 * logged (one line says why, once; then one per event), nothing is run or dialled. */
START_TEST(test_crio_logged_once)
{
    _cleanup_free_ char *script = write_script("exit 0");
    _cleanup_free_ char *log_path = path_in("log");
    int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    log_set_fd(fd);
    struct publisher_options crio = {
        .ttrpc_address = "",
        .publish_binary = script,
        .grpc_address = "",
        .namespace_ = "default",
    };
    struct publisher *p = publisher_new(&crio);
    Containerd__Events__TaskExit e = CONTAINERD__EVENTS__TASK_EXIT__INIT;
    e.container_id = "SECRET-PAYLOAD-1234";
    publisher_publish(p, "/tasks/exit", &e.base);
    publish_seq(p, 0);
    publisher_free(p, 1000);
    log_set_fd(2);
    close(fd);
    ck_assert_int_eq(runs(), 0);
    size_t len;
    _cleanup_free_ char *log = read_whole("log", &len);
    ck_assert_ptr_nonnull(log);
    const char *why = "events: TTRPC_ADDRESS is empty and no containerd address was given (as "
                      "under CRI-O): task events are logged here, not published";
    const char *first = strstr(log, why);
    ck_assert_msg(first && !strstr(first + 1, why), "log: %s", log);
    ck_assert_ptr_nonnull(strstr(first, "level=info"));
    ck_assert_msg(strstr(log, "events: /tasks/exit (containerd.events.TaskExit), not published"),
                  "log: %s", log);
    ck_assert_ptr_nonnull(strstr(log, "events: /tasks/start"));
    ck_assert_ptr_null(strstr(log, "SECRET"));
    ck_assert_ptr_null(strstr(log, "level=warning"));
}
END_TEST

static Suite *events_suite(void)
{
    Suite *s = suite_create("events");
    TCase *tc = tcase_create("ttrpc");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_order_1000);
    tcase_add_test(tc, test_envelope_fields);
    tcase_add_test(tc, test_default_namespace);
    tcase_add_test(tc, test_errors_retried_in_order);
    tcase_add_test(tc, test_budget_then_dropped);
    tcase_add_test(tc, test_server_late);
    tcase_add_test(tc, test_server_restart);
    tcase_add_test(tc, test_queue_full_drops_oldest);
    tcase_add_test(tc, test_free_flushes);
    tcase_add_test(tc, test_free_no_server_bounded);
    tcase_add_test(tc, test_free_hung_server_bounded);
    tcase_add_test(tc, test_bad_topic_refused);
    tcase_add_test(tc, test_log_topic_not_payload);
    suite_add_tcase(s, tc);

    tc = tcase_create("binary");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_binary_fallback);
    tcase_add_test(tc, test_binary_failure_retried);
    tcase_add_test(tc, test_binary_hang_killed);
    tcase_add_test(tc, test_binary_free_bounded);
    tcase_add_test(tc, test_neither_configured);
    tcase_add_test(tc, test_crio_logged_once);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* as the shim does */
    return run_tap(events_suite());
}
