/* Container and process RPCs of grpc.AgentService. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "caps.h"
#include "cgroup.h"
#include "google/protobuf/empty.pb-c.h"
#include "image.h"
#include "kata/agent.pb-c.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "policy.h"
#include "process.h"
#include "rpc.h"
#include "serial.h"
#include "storage.h"
#include "stream.h"
#include "util.h"

#define READ_MAX (1u << 20) /* well under the 4 MiB message limit */

static bool valid_id(const char *id)
{
    return id && *id && !strchr(id, '/') && strcmp(id, ".") && strcmp(id, "..");
}

static const Grpc__Storage *guest_pull_storage(const Grpc__CreateContainerRequest *r)
{
    for (size_t i = 0; i < r->n_storages; i++)
        if (r->storages[i]->driver && !strcmp(r->storages[i]->driver, "image_guest_pull"))
            return r->storages[i];
    return NULL;
}

/* Where the container's root comes from: a pulled image, or the agent's busybox rootfs. */
static int prepare_rootfs(struct container *c, const Grpc__CreateContainerRequest *r,
                          struct error *err)
{
    const Grpc__Storage *st = guest_pull_storage(r);
    if (c->pause) {
        c->rootfs = xstrdup("/");
        return 0;
    }
    if (!st) {
        c->rootfs = xstrdup(agent.cfg.rootfs);
        return 0;
    }
    c->rootfs = st->mount_point && *st->mount_point
                    ? xstrdup(st->mount_point)
                    : xasprintf("/run/kata-containers/%s/rootfs", c->id);
    c->pulled = xstrdup(c->rootfs);
    _cleanup_free_ char *blobs = xasprintf("%s/blobs", agent.cfg.state_dir);
    if (image_pull(st->source, c->rootfs, blobs, agent.cfg.loopback_host, err) < 0)
        return error_wrap(err, "pull image %s", st->source);
    return 0;
}

static void container_discard(struct container *c)
{
    if (c->pulled)
        rm_rf(c->pulled, NULL);
    cgroup_remove(c->cgroup);
    storage_release(c->storages, c->n_storages);
    for (struct proc *p = c->procs, *next; p; p = next) {
        next = p->next;
        proc_put(p);
    }
    container_free_fields(c);
}

static const char *annotation(const Grpc__Spec *spec, const char *key)
{
    for (size_t i = 0; i < spec->n_annotations; i++)
        if (spec->annotations[i]->key && !strcmp(spec->annotations[i]->key, key))
            return spec->annotations[i]->value;
    return NULL;
}

/* What kata-agent refuses in a spec before it starts anything (the checks of its mounts come
 * with the mount plan, process.c). */
static int check_spec(const Grpc__CreateContainerRequest *r, bool pause, struct error *err)
{
    const Grpc__Spec *spec = r->oci;
    const char *cid = r->container_id;
    if (!spec->linux)
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "container %s: Spec does not contain linux field", cid);
    if (!spec->process)
        return error_set(err, GRPC_INVALID_ARGUMENT, "container %s: the spec has no process", cid);
    if (!pause && spec->process->n_args == 0)
        return error_set(err, GRPC_INVALID_ARGUMENT, "container %s: the spec has no process args",
                         cid);
    if (!spec->root)
        return error_set(err, GRPC_INVALID_ARGUMENT, "container %s: the spec has no root", cid);
    if (!spec->root->path || spec->root->path[0] != '/')
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "container %s: Root.Path \"%s\" is not an absolute guest path (kata-agent "
                         "bind-mounts Root.Path onto /run/kata-containers/%s/rootfs, where a "
                         "guest-pulled image already is)",
                         cid, spec->root->path ? spec->root->path : "", cid);
    for (size_t i = 0; i < spec->linux->n_namespaces; i++) {
        const Grpc__LinuxNamespace *ns = spec->linux->namespaces[i];
        if (ns->type && !strcmp(ns->type, "pid") && ns->path && *ns->path)
            return error_set(err, GRPC_INVALID_ARGUMENT,
                             "container %s: the spec joins pid namespace %s, a host path; the "
                             "runtime removes the pid namespace and sets sandbox_pidns instead",
                             cid, ns->path);
    }
    if (process_check_selinux(spec->process, err) < 0)
        return error_wrap(err, "container %s", cid);
    if (spec->linux->mountlabel && *spec->linux->mountlabel && !process_selinux_enabled())
        log_info("container %s: SELinux label for the mount is provided but SELinux is not "
                 "enabled on the running kernel",
                 cid);
    return 0;
}

