/* Container and process RPCs of grpc.AgentService. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "cgroup.h"
#include "google/protobuf/empty.pb-c.h"
#include "image.h"
#include "kata/agent.pb-c.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "process.h"
#include "rpc.h"
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
    for (struct proc *p = c->procs, *next; p; p = next) {
        next = p->next;
        proc_put(p);
    }
    free(c->id);
    free(c->rootfs);
    free(c->pulled);
    free(c->cgroup);
    free(c);
}

static int create_container(const Grpc__CreateContainerRequest *r, struct error *err)
{
    if (!valid_id(r->container_id))
        return error_set(err, GRPC_INVALID_ARGUMENT, "invalid container id \"%s\"",
                         r->container_id ? r->container_id : "");
    if (!r->oci)
        return error_set(err, GRPC_INVALID_ARGUMENT, "container %s: no OCI spec", r->container_id);
    struct container *c = xcalloc(1, sizeof(*c));
    c->id = xstrdup(r->container_id);
    c->pause = container_is_sandbox(guest_pull_storage(r), r->oci);
    if (!c->pause && (!r->oci->process || r->oci->process->n_args == 0)) {
        container_discard(c);
        return error_set(err, GRPC_INVALID_ARGUMENT, "container %s: the spec has no process args",
                         r->container_id);
    }
    pthread_mutex_lock(&agent.lock);
    bool exists = container_find_locked(c->id) != NULL;
    pthread_mutex_unlock(&agent.lock);
    if (exists) {
        container_discard(c);
        return error_set(err, GRPC_ALREADY_EXISTS, "container %s already exists", r->container_id);
    }
    _cleanup_free_ char *dir = xasprintf("%s/%s", agent.cfg.state_dir, c->id);
    if (prepare_rootfs(c, r, err) < 0 || mkdir_p(dir, 0700, err) < 0) {
        container_discard(c);
        return -1;
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
        container_discard(c);
        return error_set(err, GRPC_ALREADY_EXISTS, "container %s already exists", r->container_id);
    }
    if (process_create_init(c, p, r->oci, err) < 0) {
        container_remove(r->container_id, 5, NULL);
        return error_wrap(err, "container %s", r->container_id);
    }
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
    struct proc *p = proc_get(r->container_id, "", err);
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

static int exec_process(const Grpc__ExecProcessRequest *r, struct error *err)
{
    pthread_mutex_lock(&agent.lock);
    bool blocked = agent.exec_blocked;
    pthread_mutex_unlock(&agent.lock);
    if (blocked)
        return error_set(err, GRPC_PERMISSION_DENIED, "ExecProcessRequest is blocked by policy");
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
        ret = error_set(err, GRPC_ALREADY_EXISTS, "exec %s exists in container %s", r->exec_id,
                        r->container_id);
    if (ret < 0) {
        pthread_mutex_unlock(&agent.lock);
        return ret;
    }
    struct proc *p = proc_new(r->exec_id);
    p->ctr = c;
    p->next = init->next;
    init->next = p;
    p->refs++; /* ours, for the call */
    pid_t init_pid = init->pid;
    _cleanup_free_ char *cg = c->cgroup ? xstrdup(c->cgroup) : NULL;
    pthread_mutex_unlock(&agent.lock);

    ret = process_exec(p, init_pid, cg, r->process, err);
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

static int do_signal_process(void *user, const struct ttrpc_call *call, const ProtobufCMessage *req,
                             struct ttrpc_reply *reply, struct error *err)
{
    const Grpc__SignalProcessRequest *r = (const void *)req;
    rpc_log(call, r->container_id, r->exec_id);
    struct proc *p = proc_get(r->container_id, r->exec_id, err);
    if (!p)
        return rpc_done(call, -1, err);
    int ret = 0;
    pthread_mutex_lock(&agent.lock);
    if (p->pid > 0 && !p->exited) {
        if (kill(p->pid, (int)r->signal) < 0)
            ret = error_set_errno(err, errno, "signal %u to process %d", r->signal, p->pid);
    } else if (p->ctr && (!r->exec_id || !*r->exec_id)) {
        container_signal_all_locked(p->ctr, (int)r->signal); /* init gone: what is left */
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
    struct proc *p = proc_get(r->container_id, r->exec_id, err);
    int status = p ? proc_wait(p, err) : -1;
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
    struct proc *p = proc_get(r->container_id, r->exec_id, err);
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
    struct proc *p = proc_get(r->container_id, r->exec_id, err);
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
    struct proc *p = proc_get(r->container_id, r->exec_id, err);
    int ret = p ? stdio_close_stdin(p, err) : -1;
    proc_put(p);
    return rpc_done(call, ret, err);
}

static int do_tty_win_resize(void *user, const struct ttrpc_call *call, const ProtobufCMessage *req,
                             struct ttrpc_reply *reply, struct error *err)
{
    const Grpc__TtyWinResizeRequest *r = (const void *)req;
    rpc_log(call, r->container_id, r->exec_id);
    struct proc *p = proc_get(r->container_id, r->exec_id, err);
    int ret = p ? stdio_resize(p, r->row, r->column, err) : -1;
    proc_put(p);
    return rpc_done(call, ret, err);
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
};
const size_t n_container_methods = sizeof(container_methods) / sizeof(container_methods[0]);
