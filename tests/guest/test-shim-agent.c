/* shim/agent: the shim's agent client against the real test agent. cocoon-test-agent (argv[1])
 * serves a unix socket on the host with a busybox rootfs built here, and every call goes through
 * the agent_* API only. Runs as root (the agent needs namespaces and mounts). A listening socket
 * that never accepts stands in for a hung guest to measure the deadlines. Container ids start
 * "sa-": with cgroup2 the agent names cgroups after them, and test-guest-agent may run at the
 * same time. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent-harness.h"
#include "kata/agent.pb-c.h"
#include "lib/fs.h"
#include "lib/clock.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"
#include "shim/agent.h"

#define HOSTNAME "cocoon-shim-test"
#define GUARD_S 150 /* meson kills us at 180 s: fail first, and clean up */
#define N(a) (sizeof(a) / sizeof((a)[0]))

static const char *agent_bin;
static char dir[64];
static char sock[128];
static _Atomic pid_t agent_pid = -1;
static _Atomic pid_t agent_3_24_pid = -1; /* the second agent, --kata-errors 3.24 */
static struct agent *ag;
static bool have_busybox;
static const struct agent_timeouts tmo = {
    .request_ms = 60000, .health_check_ms = 10000, .create_container_ms = 60000};

/* --- setup --- */

static struct agent *connect_agent(void)
{
    char addr[160];
    snprintf(addr, sizeof(addr), "unix://%s", sock);
    struct error err = ERROR_INIT;
    struct agent *a = NULL;
    int r = agent_connect(addr, 5000, &tmo, &a, &err);
    ck_assert_msg(r == 0, "agent_connect: %s", err.msg);
    return a;
}

/* Starts an agent with its socket, state and log in adir (the rootfs is dir's), with the extra
 * options `extra` (NULL-terminated, or NULL), and connects *out to it. Returns its pid. */
static pid_t spawn_agent_in(const char *adir, const char *const *extra, struct agent **out)
{
    char rootfs[96], state[128], path[128], logpath[128], listen[160];
    snprintf(path, sizeof(path), "%s/agent.sock", adir);
    snprintf(rootfs, sizeof(rootfs), "%s/rootfs", dir);
    snprintf(state, sizeof(state), "%s/state", adir);
    snprintf(logpath, sizeof(logpath), "%s/agent.log", adir);
    snprintf(listen, sizeof(listen), "unix://%s", path);
    const char *args[16] = {"--listen",   listen,        "--rootfs",
                            rootfs,       "--state-dir", state,
                            "--initdata", "none",        "--loopback-registry",
                            "none"};
    for (size_t n = 10; extra && *extra && n < N(args) - 1; n++)
        args[n] = *extra++;
    pid_t pid = harness_spawn_agent(agent_bin, adir, args);
    for (int i = 0; i < 200; i++) {
        struct error err = ERROR_INIT;
        if (access(path, F_OK) == 0 && agent_connect(listen, 1000, &tmo, out, &err) == 0)
            return pid;
        error_clear(&err);
        usleep(50000);
    }
    harness_die("the agent did not come up on %s (see %s)", path, logpath);
}

static void start_agent(void)
{
    snprintf(sock, sizeof(sock), "%s/agent.sock", dir);
    agent_pid = spawn_agent_in(dir, NULL, &ag);
}

static void dump_agent_log(void)
{
    harness_dump_log(dir);
}

/* How many RPCs named `method` the agent has logged (one debug line each). */
static unsigned count_rpcs(const char *method)
{
    char path[96], needle[64];
    snprintf(path, sizeof(path), "%s/agent.log", dir);
    snprintf(needle, sizeof(needle), "rpc %s ", method);
    size_t n;
    _cleanup_free_ uint8_t *log = harness_read_file(path, &n);
    unsigned count = 0;
    for (char *s = (char *)log; s && (s = strstr(s, needle)); s += strlen(needle))
        count++;
    return count;
}

/* --- helpers over the agent_* API --- */

#define CHECK_ERR(r, err, want_code, prefix) check_err(r, err, want_code, prefix, __LINE__)

/* A failed call: the agent's code, and a message that starts with the RPC's name. */
static void check_err(int r, struct error *err, int want_code, const char *prefix, int line)
{
    ck_assert_msg(r < 0, "line %d: the call succeeded", line);
    ck_assert_msg(err->code == want_code, "line %d: want %s, got %s: %s", line,
                  grpc_code_name(want_code), grpc_code_name(err->code), err->msg);
    ck_assert_msg(err->msg && !strncmp(err->msg, prefix, strlen(prefix)),
                  "line %d: \"%s\" does not start with \"%s\"", line, err->msg, prefix);
    error_clear(err);
}