/* The termination message file: the annotation's path and the source of the spec mount there
 * (the guest copy), for GetDiagnosticData. */
static void note_termination_log(struct container *c, const Grpc__Spec *spec)
{
    const char *path = annotation(spec, "io.kubernetes.container.terminationMessagePath");
    if (!path)
        return;
    c->term_path = xstrdup(path);
    for (size_t i = 0; i < spec->n_mounts; i++)
        if (spec->mounts[i]->destination && !strcmp(spec->mounts[i]->destination, path))
            c->term_source = xstrdup(spec->mounts[i]->source ? spec->mounts[i]->source : "");
}

/* The pid namespace the container's init goes into: the sandbox's (that of the first container
 * created) with sandbox_pidns, else a new one (-1). */
static int pick_pidns(const Grpc__CreateContainerRequest *r, int *fd, struct error *err)
{
    *fd = -1;
    if (!r->sandbox_pidns)
        return 0;
    int ret = 0;
    pthread_mutex_lock(&agent.lock);
    if (agent.pidns_anchor_fd >= 0)
        *fd = fcntl(agent.pidns_anchor_fd, F_DUPFD_CLOEXEC, 3);
    else if (agent.containers)
        ret = error_set(err, GRPC_FAILED_PRECONDITION, "Sandbox does not have sandbox_pidns");
    pthread_mutex_unlock(&agent.lock);
    return ret;
}

/* The first container created anchors the sandbox's pid namespace (kata-agent's
 * update_shared_pidns). */
static void anchor_pidns(struct container *c)
{
    pthread_mutex_lock(&agent.lock);
    if (agent.pidns_anchor_fd < 0 && agent.containers == c && !c->next && c->procs->pid > 0) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/ns/pid", c->procs->pid);
        agent.pidns_anchor_fd = open(path, O_RDONLY | O_CLOEXEC);
        if (agent.pidns_anchor_fd < 0)
            log_warn("container %s: open %s: %s", c->id, path, strerror(errno));
    }
    pthread_mutex_unlock(&agent.lock);
}

static int create_container(const Grpc__CreateContainerRequest *r, struct error *err)
{
    if (!valid_id(r->container_id))
        return error_set(err, GRPC_INVALID_ARGUMENT, "invalid container id \"%s\"",
                         r->container_id ? r->container_id : "");
    if (!r->oci)
        return error_set(err, GRPC_INVALID_ARGUMENT, "container %s: no OCI spec", r->container_id);
    if (policy_check_create_container(r, err) < 0)
        return -1;
    bool pause = container_is_sandbox(guest_pull_storage(r), r->oci);
    if (check_spec(r, pause, err) < 0)
        return -1;
    struct container *c = xcalloc(1, sizeof(*c));
    c->id = xstrdup(r->container_id);
    c->pause = pause;
    caps_from_spec(r->oci->process->capabilities, &c->caps);
    note_termination_log(c, r->oci);
    pthread_mutex_lock(&agent.lock);
    bool exists = container_find_locked(c->id) != NULL;
    pthread_mutex_unlock(&agent.lock);
    if (exists) {
        container_discard(c);
        return error_set(err, GRPC_ALREADY_EXISTS, "container %s already exists", r->container_id);
    }
    int pidns_fd = -1;
    _cleanup_free_ char *dir = xasprintf("%s/%s", agent.cfg.state_dir, c->id);
    if (storage_add(r->storages, r->n_storages, true, &c->storages, &c->n_storages, err) < 0 ||
        pick_pidns(r, &pidns_fd, err) < 0 || prepare_rootfs(c, r, err) < 0 ||
        mkdir_p(dir, 0700, err) < 0) {
        if (pidns_fd >= 0)
            close(pidns_fd);
        container_discard(c);
        return error_wrap(err, "container %s", r->container_id);
    }
    c->cgroup = cgroup_create(c->id);
    struct proc *p = proc_new(r->exec_id);
    p->ctr = c;
    c->procs = p;
    pthread_mutex_lock(&agent.lock);
    exists = container_find_locked(c->id) != NULL;
    if (!exists) {
        c->next = agent.containers;
        agent.containers = c;
    }
    pthread_mutex_unlock(&agent.lock);
    if (exists) {
        if (pidns_fd >= 0)
            close(pidns_fd);
        container_discard(c);
        return error_set(err, GRPC_ALREADY_EXISTS, "container %s already exists", r->container_id);
    }
    if (process_create_init(c, p, r->oci, pidns_fd, err) < 0) {
        container_remove(r->container_id, 5, NULL);
        return error_wrap(err, "container %s", r->container_id);
    }
    anchor_pidns(c);
    log_info("container %s created (%s)", r->container_id,
             c->pause    ? "pause"
             : c->pulled ? "pulled image"
                         : "busybox rootfs");
    return 0;
}

