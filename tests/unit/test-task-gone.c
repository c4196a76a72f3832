/* shim/task-service against a kata-agent that no longer knows a process or container: Kill, Wait
 * and Delete over ttrpc, as containerd sends them, with the agent's "gone" answers in both of its
 * forms (Kata 3.25 and later, 4.1 included: typed codes; before: INTERNAL texts; shim/agent.c
 * agent_error_is_gone lists them), and unrelated errors as controls.
 *
 * The pod is the daemon's (pod_new, task_service_register on a ttrpc server, a publisher sending
 * to a fake containerd Events service); its sandbox is sandbox_of_agent around a fake agent
 * (tests/common/fake-agent.h) instead of a VM. Containers are made with Create as containerd's
 * CRI makes a pod's containers, which joins the sandbox's agent. The log goes to a file, so the
 * tests can tell what was worth a warning. */
#include <check.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "containerd/events/task.pb-c.h"
#include "containerd/services/events/ttrpc/v1/events.pb-c.h"
#include "containerd/task/v2/shim.pb-c.h"
#include "google/protobuf/any.pb-c.h"
#include "kata/agent.pb-c.h"
#include "lib/cleanup.h"
#include "lib/clock.h"
#include "lib/fs.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "shim/config.h"
#include "shim/events.h"
#include "shim/sandbox.h"
#include "shim/task-service.h"
#include "shim/task.h"
#include "tests/common/fake-agent.h"
#include "tests/common/run-tap.h"
#include "ttrpc/client.h"
#include "ttrpc/dial.h"
#include "ttrpc/server.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define NS "k8s.io"
#define SANDBOX_ID "sb"
#define CALL_TIMEOUT_MS 10000
#define EVENT_TIMEOUT_MS 5000

/* --- what the agent answers --- */

struct answer {
    int code; /* 0: success */
    const char *msg;
};

/* kata-agent's answers for a process or container it does not know, by version (the forms
 * shim/agent.c describes, as tests/guest/agent/state.c sends them). */
struct gone_forms {
    const char *version;
    struct answer init;      /* the init was waited for already */
    struct answer exec;      /* an exec that was waited for already */
    struct answer container; /* no such container (SignalProcess, WaitProcess) */
    struct answer pids;      /* SignalProcess SIGKILL of a whole container (get_pids) */
    struct answer remove;    /* RemoveContainer: anyhow in every version */
};

static const struct gone_forms versions[] = {
    {
        "Kata 3.25+",
        {GRPC_NOT_FOUND, "InitProcessNotFound"},
        {GRPC_NOT_FOUND, "InvalidExecId"},
        {GRPC_INVALID_ARGUMENT, "InvalidContainerId"},
        {GRPC_INTERNAL, "Invalid container id c1"},
        {GRPC_INTERNAL, "Invalid container id"},
    },
    {
        "Kata 3.24",
        {GRPC_INTERNAL, "cannot find init process!"},
        {GRPC_INTERNAL, "Invalid exec id"},
        {GRPC_INTERNAL, "Invalid container id"},
        {GRPC_INTERNAL, "Invalid container id c1"},
        {GRPC_INTERNAL, "Invalid container id"},
    },
};

/* Not "gone": the agent failed otherwise, and the shim must say so. */
static const struct answer unrelated[] = {
    {GRPC_INTERNAL, "Permission denied"},
    {GRPC_INTERNAL, "ESRCH: No such process"}, /* the kernel's, not the agent's lookup */
    {GRPC_NOT_FOUND, "container not found"},
    {GRPC_INTERNAL, "InvalidExecId"}, /* a 3.25 text with a code it never comes with */
};

/* --- the fake agent --- */

struct pending_wait {
    char cid[32], exec_id[32];
    bool waiting; /* a WaitProcess is blocked on it */
    bool answered;
    struct answer answer;
    int32_t status;
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool shutdown;
    struct pending_wait waits[16];
    size_t n_waits;
    struct answer signal_answer;
    unsigned signals;
    char signal_cid[32], signal_exec[32];
    uint32_t signal_sig;
    struct answer remove_answer;
    unsigned removes;
    char remove_cid[32];
} fa = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static int answer(const struct answer *a, struct error *err)
{
    return a->code ? error_set(err, a->code, "%s", a->msg) : 0;
}

