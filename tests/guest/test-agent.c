/* cocoon-test-agent on the host: the agent binary (argv[1]) serves a unix socket, with a busybox
 * rootfs built here from Debian's busybox-static, and this program drives its RPCs the way the
 * shim does. Runs as root (namespaces, mounts); every mount stays in the containers' private
 * mount namespaces. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>
#include <zlib.h>

#include "kata/agent.pb-c.h"
#include "kata/health.pb-c.h"
#include "lib/fs.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"
#include "ttrpc/client.h"
#include "ttrpc/dial.h"

#define BUSYBOX "/bin/busybox"
#define AGENT_SVC "grpc.AgentService"
#define CALL_MS 60000

static const char *agent_bin;
static char dir[256];
static char sock[300];
static pid_t agent_pid = -1;
static struct ttrpc_client *cli;
static bool have_busybox;

/* --- setup: rootfs, init-data image, the agent --- */

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "test-agent: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static void run(const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    if (system(cmd) != 0)
        die("command failed: %s", cmd);
}

static void write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, data, len) != (ssize_t)len)
        die("write %s: %s", path, strerror(errno));
    close(fd);
}

static uint8_t *read_file(const char *path, size_t *len)
{
    char *data = NULL;
    return fs_read_file(path, 256u << 20, &data, len, NULL) == 0 ? (uint8_t *)data : NULL;
}

/* A busybox rootfs like the guest image's: /bin/busybox and one symlink per applet. */
static void make_rootfs(void)
{
    run("mkdir -p %s/rootfs/bin %s/rootfs/etc %s/rootfs/tmp %s/rootfs/proc %s/rootfs/dev "
        "%s/rootfs/sys",
        dir, dir, dir, dir, dir, dir);
    run("cp " BUSYBOX " %s/rootfs/bin/busybox", dir);
    run("cd %s/rootfs/bin && for a in $(./busybox --list); do [ \"$a\" = busybox ] || "
        "ln -sf busybox \"$a\"; done",
        dir);
}

static uint8_t *gzip(const uint8_t *in, size_t len, size_t *out_len)
{
    z_stream zs = {0};
    deflateInit2(&zs, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
    size_t cap = deflateBound(&zs, len) + 64;
    uint8_t *out = xmalloc(cap);
    zs.next_in = (uint8_t *)in;
    zs.avail_in = (uInt)len;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END)
        die("gzip failed");
    *out_len = zs.total_out;
    deflateEnd(&zs);
    return out;
}

/* kata.md 2.8 vector 3: default-initdata.toml, sha256. */
static const char initdata_toml[] = "version = \"0.1.0\"\nalgorithm = \"sha256\"\n\n[data]\n";
static const char initdata_sha256[] =
    "5fbba2d190b4c600dc48b80802559460ecae499f76f079e9ad2ebd4e3c7eb65f";

static void make_initdata(const char *path)
{
    size_t gz_len;
    _cleanup_free_ uint8_t *gz =
        gzip((const uint8_t *)initdata_toml, strlen(initdata_toml), &gz_len);
    size_t total = (16 + gz_len + 511) / 512 * 512;
    _cleanup_free_ uint8_t *img = xcalloc(1, total);
    memcpy(img, "initdata", 8);
    for (int i = 0; i < 8; i++)
        img[8 + i] = (uint8_t)((uint64_t)gz_len >> (8 * i));
    memcpy(img + 16, gz, gz_len);
    write_file(path, img, total);
}

static void start_agent(void)
{
    snprintf(sock, sizeof(sock), "%s/agent.sock", dir);
    char rootfs[300], state[300], initdata[300], logpath[300], listen[320];
    snprintf(rootfs, sizeof(rootfs), "%s/rootfs", dir);
    snprintf(state, sizeof(state), "%s/state", dir);
    snprintf(initdata, sizeof(initdata), "%s/initdata.img", dir);
    snprintf(logpath, sizeof(logpath), "%s/agent.log", dir);
    snprintf(listen, sizeof(listen), "unix://%s", sock);
    make_initdata(initdata);
    agent_pid = fork();
    if (agent_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive a crashed test */
        int fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        execl(agent_bin, agent_bin, "--listen", listen, "--rootfs", rootfs, "--state-dir", state,
              "--initdata", initdata, "--loopback-registry", "none", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) {
        struct error err = ERROR_INIT;
        int fd = access(sock, F_OK) == 0 ? ttrpc_dial(sock, 1000, &err) : -1;
        error_clear(&err);
        if (fd >= 0) {
            cli = ttrpc_client_new(fd);
            return;
        }
        usleep(50000);
    }
    die("the agent did not come up on %s (see %s)", sock, logpath);
}

static void dump_agent_log(void)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/agent.log", dir);
    size_t n;
    _cleanup_free_ uint8_t *log = read_file(path, &n);
    if (log)
        fprintf(stderr, "--- agent log ---\n%s--- end of agent log ---\n", (char *)log);
}

/* --- calls --- */

static int call(const char *method, const void *req, const ProtobufCMessageDescriptor *rd,
                void *resp, struct error *err)
{
    return ttrpc_client_call(cli, AGENT_SVC, method, req, rd, (ProtobufCMessage **)resp, CALL_MS,
                             NULL, 0, err);
}

static void call_ok(const char *method, const void *req)
{
    struct error err = ERROR_INIT;
    int r = call(method, req, NULL, NULL, &err);
    ck_assert_msg(r == 0, "%s: %s", method, err.msg);
    error_clear(&err);
}

