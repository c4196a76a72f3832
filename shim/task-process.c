/* A process from Start to its exit: the agent call that starts it, its stdio relay, and the
 * thread that waits for it to end and reports the exit; and the end of every process when the
 * pod's VM goes. Uses nothing of task-state.c (which uses this file). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "containerd/events/task.pb-c.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "lib/thread.h"
#include "shim/proto-helpers.h"
#include "shim/task.h"

#define WAITER_STACK_SIZE (64 * 1024)

void process_init(struct process *p, struct task *t, const char *exec_id, bool terminal,
                  const char *in, const char *out, const char *errp, const char *ns)
{
    p->task = t;
    p->exec_id = xstrdup(exec_id ? exec_id : "");
    p->status = CONTAINERD__V1__TYPES__STATUS__CREATED;
    p->io_cfg.stdin_path = xstrdup(in ? in : "");
    p->io_cfg.stdout_path = xstrdup(out ? out : "");
    p->io_cfg.stderr_path = xstrdup(errp ? errp : "");
    p->io_cfg.terminal = terminal;
    p->io_cfg.container_id = xstrdup(t->id);
    p->io_cfg.exec_id = p->exec_id;
    p->io_cfg.namespace_ = xstrdup(ns);
}

static const char *process_name(const struct process *p)
{
    return *p->exec_id ? p->exec_id : p->task->id;
}

void process_set_exited(struct pod *pod, struct process *p, uint32_t status)
{
    if (p->exited)
        return;
    p->exited = true;
    p->exit_status = status;
    p->status = CONTAINERD__V1__TYPES__STATUS__STOPPED;
    timestamp_now(&p->exited_at);
    pthread_cond_broadcast(&pod->cond);
    log_info("task %s: process %s exited with status %u", p->task->id, process_name(p), status);
    /* containerd must never see an exit before the start it belongs to. */
    if (!p->started)
        return;
    Google__Protobuf__Timestamp at = to_timestamp(&p->exited_at);
    Containerd__Events__TaskExit ev = CONTAINERD__EVENTS__TASK_EXIT__INIT;
    ev.container_id = p->task->id;
    ev.id = (char *)process_name(p);
    ev.pid = pod_pid(pod);
    ev.exit_status = status;
    ev.exited_at = &at;
    pod_publish(pod, "/tasks/exit", &ev.base);
}

/* What the container wrote to its termination message file in the guest goes back to the host
 * file the kubelet reads (Kata's copy of it, container.go stop()): before TaskExit, so that the
 * kubelet finds it when it looks at the exit. A policy that denies the read, or an agent older
 * than Kata 3.29, leaves the message empty: a warning. */
static void copy_back_termination_log(struct agent *agent, const struct task *t)
{
    _cleanup_(error_clear) struct error err = ERROR_INIT;
    _cleanup_free_ char *data = NULL;
    if (agent_get_termination_log(agent, t->id, &data, &err) < 0) {
        log_warn("task %s: %s", t->id, err.msg);
        return;
    }
    if (!*data)
        return;
    /* the kubelet made the file; it is written, never created or followed */
    _cleanup_close_ int fd = open(t->termination_log, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 || fs_write_all(fd, data, strlen(data)) < 0)
        log_warn("task %s: write the termination message to %s: %s", t->id, t->termination_log,
                 strerror(errno));
}

static void *waiter_main(void *arg)
{
    struct process *p = arg;
    struct task *t = p->task;
    struct pod *pod = t->pod;

    /* Output first: the exit is reported only once everything the process wrote is out. */
    stdio_wait_output(p->io);
    pthread_mutex_lock(&pod->lock);
    struct agent *agent = pod->sandbox && !pod->vm_dead ? sandbox_agent(pod->sandbox) : NULL;
    pthread_mutex_unlock(&pod->lock);

    int32_t status = TASK_EXIT_VM_GONE;
    _cleanup_(error_clear) struct error err = ERROR_INIT;
    if (agent && agent_wait_process(agent, t->id, p->exec_id, &status, &err) < 0) {
        /* Gone from the agent (its container was removed meanwhile, say): it has exited, with
         * a status nobody knows any more. 255 then, as runtime-rs reports a failed wait
         * (UNKNOWN_EXIT_STATUS) and containerd an unknown exit. */
        if (agent_error_is_gone(&err))
            log_info("task %s: process %s is gone from the agent: %s", t->id, process_name(p),
                     err.msg);
        else
            log_warn("task %s: %s", t->id, err.msg);
        status = TASK_EXIT_VM_GONE;
    } else if (agent && p == &t->init && t->termination_log) {
        copy_back_termination_log(agent, t);
    }
    pthread_mutex_lock(&pod->lock);
    process_set_exited(pod, p, (uint32_t)status);
    pthread_mutex_unlock(&pod->lock);

    /* The sandbox's init (the pause container, or a lone container's process) ends the pod. */
    if (t->is_sandbox && p == &t->init)
        pod_teardown_vm(pod);
    return NULL;
}