/* The entry for cid/exec_id; caller holds fa.lock. */
static struct pending_wait *wait_entry(const char *cid, const char *exec_id)
{
    for (size_t i = 0; i < fa.n_waits; i++)
        if (!strcmp(fa.waits[i].cid, cid) && !strcmp(fa.waits[i].exec_id, exec_id))
            return &fa.waits[i];
    ck_assert_uint_lt(fa.n_waits, N(fa.waits));
    struct pending_wait *w = &fa.waits[fa.n_waits++];
    *w = (struct pending_wait){0};
    snprintf(w->cid, sizeof(w->cid), "%s", cid);
    snprintf(w->exec_id, sizeof(w->exec_id), "%s", exec_id);
    return w;
}

static int ok(void *user, const struct ttrpc_call *call, const ProtobufCMessage *req,
              struct ttrpc_reply *reply, struct error *err)
{
    return 0;
}

/* Output: end of stream at once (an empty read), so the exit is reported as soon as the
 * WaitProcess answers. */
static int read_stream(void *user, const struct ttrpc_call *call, const ProtobufCMessage *req,
                       struct ttrpc_reply *reply, struct error *err)
{
    Grpc__ReadStreamResponse resp = GRPC__READ_STREAM_RESPONSE__INIT;
    ttrpc_reply_set(reply, &resp.base);
    return 0;
}

/* Blocks until the test answers for this process (or the agent shuts down). */
static int wait_process(void *user, const struct ttrpc_call *call, const ProtobufCMessage *req,
                        struct ttrpc_reply *reply, struct error *err)
{
    const Grpc__WaitProcessRequest *r = (const void *)req;
    pthread_mutex_lock(&fa.lock);
    struct pending_wait *w = wait_entry(r->container_id, r->exec_id);
    w->waiting = true;
    pthread_cond_broadcast(&fa.cond);
    while (!w->answered && !fa.shutdown)
        pthread_cond_wait(&fa.cond, &fa.lock);
    w->waiting = false;
    struct answer a = w->answered ? w->answer : (struct answer){GRPC_UNAVAILABLE, "shutting down"};
    int32_t status = w->status;
    pthread_mutex_unlock(&fa.lock);
    if (answer(&a, err) < 0)
        return -1;
    Grpc__WaitProcessResponse resp = GRPC__WAIT_PROCESS_RESPONSE__INIT;
    resp.status = status;
    ttrpc_reply_set(reply, &resp.base);
    return 0;
}

static int signal_process(void *user, const struct ttrpc_call *call, const ProtobufCMessage *req,
                          struct ttrpc_reply *reply, struct error *err)
{
    const Grpc__SignalProcessRequest *r = (const void *)req;
    pthread_mutex_lock(&fa.lock);
    fa.signals++;
    snprintf(fa.signal_cid, sizeof(fa.signal_cid), "%s", r->container_id);
    snprintf(fa.signal_exec, sizeof(fa.signal_exec), "%s", r->exec_id);
    fa.signal_sig = r->signal;
    struct answer a = fa.signal_answer;
    pthread_mutex_unlock(&fa.lock);
    return answer(&a, err);
}

static int remove_container(void *user, const struct ttrpc_call *call, const ProtobufCMessage *req,
                            struct ttrpc_reply *reply, struct error *err)
{
    const Grpc__RemoveContainerRequest *r = (const void *)req;
    pthread_mutex_lock(&fa.lock);
    fa.removes++;
    snprintf(fa.remove_cid, sizeof(fa.remove_cid), "%s", r->container_id);
    struct answer a = fa.remove_answer;
    pthread_mutex_unlock(&fa.lock);
    return answer(&a, err);
}

static const struct ttrpc_method agent_methods[] = {
    {"CreateContainer", &grpc__create_container_request__descriptor, ok},
    {"StartContainer", &grpc__start_container_request__descriptor, ok},
    {"ExecProcess", &grpc__exec_process_request__descriptor, ok},
    {"ReadStdout", &grpc__read_stream_request__descriptor, read_stream},
    {"ReadStderr", &grpc__read_stream_request__descriptor, read_stream},
    {"WaitProcess", &grpc__wait_process_request__descriptor, wait_process},
    {"SignalProcess", &grpc__signal_process_request__descriptor, signal_process},
    {"RemoveContainer", &grpc__remove_container_request__descriptor, remove_container},
    {"DestroySandbox", &grpc__destroy_sandbox_request__descriptor, ok},
};