static int do_create_container(void *user, const struct ttrpc_call *call,
                               const ProtobufCMessage *req, struct ttrpc_reply *reply,
                               struct error *err)
{
    const Grpc__CreateContainerRequest *r = (const void *)req;
    rpc_log(call, r->container_id, NULL);
    return rpc_done(call, create_container(r, err), err);
}

static int do_start_container(void *user, const struct ttrpc_call *call,
                              const ProtobufCMessage *req, struct ttrpc_reply *reply,
                              struct error *err)
{
    const Grpc__StartContainerRequest *r = (const void *)req;
    rpc_log(call, r->container_id, NULL);
    struct proc *p = proc_get(r->container_id, "", LOOKUP_START, err);
    int ret = p ? process_start(p, err) : -1;
    proc_put(p);
    return rpc_done(call, ret, err);
}

static int do_remove_container(void *user, const struct ttrpc_call *call,
                               const ProtobufCMessage *req, struct ttrpc_reply *reply,
                               struct error *err)
{
    const Grpc__RemoveContainerRequest *r = (const void *)req;
    rpc_log(call, r->container_id, NULL);
    return rpc_done(call, container_remove(r->container_id, r->timeout, err), err);
}

/* --- exec --- */

static void detach_locked(struct container *c, struct proc *p)
{
    for (struct proc **pp = &c->procs; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    }
}

/* Test only (README: "Stalling"): an exec of exactly this argv makes the agent hang. */
#define STALL_ARGV0 "cocoon-test-agent-stall"

static bool is_stall_request(const Grpc__ExecProcessRequest *r)
{
    return r->process && r->process->n_args == 1 && !strcmp(r->process->args[0], STALL_ARGV0);
}

static int exec_process(const Grpc__ExecProcessRequest *r, struct error *err)
{
    if (policy_check_exec(r, err) < 0)
        return -1;
    if (is_stall_request(r)) {
        serial_relay_stall(); /* this answer is dropped too, on the virtio-serial port */
        return error_set(err, GRPC_UNAVAILABLE,
                         "%s: the agent stops answering (only on a virtio-serial port)",
                         STALL_ARGV0);
    }
    if (!r->exec_id || !*r->exec_id || !r->process)
        return error_set(err, GRPC_INVALID_ARGUMENT, "exec needs an exec_id and a process");
    pthread_mutex_lock(&agent.lock);
    struct container *c = container_find_locked(r->container_id);
    struct proc *init = c ? c->procs : NULL;
    int ret = 0;
    if (!c)
        ret = error_set(err, GRPC_NOT_FOUND, "container %s not found", r->container_id);
    else if (init->pid <= 0 || init->exited || init->start_fd >= 0)
        ret = error_set(err, GRPC_FAILED_PRECONDITION, "container %s is not running",
                        r->container_id);
    else if (proc_find_locked(c, r->exec_id))
        ret = error_set(err, GRPC_ALREADY_EXISTS, "exec_id '%s' already exists", r->exec_id);
    else if (!r->process->capabilities && !c->caps.present)
        ret = error_set(err, GRPC_FAILED_PRECONDITION,
                        "missing process capabilities (the exec has none, nor has container %s)",
                        r->container_id);
    if (ret < 0) {
        pthread_mutex_unlock(&agent.lock);
        return ret;
    }
    struct caps ctr_caps = c->caps;
    struct proc *p = proc_new(r->exec_id);
    p->ctr = c;
    p->next = init->next;
    init->next = p;
    p->refs++; /* ours, for the call */
    pid_t init_pid = init->pid;
    _cleanup_free_ char *cg = c->cgroup ? xstrdup(c->cgroup) : NULL;
    pthread_mutex_unlock(&agent.lock);

    ret = process_check_selinux(r->process, err);
    if (ret == 0)
        ret = process_exec(p, init_pid, cg, r->process, &ctr_caps, err);
    if (ret < 0) {
        pthread_mutex_lock(&agent.lock);
        bool linked = !p->unlinked;
        if (linked) {
            detach_locked(p->ctr, p);
            proc_unlink_locked(p);
        }
        pthread_mutex_unlock(&agent.lock);
        if (linked)
            proc_put(p); /* the container's reference */
        error_wrap(err, "exec %s in container %s", r->exec_id, r->container_id);
    }
    proc_put(p);
    return ret;
}