#define OK(call_with_err)                                                                          \
    do {                                                                                           \
        struct error e_ = ERROR_INIT;                                                              \
        struct error *err_ = &e_;                                                                  \
        int r_ = (call_with_err);                                                                  \
        ck_assert_msg(r_ == 0, "%s: %s", #call_with_err, e_.msg);                                  \
        error_clear(err_);                                                                         \
    } while (0)

struct ctr {
    Grpc__Spec spec;
    Grpc__Process proc;
    Grpc__User user;
    Grpc__Root root;
    Grpc__Linux linux_;
    Grpc__LinuxCapabilities caps;
    Grpc__Box box;
    char *env[2];
    char *args[3];
    char root_path[128];
    Grpc__CreateContainerRequest req;
};

/* What containerd's default spec grants, as the agent applies it (kata-agent refuses an exec
 * into a container without capabilities). */
static char *default_caps[] = {"CAP_CHOWN",  "CAP_DAC_OVERRIDE", "CAP_FOWNER",          "CAP_KILL",
                               "CAP_SETGID", "CAP_SETUID",       "CAP_NET_BIND_SERVICE"};

/* A container running `sh -c script` in the busybox rootfs. */
static void ctr_init(struct ctr *c, const char *cid, const char *script)
{
    memset(c, 0, sizeof(*c));
    grpc__spec__init(&c->spec);
    grpc__process__init(&c->proc);
    grpc__user__init(&c->user);
    grpc__root__init(&c->root);
    grpc__linux__init(&c->linux_);
    grpc__linux_capabilities__init(&c->caps);
    grpc__box__init(&c->box);
    grpc__create_container_request__init(&c->req);
    c->args[0] = "sh";
    c->args[1] = "-c";
    c->args[2] = (char *)script;
    c->env[0] = "PATH=/bin";
    c->env[1] = "HOME=/root";
    c->proc.args = c->args;
    c->proc.n_args = 3;
    c->proc.env = c->env;
    c->proc.n_env = 2;
    c->proc.cwd = "/";
    c->proc.user = &c->user;
    /* Kata's guest path (a relative one is refused); this agent roots a container without a
     * pulled image in its busybox rootfs */
    snprintf(c->root_path, sizeof(c->root_path), "/run/kata-containers/%s/rootfs", cid);
    c->root.path = c->root_path;
    c->caps.bounding = c->caps.effective = c->caps.permitted = default_caps;
    c->caps.n_bounding = c->caps.n_effective = c->caps.n_permitted = N(default_caps);
    c->proc.capabilities = &c->caps;
    c->spec.process = &c->proc;
    c->spec.root = &c->root;
    c->spec.linux = &c->linux_;
    c->req.container_id = (char *)cid;
    c->req.exec_id = (char *)cid;
    c->req.oci = &c->spec;
}

static void ctr_run(struct ctr *c)
{
    OK(agent_create_container(ag, &c->req, err_));
    OK(agent_start_container(ag, c->req.container_id, err_));
}

static void run_sh(const char *cid, const char *script)
{
    struct ctr c;
    ctr_init(&c, cid, script);
    ctr_run(&c);
}

/* Reads a stream until the empty answer that means EOF, `max` bytes a call at most. */
static char *read_all(struct agent *a, bool stderr_stream, const char *cid, const char *exec_id,
                      uint32_t max)
{
    size_t len = 0;
    char *out = xcalloc(1, 1);
    for (;;) {
        uint8_t *data = NULL;
        size_t n = 0;
        struct error err = ERROR_INIT;
        int r = stderr_stream ? agent_read_stderr(a, cid, exec_id, max, &data, &n, &err)
                              : agent_read_stdout(a, cid, exec_id, max, &data, &n, &err);
        ck_assert_msg(r == 0, "read %s: %s", stderr_stream ? "stderr" : "stdout", err.msg);
        ck_assert_uint_le(n, max);
        if (n == 0) {
            ck_assert_ptr_null(data);
            return out;
        }
        out = xrealloc(out, len + n + 1);
        memcpy(out + len, data, n);
        len += n;
        out[len] = 0;
        free(data);
    }
}

/* Reads stdout until `want` shows up (a tty says EOF only once its process is gone). */
static char *read_until(const char *cid, const char *exec_id, const char *want)
{
    size_t len = 0;
    char *out = xcalloc(1, 1);
    while (!strstr(out, want)) {
        uint8_t *data = NULL;
        size_t n = 0;
        struct error err = ERROR_INIT;
        ck_assert_msg(agent_read_stdout(ag, cid, exec_id, 4096, &data, &n, &err) == 0,
                      "read stdout: %s", err.msg);
        ck_assert_msg(n > 0, "EOF before \"%s\"; got \"%s\"", want, out);
        out = xrealloc(out, len + n + 1);
        memcpy(out + len, data, n);
        len += n;
        out[len] = 0;
        free(data);
    }
    return out;
}

static int32_t wait_exit(const char *cid, const char *exec_id)
{
    int32_t status = -1;
    OK(agent_wait_process(ag, cid, exec_id, &status, err_));
    return status;
}

static int exec_sh_on(struct agent *a, const char *cid, const char *exec_id, const char *script,
                      struct error *err)
{
    char *args[] = {"sh", "-c", (char *)script};
    char *env[] = {"PATH=/bin"};
    Grpc__User user = GRPC__USER__INIT;
    Grpc__Process proc = GRPC__PROCESS__INIT;
    proc.args = args;
    proc.n_args = N(args);
    proc.env = env;
    proc.n_env = N(env);
    proc.cwd = "/";
    proc.user = &user;
    Grpc__ExecProcessRequest req = GRPC__EXEC_PROCESS_REQUEST__INIT;
    req.container_id = (char *)cid;
    req.exec_id = (char *)exec_id;
    req.process = &proc;
    return agent_exec_process(a, &req, err);
}

static int exec_sh(const char *cid, const char *exec_id, const char *script, struct error *err)
{
    return exec_sh_on(ag, cid, exec_id, script, err);
}

/* A long poll in its own thread. Heap-allocated: a failed test may leave it running. */
enum poll_kind { POLL_WAIT, POLL_READ_STDOUT };

struct poll {
    pthread_t thread;
    struct agent *a;
    enum poll_kind kind;
    const char *cid;
    int r;
    struct error err;
    int32_t status;
    atomic_bool done;
};

static void *poll_main(void *arg)
{
    struct poll *p = arg;
    uint8_t *data = NULL;
    size_t len = 0;
    if (p->kind == POLL_WAIT)
        p->r = agent_wait_process(p->a, p->cid, "", &p->status, &p->err);
    else
        p->r = agent_read_stdout(p->a, p->cid, "", 4096, &data, &len, &p->err);
    free(data);
    atomic_store(&p->done, true);
    return NULL;
}

static struct poll *poll_start(struct agent *a, enum poll_kind kind, const char *cid)
{
    struct poll *p = xcalloc(1, sizeof(*p));
    p->a = a;
    p->kind = kind;
    p->cid = cid;
    p->r = 1;
    pthread_create(&p->thread, NULL, poll_main, p);
    return p;
}

/* Joins the poll; true when it ended within ms of now. */
static bool poll_join(struct poll *p, int64_t ms)
{
    int64_t until = now_ms() + ms;
    while (!atomic_load(&p->done) && now_ms() < until)
        usleep(5000);
    if (!atomic_load(&p->done))
        return false;
    pthread_join(p->thread, NULL);
    return true;
}

static void poll_free(struct poll *p)
{
    error_clear(&p->err);
    free(p);
}

/* --- tests --- */

START_TEST(health_sandbox_details)
{
    OK(agent_health_check(ag, err_));
    Grpc__CreateSandboxRequest sb = GRPC__CREATE_SANDBOX_REQUEST__INIT;
    sb.hostname = HOSTNAME;
    sb.sandbox_id = "sandbox-shim";
    OK(agent_create_sandbox(ag, &sb, err_));
    Grpc__GuestDetailsResponse *d = NULL;
    OK(agent_get_guest_details(ag, &d, err_));
    ck_assert_ptr_nonnull(d);
    ck_assert_ptr_nonnull(d->agent_details);
    ck_assert_uint_eq(d->agent_details->n_storage_handlers, 1);
    ck_assert_str_eq(d->agent_details->storage_handlers[0], "image_guest_pull");
    protobuf_c_message_free_unpacked(&d->base, NULL);
}
END_TEST

START_TEST(stdout_stderr_exit)
{
    run_sh("sa-echo", "echo hello; echo err >&2");
    _cleanup_free_ char *out = read_all(ag, false, "sa-echo", "", 3); /* several reads */
    _cleanup_free_ char *err_out = read_all(ag, true, "sa-echo", "", 3);
    ck_assert_str_eq(out, "hello\n");
    ck_assert_str_eq(err_out, "err\n");
    ck_assert_int_eq(wait_exit("sa-echo", ""), 0);
    OK(agent_remove_container(ag, "sa-echo", 10, err_));

    run_sh("sa-exit", "exit 42");
    ck_assert_int_eq(wait_exit("sa-exit", ""), 42);
    OK(agent_remove_container(ag, "sa-exit", 10, err_));

    run_sh("sa-kill", "exec sleep 60");
    OK(agent_signal_process(ag, "sa-kill", "", SIGKILL, err_));
    ck_assert_int_eq(wait_exit("sa-kill", ""), 128 + SIGKILL);
    OK(agent_remove_container(ag, "sa-kill", 10, err_));
}
END_TEST

START_TEST(exec_into_running)
{
    run_sh("sa-exec", "exec sleep 60");
    OK(exec_sh("sa-exec", "e1", "hostname; echo in-exec; echo exec-err >&2; exit 3", err_));
    _cleanup_free_ char *out = read_all(ag, false, "sa-exec", "e1", 4096);
    _cleanup_free_ char *err_out = read_all(ag, true, "sa-exec", "e1", 4096);
    ck_assert_str_eq(out, HOSTNAME "\nin-exec\n");
    ck_assert_str_eq(err_out, "exec-err\n");
    ck_assert_int_eq(wait_exit("sa-exec", "e1"), 3);
    /* WaitProcess released the exec id (kata-agent forgets a waited process) */
    struct error err = ERROR_INIT;
    int32_t status;
    CHECK_ERR(agent_wait_process(ag, "sa-exec", "e1", &status, &err), &err, GRPC_NOT_FOUND,
              "agent WaitProcess: ");
    OK(exec_sh("sa-exec", "e1", "exit 4", err_));
    /* a live exec id is taken */
    CHECK_ERR(exec_sh("sa-exec", "e1", "true", &err), &err, GRPC_ALREADY_EXISTS,
              "agent ExecProcess: ");
    ck_assert_int_eq(wait_exit("sa-exec", "e1"), 4);
    /* the container's init is still there; a pid 1 without a SIGTERM handler gets SIGKILL */
    OK(agent_signal_process(ag, "sa-exec", "", SIGTERM, err_));
    ck_assert_int_eq(wait_exit("sa-exec", ""), 128 + SIGKILL);
    OK(agent_remove_container(ag, "sa-exec", 10, err_));
}
END_TEST

struct reader {
    const char *cid;
    char *out;
};

static void *reader_main(void *arg)
{
    struct reader *rd = arg;
    rd->out = read_all(ag, false, rd->cid, "", 65536);
    return NULL;
}

START_TEST(stdin_through_cat)
{
    run_sh("sa-cat", "exec cat");
    /* cat's output is read while we write: more than a pipe holds goes through */
    struct reader *rd = xcalloc(1, sizeof(*rd));
    rd->cid = "sa-cat";
    pthread_t t;
    pthread_create(&t, NULL, reader_main, rd);
    size_t big_len = 300 * 1024;
    _cleanup_free_ char *big = xmalloc(big_len);
    for (size_t i = 0; i < big_len; i++)
        big[i] = (char)('a' + (i * 7 + i / 1000) % 26);
    OK(agent_write_stdin(ag, "sa-cat", "", "ping\n", 5, err_));
    OK(agent_write_stdin(ag, "sa-cat", "", "", 0, err_)); /* nothing to write: no call, no EOF */
    OK(agent_write_stdin(ag, "sa-cat", "", big, big_len, err_));
    OK(agent_close_stdin(ag, "sa-cat", "", err_));
    pthread_join(t, NULL);
    ck_assert_uint_eq(strlen(rd->out), 5 + big_len);
    ck_assert(!memcmp(rd->out, "ping\n", 5));
    ck_assert(!memcmp(rd->out + 5, big, big_len));
    free(rd->out);
    free(rd);
    ck_assert_int_eq(wait_exit("sa-cat", ""), 0);
    OK(agent_remove_container(ag, "sa-cat", 10, err_));
}
END_TEST

START_TEST(tty_and_resize)
{
    struct ctr c;
    ctr_init(&c, "sa-tty", "stty size; read line; stty size; echo got-$line");
    c.proc.terminal = true;
    c.box.height = 24;
    c.box.width = 80;
    c.proc.consolesize = &c.box;
    ctr_run(&c);
    _cleanup_free_ char *first = read_until("sa-tty", "", "24 80");
    OK(agent_tty_win_resize(ag, "sa-tty", "", 40, 132, err_));
    OK(agent_write_stdin(ag, "sa-tty", "", "x\n", 2, err_));
    _cleanup_free_ char *second = read_until("sa-tty", "", "got-x");
    ck_assert_msg(strstr(second, "40 132"), "after the resize: \"%s\"", second);
    _cleanup_free_ char *rest = read_all(ag, false, "sa-tty", "", 4096);
    _cleanup_free_ char *err_out = read_all(ag, true, "sa-tty", "", 4096);
    ck_assert_str_eq(err_out, ""); /* a tty has one stream */
    ck_assert_int_eq(wait_exit("sa-tty", ""), 0);
    OK(agent_remove_container(ag, "sa-tty", 10, err_));
}
END_TEST

START_TEST(copy_file)
{
    /* under the share dir the agent confines CopyFile to, read back through its root */
    const char *path = "/run/kata-containers/shared/containers/sa-copy-0123456789abcdef-sub/blob";
    const char *empty = "/run/kata-containers/shared/containers/sa-copy-0123456789abcdef-empty";
    _cleanup_free_ char *host = harness_guest_path(agent_pid, path);
    _cleanup_free_ char *host_empty = harness_guest_path(agent_pid, empty);
    size_t len = 5 * 512 * 1024; /* 2.5 MiB: three chunks */
    _cleanup_free_ uint8_t *data = xmalloc(len);
    for (size_t i = 0; i < len; i++)
        data[i] = (uint8_t)((i * 2654435761u) >> 13);
    unsigned before = count_rpcs("CopyFile");
    OK(agent_copy_file(ag, path, data, len, S_IFREG | 0640, err_));
    ck_assert_uint_eq(count_rpcs("CopyFile") - before, 3);
    struct stat st;
    ck_assert_int_eq(stat(host, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0640);
    size_t got_len;
    _cleanup_free_ uint8_t *got = harness_read_file(host, &got_len);
    ck_assert_uint_eq(got_len, len);
    ck_assert(!memcmp(got, data, len));

    /* exactly one chunk replaces it, with its own mode */
    before = count_rpcs("CopyFile");
    OK(agent_copy_file(ag, path, data + 1, 1024 * 1024, S_IFREG | 0600, err_));
    ck_assert_uint_eq(count_rpcs("CopyFile") - before, 1);
    _cleanup_free_ uint8_t *got2 = harness_read_file(host, &got_len);
    ck_assert_uint_eq(got_len, 1024 * 1024);
    ck_assert(!memcmp(got2, data + 1, got_len));
    ck_assert_int_eq(stat(host, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0600);

    /* an empty file is one empty chunk */
    OK(agent_copy_file(ag, empty, "", 0, S_IFREG | 0644, err_));
    ck_assert_int_eq(stat(host_empty, &st), 0);
    ck_assert_int_eq(st.st_size, 0);

    struct error err = ERROR_INIT;
    /* paths the agent would refuse never reach it */
    const char *refused[] = {"/tmp/outside",
                             "/run/kata-containers/shared/containers/",
                             "/run/kata-containers/shared/containers/../../../etc/passwd",
                             "/run/kata-containers/shared/containers/a/./b",
                             "/run/kata-containers/shared/containers//a",
                             "/run/kata-containers/shared/containers/a/",
                             "/run/kata-containers/shared/containersX/a"};
    before = count_rpcs("CopyFile");
    for (size_t i = 0; i < N(refused); i++) {
        ck_assert_int_eq(agent_copy_file(ag, refused[i], data, 10, S_IFREG | 0644, &err), -1);
        ck_assert_int_eq(err.code, GRPC_INVALID_ARGUMENT);
        _cleanup_free_ char *want = xasprintf("copy %s: not a path below ", refused[i]);
        ck_assert_msg(strncmp(err.msg, want, strlen(want)) == 0, "%s", err.msg);
        error_clear(&err);
    }
    ck_assert_uint_eq(count_rpcs("CopyFile"), before);
    /* an error of the agent (a parent that is a file) keeps its code and message after the prefix
     */
    const char *exists =
        "/run/kata-containers/shared/containers/sa-copy-0123456789abcdef-sub/blob/x";
    ck_assert_int_eq(agent_copy_file(ag, exists, data, 10, S_IFREG | 0644, &err), -1);
    _cleanup_free_ char *want = xasprintf("copy %s: agent CopyFile: ", exists);
    ck_assert_msg(strncmp(err.msg, want, strlen(want)) == 0, "%s", err.msg);
    error_clear(&err);
}
END_TEST

START_TEST(stats_pause_update)
{
    run_sh("sa-stats", "exec sleep 60");
    Grpc__StatsContainerResponse *stats = NULL;
    OK(agent_stats_container(ag, "sa-stats", &stats, err_));
    ck_assert_ptr_nonnull(stats);
    ck_assert_ptr_nonnull(stats->cgroup_stats);
    protobuf_c_message_free_unpacked(&stats->base, NULL);

    OK(agent_pause_container(ag, "sa-stats", err_));
    OK(agent_resume_container(ag, "sa-stats", err_));
    /* it runs after the resume */
    OK(exec_sh("sa-stats", "e1", "echo resumed", err_));
    _cleanup_free_ char *out = read_all(ag, false, "sa-stats", "e1", 4096);
    ck_assert_str_eq(out, "resumed\n");
    ck_assert_int_eq(wait_exit("sa-stats", "e1"), 0);

    Grpc__LinuxMemory mem = GRPC__LINUX_MEMORY__INIT;
    mem.limit = 256 * 1024 * 1024;
    Grpc__LinuxResources res = GRPC__LINUX_RESOURCES__INIT;
    res.memory = &mem;
    OK(agent_update_container(ag, "sa-stats", &res, err_));

    /* remove kills what still runs */
    OK(agent_remove_container(ag, "sa-stats", 10, err_));
    struct error err = ERROR_INIT;
    CHECK_ERR(agent_stats_container(ag, "sa-stats", &stats, &err), &err, GRPC_NOT_FOUND,
              "agent StatsContainer: ");
    CHECK_ERR(agent_pause_container(ag, "sa-stats", &err), &err, GRPC_NOT_FOUND,
              "agent PauseContainer: ");
    CHECK_ERR(agent_update_container(ag, "sa-stats", &res, &err), &err, GRPC_NOT_FOUND,
              "agent UpdateContainer: ");
    CHECK_ERR(agent_remove_container(ag, "sa-stats", 1, &err), &err, GRPC_INTERNAL,
              "agent RemoveContainer: internal error: Invalid container id");
}
END_TEST

START_TEST(errors_keep_code_and_rpc)
{
    struct error err = ERROR_INIT;
    /* kata-agent's codes for a container it does not know (agent.c lists them) */
    CHECK_ERR(agent_start_container(ag, "no-such", &err), &err, GRPC_INTERNAL,
              "agent StartContainer: internal error: ");
    int32_t status;
    CHECK_ERR(agent_wait_process(ag, "no-such", "", &status, &err), &err, GRPC_INVALID_ARGUMENT,
              "agent WaitProcess: ");
    uint8_t *data = NULL;
    size_t len;
    CHECK_ERR(agent_read_stdout(ag, "no-such", "", 16, &data, &len, &err), &err,
              GRPC_INVALID_ARGUMENT, "agent ReadStdout: ");
    CHECK_ERR(agent_write_stdin(ag, "no-such", "", "x", 1, &err), &err, GRPC_INTERNAL,
              "agent WriteStdin: internal error: ");
    CHECK_ERR(agent_signal_process(ag, "no-such", "", SIGTERM, &err), &err, GRPC_INVALID_ARGUMENT,
              "agent SignalProcess: ");
    /* the test agent has no OOM events: the long poll fails at once */
    char *cid = NULL;
    CHECK_ERR(agent_get_oom_event(ag, &cid, &err), &err, GRPC_UNIMPLEMENTED, "agent GetOOMEvent: ");

    /* the agent's own message is kept after the prefix */
    run_sh("sa-err", "exec sleep 60");
    OK(agent_set_policy(ag,
                        "package agent_policy\n\ndefault ExecProcessRequest := false\n"
                        "default SetPolicyRequest := true\n",
                        err_));
    ck_assert_int_eq(exec_sh("sa-err", "e1", "true", &err), -1);
    ck_assert_int_eq(err.code, GRPC_PERMISSION_DENIED);
    ck_assert_str_eq(
        err.msg, "agent ExecProcess: permission denied: ExecProcessRequest is blocked by policy");
    error_clear(&err);
    OK(agent_set_policy(ag,
                        "package agent_policy\n\ndefault ExecProcessRequest := true\n"
                        "default SetPolicyRequest := true\n",
                        err_));
    OK(exec_sh("sa-err", "e1", "true", err_));
    ck_assert_int_eq(wait_exit("sa-err", "e1"), 0);
    OK(agent_set_policy(ag, "", err_)); /* the test agent's way back to no policy */
    /* kata-agent: a process without a terminal has "no tty" */
    CHECK_ERR(agent_tty_win_resize(ag, "sa-err", "", 10, 10, &err), &err, GRPC_UNAVAILABLE,
              "agent TtyWinResize: ");
    OK(agent_remove_container(ag, "sa-err", 10, err_));

    /* connecting */
    struct agent *a = NULL;
    char addr[160];
    snprintf(addr, sizeof(addr), "unix://%s/absent.sock", dir);
    ck_assert_int_eq(agent_connect(addr, 200, &tmo, &a, &err), -1);
    ck_assert_ptr_null(a);
    ck_assert_msg(strstr(err.msg, "connect to the agent at unix://"), "%s", err.msg);
    error_clear(&err);
    ck_assert_int_eq(agent_connect("bogus://x", 200, &tmo, &a, &err), -1);
    ck_assert_int_eq(err.code, GRPC_INVALID_ARGUMENT);
    error_clear(&err);
    agent_free(NULL);
}
END_TEST

/* What kata-agent answers for a process or container it no longer knows, in one version. */
struct kata_forms {
    int process_code;       /* a process: NOT_FOUND since 3.25, INTERNAL before */
    const char *init;       /* exec id "" once the init was waited for */
    const char *exec;       /* an exec id that was waited for, or never was */
    const char *write_exec; /* WriteStdin's form of `exec` */
    int container_code;     /* INVALID_ARGUMENT since 3.25, INTERNAL before */
    const char *container;  /* no such container */
};

static const struct kata_forms forms_3_25 = {
    .process_code = GRPC_NOT_FOUND,
    .init = "InitProcessNotFound",
    .exec = "InvalidExecId",
    .write_exec = "internal error: Process not found: invalid exec id",
    .container_code = GRPC_INVALID_ARGUMENT,
    .container = "InvalidContainerId",
};
static const struct kata_forms forms_3_24 = {
    .process_code = GRPC_INTERNAL,
    .init = "internal error: cannot find init process!",
    .exec = "internal error: Invalid exec id",
    .write_exec = "internal error: Invalid exec id",
    .container_code = GRPC_INTERNAL,
    .container = "internal error: Invalid container id",
};

#define CHECK_GONE(r, err, code, rpc, text) check_gone(r, err, code, rpc, text, __LINE__)

/* A failed call that says "gone": the code, "agent <rpc>: <text>" exactly, and
 * agent_error_is_gone. */
static void check_gone(int r, struct error *err, int want_code, const char *rpc, const char *text,
                       int line)
{
    ck_assert_msg(r < 0, "line %d: the call succeeded", line);
    _cleanup_free_ char *want = xasprintf("agent %s: %s", rpc, text);
    ck_assert_msg(err->code == want_code && !strcmp(err->msg, want),
                  "line %d: want %s \"%s\", got %s \"%s\"", line, grpc_code_name(want_code), want,
                  grpc_code_name(err->code), err->msg);
    ck_assert_msg(agent_error_is_gone(err), "line %d: \"%s\" is not \"gone\"", line, err->msg);
    error_clear(err);
}

/* A failed call that is not "gone". */
static void check_not_gone(int r, struct error *err, int want_code, int line)
{
    ck_assert_msg(r < 0, "line %d: the call succeeded", line);
    ck_assert_msg(err->code == want_code, "line %d: want %s, got %s: %s", line,
                  grpc_code_name(want_code), grpc_code_name(err->code), err->msg);
    ck_assert_msg(!agent_error_is_gone(err), "line %d: \"%s\" is \"gone\"", line, err->msg);
    error_clear(err);
}

/* What the shim's Kill (SignalProcess), Wait (WaitProcess) and Delete (RemoveContainer) meet
 * once the agent has forgotten a process or a container, against agent a in one version. */
static void gone_in(struct agent *a, const char *cid, const struct kata_forms *f)
{
    struct error err = ERROR_INIT;
    int32_t status = -1;
    struct ctr c;
    ctr_init(&c, cid, "exec sleep 60");
    OK(agent_create_container(a, &c.req, err_));
    OK(agent_start_container(a, cid, err_));

    /* an exec id that never was */
    CHECK_GONE(agent_signal_process(a, cid, "sa-none", SIGTERM, &err), &err, f->process_code,
               "SignalProcess", f->exec);
    CHECK_GONE(agent_wait_process(a, cid, "sa-none", &status, &err), &err, f->process_code,
               "WaitProcess", f->exec);

    /* a finished exec, once its WaitProcess returned */
    OK(exec_sh_on(a, cid, "e1", "exit 5", err_));
    OK(agent_wait_process(a, cid, "e1", &status, err_));
    ck_assert_int_eq(status, 5);
    CHECK_GONE(agent_signal_process(a, cid, "e1", SIGKILL, &err), &err, f->process_code,
               "SignalProcess", f->exec);
    CHECK_GONE(agent_wait_process(a, cid, "e1", &status, &err), &err, f->process_code,
               "WaitProcess", f->exec);
    CHECK_GONE(agent_write_stdin(a, cid, "e1", "x", 1, &err), &err, GRPC_INTERNAL, "WriteStdin",
               f->write_exec);

    /* not gone: an exec id still taken, a process without a tty */
    OK(exec_sh_on(a, cid, "e2", "exec sleep 60", err_));
    check_not_gone(exec_sh_on(a, cid, "e2", "true", &err), &err, GRPC_ALREADY_EXISTS, __LINE__);
    check_not_gone(agent_tty_win_resize(a, cid, "e2", 10, 10, &err), &err, GRPC_UNAVAILABLE,
                   __LINE__);

    /* the init, once waited for; exec id "" with SIGKILL is the whole container, still there */
    OK(agent_signal_process(a, cid, "", SIGKILL, err_));
    OK(agent_wait_process(a, cid, "", &status, err_));
    ck_assert_int_eq(status, 128 + SIGKILL);
    CHECK_GONE(agent_signal_process(a, cid, "", SIGTERM, &err), &err, f->process_code,
               "SignalProcess", f->init);
    CHECK_GONE(agent_wait_process(a, cid, "", &status, &err), &err, f->process_code, "WaitProcess",
               f->init);
    OK(agent_signal_process(a, cid, "", SIGKILL, err_));

    /* the container, once removed: Delete's RemoveContainer again, Kill, Wait */
    OK(agent_remove_container(a, cid, 10, err_));
    CHECK_GONE(agent_remove_container(a, cid, 10, &err), &err, GRPC_INTERNAL, "RemoveContainer",
               "internal error: Invalid container id");
    CHECK_GONE(agent_signal_process(a, cid, "", SIGTERM, &err), &err, f->container_code,
               "SignalProcess", f->container);
    CHECK_GONE(agent_signal_process(a, cid, "e1", SIGTERM, &err), &err, f->container_code,
               "SignalProcess", f->container);
    _cleanup_free_ char *all = xasprintf("internal error: Invalid container id %s", cid);
    CHECK_GONE(agent_signal_process(a, cid, "", SIGKILL, &err), &err, GRPC_INTERNAL,
               "SignalProcess", all);
    CHECK_GONE(agent_wait_process(a, cid, "", &status, &err), &err, f->container_code,
               "WaitProcess", f->container);
}

/* Kata 3.25 (kata-containers db0991280889, in every 4.x) made these errors typed; the shim
 * knows both forms. The 3.24 form comes from a second agent, started here. */
START_TEST(gone_process_and_container)
{
    gone_in(ag, "sa-gone", &forms_3_25);

    char adir[96];
    snprintf(adir, sizeof(adir), "%s/kata-3.24", dir);
    ck_assert_int_eq(mkdir(adir, 0755), 0);
    const char *old[] = {"--kata-errors", "3.24", NULL};
    struct agent *a = NULL;
    agent_3_24_pid = spawn_agent_in(adir, old, &a);
    gone_in(a, "sa-gone-old", &forms_3_24);

    /* the VM gone is not "gone" */
    agent_close(a);
    struct error err = ERROR_INIT;
    int32_t status;
    check_not_gone(agent_wait_process(a, "sa-gone-old", "", &status, &err), &err, GRPC_UNAVAILABLE,
                   __LINE__);
    agent_free(a);
    pid_t pid = agent_3_24_pid;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    agent_3_24_pid = -1;
}
END_TEST

/* A peer that never answers: a listening socket nobody accepts on. */
START_TEST(deadlines)
{
    char path[100], addr[160];
    snprintf(path, sizeof(path), "%s/mute.sock", dir);
    snprintf(addr, sizeof(addr), "unix://%s", path);
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(lfd, 8), 0);
    const struct agent_timeouts t = {
        .request_ms = 500, .health_check_ms = 100, .create_container_ms = 1000};
    struct agent *a = NULL;
    OK(agent_connect(addr, 1000, &t, &a, err_));

    /* long polls have no deadline: they outlive every one below */
    struct poll *w = poll_start(a, POLL_WAIT, "sa-mute");
    struct poll *rd = poll_start(a, POLL_READ_STDOUT, "sa-mute");

    struct error err = ERROR_INIT;
    int64_t t0 = now_ms();
    CHECK_ERR(agent_health_check(a, &err), &err, GRPC_DEADLINE_EXCEEDED, "agent Check: ");
    int64_t el = now_ms() - t0;
    ck_assert_msg(el >= 90 && el < 450, "Check took %lld ms", (long long)el);

    t0 = now_ms();
    CHECK_ERR(agent_start_container(a, "sa-mute", &err), &err, GRPC_DEADLINE_EXCEEDED,
              "agent StartContainer: ");
    el = now_ms() - t0;
    ck_assert_msg(el >= 490 && el < 950, "StartContainer took %lld ms", (long long)el);

    struct ctr c;
    ctr_init(&c, "sa-mute", "true");
    t0 = now_ms();
    CHECK_ERR(agent_create_container(a, &c.req, &err), &err, GRPC_DEADLINE_EXCEEDED,
              "agent CreateContainer: ");
    el = now_ms() - t0;
    ck_assert_msg(el >= 990 && el < 2500, "CreateContainer took %lld ms", (long long)el);

    /* the agent may wait timeout_s for the processes: the call gets that on top */
    t0 = now_ms();
    CHECK_ERR(agent_remove_container(a, "sa-mute", 1, &err), &err, GRPC_DEADLINE_EXCEEDED,
              "agent RemoveContainer: ");
    el = now_ms() - t0;
    ck_assert_msg(el >= 1490 && el < 3000, "RemoveContainer took %lld ms", (long long)el);

    ck_assert_msg(!atomic_load(&w->done), "WaitProcess ended: %s", w->err.msg);
    ck_assert_msg(!atomic_load(&rd->done), "ReadStdout ended: %s", rd->err.msg);
    agent_close(a);
    ck_assert(poll_join(w, 2000));
    ck_assert(poll_join(rd, 2000));
    CHECK_ERR(w->r, &w->err, GRPC_UNAVAILABLE, "agent WaitProcess: ");
    CHECK_ERR(rd->r, &rd->err, GRPC_UNAVAILABLE, "agent ReadStdout: ");
    poll_free(w);
    poll_free(rd);
    agent_free(a);
    close(lfd);
}
END_TEST

/* agent_close from another thread ends a WaitProcess the agent would hold for a minute. */
START_TEST(close_ends_long_poll)
{
    run_sh("sa-close", "exec sleep 60");
    struct agent *a = connect_agent();
    struct poll *w = poll_start(a, POLL_WAIT, "sa-close");
    usleep(200000);
    ck_assert(!atomic_load(&w->done));
    int64_t t0 = now_ms();
    agent_close(a);
    ck_assert_msg(poll_join(w, 2000), "WaitProcess still blocked after agent_close");
    int64_t el = now_ms() - t0;
    ck_assert_msg(el < 1000, "WaitProcess took %lld ms to fail", (long long)el);
    CHECK_ERR(w->r, &w->err, GRPC_UNAVAILABLE, "agent WaitProcess: ");
    poll_free(w);
    /* and every later call fails at once */
    struct error err = ERROR_INIT;
    CHECK_ERR(agent_health_check(a, &err), &err, GRPC_UNAVAILABLE, "agent Check: ");
    CHECK_ERR(agent_start_container(a, "sa-close", &err), &err, GRPC_UNAVAILABLE,
              "agent StartContainer: ");
    agent_close(a); /* twice is fine */
    agent_free(a);

    /* agent_free alone does the same for a call still pending, and waits for it */
    a = connect_agent();
    w = poll_start(a, POLL_WAIT, "sa-close");
    usleep(200000);
    ck_assert(!atomic_load(&w->done));
    agent_free(a);
    ck_assert(poll_join(w, 2000));
    CHECK_ERR(w->r, &w->err, GRPC_UNAVAILABLE, "agent WaitProcess: ");
    poll_free(w);

    /* the other connection is untouched */
    OK(agent_health_check(ag, err_));
    OK(agent_remove_container(ag, "sa-close", 10, err_));
}
END_TEST

START_TEST(destroy_sandbox)
{
    run_sh("sa-left", "exec sleep 60");
    OK(agent_destroy_sandbox(ag, err_));
    struct error err = ERROR_INIT;
    CHECK_ERR(agent_start_container(ag, "sa-left", &err), &err, GRPC_INTERNAL,
              "agent StartContainer: internal error: Invalid container id");
}
END_TEST

/* Last: the VM dies under a pending WaitProcess. */
START_TEST(agent_killed)
{
    /* its init is pid 1 of its own pid namespace, inside the agent's: they die together */
    run_sh("sa-last", "echo $$; exec sleep 60");
    _cleanup_free_ char *pid_line = read_until("sa-last", "", "\n");
    ck_assert_str_eq(pid_line, "1\n");
    struct poll *w = poll_start(ag, POLL_WAIT, "sa-last");
    usleep(200000);
    ck_assert(!atomic_load(&w->done));
    int64_t t0 = now_ms();
    pid_t pid = agent_pid;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    agent_pid = -1;
    ck_assert_msg(poll_join(w, 2000), "WaitProcess still blocked after the agent died");
    int64_t el = now_ms() - t0;
    ck_assert_msg(el < 1000, "WaitProcess took %lld ms to fail", (long long)el);
    CHECK_ERR(w->r, &w->err, GRPC_UNAVAILABLE, "agent WaitProcess: ");
    poll_free(w);
    struct error err = ERROR_INIT;
    CHECK_ERR(agent_health_check(ag, &err), &err, GRPC_UNAVAILABLE, "agent Check: ");
    agent_free(ag);
    ag = NULL;
}
END_TEST

/* --- main --- */

static void fail_without_busybox(void)
{
    ck_assert_msg(have_busybox, HARNESS_BUSYBOX " is missing: install Debian's busybox-static");
}

static Suite *shim_agent_suite(void)
{
    Suite *s = suite_create("shim-agent");
    TCase *tc = tcase_create("agent");
    tcase_add_checked_fixture(tc, fail_without_busybox, NULL);
    tcase_add_test(tc, health_sandbox_details);
    tcase_add_test(tc, stdout_stderr_exit);
    tcase_add_test(tc, exec_into_running);
    tcase_add_test(tc, stdin_through_cat);
    tcase_add_test(tc, tty_and_resize);
    tcase_add_test(tc, copy_file);
    tcase_add_test(tc, stats_pause_update);
    tcase_add_test(tc, errors_keep_code_and_rpc);
    tcase_add_test(tc, gone_process_and_container);
    tcase_add_test(tc, deadlines);
    tcase_add_test(tc, close_ends_long_poll);
    tcase_add_test(tc, destroy_sandbox);
    tcase_add_test(tc, agent_killed);
    suite_add_tcase(s, tc);
    return s;
}

static void kill_leftovers(void)
{
    if (agent_pid > 0) {
        kill(agent_pid, SIGKILL);
        waitpid(agent_pid, NULL, 0);
        agent_pid = -1;
    }
    if (agent_3_24_pid > 0) {
        kill(agent_3_24_pid, SIGKILL);
        waitpid(agent_3_24_pid, NULL, 0);
        agent_3_24_pid = -1;
    }
}

/* The guard: a hung call must fail the test, not stall it. A thread rather than alarm():
 * check's runner takes SIGALRM for itself and answers it by killing our process group. */
static void *watchdog_main(void *arg)
{
    struct timespec ts = {.tv_sec = GUARD_S};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
    static const char msg[] = "Bail out! test-shim-agent: timed out\n";
    (void)!write(1, msg, sizeof(msg) - 1);
    if (agent_pid > 0)
        kill(agent_pid, SIGKILL);
    if (agent_3_24_pid > 0)
        kill(agent_3_24_pid, SIGKILL);
    dump_agent_log();
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/rm", "rm", "-rf", dir, (char *)NULL);
        _exit(127);
    }
    if (pid > 0)
        waitpid(pid, NULL, 0);
    _exit(1);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        harness_die("usage: test-shim-agent PATH-TO-cocoon-test-agent");
    agent_bin = argv[1];
    if (geteuid() != 0) {
        printf("1..0 # SKIP the agent needs root for namespaces and mounts\n");
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    snprintf(dir, sizeof(dir), "/tmp/cocoon-shim-agent-XXXXXX");
    if (!mkdtemp(dir))
        harness_die("mkdtemp: %s", strerror(errno));
    pthread_t watchdog;
    pthread_create(&watchdog, NULL, watchdog_main, NULL);
    have_busybox = access(HARNESS_BUSYBOX, X_OK) == 0;
    if (have_busybox) {
        harness_make_rootfs(dir);
        start_agent();
    }
    SRunner *sr = srunner_create(shim_agent_suite());
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_set_tap(sr, "-");
    srunner_run_all(sr, CK_SILENT);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    agent_free(ag);
    kill_leftovers();
    if (failed)
        dump_agent_log();
    harness_run("rm -rf %s", dir);
    return failed ? 1 : 0;
}