/* Waits (up to 10 s) until the shim waits for cid/exec_id's exit in the agent. */
static void agent_wait_blocked(const char *cid, const char *exec_id)
{
    int64_t deadline = now_ms() + 10000;
    pthread_mutex_lock(&fa.lock);
    struct pending_wait *w = wait_entry(cid, exec_id);
    while (!w->waiting && now_ms() < deadline) {
        pthread_mutex_unlock(&fa.lock);
        usleep(2000);
        pthread_mutex_lock(&fa.lock);
    }
    bool waiting = w->waiting;
    pthread_mutex_unlock(&fa.lock);
    ck_assert_msg(waiting, "no WaitProcess for %s/%s", cid, exec_id);
}

/* What the pending (or next) WaitProcess of cid/exec_id answers. */
static void agent_answer_wait(const char *cid, const char *exec_id, struct answer a, int32_t status)
{
    pthread_mutex_lock(&fa.lock);
    struct pending_wait *w = wait_entry(cid, exec_id);
    w->answered = true;
    w->answer = a;
    w->status = status;
    pthread_cond_broadcast(&fa.cond);
    pthread_mutex_unlock(&fa.lock);
}

static void agent_answer_signal(struct answer a)
{
    pthread_mutex_lock(&fa.lock);
    fa.signal_answer = a;
    pthread_mutex_unlock(&fa.lock);
}

/* What the agent was last asked to signal, and how often it was asked. */
struct signalled {
    unsigned n;
    char cid[32], exec_id[32];
    uint32_t sig;
};

static struct signalled agent_signalled(void)
{
    pthread_mutex_lock(&fa.lock);
    struct signalled s = {.n = fa.signals, .sig = fa.signal_sig};
    memcpy(s.cid, fa.signal_cid, sizeof(s.cid));
    memcpy(s.exec_id, fa.signal_exec, sizeof(s.exec_id));
    pthread_mutex_unlock(&fa.lock);
    return s;
}

/* How many RemoveContainer calls came, the last for *cid. */
static unsigned agent_removed(char cid[32])
{
    pthread_mutex_lock(&fa.lock);
    unsigned n = fa.removes;
    if (cid)
        memcpy(cid, fa.remove_cid, sizeof(fa.remove_cid));
    pthread_mutex_unlock(&fa.lock);
    return n;
}

static void agent_answer_remove(struct answer a)
{
    pthread_mutex_lock(&fa.lock);
    fa.remove_answer = a;
    pthread_mutex_unlock(&fa.lock);
}

/* --- the fake containerd: the events it was sent --- */

struct event {
    char topic[32];
    char container_id[32], id[32];
    uint32_t exit_status;
};

static struct {
    pthread_mutex_t lock;
    struct event list[64];
    size_t n;
} ev = {.lock = PTHREAD_MUTEX_INITIALIZER};

static int forward(void *user, const struct ttrpc_call *call, const ProtobufCMessage *req,
                   struct ttrpc_reply *reply, struct error *err)
{
    const Containerd__Services__Events__Ttrpc__V1__ForwardRequest *fr = (const void *)req;
    if (!fr->envelope || !fr->envelope->event)
        return error_set(err, GRPC_INVALID_ARGUMENT, "no event");
    struct event e = {0};
    snprintf(e.topic, sizeof(e.topic), "%s", fr->envelope->topic);
    if (!strcmp(e.topic, "/tasks/exit")) {
        Containerd__Events__TaskExit *x = containerd__events__task_exit__unpack(
            NULL, fr->envelope->event->value.len, fr->envelope->event->value.data);
        if (!x)
            return error_set(err, GRPC_INVALID_ARGUMENT, "TaskExit does not decode");
        snprintf(e.container_id, sizeof(e.container_id), "%s", x->container_id);
        snprintf(e.id, sizeof(e.id), "%s", x->id);
        e.exit_status = x->exit_status;
        containerd__events__task_exit__free_unpacked(x, NULL);
    }
    pthread_mutex_lock(&ev.lock);
    if (ev.n < N(ev.list))
        ev.list[ev.n++] = e;
    pthread_mutex_unlock(&ev.lock);
    return 0;
}

static const struct ttrpc_method events_methods[] = {
    {"Forward", &containerd__services__events__ttrpc__v1__forward_request__descriptor, forward},
};

/* The TaskExit of container_id/id (the process's exec id, or the container's id for its init),
 * waited for; false if none came. */
static bool exit_event(const char *container_id, const char *id, uint32_t *status)
{
    int64_t deadline = now_ms() + EVENT_TIMEOUT_MS;
    for (;;) {
        pthread_mutex_lock(&ev.lock);
        for (size_t i = 0; i < ev.n; i++)
            if (!strcmp(ev.list[i].topic, "/tasks/exit") &&
                !strcmp(ev.list[i].container_id, container_id) && !strcmp(ev.list[i].id, id)) {
                *status = ev.list[i].exit_status;
                pthread_mutex_unlock(&ev.lock);
                return true;
            }
        pthread_mutex_unlock(&ev.lock);
        if (now_ms() >= deadline)
            return false;
        usleep(2000);
    }
}

