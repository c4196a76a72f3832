/* containerd.task.v2.Task: the 17 RPCs, each decoded, checked against the pod's state and
 * turned into agent calls (kata.md §1.3). Error codes are the ones containerd acts on
 * (containerd.md §7): NOT_FOUND for unknown or finished tasks, ALREADY_EXISTS for a duplicate
 * id, FAILED_PRECONDITION for a call that does not fit the task's state. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "containerd/events/task.pb-c.h"
#include "containerd/runtimeoptions/v1/api.pb-c.h"
#include "containerd/task/v2/shim.pb-c.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "shim/metrics.h"
#include "shim/oci.h"
#include "shim/task-service.h"
#include "shim/task.h"
#include "shim/timing.h"

#define TASK_SERVICE "containerd.task.v2.Task"
#define REMOVE_CONTAINER_TIMEOUT_S 10
#define JSON_TYPE_PREFIX "types.containerd.io/opencontainers/runtime-spec/1/"

/* ---- helpers ---- */

/* ---- Start, Exec ---- */

static int do_start(struct pod *pod, const Containerd__Task__V2__StartRequest *req,
                    Containerd__Task__V2__StartResponse *resp, struct error *err)
{
    struct task *t;
    struct process *p;
    if (task_get(pod, req->id, req->exec_id, &t, &p, err) < 0)
        return -1;
    int r = process_start(pod, p, err);
    resp->pid = pod_pid(pod);
    task_put(t);
    return r;
}

static int exec_spec(const Google__Protobuf__Any *spec, Grpc__Process **out, struct error *err)
{
    if (!spec || !spec->type_url)
        return error_set(err, GRPC_INVALID_ARGUMENT, "exec: spec is required");
    if (!type_url_is(spec->type_url, "Process"))
        return error_set(err, GRPC_INVALID_ARGUMENT, "exec: spec has type %s, want %sProcess",
                         spec->type_url, JSON_TYPE_PREFIX);
    return oci_process_from_json((const char *)spec->value.data, spec->value.len, out, err);
}

static int do_exec(struct pod *pod, const Containerd__Task__V2__ExecProcessRequest *req,
                   struct error *err)
{
    if (!req->exec_id || !*req->exec_id)
        return error_set(err, GRPC_INVALID_ARGUMENT, "exec: exec_id is required");
    struct task *t;
    if (task_get(pod, req->id, "", &t, NULL, err) < 0)
        return -1;
    struct process *p = xcalloc(1, sizeof(*p));
    process_init(p, t, req->exec_id, req->terminal, req->stdin, req->stdout, req->stderr,
                 pod->namespace_);
    int r = exec_spec(req->spec, &p->spec, err);
    if (r == 0) {
        /* Kata sends what the exec needs; the terminal is the request's, its size is set once
         * the process runs */
        p->spec->terminal = req->terminal;
        if (p->spec->consolesize) {
            p->console_rows = p->spec->consolesize->height;
            p->console_cols = p->spec->consolesize->width;
        }
        oci_strip_exec_process(p->spec);
        r = stdio_open(&p->io_cfg, &p->io, err);
    }
    pthread_mutex_lock(&pod->lock);
    struct error ignored = ERROR_INIT;
    if (r == 0 && task_find_process(t, req->exec_id, &ignored))
        r = error_set(err, GRPC_ALREADY_EXISTS, "exec %s of task %s already exists", req->exec_id,
                      t->id);
    else if (r == 0 && (!t->init.started || t->init.exited))
        r = error_set(err, GRPC_FAILED_PRECONDITION, "task %s is not running", t->id);
    error_clear(&ignored);
    if (r == 0) {
        p->next = t->execs;
        t->execs = p;
        Containerd__Events__TaskExecAdded ev = CONTAINERD__EVENTS__TASK_EXEC_ADDED__INIT;
        ev.container_id = t->id;
        ev.exec_id = p->exec_id;
        pod_publish(pod, "/tasks/exec-added", &ev.base);
    }
    pthread_mutex_unlock(&pod->lock);
    if (r < 0) {
        process_release(p);
        free(p);
    }
    task_put(t);
    return r;
}