struct ctr_spec {
    Grpc__Spec spec;
    Grpc__Process proc;
    Grpc__User user;
    Grpc__Root root;
    Grpc__Box box;
    Grpc__Mount mount;
    Grpc__Mount *mounts[1];
    Grpc__Storage storage;
    Grpc__Storage *storages[1];
    char *env[2];
    char *mount_opts[2];
    Grpc__CreateContainerRequest req;
};

static void ctr_spec_init(struct ctr_spec *s, const char *cid, char **args, size_t n_args)
{
    memset(s, 0, sizeof(*s));
    grpc__spec__init(&s->spec);
    grpc__process__init(&s->proc);
    grpc__user__init(&s->user);
    grpc__root__init(&s->root);
    grpc__box__init(&s->box);
    grpc__create_container_request__init(&s->req);
    s->env[0] = "PATH=/bin";
    s->env[1] = "HOME=/root";
    s->proc.args = args;
    s->proc.n_args = n_args;
    s->proc.env = s->env;
    s->proc.n_env = 2;
    s->proc.cwd = "/";
    s->proc.user = &s->user;
    s->root.path = "rootfs";
    s->spec.process = &s->proc;
    s->spec.root = &s->root;
    s->req.container_id = (char *)cid;
    s->req.exec_id = (char *)cid;
    s->req.oci = &s->spec;
}

static void ctr_spec_bind(struct ctr_spec *s, const char *src, const char *dst)
{
    grpc__mount__init(&s->mount);
    s->mount.source = (char *)src;
    s->mount.destination = (char *)dst;
    s->mount.type = "bind";
    s->mount_opts[0] = "rbind";
    s->mount_opts[1] = "rw";
    s->mount.options = s->mount_opts;
    s->mount.n_options = 2;
    s->mounts[0] = &s->mount;
    s->spec.mounts = s->mounts;
    s->spec.n_mounts = 1;
}

static void ctr_spec_pull(struct ctr_spec *s, const char *ref, const char *mount_point)
{
    grpc__storage__init(&s->storage);
    s->storage.driver = "image_guest_pull";
    s->storage.source = (char *)ref;
    s->storage.fstype = "overlay";
    s->storage.mount_point = (char *)mount_point;
    s->storages[0] = &s->storage;
    s->req.storages = s->storages;
    s->req.n_storages = 1;
}

static void create_and_start(struct ctr_spec *s)
{
    call_ok("CreateContainer", &s->req);
    Grpc__StartContainerRequest start = GRPC__START_CONTAINER_REQUEST__INIT;
    start.container_id = s->req.container_id;
    call_ok("StartContainer", &start);
}

static void run_container(const char *cid, char **args, size_t n)
{
    struct ctr_spec s;
    ctr_spec_init(&s, cid, args, n);
    create_and_start(&s);
}

/* ReadStdout (or ReadStderr) until the empty answer that means EOF. */
static char *read_all(const char *method, const char *cid, const char *exec_id)
{
    size_t len = 0;
    char *out = xcalloc(1, 1);
    for (;;) {
        Grpc__ReadStreamRequest req = GRPC__READ_STREAM_REQUEST__INIT;
        req.container_id = (char *)cid;
        req.exec_id = (char *)exec_id;
        req.len = 7; /* small, so that several reads are needed */
        Grpc__ReadStreamResponse *resp = NULL;
        struct error err = ERROR_INIT;
        int r = call(method, &req, &grpc__read_stream_response__descriptor, &resp, &err);
        ck_assert_msg(r == 0, "%s: %s", method, err.msg);
        size_t n = resp->data.len;
        ck_assert_uint_le(n, 7);
        out = xrealloc(out, len + n + 1);
        if (n)
            memcpy(out + len, resp->data.data, n);
        len += n;
        out[len] = 0;
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        if (n == 0)
            return out;
    }
}

/* Reads stdout until `want` appears in what was read (a tty never says EOF while it runs). */
static char *read_until(const char *cid, const char *exec_id, const char *want)
{
    size_t len = 0;
    char *out = xcalloc(1, 1);
    while (!strstr(out, want)) {
        Grpc__ReadStreamRequest req = GRPC__READ_STREAM_REQUEST__INIT;
        req.container_id = (char *)cid;
        req.exec_id = (char *)exec_id;
        req.len = 4096;
        Grpc__ReadStreamResponse *resp = NULL;
        struct error err = ERROR_INIT;
        int r = call("ReadStdout", &req, &grpc__read_stream_response__descriptor, &resp, &err);
        ck_assert_msg(r == 0, "ReadStdout: %s", err.msg);
        ck_assert_msg(resp->data.len > 0, "EOF before \"%s\"; got \"%s\"", want, out);
        out = xrealloc(out, len + resp->data.len + 1);
        memcpy(out + len, resp->data.data, resp->data.len);
        len += resp->data.len;
        out[len] = 0;
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    }
    return out;
}

static int wait_process(const char *cid, const char *exec_id)
{
    Grpc__WaitProcessRequest req = GRPC__WAIT_PROCESS_REQUEST__INIT;
    req.container_id = (char *)cid;
    req.exec_id = (char *)exec_id;
    Grpc__WaitProcessResponse *resp = NULL;
    struct error err = ERROR_INIT;
    int r = call("WaitProcess", &req, &grpc__wait_process_response__descriptor, &resp, &err);
    ck_assert_msg(r == 0, "WaitProcess: %s", err.msg);
    int status = resp->status;
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return status;
}