/* --- fixture: the shim's pod and task service, the fakes, the log --- */

static char dir[64];
static char *log_path;
static int log_fd = -1;
static struct ttrpc_server *agent_srv, *events_srv, *task_srv;
static struct publisher *pub;
static struct pod *pod;
static struct ttrpc_client *client;

static char *in_dir(const char *name)
{
    return xasprintf("%s/%s", dir, name);
}

static void write_text(const char *path, const char *text)
{
    struct error err = ERROR_INIT;
    ck_assert_msg(fs_write_file_atomic(path, text, strlen(text), 0644, &err) == 0, "%s", err.msg);
}

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/test-task-gone-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    log_path = in_dir("shim.log");
    log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    ck_assert_int_ge(log_fd, 0);
    log_set_fd(log_fd);
    log_set_level(LOG_LEVEL_INFO);

    struct error err = ERROR_INIT;
    _cleanup_free_ char *events_sock = in_dir("events.sock");
    events_srv = ttrpc_server_new(NULL);
    ck_assert_int_eq(ttrpc_server_register(events_srv, "containerd.services.events.ttrpc.v1.Events",
                                           events_methods, N(events_methods), NULL, &err),
                     0);
    int lfd = ttrpc_listen_unix(events_sock, &err);
    ck_assert_msg(lfd >= 0, "%s", err.msg);
    ck_assert_int_eq(ttrpc_server_listen(events_srv, lfd, &err), 0);
    struct publisher_options po = {
        .ttrpc_address = events_sock, .namespace_ = NS, .backoff_ms = 10};
    pub = publisher_new(&po);

    /* The configuration Create loads: the one key a file needs. */
    _cleanup_free_ char *config = in_dir("cocoon.toml");
    write_text(config, "[hypervisor.libvirt]\nkernel = \"/boot/vmlinux\"\n");
    setenv(CONFIG_ENV, config, 1);

    _cleanup_free_ char *agent_sock = in_dir("agent.sock");
    struct agent *agent = fake_agent_start(agent_methods, N(agent_methods), agent_sock, &agent_srv);
    pod = pod_new(NS, pub, NULL, NULL);
    /* What the sandbox task's Create leaves: its VM's agent, its id, guest pull forced. */
    pod->sandbox = sandbox_of_agent(SANDBOX_ID, agent);
    pod->sandbox_id = xstrdup(SANDBOX_ID);
    pod->force_guest_pull = true;

    _cleanup_free_ char *task_sock = in_dir("task.sock");
    task_srv = ttrpc_server_new(NULL);
    ck_assert_msg(task_service_register(task_srv, pod, &err) == 0, "%s", err.msg);
    lfd = ttrpc_listen_unix(task_sock, &err);
    ck_assert_msg(lfd >= 0, "%s", err.msg);
    ck_assert_int_eq(ttrpc_server_listen(task_srv, lfd, &err), 0);
    int fd = ttrpc_dial(task_sock, 2000, &err);
    ck_assert_msg(fd >= 0, "%s", err.msg);
    client = ttrpc_client_new(fd);
}

/* The daemon's order (shim/daemon.c): the VM goes, the server, the pod, the publisher. */
static void teardown(void)
{
    ttrpc_client_free(client);
    pod_teardown_vm(pod);
    ttrpc_server_free(task_srv);
    pod_free(pod);
    publisher_free(pub, 2000);
    pthread_mutex_lock(&fa.lock);
    fa.shutdown = true;
    pthread_cond_broadcast(&fa.cond);
    pthread_mutex_unlock(&fa.lock);
    ttrpc_server_free(agent_srv);
    ttrpc_server_free(events_srv);
    log_set_fd(2);
    close(log_fd);
    free(log_path);
    struct error err = ERROR_INIT;
    ck_assert_msg(fs_remove_tree(dir, &err) == 0, "%s", err.msg);
}

/* --- the log --- */

static size_t log_mark(void)
{
    struct stat st;
    ck_assert_int_eq(stat(log_path, &st), 0);
    return (size_t)st.st_size;
}

/* What the shim logged since mark. */
static char *log_since(size_t mark)
{
    char *text = NULL;
    size_t len;
    struct error err = ERROR_INIT;
    ck_assert_msg(fs_read_file(log_path, 1 << 20, &text, &len, &err) == 0, "%s", err.msg);
    ck_assert_uint_ge(len, mark);
    memmove(text, text + mark, len - mark + 1);
    return text;
}