/* ---- State, Pids, Wait, Connect ---- */

static int do_state(struct pod *pod, const Containerd__Task__V2__StateRequest *req,
                    ProtobufCMessage **out, struct error *err)
{
    pthread_mutex_lock(&pod->lock);
    struct task *t = pod_find_task(pod, req->id, err);
    struct process *p = t ? task_find_process(t, req->exec_id, err) : NULL;
    if (p) {
        Containerd__Task__V2__StateResponse *r = xcalloc(1, sizeof(*r));
        containerd__task__v2__state_response__init(r);
        r->id = xstrdup(t->id);
        r->bundle = xstrdup(t->bundle);
        r->pid = pod_pid(pod);
        r->status = p->status;
        r->stdin = xstrdup(p->io_cfg.stdin_path);
        r->stdout = xstrdup(p->io_cfg.stdout_path);
        r->stderr = xstrdup(p->io_cfg.stderr_path);
        r->terminal = p->io_cfg.terminal;
        r->exit_status = p->exit_status;
        if (p->exited) {
            r->exited_at = xcalloc(1, sizeof(*r->exited_at));
            *r->exited_at = to_timestamp(&p->exited_at);
        }
        r->exec_id = xstrdup(p->exec_id);
        *out = &r->base;
    }
    pthread_mutex_unlock(&pod->lock);
    return p ? 0 : -1;
}

static void state_response_free(Containerd__Task__V2__StateResponse *r)
{
    free(r->id);
    free(r->bundle);
    free(r->stdin);
    free(r->stdout);
    free(r->stderr);
    free(r->exited_at);
    free(r->exec_id);
    free(r);
}

static int do_wait(struct pod *pod, const Containerd__Task__V2__WaitRequest *req,
                   Containerd__Task__V2__WaitResponse *resp, Google__Protobuf__Timestamp *at,
                   struct error *err)
{
    int r = 0;
    pthread_mutex_lock(&pod->lock);
    struct task *t = pod_find_task(pod, req->id, err);
    struct process *p = t ? task_find_process(t, req->exec_id, err) : NULL;
    if (!p) {
        pthread_mutex_unlock(&pod->lock);
        return -1;
    }
    /* Held, not looked up again after a wake-up: the Delete that follows an exit (ctr and the
     * CRI send it as soon as TaskExit arrives) must not turn the exit this Wait is for into
     * NOT_FOUND. Delete waits for us (wait_unused, delete_exec); a task deleted before it exited
     * (created, never started) ends the wait. */
    t->users++;
    p->waits++;
    while (!p->exited && !t->deleting)
        pthread_cond_wait(&pod->cond, &pod->lock);
    if (p->exited) {
        resp->exit_status = p->exit_status;
        *at = to_timestamp(&p->exited_at);
        resp->exited_at = at;
    } else {
        r = error_set(err, GRPC_NOT_FOUND, "task %s was deleted before it exited", t->id);
    }
    p->waits--;
    t->users--;
    pthread_cond_broadcast(&pod->cond);
    pthread_mutex_unlock(&pod->lock);
    return r;
}

/* ---- Kill, Pause, Resume, ResizePty, CloseIO, Update, Stats ---- */

/* The agent of a process that has not exited, with the task pinned; unless created_too, the
 * process must have been started. */
static int get_alive(struct pod *pod, const char *id, const char *exec_id, bool created_too,
                     struct task **t, struct process **p, struct agent **agent, struct error *err)
{
    if (task_get(pod, id, exec_id, t, p, err) < 0)
        return -1;
    pthread_mutex_lock(&pod->lock);
    int r = 0;
    if ((*p)->exited)
        r = error_set(err, GRPC_NOT_FOUND, "process %s of task %s already finished",
                      *exec_id ? exec_id : id, id);
    else if (!(*p)->started && !created_too)
        r = error_set(err, GRPC_FAILED_PRECONDITION, "process %s of task %s is not started",
                      *exec_id ? exec_id : id, id);
    else if (pod->vm_dead || !pod->sandbox)
        r = error_set(err, GRPC_NOT_FOUND, "task %s: the pod's VM is gone", id);
    else
        *agent = sandbox_agent(pod->sandbox);
    pthread_mutex_unlock(&pod->lock);
    if (r < 0)
        task_put(*t);
    return r;
}