static void remove_container(const char *cid)
{
    Grpc__RemoveContainerRequest req = GRPC__REMOVE_CONTAINER_REQUEST__INIT;
    req.container_id = (char *)cid;
    req.timeout = 10;
    call_ok("RemoveContainer", &req);
}

static void write_stdin(const char *cid, const char *exec_id, const char *data)
{
    Grpc__WriteStreamRequest req = GRPC__WRITE_STREAM_REQUEST__INIT;
    req.container_id = (char *)cid;
    req.exec_id = (char *)exec_id;
    req.data.data = (uint8_t *)data;
    req.data.len = strlen(data);
    Grpc__WriteStreamResponse *resp = NULL;
    struct error err = ERROR_INIT;
    int r = call("WriteStdin", &req, &grpc__write_stream_response__descriptor, &resp, &err);
    ck_assert_msg(r == 0, "WriteStdin: %s", err.msg);
    ck_assert_uint_eq(resp->len, strlen(data));
    protobuf_c_message_free_unpacked(&resp->base, NULL);
}

static int exec_process(const char *cid, const char *exec_id, char **args, size_t n,
                        struct error *err)
{
    Grpc__Process proc = GRPC__PROCESS__INIT;
    Grpc__User user = GRPC__USER__INIT;
    char *env[] = {"PATH=/bin"};
    proc.args = args;
    proc.n_args = n;
    proc.env = env;
    proc.n_env = 1;
    proc.cwd = "/";
    proc.user = &user;
    Grpc__ExecProcessRequest req = GRPC__EXEC_PROCESS_REQUEST__INIT;
    req.container_id = (char *)cid;
    req.exec_id = (char *)exec_id;
    req.process = &proc;
    return call("ExecProcess", &req, NULL, NULL, err);
}

static char *exec_output(const char *cid, const char *exec_id, char **args, size_t n, int *status)
{
    struct error err = ERROR_INIT;
    int r = exec_process(cid, exec_id, args, n, &err);
    ck_assert_msg(r == 0, "ExecProcess: %s", err.msg);
    char *out = read_all("ReadStdout", cid, exec_id);
    *status = wait_process(cid, exec_id);
    return out;
}