static bool has_warning(const char *log)
{
    return strstr(log, "level=warning") || strstr(log, "level=error");
}

/* --- containerd's side --- */

static const struct ttrpc_metadata md[] = {{"containerd-namespace-ttrpc", NS}};

static int task_call(const char *method, const ProtobufCMessage *req,
                     const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
                     struct error *err)
{
    return ttrpc_client_call(client, "containerd.task.v2.Task", method, req, resp_desc, resp,
                             CALL_TIMEOUT_MS, md, N(md), err);
}

static void call_ok(const char *method, const ProtobufCMessage *req)
{
    struct error err = ERROR_INIT;
    ck_assert_msg(task_call(method, req, NULL, NULL, &err) == 0, "%s: %s", method, err.msg);
}

/* A container of the pod, as CRI creates one (its bundle's config.json), started. */
static void create_container(const char *id)
{
    _cleanup_free_ char *bundle = in_dir(id);
    ck_assert_int_eq(mkdir(bundle, 0755), 0);
    _cleanup_free_ char *config = xasprintf("%s/config.json", bundle);
    write_text(config, "{\"ociVersion\":\"1.1.0\",\"process\":{\"args\":[\"sleep\",\"1d\"],"
                       "\"cwd\":\"/\"},\"root\":{\"path\":\"rootfs\"},\"annotations\":{"
                       "\"io.kubernetes.cri.container-type\":\"container\","
                       "\"io.kubernetes.cri.sandbox-id\":\"" SANDBOX_ID "\","
                       "\"io.kubernetes.cri.image-name\":\"docker.io/library/busybox:1.36\"}}");
    Containerd__Task__V2__CreateTaskRequest req = CONTAINERD__TASK__V2__CREATE_TASK_REQUEST__INIT;
    req.id = (char *)id;
    req.bundle = bundle;
    call_ok("Create", &req.base);
}

static void start(const char *id, const char *exec_id)
{
    Containerd__Task__V2__StartRequest req = CONTAINERD__TASK__V2__START_REQUEST__INIT;
    req.id = (char *)id;
    req.exec_id = (char *)exec_id;
    call_ok("Start", &req.base);
    agent_wait_blocked(id, exec_id); /* its waiter is in WaitProcess */
}

static void exec_process(const char *id, const char *exec_id)
{
    static const char spec[] = "{\"args\":[\"sh\"],\"cwd\":\"/\"}";
    Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
    any.type_url = "types.containerd.io/opencontainers/runtime-spec/1/Process";
    any.value.data = (uint8_t *)spec;
    any.value.len = strlen(spec);
    Containerd__Task__V2__ExecProcessRequest req = CONTAINERD__TASK__V2__EXEC_PROCESS_REQUEST__INIT;
    req.id = (char *)id;
    req.exec_id = (char *)exec_id;
    req.spec = &any;
    call_ok("Exec", &req.base);
    start(id, exec_id);
}

static int kill_task(const char *id, const char *exec_id, uint32_t sig, struct error *err)
{
    Containerd__Task__V2__KillRequest req = CONTAINERD__TASK__V2__KILL_REQUEST__INIT;
    req.id = (char *)id;
    req.exec_id = (char *)exec_id;
    req.signal = sig;
    return task_call("Kill", &req.base, NULL, NULL, err);
}

static Containerd__V1__Types__Status state_of(const char *id, const char *exec_id)
{
    Containerd__Task__V2__StateRequest req = CONTAINERD__TASK__V2__STATE_REQUEST__INIT;
    req.id = (char *)id;
    req.exec_id = (char *)exec_id;
    Containerd__Task__V2__StateResponse *resp = NULL;
    struct error err = ERROR_INIT;
    ck_assert_msg(task_call("State", &req.base, &containerd__task__v2__state_response__descriptor,
                            (ProtobufCMessage **)&resp, &err) == 0,
                  "State: %s", err.msg);
    Containerd__V1__Types__Status s = resp->status;
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return s;
}

/* A Wait containerd has under way (CRI calls it right after Create). */
struct wait_call {
    const char *id, *exec_id;
    pthread_t thread;
    atomic_bool done;
    int rc;
    struct error err;
    uint32_t exit_status;
};