static int do_exec_process(void *user, const struct ttrpc_call *call, const ProtobufCMessage *req,
                           struct ttrpc_reply *reply, struct error *err)
{
    const Grpc__ExecProcessRequest *r = (const void *)req;
    rpc_log(call, r->container_id, r->exec_id);
    return rpc_done(call, exec_process(r, err), err);
}

/* Whether pid blocks, ignores or catches sig (/proc/<pid>/status SigBlk, SigIgn, SigCgt). */
static bool signal_handled(pid_t pid, int sig)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    _cleanup_free_ char *status = read_small_file(path, 16384, NULL, NULL);
    static const char *const keys[] = {"\nSigBlk:", "\nSigIgn:", "\nSigCgt:"};
    for (size_t i = 0; status && i < 3; i++) {
        const char *line = strstr(status, keys[i]);
        if (line && (strtoull(line + strlen(keys[i]), NULL, 16) >> (sig - 1)) & 1)
            return true;
    }
    return false;
}

/* kata-agent's do_signal_process with exec id "" and SIGKILL, which is how the runtime asks for
 * `all`: every process of the container, whether its init is still there or not; no container is
 * get_pids' anyhow "Invalid container id <cid>" (INTERNAL) in every version. */
static int signal_all(const char *cid, struct error *err)
{
    pthread_mutex_lock(&agent.lock);
    struct container *c = container_find_locked(cid);
    if (c)
        container_signal_all_locked(c, SIGKILL);
    pthread_mutex_unlock(&agent.lock);
    return c ? 0 : error_set(err, GRPC_INTERNAL, "Invalid container id %s", cid);
}

static int do_signal_process(void *user, const struct ttrpc_call *call, const ProtobufCMessage *req,
                             struct ttrpc_reply *reply, struct error *err)
{
    const Grpc__SignalProcessRequest *r = (const void *)req;
    rpc_log(call, r->container_id, r->exec_id);
    if ((!r->exec_id || !*r->exec_id) && r->signal == SIGKILL)
        return rpc_done(call, signal_all(r->container_id, err), err);
    struct proc *p = proc_get(r->container_id, r->exec_id, LOOKUP_SANDBOX_ERR, err);
    if (!p)
        return rpc_done(call, -1, err);
    int ret = 0;
    int sig = (int)r->signal;
    pthread_mutex_lock(&agent.lock);
    bool init = p->ctr && p == p->ctr->procs;
    pid_t pid = p->pid > 0 && !p->exited ? p->pid : 0;
    pthread_mutex_unlock(&agent.lock);
    /* kata-agent: an init that does not handle SIGTERM would ignore it (it is the pid 1 of its
     * namespace), so it gets SIGKILL */
    if (init && pid && sig == SIGTERM && !signal_handled(pid, sig)) {
        log_info("container %s: its init does not handle SIGTERM; sending SIGKILL",
                 r->container_id);
        sig = SIGKILL;
    }
    pthread_mutex_lock(&agent.lock);
    if (p->pid > 0 && !p->exited) {
        if (kill(p->pid, sig) < 0)
            ret = error_set_errno(err, errno, "signal %d to process %d", sig, p->pid);
    } else if (p->ctr && (!r->exec_id || !*r->exec_id)) {
        container_signal_all_locked(p->ctr, sig); /* init gone: what is left */
    }
    pthread_mutex_unlock(&agent.lock);
    proc_put(p);
    return rpc_done(call, ret, err);
}