/* The agent of a running (started, not exited) process, with the task pinned. */
static int get_running(struct pod *pod, const char *id, const char *exec_id, struct task **t,
                       struct process **p, struct agent **agent, struct error *err)
{
    return get_alive(pod, id, exec_id, false, t, p, agent, err);
}

static int do_kill(struct pod *pod, const Containerd__Task__V2__KillRequest *req, struct error *err)
{
    struct task *t;
    struct process *p;
    if (task_get(pod, req->id, req->exec_id, &t, &p, err) < 0)
        return -1;
    pthread_mutex_lock(&pod->lock);
    int r = 0;
    if (p->exited)
        r = error_set(err, GRPC_NOT_FOUND, "process %s already finished",
                      *p->exec_id ? p->exec_id : t->id);
    else if (pod->vm_dead || !pod->sandbox)
        r = error_set(err, GRPC_NOT_FOUND, "task %s: the pod's VM is gone", t->id);
    struct sandbox *sandbox = r == 0 ? pod->sandbox : NULL;
    struct agent *agent = sandbox ? sandbox_agent(sandbox) : NULL;
    bool never_started = !p->started && !p->starting;
    pthread_mutex_unlock(&pod->lock);
    if (r == 0 && never_started && *p->exec_id) {
        /* An exec that was added but never started has nothing to signal: it just ends. */
        pthread_mutex_lock(&pod->lock);
        process_set_exited(pod, p, 128 + req->signal);
        pthread_mutex_unlock(&pod->lock);
    } else if (r == 0) {
        /* A container's init is signalled with its whole container, as Kata does (`all`). */
        r = agent_signal_process(agent, t->id, p->exec_id, req->signal, err);
        if (r < 0 && agent_error_is_gone(err)) {
            /* It exited and its WaitProcess took it from the agent, and the waiter has yet to
             * report the exit. SIGKILL and SIGTERM asked for just that: done (runtime-rs's
             * kill_process). Any other signal is answered as for a process known to be gone. */
            if (req->signal == SIGKILL || req->signal == SIGTERM) {
                error_clear(err);
                r = 0;
            } else {
                error_set(err, GRPC_NOT_FOUND, "process %s already finished",
                          *p->exec_id ? p->exec_id : t->id);
            }
        } else if (r < 0 && err->code == GRPC_DEADLINE_EXCEEDED && req->signal == SIGKILL &&
                   !*p->exec_id) {
            /* The agent did not answer within request_timeout: nothing ends the container in
             * the guest now, and containerd and the kubelet would retry this kill for ever
             * while the VM runs. The VM goes instead, and every process of the pod with it, as
             * Kata's sandbox monitor ends a sandbox whose agent stopped answering. */
            _cleanup_(error_clear) struct error kerr = ERROR_INIT;
            if (sandbox_kill(sandbox, err->msg, &kerr) == 0) {
                error_clear(err);
                r = 0;
            } else {
                log_error("task %s: %s", t->id, kerr.msg);
            }
        }
        if (r == 0 && never_started) {
            pthread_mutex_lock(&pod->lock);
            process_set_exited(pod, p, 128 + req->signal);
            pthread_mutex_unlock(&pod->lock);
        }
    }
    task_put(t);
    return r;
}

static int do_pause_resume(struct pod *pod, const char *id, bool pause, struct error *err)
{
    struct task *t;
    struct process *p;
    struct agent *agent;
    if (get_running(pod, id, "", &t, &p, &agent, err) < 0)
        return -1;
    int r = pause ? agent_pause_container(agent, id, err) : agent_resume_container(agent, id, err);
    if (r == 0) {
        pthread_mutex_lock(&pod->lock);
        if (!p->exited)
            p->status = pause ? CONTAINERD__V1__TYPES__STATUS__PAUSED
                              : CONTAINERD__V1__TYPES__STATUS__RUNNING;
        if (pause) {
            Containerd__Events__TaskPaused ev = CONTAINERD__EVENTS__TASK_PAUSED__INIT;
            ev.container_id = t->id;
            pod_publish(pod, "/tasks/paused", &ev.base);
        } else {
            Containerd__Events__TaskResumed ev = CONTAINERD__EVENTS__TASK_RESUMED__INIT;
            ev.container_id = t->id;
            pod_publish(pod, "/tasks/resumed", &ev.base);
        }
        pthread_mutex_unlock(&pod->lock);
    }
    task_put(t);
    return r;
}