static void *wait_main(void *arg)
{
    struct wait_call *w = arg;
    Containerd__Task__V2__WaitRequest req = CONTAINERD__TASK__V2__WAIT_REQUEST__INIT;
    req.id = (char *)w->id;
    req.exec_id = (char *)w->exec_id;
    Containerd__Task__V2__WaitResponse *resp = NULL;
    /* no deadline: Wait lasts as long as the process */
    w->rc = ttrpc_client_call(client, "containerd.task.v2.Task", "Wait", &req.base,
                              &containerd__task__v2__wait_response__descriptor,
                              (ProtobufCMessage **)&resp, 0, md, N(md), &w->err);
    if (w->rc == 0) {
        w->exit_status = resp->exit_status;
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    }
    atomic_store(&w->done, true);
    return NULL;
}

static void wait_begin(struct wait_call *w, const char *id, const char *exec_id)
{
    *w = (struct wait_call){.id = id, .exec_id = exec_id, .err = ERROR_INIT};
    ck_assert_int_eq(pthread_create(&w->thread, NULL, wait_main, w), 0);
}

/* Its exit status, once Wait returned. */
static uint32_t wait_end(struct wait_call *w)
{
    pthread_join(w->thread, NULL);
    ck_assert_msg(w->rc == 0, "Wait %s/%s: %s", w->id, w->exec_id, w->err.msg);
    error_clear(&w->err);
    return w->exit_status;
}

/* The process ends normally (WaitProcess answers its status); Wait returns it. */
static void process_exits(const char *id, const char *exec_id, int32_t status)
{
    struct wait_call w;
    wait_begin(&w, id, exec_id);
    agent_answer_wait(id, exec_id, (struct answer){0}, status);
    ck_assert_uint_eq(wait_end(&w), (uint32_t)status);
}

/* --- Kill --- */

/* Kill of a process the agent answers "gone" for: it exited and its WaitProcess took it, and
 * the shim has yet to hear of the exit. SIGKILL and SIGTERM got what they asked for; any other
 * signal finds the process finished (NOT_FOUND, as containerd's runc shim answers). */
static void kill_gone(const char *id, const char *exec_id, struct answer gone)
{
    agent_answer_signal(gone);
    static const uint32_t done[] = {SIGKILL, SIGTERM};
    for (size_t i = 0; i < N(done); i++) {
        unsigned before = agent_signalled().n;
        struct error err = ERROR_INIT;
        ck_assert_msg(kill_task(id, exec_id, done[i], &err) == 0, "Kill %s/%s %u, agent \"%s\": %s",
                      id, exec_id, done[i], gone.msg, err.msg);
        struct signalled s = agent_signalled();
        ck_assert_uint_eq(s.n, before + 1); /* it did ask the agent */
        ck_assert_str_eq(s.cid, id);
        ck_assert_str_eq(s.exec_id, exec_id);
        ck_assert_uint_eq(s.sig, done[i]);
    }
    struct error err = ERROR_INIT;
    ck_assert_int_eq(kill_task(id, exec_id, SIGUSR1, &err), -1);
    ck_assert_msg(err.code == GRPC_NOT_FOUND, "Kill SIGUSR1, agent \"%s\": %s %s", gone.msg,
                  grpc_code_name(err.code), err.msg);
    _cleanup_free_ char *want = xasprintf("process %s already finished", *exec_id ? exec_id : id);
    ck_assert_str_eq(err.msg, want);
    error_clear(&err);
    /* the shim still waits for the exit: WaitProcess reports it */
    ck_assert_int_eq(state_of(id, exec_id), CONTAINERD__V1__TYPES__STATUS__RUNNING);
}

START_TEST(kill_of_gone_process)
{
    const struct gone_forms *v = &versions[_i];
    create_container("c1");
    start("c1", "");
    exec_process("c1", "e1");
    size_t mark = log_mark();

    kill_gone("c1", "", v->init);
    kill_gone("c1", "", v->pids);
    kill_gone("c1", "", v->container);
    kill_gone("c1", "e1", v->exec);
    kill_gone("c1", "e1", v->container);

    _cleanup_free_ char *log = log_since(mark);
    ck_assert_msg(!has_warning(log), "%s: a gone process is worth no warning:\n%s", v->version,
                  log);
    agent_answer_signal((struct answer){0});
    process_exits("c1", "e1", 0);
    process_exits("c1", "", 137);
}
END_TEST