static int do_wait_process(void *user, const struct ttrpc_call *call, const ProtobufCMessage *req,
                           struct ttrpc_reply *reply, struct error *err)
{
    const Grpc__WaitProcessRequest *r = (const void *)req;
    rpc_log(call, r->container_id, r->exec_id);
    struct proc *p = proc_get(r->container_id, r->exec_id, LOOKUP_SANDBOX_ERR, err);
    int status = p ? proc_wait(p, err) : -1;
    if (status >= 0)
        proc_forget(p); /* kata-agent removes the process when WaitProcess returns */
    proc_put(p);
    if (status < 0)
        return rpc_done(call, -1, err);
    Grpc__WaitProcessResponse resp = GRPC__WAIT_PROCESS_RESPONSE__INIT;
    resp.status = status;
    ttrpc_reply_set(reply, &resp.base);
    log_debug("rpc WaitProcess container=%s exec=%s: status %d", r->container_id, r->exec_id,
              status);
    return 0;
}

/* --- stdio --- */

static int read_stream(const struct ttrpc_call *call, const ProtobufCMessage *req, int stream,
                       struct ttrpc_reply *reply, struct error *err)
{
    const Grpc__ReadStreamRequest *r = (const void *)req;
    rpc_log(call, r->container_id, r->exec_id);
    struct proc *p = proc_get(r->container_id, r->exec_id, LOOKUP_SANDBOX_ERR, err);
    if (!p)
        return rpc_done(call, -1, err);
    size_t len = r->len == 0 || r->len > READ_MAX ? READ_MAX : r->len;
    _cleanup_free_ uint8_t *buf = xmalloc(len);
    ssize_t n = stdio_read(p, stream, buf, len, err);
    proc_put(p);
    if (n < 0)
        return rpc_done(call, -1, err);
    Grpc__ReadStreamResponse resp = GRPC__READ_STREAM_RESPONSE__INIT;
    resp.data.data = buf;
    resp.data.len = (size_t)n;
    ttrpc_reply_set(reply, &resp.base);
    return 0;
}

static int do_read_stdout(void *user, const struct ttrpc_call *call, const ProtobufCMessage *req,
                          struct ttrpc_reply *reply, struct error *err)
{
    return read_stream(call, req, 0, reply, err);
}

static int do_read_stderr(void *user, const struct ttrpc_call *call, const ProtobufCMessage *req,
                          struct ttrpc_reply *reply, struct error *err)
{
    return read_stream(call, req, 1, reply, err);
}

static int do_write_stdin(void *user, const struct ttrpc_call *call, const ProtobufCMessage *req,
                          struct ttrpc_reply *reply, struct error *err)
{
    const Grpc__WriteStreamRequest *r = (const void *)req;
    rpc_log(call, r->container_id, r->exec_id);
    struct proc *p = proc_get(r->container_id, r->exec_id, LOOKUP_WRITE_STDIN, err);
    ssize_t n = p ? stdio_write(p, r->data.data, r->data.len, err) : -1;
    proc_put(p);
    if (n < 0)
        return rpc_done(call, -1, err);
    Grpc__WriteStreamResponse resp = GRPC__WRITE_STREAM_RESPONSE__INIT;
    resp.len = (uint32_t)r->data.len;
    ttrpc_reply_set(reply, &resp.base);
    return 0;
}

static int do_close_stdin(void *user, const struct ttrpc_call *call, const ProtobufCMessage *req,
                          struct ttrpc_reply *reply, struct error *err)
{
    const Grpc__CloseStdinRequest *r = (const void *)req;
    rpc_log(call, r->container_id, r->exec_id);
    struct proc *p = proc_get(r->container_id, r->exec_id, LOOKUP_CLOSE_STDIN, err);
    int ret = p ? stdio_close_stdin(p, err) : -1;
    proc_put(p);
    return rpc_done(call, ret, err);
}