static int do_resize_pty(struct pod *pod, const Containerd__Task__V2__ResizePtyRequest *req,
                         struct error *err)
{
    struct task *t;
    struct process *p;
    struct agent *agent;
    if (get_alive(pod, req->id, req->exec_id, true, &t, &p, &agent, err) < 0)
        return -1;
    if (!p->io_cfg.terminal) {
        /* nothing to resize: runc's shim answers OK (the agent would say "no tty") */
        task_put(t);
        return 0;
    }
    int r = agent_tty_win_resize(agent, t->id, p->exec_id, req->height, req->width, err);
    task_put(t);
    return r;
}

static int do_close_io(struct pod *pod, const Containerd__Task__V2__CloseIORequest *req,
                       struct error *err)
{
    if (!req->stdin)
        return 0;
    struct task *t;
    struct process *p;
    if (task_get(pod, req->id, req->exec_id, &t, &p, err) < 0)
        return -1;
    pthread_mutex_lock(&pod->lock);
    bool gone = p->exited && !p->io; /* a failed Start closed its stdio */
    pthread_mutex_unlock(&pod->lock);
    int r = gone ? 0 : stdio_close_stdin(p->io, err);
    task_put(t);
    return r;
}

static int do_update(struct pod *pod, const Containerd__Task__V2__UpdateTaskRequest *req,
                     struct error *err)
{
    if (!req->resources || !req->resources->type_url)
        return 0; /* annotations only: nothing the guest acts on */
    if (!type_url_is(req->resources->type_url, "LinuxResources"))
        return error_set(err, GRPC_INVALID_ARGUMENT, "update: resources have type %s, want %s",
                         req->resources->type_url, JSON_TYPE_PREFIX "LinuxResources");
    Grpc__LinuxResources *res = NULL;
    if (oci_resources_from_json((const char *)req->resources->value.data, req->resources->value.len,
                                &res, err) < 0)
        return -1;
    struct task *t;
    struct process *p;
    struct agent *agent;
    int r = get_running(pod, req->id, "", &t, &p, &agent, err);
    if (r == 0) {
        r = agent_update_container(agent, t->id, res, err);
        task_put(t);
    }
    protobuf_c_message_free_unpacked(&res->base, NULL);
    return r;
}

static int do_stats(struct pod *pod, const Containerd__Task__V2__StatsRequest *req,
                    struct ttrpc_reply *reply, struct error *err)
{
    struct task *t;
    struct process *p;
    struct agent *agent;
    /* a created container has its cgroup in the guest already; CRI asks before Start */
    if (get_alive(pod, req->id, "", true, &t, &p, &agent, err) < 0)
        return -1;
    Grpc__StatsContainerResponse *stats = NULL;
    int r = agent_stats_container(agent, t->id, &stats, err);
    task_put(t);
    if (r < 0)
        return -1;
    Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
    r = metrics_to_any(stats, metrics_host_cgroup_v2(), &any, err);
    protobuf_c_message_free_unpacked(&stats->base, NULL);
    if (r < 0)
        return -1;
    Containerd__Task__V2__StatsResponse resp = CONTAINERD__TASK__V2__STATS_RESPONSE__INIT;
    resp.stats = &any;
    ttrpc_reply_set(reply, &resp.base);
    metrics_any_free(&any);
    return 0;
}

/* ---- Delete, Shutdown ---- */

/* Waits until no handler uses the task; new lookups already fail (t->deleting). */
static void wait_unused(struct pod *pod, struct task *t)
{
    while (t->users > 0)
        pthread_cond_wait(&pod->cond, &pod->lock);
}