/* The control: any other failure of SignalProcess is Kill's failure, with its code. */
START_TEST(kill_fails_on_other_errors)
{
    create_container("c1");
    start("c1", "");
    exec_process("c1", "e1");
    static const uint32_t sigs[] = {SIGKILL, SIGTERM, SIGUSR1};
    static const char *const execs[] = {"", "e1"};
    for (size_t i = 0; i < N(unrelated); i++)
        for (size_t e = 0; e < N(execs); e++)
            for (size_t s = 0; s < N(sigs); s++) {
                agent_answer_signal(unrelated[i]);
                struct error err = ERROR_INIT;
                ck_assert_msg(kill_task("c1", execs[e], sigs[s], &err) == -1,
                              "Kill c1/%s %u succeeded on \"%s\"", execs[e], sigs[s],
                              unrelated[i].msg);
                ck_assert_msg(err.code == unrelated[i].code, "Kill %u on \"%s\": %s %s", sigs[s],
                              unrelated[i].msg, grpc_code_name(err.code), err.msg);
                ck_assert_msg(strstr(err.msg, "agent SignalProcess: ") &&
                                  strstr(err.msg, unrelated[i].msg),
                              "%s", err.msg);
                error_clear(&err);
            }
    agent_answer_signal((struct answer){0});
    struct error err = ERROR_INIT;
    ck_assert_msg(kill_task("c1", "", SIGKILL, &err) == 0, "%s", err.msg);
    process_exits("c1", "e1", 0);
    process_exits("c1", "", 137);
}
END_TEST

/* --- Wait --- */

/* WaitProcess answers "gone": the process exited with a status nobody knows any more. Wait
 * returns 255, TaskExit says so, and the shim logs it at info. */
static void wait_gone(const char *id, const char *exec_id, struct answer gone)
{
    struct wait_call w;
    wait_begin(&w, id, exec_id);
    usleep(20000);
    ck_assert_msg(!atomic_load(&w.done), "Wait %s/%s returned before the exit", id, exec_id);
    ck_assert_int_eq(state_of(id, exec_id), CONTAINERD__V1__TYPES__STATUS__RUNNING);
    size_t mark = log_mark();

    agent_answer_wait(id, exec_id, gone, 0);
    ck_assert_uint_eq(wait_end(&w), TASK_EXIT_VM_GONE);
    ck_assert_int_eq(state_of(id, exec_id), CONTAINERD__V1__TYPES__STATUS__STOPPED);
    uint32_t status;
    ck_assert_msg(exit_event(id, *exec_id ? exec_id : id, &status), "no TaskExit for %s/%s", id,
                  exec_id);
    ck_assert_uint_eq(status, TASK_EXIT_VM_GONE);

    _cleanup_free_ char *log = log_since(mark);
    _cleanup_free_ char *info =
        xasprintf("level=info msg=\"task %s: process %s is gone from the agent: agent "
                  "WaitProcess: ",
                  id, *exec_id ? exec_id : id);
    ck_assert_msg(strstr(log, info) && strstr(log, gone.msg), "\"%s\" not logged at info:\n%s",
                  gone.msg, log);
    ck_assert_msg(!has_warning(log), "a gone process is worth no warning:\n%s", log);
    /* Kill now finds it finished, without asking the agent */
    unsigned before = agent_signalled().n;
    struct error err = ERROR_INIT;
    ck_assert_int_eq(kill_task(id, exec_id, SIGKILL, &err), -1);
    ck_assert_int_eq(err.code, GRPC_NOT_FOUND);
    ck_assert_uint_eq(agent_signalled().n, before);
    error_clear(&err);
}

START_TEST(wait_of_gone_process)
{
    const struct gone_forms *v = &versions[_i];
    create_container("c1");
    start("c1", "");
    exec_process("c1", "e1");
    create_container("c2");
    start("c2", "");

    wait_gone("c1", "e1", v->exec);
    wait_gone("c1", "", v->init);
    wait_gone("c2", "", v->container);
}
END_TEST

/* The control: another failure of WaitProcess also ends the process (nothing better is known),
 * but it is worth a warning. */
START_TEST(wait_warns_on_other_errors)
{
    static const char *const ids[] = {"c1", "c2", "c3", "c4"};
    for (size_t i = 0; i < N(unrelated); i++) {
        create_container(ids[i]);
        start(ids[i], "");
        struct wait_call w;
        wait_begin(&w, ids[i], "");
        size_t mark = log_mark();
        agent_answer_wait(ids[i], "", unrelated[i], 0);
        ck_assert_uint_eq(wait_end(&w), TASK_EXIT_VM_GONE);
        uint32_t status;
        ck_assert(exit_event(ids[i], ids[i], &status));
        ck_assert_uint_eq(status, TASK_EXIT_VM_GONE);
        _cleanup_free_ char *log = log_since(mark);
        _cleanup_free_ char *warning =
            xasprintf("level=warning msg=\"task %s: agent WaitProcess: ", ids[i]);
        ck_assert_msg(strstr(log, warning) && strstr(log, unrelated[i].msg),
                      "\"%s\" not logged as a warning:\n%s", unrelated[i].msg, log);
        ck_assert_msg(!strstr(log, "is gone from the agent"), "%s", log);
    }
}
END_TEST