int process_start(struct pod *pod, struct process *p, struct error *err)
{
    struct task *t = p->task;
    pthread_mutex_lock(&pod->lock);
    int r = 0;
    if (p->starting || p->started || p->exited)
        r = error_set(err, GRPC_FAILED_PRECONDITION, "process %s of task %s was already started",
                      process_name(p), t->id);
    else if (pod->vm_dead || !pod->sandbox)
        r = error_set(err, GRPC_FAILED_PRECONDITION, "task %s: the pod's VM is gone", t->id);
    else if (*p->exec_id && (!t->init.started || t->init.exited))
        r = error_set(err, GRPC_FAILED_PRECONDITION, "task %s is not running", t->id);
    struct agent *agent = r == 0 ? sandbox_agent(pod->sandbox) : NULL;
    if (r == 0)
        p->starting = true;
    pthread_mutex_unlock(&pod->lock);
    if (r < 0)
        return -1;

    if (!*p->exec_id) {
        r = agent_start_container(agent, t->id, err);
    } else {
        Grpc__ExecProcessRequest req = GRPC__EXEC_PROCESS_REQUEST__INIT;
        req.container_id = t->id;
        req.exec_id = p->exec_id;
        req.process = p->spec;
        r = agent_exec_process(agent, &req, err);
        if (r == 0 && p->io_cfg.terminal && p->console_rows && p->console_cols) {
            struct error rerr = ERROR_INIT;
            if (agent_tty_win_resize(agent, t->id, p->exec_id, p->console_rows, p->console_cols,
                                     &rerr) < 0)
                log_warn("task %s: exec %s: %s", t->id, p->exec_id, rerr.msg);
            error_clear(&rerr);
        }
    }
    if (r == 0)
        r = stdio_start(p->io, agent, err);

    struct stdio *io_to_close = NULL;
    pthread_mutex_lock(&pod->lock);
    p->starting = false;
    if (r < 0) {
        /* It will never run: its Wait returns and its FIFOs close (containerd's client waits for
         * their EOF before it reports the error). No TaskExit: there was no TaskStart. */
        log_error("task %s: start %s: %s", t->id, process_name(p), err->msg);
        process_set_exited(pod, p, TASK_EXIT_VM_GONE);
        io_to_close = p->io;
        p->io = NULL;
    } else {
        p->started = true;
        p->status = CONTAINERD__V1__TYPES__STATUS__RUNNING;
        if (!*p->exec_id) {
            Containerd__Events__TaskStart ev = CONTAINERD__EVENTS__TASK_START__INIT;
            ev.container_id = t->id;
            ev.pid = pod_pid(pod);
            pod_publish(pod, "/tasks/start", &ev.base);
        } else {
            Containerd__Events__TaskExecStarted ev = CONTAINERD__EVENTS__TASK_EXEC_STARTED__INIT;
            ev.container_id = t->id;
            ev.exec_id = p->exec_id;
            ev.pid = pod_pid(pod);
            pod_publish(pod, "/tasks/exec-started", &ev.base);
        }
        int e = thread_start(&p->waiter, WAITER_STACK_SIZE, waiter_main, p);
        if (e == 0)
            p->waiter_running = true;
        else /* cannot watch it: say so rather than leave Wait hanging forever */
            process_set_exited(pod, p, TASK_EXIT_VM_GONE);
    }
    pthread_mutex_unlock(&pod->lock);
    stdio_free(io_to_close);
    return r;
}

void process_release(struct process *p)
{
    if (p->waiter_running) {
        pthread_join(p->waiter, NULL);
        p->waiter_running = false;
    }
    stdio_free(p->io);
    p->io = NULL;
    if (p->spec)
        protobuf_c_message_free_unpacked(&p->spec->base, NULL);
    p->spec = NULL;
    free((char *)p->io_cfg.stdin_path);
    free((char *)p->io_cfg.stdout_path);
    free((char *)p->io_cfg.stderr_path);
    free((char *)p->io_cfg.container_id);
    free((char *)p->io_cfg.namespace_);
    free(p->exec_id);
    p->exec_id = NULL;
    p->io_cfg = (struct stdio_config){0};
}

void pod_end_all(struct pod *pod)
{
    for (struct task *t = pod->tasks; t; t = t->next) {
        for (struct process *p = t->execs; p; p = p->next)
            process_set_exited(pod, p, TASK_EXIT_VM_GONE);
        process_set_exited(pod, &t->init, TASK_EXIT_VM_GONE);
    }
}

void pod_teardown_vm(struct pod *pod)
{
    pthread_mutex_lock(&pod->lock);
    struct sandbox *sb = pod->sandbox;
    pthread_mutex_unlock(&pod->lock);
    /* pod->sandbox is freed only by Delete of the sandbox task or pod_free, both of which join
     * the thread calling this first. */
    if (sb)
        sandbox_stop(sb);
    /* Nothing runs in a stopped VM: its other tasks end too, and no container can join. */
    pthread_mutex_lock(&pod->lock);
    pod->vm_dead = true;
    pod_end_all(pod);
    pthread_mutex_unlock(&pod->lock);
}