static int delete_exec(struct pod *pod, struct task *t, const char *exec_id,
                       Containerd__Task__V2__DeleteResponse *resp, Google__Protobuf__Timestamp *at,
                       struct error *err)
{
    struct process *p = task_find_process(t, exec_id, err);
    if (!p)
        return -1;
    if (p->started && !p->exited)
        return error_set(err, GRPC_FAILED_PRECONDITION, "exec %s of task %s is still running",
                         exec_id, t->id);
    for (struct process **pp = &t->execs; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    if (!p->exited)
        process_set_exited(pod, p, 0);
    while (p->waits > 0) /* they have seen it exited and leave at once */
        pthread_cond_wait(&pod->cond, &pod->lock);
    resp->pid = pod_pid(pod);
    resp->exit_status = p->exit_status;
    *at = to_timestamp(&p->exited_at);
    resp->exited_at = at;
    pthread_mutex_unlock(&pod->lock);
    process_release(p);
    free(p);
    pthread_mutex_lock(&pod->lock);
    return 0;
}

static int do_delete(struct pod *pod, const Containerd__Task__V2__DeleteRequest *req,
                     Containerd__Task__V2__DeleteResponse *resp, Google__Protobuf__Timestamp *at,
                     struct error *err)
{
    pthread_mutex_lock(&pod->lock);
    struct task *t = pod_find_task(pod, req->id, err);
    if (!t) {
        pthread_mutex_unlock(&pod->lock);
        return -1;
    }
    if (req->exec_id && *req->exec_id) {
        int r = delete_exec(pod, t, req->exec_id, resp, at, err);
        pthread_mutex_unlock(&pod->lock);
        return r;
    }
    if (t->init.started && !t->init.exited) {
        pthread_mutex_unlock(&pod->lock);
        return error_set(err, GRPC_FAILED_PRECONDITION, "task %s is still running", t->id);
    }
    t->deleting = true;
    pthread_cond_broadcast(&pod->cond); /* a Wait on a task that never ran gives up */
    wait_unused(pod, t);
    bool vm_up = pod->sandbox && !pod->vm_dead;
    struct agent *agent = vm_up ? sandbox_agent(pod->sandbox) : NULL;
    struct guest_watch *volumes = pod->volumes;
    if (t->is_sandbox)
        pod->volumes = NULL;
    pthread_mutex_unlock(&pod->lock);

    /* Its volumes are no longer copied on updates (the pod's all go with the sandbox). */
    if (t->is_sandbox)
        guest_watch_free(volumes);
    else
        guest_watch_remove(volumes, t->id);

    /* A container the agent no longer knows, or one that went with the VM, is what Delete
     * wants: only other failures are worth a warning. */
    _cleanup_(error_clear) struct error aerr = ERROR_INIT;
    if (agent && !t->is_sandbox &&
        agent_remove_container(agent, t->id, REMOVE_CONTAINER_TIMEOUT_S, &aerr) < 0 &&
        !agent_error_is_gone(&aerr) && aerr.code != GRPC_UNAVAILABLE)
        log_warn("task %s: %s", t->id, aerr.msg);

    pthread_mutex_lock(&pod->lock);
    if (!t->init.exited)
        process_set_exited(pod, &t->init, 0);
    for (struct process *p = t->execs; p; p = p->next)
        process_set_exited(pod, p, TASK_EXIT_VM_GONE);
    struct sandbox *sb = NULL;
    if (t->is_sandbox) {
        sb = pod->sandbox;
        pod->sandbox = NULL;
    }
    pthread_mutex_unlock(&pod->lock);

    /* The waiters end (their processes exited or the VM went); join them, then the VM goes. */
    if (sb) {
        sandbox_stop(sb);
        pod_unwatch_oom(pod);
    }
    process_release(&t->init);
    while (t->execs) {
        struct process *p = t->execs;
        t->execs = p->next;
        process_release(p);
        free(p);
    }
    sandbox_free(sb);