static int do_tty_win_resize(void *user, const struct ttrpc_call *call, const ProtobufCMessage *req,
                             struct ttrpc_reply *reply, struct error *err)
{
    const Grpc__TtyWinResizeRequest *r = (const void *)req;
    rpc_log(call, r->container_id, r->exec_id);
    struct proc *p = proc_get(r->container_id, r->exec_id, LOOKUP_TTY_RESIZE, err);
    int ret = p ? stdio_resize(p, r->row, r->column, err) : -1;
    proc_put(p);
    return rpc_done(call, ret, err);
}

/* --- GetDiagnosticData --- */

#define TERMINATION_MSG_MAX 4096 /* Kubernetes' limit, and kata-agent's */

static int read_termination_log(const char *cid, char **data, struct error *err)
{
    pthread_mutex_lock(&agent.lock);
    struct container *c = container_find_locked(cid);
    _cleanup_free_ char *path = c && c->term_path ? xstrdup(c->term_path) : NULL;
    _cleanup_free_ char *source = c && c->term_source ? xstrdup(c->term_source) : NULL;
    pthread_mutex_unlock(&agent.lock);
    if (!c)
        return error_set(err, GRPC_NOT_FOUND, "Invalid container id: %s", cid);
    if (!path)
        return error_set(err, GRPC_NOT_FOUND, "No terminationMessagePath annotation");
    if (!source)
        return error_set(err, GRPC_NOT_FOUND, "termination message mount not found for %s", path);
    _cleanup_close_ int fd = open(source, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        *data = xstrdup("");
        return 0;
    }
    if (fd < 0)
        return error_set_errno(err, errno, "Failed to read termination log %s", source);
    uint8_t buf[TERMINATION_MSG_MAX];
    size_t n = 0;
    while (n < sizeof(buf)) {
        ssize_t got = read(fd, buf + n, sizeof(buf) - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return error_set_errno(err, errno, "Failed to read termination log %s", source);
        if (got == 0)
            break;
        n += (size_t)got;
    }
    *data = utf8_lossy(buf, n);
    return 0;
}

static int do_get_diagnostic_data(void *user, const struct ttrpc_call *call,
                                  const ProtobufCMessage *req, struct ttrpc_reply *reply,
                                  struct error *err)
{
    const Grpc__GetDiagnosticDataRequest *r = (const void *)req;
    rpc_log(call, r->container_id, NULL);
    if (policy_check_diagnostic(r, err) < 0)
        return rpc_done(call, -1, err);
    if (!r->log_type || strcmp(r->log_type, "termination_log"))
        return rpc_done(call,
                        error_set(err, GRPC_INVALID_ARGUMENT, "unsupported diagnostic log_type: %s",
                                  r->log_type ? r->log_type : ""),
                        err);
    _cleanup_free_ char *data = NULL;
    if (read_termination_log(r->container_id, &data, err) < 0)
        return rpc_done(call, -1, err);
    Grpc__GetDiagnosticDataResponse resp = GRPC__GET_DIAGNOSTIC_DATA_RESPONSE__INIT;
    resp.data = data;
    ttrpc_reply_set(reply, &resp.base);
    return 0;
}

/* --- cgroup-backed calls --- */

/* Copies c's cgroup path (NULL without one); -1 when c does not exist. */
static int container_cgroup(const char *cid, char **cg, struct error *err)
{
    pthread_mutex_lock(&agent.lock);
    struct container *c = container_find_locked(cid);
    *cg = c && c->cgroup ? xstrdup(c->cgroup) : NULL;
    pthread_mutex_unlock(&agent.lock);
    return c ? 0 : error_set(err, GRPC_NOT_FOUND, "container %s not found", cid);
}

static int do_stats_container(void *user, const struct ttrpc_call *call,
                              const ProtobufCMessage *req, struct ttrpc_reply *reply,
                              struct error *err)
{
    const Grpc__StatsContainerRequest *r = (const void *)req;
    rpc_log(call, r->container_id, NULL);
    _cleanup_free_ char *cg = NULL;
    if (container_cgroup(r->container_id, &cg, err) < 0)
        return rpc_done(call, -1, err);
    Grpc__StatsContainerResponse resp = GRPC__STATS_CONTAINER_RESPONSE__INIT;
    resp.cgroup_stats = cgroup_stats(cg);
    ttrpc_reply_set(reply, &resp.base);
    cgroup_stats_free(resp.cgroup_stats);
    return 0;
}

/* cgroup.freeze with cgroup2; SIGSTOP/SIGCONT to the known processes without. */
static int set_frozen(const char *cid, bool frozen, struct error *err)
{
    _cleanup_free_ char *cg = NULL;
    if (container_cgroup(cid, &cg, err) < 0)
        return -1;
    if (cg && cgroup_freeze(cg, frozen, err) < 0)
        return -1;
    pthread_mutex_lock(&agent.lock);
    struct container *c = container_find_locked(cid);
    if (c) {
        if (!cg)
            container_signal_all_locked(c, frozen ? SIGSTOP : SIGCONT);
        c->frozen = frozen;
    }
    pthread_mutex_unlock(&agent.lock);
    return 0;
}

static int do_pause_container(void *user, const struct ttrpc_call *call,
                              const ProtobufCMessage *req, struct ttrpc_reply *reply,
                              struct error *err)
{
    const Grpc__PauseContainerRequest *r = (const void *)req;
    rpc_log(call, r->container_id, NULL);
    return rpc_done(call, set_frozen(r->container_id, true, err), err);
}

static int do_resume_container(void *user, const struct ttrpc_call *call,
                               const ProtobufCMessage *req, struct ttrpc_reply *reply,
                               struct error *err)
{
    const Grpc__ResumeContainerRequest *r = (const void *)req;
    rpc_log(call, r->container_id, NULL);
    return rpc_done(call, set_frozen(r->container_id, false, err), err);
}

static int do_update_container(void *user, const struct ttrpc_call *call,
                               const ProtobufCMessage *req, struct ttrpc_reply *reply,
                               struct error *err)
{
    const Grpc__UpdateContainerRequest *r = (const void *)req;
    rpc_log(call, r->container_id, NULL);
    _cleanup_free_ char *cg = NULL;
    if (container_cgroup(r->container_id, &cg, err) < 0)
        return rpc_done(call, -1, err);
    if (!r->resources)
        return 0;
    if (!cg) {
        log_info("container %s: no cgroup2; resources accepted but not applied", r->container_id);
        return 0;
    }
    return rpc_done(call, cgroup_update(cg, r->resources, err), err);
}

#define METHOD(name, type, fn)                                                                     \
    {                                                                                              \
        name, &grpc__##type##__descriptor, fn                                                      \
    }

const struct ttrpc_method container_methods[] = {
    METHOD("CreateContainer", create_container_request, do_create_container),
    METHOD("StartContainer", start_container_request, do_start_container),
    METHOD("RemoveContainer", remove_container_request, do_remove_container),
    METHOD("ExecProcess", exec_process_request, do_exec_process),
    METHOD("SignalProcess", signal_process_request, do_signal_process),
    METHOD("WaitProcess", wait_process_request, do_wait_process),
    METHOD("ReadStdout", read_stream_request, do_read_stdout),
    METHOD("ReadStderr", read_stream_request, do_read_stderr),
    METHOD("WriteStdin", write_stream_request, do_write_stdin),
    METHOD("CloseStdin", close_stdin_request, do_close_stdin),
    METHOD("TtyWinResize", tty_win_resize_request, do_tty_win_resize),
    METHOD("StatsContainer", stats_container_request, do_stats_container),
    METHOD("PauseContainer", pause_container_request, do_pause_container),
    METHOD("ResumeContainer", resume_container_request, do_resume_container),
    METHOD("UpdateContainer", update_container_request, do_update_container),
    METHOD("GetDiagnosticData", get_diagnostic_data_request, do_get_diagnostic_data),
};
const size_t n_container_methods = sizeof(container_methods) / sizeof(container_methods[0]);