/* --- Delete --- */

static void delete_task(const char *id, uint32_t want_status)
{
    Containerd__Task__V2__DeleteRequest req = CONTAINERD__TASK__V2__DELETE_REQUEST__INIT;
    req.id = (char *)id;
    Containerd__Task__V2__DeleteResponse *resp = NULL;
    struct error err = ERROR_INIT;
    unsigned before = agent_removed(NULL);
    ck_assert_msg(task_call("Delete", &req.base, &containerd__task__v2__delete_response__descriptor,
                            (ProtobufCMessage **)&resp, &err) == 0,
                  "Delete %s: %s", id, err.msg);
    ck_assert_uint_eq(resp->exit_status, want_status);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    char removed[32];
    ck_assert_uint_eq(agent_removed(removed), before + 1);
    ck_assert_str_eq(removed, id);
    /* it is gone from the shim too */
    Containerd__Task__V2__StateRequest sreq = CONTAINERD__TASK__V2__STATE_REQUEST__INIT;
    sreq.id = (char *)id;
    sreq.exec_id = "";
    ck_assert_int_eq(task_call("State", &sreq.base,
                               &containerd__task__v2__state_response__descriptor, NULL, &err),
                     -1);
    ck_assert_int_eq(err.code, GRPC_NOT_FOUND);
    error_clear(&err);
}

/* RemoveContainer of a container the agent no longer knows: what Delete wants; no warning. */
START_TEST(delete_of_gone_container)
{
    const struct gone_forms *v = &versions[_i];
    create_container("c1");
    start("c1", "");
    process_exits("c1", "", 3);
    agent_answer_remove(v->remove);
    size_t mark = log_mark();
    delete_task("c1", 3);
    _cleanup_free_ char *log = log_since(mark);
    ck_assert_msg(strstr(log, "task c1 deleted"), "%s", log);
    ck_assert_msg(!has_warning(log), "%s: RemoveContainer \"%s\" is worth no warning:\n%s",
                  v->version, v->remove.msg, log);

    /* a container whose process the agent had lost too (Wait ended with 255) */
    create_container("c2");
    start("c2", "");
    struct wait_call w;
    wait_begin(&w, "c2", "");
    agent_answer_wait("c2", "", v->init, 0);
    ck_assert_uint_eq(wait_end(&w), TASK_EXIT_VM_GONE);
    mark = log_mark();
    delete_task("c2", TASK_EXIT_VM_GONE);
    _cleanup_free_ char *log2 = log_since(mark);
    ck_assert_msg(!has_warning(log2), "%s", log2);
}
END_TEST

/* The control: Delete still succeeds on another failure of RemoveContainer (containerd can do
 * nothing more), but says what went wrong. */
START_TEST(delete_warns_on_other_errors)
{
    static const char *const ids[] = {"c1", "c2", "c3", "c4"};
    for (size_t i = 0; i < N(unrelated); i++) {
        create_container(ids[i]);
        start(ids[i], "");
        process_exits(ids[i], "", 0);
        agent_answer_remove(unrelated[i]);
        size_t mark = log_mark();
        delete_task(ids[i], 0);
        _cleanup_free_ char *log = log_since(mark);
        _cleanup_free_ char *warning =
            xasprintf("level=warning msg=\"task %s: agent RemoveContainer: ", ids[i]);
        ck_assert_msg(strstr(log, warning) && strstr(log, unrelated[i].msg),
                      "\"%s\" not logged as a warning:\n%s", unrelated[i].msg, log);
    }
}
END_TEST

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    Suite *s = suite_create("task-gone");
    TCase *tc = tcase_create("task-gone");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, kill_of_gone_process, 0, N(versions));
    tcase_add_test(tc, kill_fails_on_other_errors);
    tcase_add_loop_test(tc, wait_of_gone_process, 0, N(versions));
    tcase_add_test(tc, wait_warns_on_other_errors);
    tcase_add_loop_test(tc, delete_of_gone_container, 0, N(versions));
    tcase_add_test(tc, delete_warns_on_other_errors);
    suite_add_tcase(s, tc);
    return run_tap(s);
}