    pthread_mutex_lock(&pod->lock);
    for (struct task **pt = &pod->tasks; *pt; pt = &(*pt)->next)
        if (*pt == t) {
            *pt = t->next;
            break;
        }
    resp->pid = sb ? 0 : pod_pid(pod);
    resp->exit_status = t->init.exit_status;
    *at = to_timestamp(&t->init.exited_at);
    resp->exited_at = at;
    Containerd__Events__TaskDelete ev = CONTAINERD__EVENTS__TASK_DELETE__INIT;
    ev.container_id = t->id;
    ev.pid = resp->pid;
    ev.exit_status = resp->exit_status;
    ev.exited_at = at;
    ev.id = "";
    pod_publish(pod, "/tasks/delete", &ev.base);
    pthread_cond_broadcast(&pod->cond);
    pthread_mutex_unlock(&pod->lock);
    log_info("task %s deleted", t->id);
    free(t->termination_log);
    free(t->id);
    free(t->bundle);
    free(t);
    return 0;
}

static int do_shutdown(struct pod *pod, const Containerd__Task__V2__ShutdownRequest *req)
{
    pthread_mutex_lock(&pod->lock);
    /* One shim serves the whole pod: containerd asks after every container's Delete. A Create
     * still under way decides when it ends (containerd may have given up on it). */
    bool idle = pod->tasks == NULL;
    if (idle)
        pod->shutdown_asked = true;
    bool exiting = pod_exit_if_idle(pod);
    pthread_mutex_unlock(&pod->lock);
    log_debug("shutdown (%s): %s", req->id,
              exiting ? "exiting"
              : idle  ? "after the Create under way"
                      : "tasks remain, ignored");
    return 0;
}

/* ---- the ttrpc glue ---- */

#define HANDLER(name, type)                                                                        \
    static int h_##name(void *user, const struct ttrpc_call *call, const ProtobufCMessage *m,      \
                        struct ttrpc_reply *reply, struct error *err)

/* Create and Start are where a pod's start spends the shim's time: each logs where it went. */
static void log_took(const char *rpc, const char *id, const char *exec_id, const struct timing *tm)
{
    char took[160];
    timing_format(tm, took, sizeof(took));
    log_info("%s of task %s%s%s took %s", rpc, id, *exec_id ? " exec " : "", exec_id, took);
}

HANDLER(create, CreateTaskRequest)
{
    const Containerd__Task__V2__CreateTaskRequest *req = (const void *)m;
    Containerd__Task__V2__CreateTaskResponse resp =
        CONTAINERD__TASK__V2__CREATE_TASK_RESPONSE__INIT;
    struct timing tm;
    timing_start(&tm);
    if (task_create(user, req, &resp, err) < 0)
        return -1;
    log_took("Create", req->id, "", &tm);
    ttrpc_reply_set(reply, &resp.base);
    return 0;
}

HANDLER(start, StartRequest)
{
    const Containerd__Task__V2__StartRequest *req = (const void *)m;
    Containerd__Task__V2__StartResponse resp = CONTAINERD__TASK__V2__START_RESPONSE__INIT;
    struct timing tm;
    timing_start(&tm);
    if (do_start(user, req, &resp, err) < 0)
        return -1;
    log_took("Start", req->id, req->exec_id, &tm);
    ttrpc_reply_set(reply, &resp.base);
    return 0;
}

HANDLER(delete, DeleteRequest)
{
    Containerd__Task__V2__DeleteResponse resp = CONTAINERD__TASK__V2__DELETE_RESPONSE__INIT;
    Google__Protobuf__Timestamp at;
    if (do_delete(user, (const void *)m, &resp, &at, err) < 0)
        return -1;
    ttrpc_reply_set(reply, &resp.base);
    return 0;
}

HANDLER(state, StateRequest)
{
    ProtobufCMessage *resp = NULL;
    if (do_state(user, (const void *)m, &resp, err) < 0)
        return -1;
    ttrpc_reply_set(reply, resp);
    state_response_free((Containerd__Task__V2__StateResponse *)resp);
    return 0;
}