static void set_policy(const char *text)
{
    Grpc__SetPolicyRequest req = GRPC__SET_POLICY_REQUEST__INIT;
    req.policy = (char *)text;
    call_ok("SetPolicy", &req);
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* --- tests --- */

START_TEST(health_and_sandbox)
{
    Grpc__CheckRequest check = GRPC__CHECK_REQUEST__INIT;
    Grpc__HealthCheckResponse *h = NULL;
    struct error err = ERROR_INIT;
    ck_assert_int_eq(ttrpc_client_call(cli, "grpc.Health", "Check", &check.base,
                                       &grpc__health_check_response__descriptor,
                                       (ProtobufCMessage **)&h, CALL_MS, NULL, 0, &err),
                     0);
    ck_assert_int_eq(h->status, GRPC__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
    protobuf_c_message_free_unpacked(&h->base, NULL);

    Grpc__CreateSandboxRequest sb = GRPC__CREATE_SANDBOX_REQUEST__INIT;
    sb.hostname = "cocoon-test";
    sb.sandbox_id = "sandbox-1";
    call_ok("CreateSandbox", &sb);

    Grpc__GuestDetailsRequest gd = GRPC__GUEST_DETAILS_REQUEST__INIT;
    gd.mem_block_size = true;
    Grpc__GuestDetailsResponse *d = NULL;
    ck_assert_int_eq(
        call("GetGuestDetails", &gd, &grpc__guest_details_response__descriptor, &d, &err), 0);
    ck_assert_ptr_nonnull(d->agent_details);
    ck_assert_uint_eq(d->agent_details->n_storage_handlers, 1);
    ck_assert_str_eq(d->agent_details->storage_handlers[0], "image_guest_pull");
    ck_assert(!d->agent_details->init_daemon);
    protobuf_c_message_free_unpacked(&d->base, NULL);

    /* anything not implemented says so */
    Grpc__ListInterfacesRequest li = GRPC__LIST_INTERFACES_REQUEST__INIT;
    ck_assert_int_eq(call("ListInterfaces", &li, NULL, NULL, &err), -1);
    ck_assert_int_eq(err.code, GRPC_UNIMPLEMENTED);
    error_clear(&err);
}
END_TEST

/* WaitProcess from another thread, as containerd's CRI calls Wait before Start. */
static void *early_wait(void *arg)
{
    Grpc__WaitProcessRequest req = GRPC__WAIT_PROCESS_REQUEST__INIT;
    req.container_id = arg;
    req.exec_id = "";
    Grpc__WaitProcessResponse *resp = NULL;
    struct error err = ERROR_INIT;
    intptr_t status = -1;
    if (call("WaitProcess", &req, &grpc__wait_process_response__descriptor, &resp, &err) == 0) {
        status = resp->status;
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    }
    error_clear(&err);
    return (void *)status;
}

START_TEST(echo_hello)
{
    char *args[] = {"echo", "hello"};
    struct ctr_spec s;
    ctr_spec_init(&s, "c-echo", args, N(args));
    call_ok("CreateContainer", &s.req);
    pthread_t waiter;
    pthread_create(&waiter, NULL, early_wait, "c-echo");
    usleep(50000); /* let the WaitProcess reach the agent first */
    Grpc__StartContainerRequest start = GRPC__START_CONTAINER_REQUEST__INIT;
    start.container_id = "c-echo";
    call_ok("StartContainer", &start);
    _cleanup_free_ char *out = read_all("ReadStdout", "c-echo", "");
    ck_assert_str_eq(out, "hello\n");
    _cleanup_free_ char *err_out = read_all("ReadStderr", "c-echo", "");
    ck_assert_str_eq(err_out, "");
    void *early;
    pthread_join(waiter, &early);
    ck_assert_int_eq((intptr_t)early, 0);
    ck_assert_int_eq(wait_process("c-echo", ""), 0);
    remove_container("c-echo");
}
END_TEST

START_TEST(exit_code_and_hostname)
{
    char *args[] = {"sh", "-c", "hostname; echo oops >&2; exit 42"};
    run_container("c-exit", args, N(args));
    _cleanup_free_ char *out = read_all("ReadStdout", "c-exit", "c-exit");
    _cleanup_free_ char *err_out = read_all("ReadStderr", "c-exit", "c-exit");
    ck_assert_str_eq(out, "cocoon-test\n");
    ck_assert_str_eq(err_out, "oops\n");
    ck_assert_int_eq(wait_process("c-exit", ""), 42);
    remove_container("c-exit");
}
END_TEST

START_TEST(stdin_through_cat)
{
    char *args[] = {"cat"};
    run_container("c-cat", args, N(args));
    write_stdin("c-cat", "", "ping\n");
    write_stdin("c-cat", "", "pong\n");
    Grpc__CloseStdinRequest cl = GRPC__CLOSE_STDIN_REQUEST__INIT;
    cl.container_id = "c-cat";
    call_ok("CloseStdin", &cl);
    _cleanup_free_ char *out = read_all("ReadStdout", "c-cat", "");
    ck_assert_str_eq(out, "ping\npong\n");
    ck_assert_int_eq(wait_process("c-cat", ""), 0);
    remove_container("c-cat");
}
END_TEST

START_TEST(tty_and_resize)
{
    char *args[] = {"sh", "-c", "stty size; read line; stty size; echo got-$line"};
    struct ctr_spec s;
    ctr_spec_init(&s, "c-tty", args, N(args));
    s.proc.terminal = true;
    s.box.height = 24;
    s.box.width = 80;
    s.proc.consolesize = &s.box;
    create_and_start(&s);
    _cleanup_free_ char *first = read_until("c-tty", "", "24 80");
    Grpc__TtyWinResizeRequest rs = GRPC__TTY_WIN_RESIZE_REQUEST__INIT;
    rs.container_id = "c-tty";
    rs.row = 40;
    rs.column = 132;
    call_ok("TtyWinResize", &rs);
    write_stdin("c-tty", "", "x\n");
    _cleanup_free_ char *second = read_until("c-tty", "", "got-x");
    ck_assert_msg(strstr(second, "40 132"), "after resize: \"%s\"", second);
    _cleanup_free_ char *rest = read_all("ReadStdout", "c-tty", "");
    _cleanup_free_ char *err_out = read_all("ReadStderr", "c-tty", "");
    ck_assert_str_eq(err_out, "");
    ck_assert_int_eq(wait_process("c-tty", ""), 0);
    /* resizing a process without a terminal is an error */
    char *args2[] = {"true"};
    run_container("c-notty", args2, N(args2));
    rs.container_id = "c-notty";
    struct error err = ERROR_INIT;
    ck_assert_int_eq(call("TtyWinResize", &rs, NULL, NULL, &err), -1);
    error_clear(&err);
    ck_assert_int_eq(wait_process("c-notty", ""), 0);
    remove_container("c-notty");
    remove_container("c-tty");
}
END_TEST

START_TEST(exec_copyfile_signal)
{
    char shared[300], target[320];
    snprintf(shared, sizeof(shared), "%s/shared", dir);
    mkdir(shared, 0755);
    char *args[] = {"sleep", "30"};
    struct ctr_spec s;
    ctr_spec_init(&s, "c-sleep", args, N(args));
    ctr_spec_bind(&s, shared, "/shared");
    create_and_start(&s);

    int status;
    char *echo[] = {"echo", "in"};
    _cleanup_free_ char *out = exec_output("c-sleep", "e1", echo, N(echo), &status);
    ck_assert_str_eq(out, "in\n");
    ck_assert_int_eq(status, 0);

    /* the exec'd process is in the container: its root and hostname */
    char *look[] = {"sh", "-c", "hostname; ls /shared; test -e /bin/busybox && echo root-ok"};
    _cleanup_free_ char *out2 = exec_output("c-sleep", "e2", look, N(look), &status);
    ck_assert_str_eq(out2, "cocoon-test\nroot-ok\n");

    /* CopyFile in two chunks, then cat it from inside */
    snprintf(target, sizeof(target), "%s/sub/dir/greeting", shared);
    const char *text = "hello from CopyFile\n";
    size_t len = strlen(text), half = 7;
    Grpc__CopyFileRequest cf = GRPC__COPY_FILE_REQUEST__INIT;
    cf.path = target;
    cf.file_size = (int64_t)len;
    cf.file_mode = S_IFREG | 0640;
    cf.dir_mode = 0750;
    cf.data.data = (uint8_t *)text;
    cf.data.len = half;
    call_ok("CopyFile", &cf);
    ck_assert_int_ne(access(target, F_OK), 0); /* not there until the last chunk */
    cf.offset = (int64_t)half;
    cf.data.data = (uint8_t *)text + half;
    cf.data.len = len - half;
    call_ok("CopyFile", &cf);
    struct stat st;
    ck_assert_int_eq(stat(target, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0640);
    char *cat[] = {"cat", "/shared/sub/dir/greeting"};
    _cleanup_free_ char *out3 = exec_output("c-sleep", "e3", cat, N(cat), &status);
    ck_assert_str_eq(out3, text);
    ck_assert_int_eq(status, 0);

    /* a failing exec is reported, and an exec id cannot be used twice */
    struct error err = ERROR_INIT;
    char *missing[] = {"no-such-command"};
    ck_assert_int_eq(exec_process("c-sleep", "e4", missing, 1, &err), -1);
    ck_assert_msg(strstr(err.msg, "no-such-command"), "%s", err.msg);
    error_clear(&err);
    ck_assert_int_eq(exec_process("c-sleep", "e1", echo, 1, &err), -1);
    ck_assert_int_eq(err.code, GRPC_ALREADY_EXISTS);
    error_clear(&err);

    /* best effort on this host: stats, pause and resume answer */
    Grpc__StatsContainerRequest sr = GRPC__STATS_CONTAINER_REQUEST__INIT;
    sr.container_id = "c-sleep";
    Grpc__StatsContainerResponse *stats = NULL;
    ck_assert_int_eq(
        call("StatsContainer", &sr, &grpc__stats_container_response__descriptor, &stats, &err), 0);
    ck_assert_ptr_nonnull(stats->cgroup_stats);
    protobuf_c_message_free_unpacked(&stats->base, NULL);
    Grpc__PauseContainerRequest pr = GRPC__PAUSE_CONTAINER_REQUEST__INIT;
    pr.container_id = "c-sleep";
    call_ok("PauseContainer", &pr);
    Grpc__ResumeContainerRequest rr = GRPC__RESUME_CONTAINER_REQUEST__INIT;
    rr.container_id = "c-sleep";
    call_ok("ResumeContainer", &rr);

    Grpc__SignalProcessRequest sig = GRPC__SIGNAL_PROCESS_REQUEST__INIT;
    sig.container_id = "c-sleep";
    sig.signal = SIGTERM;
    call_ok("SignalProcess", &sig);
    ck_assert_int_eq(wait_process("c-sleep", ""), 128 + SIGTERM);
    remove_container("c-sleep");
    /* gone */
    Grpc__StartContainerRequest start = GRPC__START_CONTAINER_REQUEST__INIT;
    start.container_id = "c-sleep";
    ck_assert_int_eq(call("StartContainer", &start, NULL, NULL, &err), -1);
    ck_assert_int_eq(err.code, GRPC_NOT_FOUND);
    error_clear(&err);
}
END_TEST

START_TEST(policy_blocks_exec)
{
    char *args[] = {"sleep", "30"};
    run_container("c-policy", args, N(args));
    set_policy("package agent_policy\n\ndefault CreateContainerRequest := true\n"
               "default  ExecProcessRequest   :=   false\ndefault ReadStreamRequest := true\n");
    struct error err = ERROR_INIT;
    char *echo[] = {"echo", "in"};
    ck_assert_int_eq(exec_process("c-policy", "e1", echo, N(echo), &err), -1);
    ck_assert_int_eq(err.code, GRPC_PERMISSION_DENIED);
    ck_assert_str_eq(err.msg, "ExecProcessRequest is blocked by policy");
    error_clear(&err);
    set_policy("package agent_policy\n\ndefault ExecProcessRequest := true\n");
    int status;
    _cleanup_free_ char *out = exec_output("c-policy", "e2", echo, N(echo), &status);
    ck_assert_str_eq(out, "in\n");
    remove_container("c-policy");
}
END_TEST

START_TEST(pause_container)
{
    char *args[] = {"/pause"};
    struct ctr_spec s;
    ctr_spec_init(&s, "c-pause", args, N(args));
    ctr_spec_pull(&s, "pause", "");
    create_and_start(&s);
    Grpc__SignalProcessRequest sig = GRPC__SIGNAL_PROCESS_REQUEST__INIT;
    sig.container_id = "c-pause";
    sig.signal = SIGTERM;
    call_ok("SignalProcess", &sig);
    ck_assert_int_eq(wait_process("c-pause", ""), 0);
    remove_container("c-pause");
}
END_TEST

START_TEST(initdata_digest)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/state/initdata.digest", dir);
    size_t n;
    _cleanup_free_ uint8_t *digest = read_file(path, &n);
    ck_assert_ptr_nonnull(digest);
    _cleanup_free_ char *want_file = xasprintf("%s\n", initdata_sha256);
    ck_assert_str_eq((char *)digest, want_file);
    snprintf(path, sizeof(path), "%s/agent.log", dir);
    _cleanup_free_ uint8_t *log = read_file(path, &n);
    _cleanup_free_ char *want_line =
        xasprintf("cocoon-test-agent: initdata algorithm=sha256 digest=%s\n", initdata_sha256);
    ck_assert_ptr_nonnull(strstr((char *)log, want_line));
    ck_assert_ptr_null(strstr((char *)log, "[data]")); /* never the contents */
}
END_TEST

START_TEST(destroy_sandbox)
{
    char *args[] = {"sleep", "30"};
    run_container("c-left", args, N(args));
    Grpc__DestroySandboxRequest d = GRPC__DESTROY_SANDBOX_REQUEST__INIT;
    call_ok("DestroySandbox", &d);
    struct error err = ERROR_INIT;
    Grpc__StartContainerRequest start = GRPC__START_CONTAINER_REQUEST__INIT;
    start.container_id = "c-left";
    ck_assert_int_eq(call("StartContainer", &start, NULL, NULL, &err), -1);
    ck_assert_int_eq(err.code, GRPC_NOT_FOUND);
    error_clear(&err);
}
END_TEST

/* --- guest pull from a registry served by this test on 127.0.0.1 --- */

struct blob {
    char path[200];
    const char *content_type;
    uint8_t *data;
    size_t len;
};

static struct blob blobs[8];
static size_t n_blobs;
static int registry_fd = -1;
static pthread_t registry_thread;
static unsigned registry_requests_without_accept;

static void sha256_hex(const uint8_t *data, size_t len, char out[72])
{
    unsigned char d[32];
    unsigned dl;
    EVP_Digest(data, len, d, &dl, EVP_sha256(), NULL);
    strcpy(out, "sha256:");
    for (int i = 0; i < 32; i++)
        sprintf(out + 7 + 2 * i, "%02x", d[i]);
}

/* Adds data under /v2/test/busybox/<kind>/<digest> (and, for a manifest, under `tag` too). */
static void add_blob(const char *kind, const char *content_type, uint8_t *data, size_t len,
                     const char *tag, char digest[72])
{
    sha256_hex(data, len, digest);
    const char *names[] = {digest, tag};
    for (int i = 0; i < 2 && names[i]; i++) {
        struct blob *b = &blobs[n_blobs++];
        snprintf(b->path, sizeof(b->path), "/v2/test/busybox/%s/%s", kind, names[i]);
        b->content_type = content_type;
        b->data = i == 0 ? data : xmemdup(data, len);
        b->len = len;
    }
}

/* A ustar archive in memory. */
struct tarball {
    uint8_t *data;
    size_t len;
};

static void tar_add(struct tarball *t, const char *name, char type, unsigned mode, const char *link,
                    const uint8_t *data, size_t len)
{
    size_t blocks = 1 + (len + 511) / 512;
    t->data = xrealloc(t->data, t->len + blocks * 512);
    uint8_t *h = t->data + t->len;
    memset(h, 0, blocks * 512);
    snprintf((char *)h, 100, "%s", name);
    snprintf((char *)h + 100, 8, "%07o", mode);
    snprintf((char *)h + 108, 8, "%07o", 0);
    snprintf((char *)h + 116, 8, "%07o", 0);
    snprintf((char *)h + 124, 12, "%011zo", len);
    snprintf((char *)h + 136, 12, "%011o", 0);
    h[156] = (uint8_t)type;
    if (link)
        snprintf((char *)h + 157, 100, "%s", link);
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
    if (len)
        memcpy(h + 512, data, len);
    t->len += blocks * 512;
}

static uint8_t *tar_finish(struct tarball *t, size_t *gz_len)
{
    t->data = xrealloc(t->data, t->len + 1024);
    memset(t->data + t->len, 0, 1024);
    t->len += 1024;
    uint8_t *gz = gzip(t->data, t->len, gz_len);
    free(t->data);
    return gz;
}

static void make_image(void)
{
    /* layer 1: busybox and a few applets, and a file layer 2 deletes */
    struct tarball t1 = {0};
    size_t bb_len;
    _cleanup_free_ uint8_t *bb = read_file(BUSYBOX, &bb_len);
    tar_add(&t1, "bin/", '5', 0755, NULL, NULL, 0);
    tar_add(&t1, "bin/busybox", '0', 0755, NULL, bb, bb_len);
    const char *applets[] = {"sh", "cat", "ls", "echo"};
    for (size_t i = 0; i < N(applets); i++) {
        char name[64];
        snprintf(name, sizeof(name), "bin/%s", applets[i]);
        tar_add(&t1, name, '2', 0777, "busybox", NULL, 0);
    }
    tar_add(&t1, "./etc/", '5', 0755, NULL, NULL, 0);
    tar_add(&t1, "tmp/", '5', 01777, NULL, NULL, 0);
    tar_add(&t1, "etc/old", '0', 0644, NULL, (const uint8_t *)"old\n", 4);
    tar_add(&t1, "etc/escape", '2', 0777, "/../../../../tmp", NULL, 0);
    /* layer 2: a new file, a hard link, a whiteout, and a write through a hostile symlink that
     * must stay inside the root */
    struct tarball t2 = {0};
    tar_add(&t2, "etc/message", '0', 0644, NULL, (const uint8_t *)"pulled!\n", 8);
    tar_add(&t2, "etc/message2", '1', 0644, "etc/message", NULL, 0);
    tar_add(&t2, "etc/.wh.old", '0', 0644, NULL, NULL, 0);
    tar_add(&t2, "etc/escape/cocoon-escaped", '0', 0644, NULL, (const uint8_t *)"x", 1);
    size_t l1_len, l2_len;
    uint8_t *l1 = tar_finish(&t1, &l1_len), *l2 = tar_finish(&t2, &l2_len);
    char d1[72], d2[72], dc[72], dm[72], dummy[72];
    add_blob("blobs", "application/octet-stream", l1, l1_len, NULL, d1);
    add_blob("blobs", "application/octet-stream", l2, l2_len, NULL, d2);
    char *config = xstrdup("{\"architecture\":\"amd64\",\"os\":\"linux\"}");
    add_blob("blobs", "application/octet-stream", (uint8_t *)config, strlen(config), NULL, dc);
    char *manifest = xasprintf(
        "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
        "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"%s\","
        "\"size\":%zu},\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\","
        "\"digest\":\"%s\",\"size\":%zu},{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+"
        "gzip\",\"digest\":\"%s\",\"size\":%zu}]}",
        dc, strlen(config), d1, l1_len, d2, l2_len);
    add_blob("manifests", "application/vnd.oci.image.manifest.v1+json", (uint8_t *)manifest,
             strlen(manifest), NULL, dm);
    char *index = xasprintf(
        "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
        "\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":"
        "\"sha256:%064d\",\"size\":1,\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\"}},"
        "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\","
        "\"size\":%zu,\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}}]}",
        0, dm, strlen(manifest));
    add_blob("manifests", "application/vnd.oci.image.index.v1+json", (uint8_t *)index,
             strlen(index), "latest", dummy);
}

static void serve_one(int fd)
{
    char req[8192];
    size_t n = 0;
    while (n < sizeof(req) - 1) {
        ssize_t r = read(fd, req + n, sizeof(req) - 1 - n);
        if (r <= 0)
            return;
        n += (size_t)r;
        req[n] = 0;
        if (strstr(req, "\r\n\r\n"))
            break;
    }
    char path[256] = "";
    sscanf(req, "GET %255s", path);
    bool manifest = strstr(path, "/manifests/") != NULL;
    /* like docker-registry 2.8: an OCI manifest needs the Accept header that allows it */
    if (manifest && !strstr(req, "application/vnd.oci.image.manifest.v1+json"))
        registry_requests_without_accept++;
    for (size_t i = 0; i < n_blobs; i++) {
        if (strcmp(blobs[i].path, path) || (manifest && registry_requests_without_accept))
            continue;
        char head[256];
        int hl = snprintf(head, sizeof(head),
                          "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %zu\r\n\r\n",
                          blobs[i].content_type, blobs[i].len);
        (void)!write(fd, head, (size_t)hl);
        for (size_t off = 0; off < blobs[i].len;) {
            ssize_t w = write(fd, blobs[i].data + off, blobs[i].len - off);
            if (w <= 0)
                return;
            off += (size_t)w;
        }
        return;
    }
    const char *nf = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    (void)!write(fd, nf, strlen(nf));
}

static void *registry_main(void *arg)
{
    for (;;) {
        int fd = accept4(registry_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            return NULL;
        serve_one(fd);
        close(fd);
    }
}

static unsigned start_registry(void)
{
    registry_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(registry_fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(listen(registry_fd, 8), 0);
    socklen_t al = sizeof(a);
    getsockname(registry_fd, (struct sockaddr *)&a, &al);
    pthread_create(&registry_thread, NULL, registry_main, NULL);
    return ntohs(a.sin_port);
}

static void stop_registry(void)
{
    shutdown(registry_fd, SHUT_RDWR);
    pthread_join(registry_thread, NULL);
    close(registry_fd);
    for (size_t i = 0; i < n_blobs; i++)
        free(blobs[i].data);
    n_blobs = 0;
}

START_TEST(guest_pull)
{
    make_image();
    unsigned port = start_registry();
    char ref[128], mount_point[300];
    snprintf(ref, sizeof(ref), "127.0.0.1:%u/test/busybox:latest", port);
    snprintf(mount_point, sizeof(mount_point), "%s/run/c-pull/rootfs", dir);
    char *args[] = {"sh", "-c", "cat /etc/message /etc/message2; ls /etc"};
    struct ctr_spec s;
    ctr_spec_init(&s, "c-pull", args, N(args));
    ctr_spec_pull(&s, ref, mount_point);
    create_and_start(&s);
    _cleanup_free_ char *out = read_all("ReadStdout", "c-pull", "");
    ck_assert_str_eq(out, "pulled!\npulled!\nescape\nmessage\nmessage2\n");
    ck_assert_int_eq(wait_process("c-pull", ""), 0);
    ck_assert_uint_eq(registry_requests_without_accept, 0);
    ck_assert_int_ne(access("/tmp/cocoon-escaped", F_OK), 0);
    char inside[400];
    snprintf(inside, sizeof(inside), "%s/tmp/cocoon-escaped", mount_point);
    ck_assert_int_eq(access(inside, F_OK), 0);
    remove_container("c-pull");
    ck_assert_int_ne(access(mount_point, F_OK), 0); /* removed with the container */

    /* a missing image fails CreateContainer with a clear message */
    snprintf(ref, sizeof(ref), "127.0.0.1:%u/test/absent:latest", port);
    struct ctr_spec s2;
    ctr_spec_init(&s2, "c-absent", args, N(args));
    ctr_spec_pull(&s2, ref, mount_point);
    struct error err = ERROR_INIT;
    ck_assert_int_eq(call("CreateContainer", &s2.req, NULL, NULL, &err), -1);
    ck_assert_msg(strstr(err.msg, "HTTP 404"), "%s", err.msg);
    error_clear(&err);
    stop_registry();
}
END_TEST

/* --- the serial relay, on a pty standing in for the virtio port --- */

static int health_check(struct ttrpc_client *c, struct error *err)
{
    Grpc__CheckRequest check = GRPC__CHECK_REQUEST__INIT;
    Grpc__HealthCheckResponse *h = NULL;
    int r = ttrpc_client_call(c, "grpc.Health", "Check", &check.base,
                              &grpc__health_check_response__descriptor, (ProtobufCMessage **)&h,
                              10000, NULL, 0, err);
    if (r == 0) {
        r = h->status == GRPC__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING ? 0 : -1;
        protobuf_c_message_free_unpacked(&h->base, NULL);
    }
    return r;
}

/* A host that reconnects at once shows no EOF in the guest, and its new client starts again at
 * stream id 1: the relay must give it a fresh server connection. */
START_TEST(serial_new_client)
{
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    ck_assert_int_ge(master, 0);
    ck_assert_int_eq(grantpt(master), 0);
    ck_assert_int_eq(unlockpt(master), 0);
    char pts[64], state[300];
    ck_assert_int_eq(ptsname_r(master, pts, sizeof(pts)), 0);
    int slave = open(pts, O_RDWR | O_NOCTTY | O_CLOEXEC);
    struct termios t;
    tcgetattr(slave, &t);
    cfmakeraw(&t);
    tcsetattr(slave, TCSANOW, &t);
    snprintf(state, sizeof(state), "%s/state-serial", dir);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        execl(agent_bin, agent_bin, "--serial-device", pts, "--state-dir", state, "--initdata",
              "none", "--log-level", "info", (char *)NULL);
        _exit(127);
    }
    struct error err = ERROR_INIT;
    for (int i = 0; i < 2; i++) {
        struct ttrpc_client *c = ttrpc_client_new(fcntl(master, F_DUPFD_CLOEXEC, 3));
        ck_assert_msg(health_check(c, &err) == 0, "client %d, first call: %s", i, err.msg);
        ck_assert_msg(health_check(c, &err) == 0, "client %d, second call: %s", i, err.msg);
        ttrpc_client_free(c);
    }
    kill(pid, SIGTERM);
    int status;
    waitpid(pid, &status, 0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(slave);
    close(master);
}
END_TEST

/* Last: SIGTERM stops the agent with status 0 (under ASan: also without leaks). */
START_TEST(agent_stops_on_sigterm)
{
    ttrpc_client_free(cli);
    cli = NULL;
    ck_assert_int_eq(kill(agent_pid, SIGTERM), 0);
    int status = 0;
    ck_assert_int_eq(waitpid(agent_pid, &status, 0), agent_pid);
    agent_pid = -1;
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the agent ended with %s %d",
                  WIFEXITED(status) ? "exit status" : "signal",
                  WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    ck_assert_int_ne(access(sock, F_OK), 0); /* it removed its socket */
}
END_TEST

/* --- main --- */

static void fail_without_busybox(void)
{
    ck_assert_msg(have_busybox, BUSYBOX " is missing: install Debian's busybox-static");
}

static Suite *agent_suite(void)
{
    Suite *s = suite_create("guest-agent");
    TCase *tc = tcase_create("rpc");
    tcase_add_checked_fixture(tc, fail_without_busybox, NULL);
    tcase_add_test(tc, health_and_sandbox);
    tcase_add_test(tc, initdata_digest);
    tcase_add_test(tc, echo_hello);
    tcase_add_test(tc, exit_code_and_hostname);
    tcase_add_test(tc, stdin_through_cat);
    tcase_add_test(tc, tty_and_resize);
    tcase_add_test(tc, exec_copyfile_signal);
    tcase_add_test(tc, policy_blocks_exec);
    tcase_add_test(tc, pause_container);
    tcase_add_test(tc, guest_pull);
    tcase_add_test(tc, destroy_sandbox);
    tcase_add_test(tc, serial_new_client);
    tcase_add_test(tc, agent_stops_on_sigterm);
    suite_add_tcase(s, tc);
    return s;
}

/* Kills the agent if a failed test left it running. */
static void kill_agent(void)
{
    ttrpc_client_free(cli);
    cli = NULL;
    if (agent_pid > 0) {
        kill(agent_pid, SIGKILL);
        waitpid(agent_pid, NULL, 0);
        agent_pid = -1;
    }
}

int main(int argc, char **argv)
{
    if (argc < 2)
        die("usage: test-guest-agent PATH-TO-cocoon-test-agent");
    agent_bin = argv[1];
    if (geteuid() != 0) {
        printf("1..0 # SKIP the agent needs root for namespaces and mounts\n");
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    snprintf(dir, sizeof(dir), "/tmp/cocoon-agent-test-XXXXXX");
    if (!mkdtemp(dir))
        die("mkdtemp: %s", strerror(errno));
    have_busybox = access(BUSYBOX, X_OK) == 0;
    if (have_busybox) {
        make_rootfs();
        start_agent();
    }
    SRunner *sr = srunner_create(agent_suite());
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_set_tap(sr, "-");
    srunner_run_all(sr, CK_SILENT);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    kill_agent();
    if (failed)
        dump_agent_log();
    run("rm -rf %s", dir);
    return failed ? 1 : 0;
}