HANDLER(pids, PidsRequest)
{
    const Containerd__Task__V2__PidsRequest *req = (const void *)m;
    struct pod *pod = user;
    struct task *t;
    if (task_get(pod, req->id, "", &t, NULL, err) < 0)
        return -1;
    /* Every process of the pod lives in the one hypervisor process, as with Kata. */
    Containerd__V1__Types__ProcessInfo info = CONTAINERD__V1__TYPES__PROCESS_INFO__INIT;
    info.pid = pod_pid(pod);
    Containerd__V1__Types__ProcessInfo *list[] = {&info};
    Containerd__Task__V2__PidsResponse resp = CONTAINERD__TASK__V2__PIDS_RESPONSE__INIT;
    resp.n_processes = 1;
    resp.processes = list;
    ttrpc_reply_set(reply, &resp.base);
    task_put(t);
    return 0;
}

HANDLER(pause, PauseRequest)
{
    return do_pause_resume(user, ((const Containerd__Task__V2__PauseRequest *)m)->id, true, err);
}

HANDLER(resume, ResumeRequest)
{
    return do_pause_resume(user, ((const Containerd__Task__V2__ResumeRequest *)m)->id, false, err);
}

HANDLER(checkpoint, CheckpointTaskRequest)
{
    return error_set(err, GRPC_UNIMPLEMENTED, "checkpoint is not supported for VM tasks");
}

HANDLER(kill, KillRequest)
{
    return do_kill(user, (const void *)m, err);
}

HANDLER(exec, ExecProcessRequest)
{
    return do_exec(user, (const void *)m, err);
}

HANDLER(resize_pty, ResizePtyRequest)
{
    return do_resize_pty(user, (const void *)m, err);
}

HANDLER(close_io, CloseIORequest)
{
    return do_close_io(user, (const void *)m, err);
}

HANDLER(update, UpdateTaskRequest)
{
    return do_update(user, (const void *)m, err);
}

HANDLER(wait, WaitRequest)
{
    Containerd__Task__V2__WaitResponse resp = CONTAINERD__TASK__V2__WAIT_RESPONSE__INIT;
    Google__Protobuf__Timestamp at;
    if (do_wait(user, (const void *)m, &resp, &at, err) < 0)
        return -1;
    ttrpc_reply_set(reply, &resp.base);
    return 0;
}

HANDLER(stats, StatsRequest)
{
    return do_stats(user, (const void *)m, reply, err);
}

HANDLER(connect, ConnectRequest)
{
    struct pod *pod = user;
    Containerd__Task__V2__ConnectResponse resp = CONTAINERD__TASK__V2__CONNECT_RESPONSE__INIT;
    resp.shim_pid = (uint32_t)getpid();
    pthread_mutex_lock(&pod->lock);
    resp.task_pid = pod_pid(pod);
    pthread_mutex_unlock(&pod->lock);
    resp.version = COCOON_VERSION;
    ttrpc_reply_set(reply, &resp.base);
    return 0;
}

HANDLER(shutdown, ShutdownRequest)
{
    return do_shutdown(user, (const void *)m);
}

#define METHOD(name, fn, type)                                                                     \
    {                                                                                              \
        name, &containerd__task__v2__##type##__descriptor, h_##fn                                  \
    }

static const struct ttrpc_method task_methods[] = {
    METHOD("State", state, state_request),
    METHOD("Create", create, create_task_request),
    METHOD("Start", start, start_request),
    METHOD("Delete", delete, delete_request),
    METHOD("Pids", pids, pids_request),
    METHOD("Pause", pause, pause_request),
    METHOD("Resume", resume, resume_request),
    METHOD("Checkpoint", checkpoint, checkpoint_task_request),
    METHOD("Kill", kill, kill_request),
    METHOD("Exec", exec, exec_process_request),
    METHOD("ResizePty", resize_pty, resize_pty_request),
    METHOD("CloseIO", close_io, close_iorequest),
    METHOD("Update", update, update_task_request),
    METHOD("Wait", wait, wait_request),
    METHOD("Stats", stats, stats_request),
    METHOD("Connect", connect, connect_request),
    METHOD("Shutdown", shutdown, shutdown_request),
};

int task_service_register(struct ttrpc_server *srv, struct pod *pod, struct error *err)
{
    return ttrpc_server_register(srv, TASK_SERVICE, task_methods,
                                 sizeof(task_methods) / sizeof(task_methods[0]), pod, err);
}
