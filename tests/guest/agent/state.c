/* The agent's state, the SIGCHLD reaper and container removal. */
#include "agent.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "storage.h"
#include "ttrpc/server.h"
#include "util.h"

struct agent agent = {.lock = PTHREAD_MUTEX_INITIALIZER};

void agent_init(const struct agent_config *cfg)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&agent.exited, &ca);
    pthread_condattr_destroy(&ca);
    agent.cfg = *cfg;
    agent.shared_uts_fd = agent.shared_ipc_fd = agent.pidns_anchor_fd = -1;
}

void agent_free(void)
{
    storage_reset();
    free(agent.hostname);
    free(agent.sandbox_id);
    agent.hostname = agent.sandbox_id = NULL;
    pthread_cond_destroy(&agent.exited);
}

/* --- lookups and references --- */

struct container *container_find_locked(const char *id)
{
    for (struct container *c = agent.containers; c; c = c->next)
        if (!strcmp(c->id, id))
            return c;
    return NULL;
}

/* The init is found by "" and by the container id (its exec id inside Kata's agent); every
 * process by its exec id. A process that was waited for is gone for lookups. */
struct proc *proc_find_locked(struct container *c, const char *exec_id)
{
    struct proc *init = c->procs;
    if (!exec_id || !*exec_id || !strcmp(exec_id, c->id) ||
        (init && !strcmp(exec_id, init->exec_id)))
        return init && !init->waited ? init : NULL;
    for (struct proc *p = c->procs; p; p = p->next)
        if (!p->waited && !strcmp(p->exec_id, exec_id))
            return p;
    return NULL;
}

int kata_invalid_container(struct error *err)
{
    return error_set(err, GRPC_INTERNAL, "Invalid container id");
}

enum lookup_miss { MISS_CONTAINER, MISS_INIT, MISS_EXEC };

/* kata-agent's answer when find_container_process (sandbox.rs) fails, by handler and version.
 * Since 3.25 it returns a SandboxError, which sandbox_err_to_ttrpc (rpc.rs) sends with its Debug
 * form as the message: NOT_FOUND "InitProcessNotFound" or "InvalidExecId", INVALID_ARGUMENT
 * "InvalidContainerId"; do_write_stream instead passes it through anyhow (`?`), which sends
 * INTERNAL and its Display text. Before 3.25 it returned anyhow errors, "Invalid container id",
 * "cannot find init process!" and "Invalid exec id", sent INTERNAL by map_ttrpc_err; close_stdin
 * sent them INVALID_ARGUMENT and tty_win_resize UNAVAILABLE, as format!("invalid argument:
 * {:?}", e) through ttrpc_error's Debug, which quotes the string. */
static void lookup_error(enum lookup_by by, enum lookup_miss miss, struct error *err)
{
    static const char *const debug[] = {"InvalidContainerId", "InitProcessNotFound",
                                        "InvalidExecId"};
    static const char *const display[] = {"Invalid container id",
                                          "Process not found: init process missing",
                                          "Process not found: invalid exec id"};
    static const char *const anyhow[] = {"Invalid container id", "cannot find init process!",
                                         "Invalid exec id"};
    if (by == LOOKUP_START && miss == MISS_CONTAINER)
        kata_invalid_container(err);
    else if (agent.cfg.kata_errors == KATA_ERRORS_3_24 && by == LOOKUP_CLOSE_STDIN)
        error_set(err, GRPC_INVALID_ARGUMENT, "\"invalid argument: %s\"", anyhow[miss]);
    else if (agent.cfg.kata_errors == KATA_ERRORS_3_24 && by == LOOKUP_TTY_RESIZE)
        error_set(err, GRPC_UNAVAILABLE, "\"invalid argument: %s\"", anyhow[miss]);
    else if (agent.cfg.kata_errors == KATA_ERRORS_3_24)
        error_set(err, GRPC_INTERNAL, "%s", anyhow[miss]);
    else if (by == LOOKUP_WRITE_STDIN)
        error_set(err, GRPC_INTERNAL, "%s", display[miss]);
    else
        error_set(err, miss == MISS_CONTAINER ? GRPC_INVALID_ARGUMENT : GRPC_NOT_FOUND, "%s",
                  debug[miss]);
}

struct proc *proc_get(const char *cid, const char *exec_id, enum lookup_by by, struct error *err)
{
    pthread_mutex_lock(&agent.lock);
    struct container *c = container_find_locked(cid);
    struct proc *p = c ? proc_find_locked(c, exec_id) : NULL;
    if (p)
        p->refs++;
    pthread_mutex_unlock(&agent.lock);
    if (!c)
        lookup_error(by, MISS_CONTAINER, err);
    else if (!p)
        lookup_error(by, !exec_id || !*exec_id ? MISS_INIT : MISS_EXEC, err);
    return p;
}

struct proc *proc_new(const char *exec_id)
{
    struct proc *p = xcalloc(1, sizeof(*p));
    p->exec_id = xstrdup(exec_id ? exec_id : "");
    p->stdin_fd = p->out_fd[0] = p->out_fd[1] = p->start_fd = p->status_fd = -1;
    p->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    pthread_mutex_init(&p->stdin_lock, NULL);
    p->refs = 1; /* the container's */
    return p;
}

static void proc_free(struct proc *p)
{
    int fds[] = {p->stdin_fd, p->out_fd[0], p->out_fd[1], p->wake_fd, p->start_fd, p->status_fd};
    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
        if (fds[i] >= 0)
            close(fds[i]);
    pthread_mutex_destroy(&p->stdin_lock);
    free(p->exec_id);
    free(p);
}

void proc_put(struct proc *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&agent.lock);
    bool last = --p->refs == 0;
    pthread_mutex_unlock(&agent.lock);
    if (last)
        proc_free(p);
}

void proc_wake(struct proc *p)
{
    uint64_t one = 1;
    (void)!write(p->wake_fd, &one, sizeof(one));
}

void proc_unlink_locked(struct proc *p)
{
    p->unlinked = true;
    p->ctr = NULL;
    proc_wake(p);
    pthread_cond_broadcast(&agent.exited);
}

void container_signal_all_locked(struct container *c, int sig)
{
    for (struct proc *p = c->procs; p; p = p->next)
        if (p->pid > 0 && !p->exited)
            kill(p->pid, sig);
}

int proc_wait(struct proc *p, struct error *err)
{
    pthread_mutex_lock(&agent.lock);
    while (!p->exited && !p->unlinked && !agent.stopping)
        pthread_cond_wait(&agent.exited, &agent.lock);
    bool exited = p->exited;
    int status = p->status;
    pthread_mutex_unlock(&agent.lock);
    if (!exited && agent.stopping)
        return error_set(err, GRPC_UNAVAILABLE, "process %s is gone: the agent is stopping",
                         p->exec_id);
    if (!exited) /* kata-agent's do_wait_process finds the container gone after the wait */
        return kata_invalid_container(err);
    return status;
}

void proc_forget(struct proc *p)
{
    pthread_mutex_lock(&agent.lock);
    struct container *c = p->ctr;
    bool drop = false;
    if (!p->waited && c) {
        p->waited = true;
        if (p != c->procs) {
            for (struct proc **pp = &c->procs; *pp; pp = &(*pp)->next) {
                if (*pp == p) {
                    *pp = p->next;
                    break;
                }
            }
            proc_unlink_locked(p);
            drop = true;
        }
    }
    pthread_mutex_unlock(&agent.lock);
    if (drop)
        proc_put(p); /* the container's reference */
}

/* --- the reaper --- */

static pthread_t reaper_thread;
static volatile bool reaper_stopping;

static void child_exited(pid_t pid, int wstatus)
{
    int status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
    pthread_mutex_lock(&agent.lock);
    for (struct container *c = agent.containers; c; c = c->next) {
        for (struct proc *p = c->procs; p; p = p->next) {
            if (p->pid != pid || p->exited)
                continue;
            p->exited = true;
            p->status = status;
            log_debug("container %s process %s (pid %d) exited with %d", c->id,
                      *p->exec_id ? p->exec_id : "init", pid, status);
            /* Without a pid namespace nothing else would end the container's other processes
             * when its init does: do what the kernel does for a pid namespace's init. */
            if (p == c->procs)
                container_signal_all_locked(c, SIGKILL);
            proc_wake(p);
            goto done;
        }
    }
done:
    pthread_cond_broadcast(&agent.exited);
    pthread_mutex_unlock(&agent.lock);
}

static void *reaper_main(void *arg)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    while (!reaper_stopping) {
        int sig;
        sigwait(&set, &sig);
        int wstatus;
        pid_t pid;
        while ((pid = waitpid(-1, &wstatus, WNOHANG)) > 0)
            child_exited(pid, wstatus);
    }
    return NULL;
}

int reaper_start(struct error *err)
{
    /* Orphans of container processes come to us, and are reaped, instead of going to PID 1. */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
        log_warn("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
    int r = pthread_create(&reaper_thread, NULL, reaper_main, NULL);
    if (r != 0)
        return error_set_errno(err, r, "start the reaper thread");
    return 0;
}

void reaper_stop(void)
{
    reaper_stopping = true;
    pthread_kill(reaper_thread, SIGCHLD);
    pthread_join(reaper_thread, NULL);
}

/* --- removal --- */

static bool all_exited_locked(struct container *c)
{
    for (struct proc *p = c->procs; p; p = p->next)
        if (p->pid > 0 && !p->exited)
            return false;
    return true;
}

static void container_free(struct container *c)
{
    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    storage_release(c->storages, c->n_storages);
    cgroup_remove(c->cgroup);
    if (c->pulled && rm_rf(c->pulled, &err) < 0)
        log_warn("container %s: %s", c->id, err.msg);
    _cleanup_free_ char *dir = xasprintf("%s/%s", agent.cfg.state_dir, c->id);
    if (rm_rf(dir, &err) < 0)
        log_warn("container %s: %s", c->id, err.msg);
    container_free_fields(c);
}

void container_free_fields(struct container *c)
{
    for (size_t i = 0; i < c->n_storages; i++)
        free(c->storages[i]);
    free(c->storages);
    free(c->term_path);
    free(c->term_source);
    free(c->id);
    free(c->rootfs);
    free(c->pulled);
    free(c->cgroup);
    free(c);
}

int container_remove(const char *id, unsigned timeout_s, struct error *err)
{
    pthread_mutex_lock(&agent.lock);
    struct container *c = container_find_locked(id);
    if (!c) {
        pthread_mutex_unlock(&agent.lock);
        return kata_invalid_container(err); /* do_remove_container, in every version */
    }
    if (c->frozen)
        cgroup_freeze(c->cgroup, false, NULL);
    container_signal_all_locked(c, SIGCONT); /* frozen by SIGSTOP without cgroup2 */
    container_signal_all_locked(c, SIGKILL);
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_s ? timeout_s : 30;
    while (!all_exited_locked(c) &&
           pthread_cond_timedwait(&agent.exited, &agent.lock, &deadline) != ETIMEDOUT)
        ;
    if (!all_exited_locked(c))
        log_warn("container %s: processes still running after SIGKILL; removing anyway", id);
    struct container **pp = &agent.containers;
    while (*pp != c)
        pp = &(*pp)->next;
    *pp = c->next;
    struct proc *procs = c->procs;
    c->procs = NULL;
    for (struct proc *p = procs; p; p = p->next)
        proc_unlink_locked(p);
    pthread_mutex_unlock(&agent.lock);

    for (struct proc *p = procs, *next; p; p = next) {
        next = p->next;
        proc_put(p);
    }
    container_free(c);
    return 0;
}

/* --- logging for handlers --- */

void rpc_log(const struct ttrpc_call *call, const char *cid, const char *exec_id)
{
    if (cid && exec_id && *exec_id)
        log_debug("rpc %s container=%s exec=%s", call->method, cid, exec_id);
    else if (cid)
        log_debug("rpc %s container=%s", call->method, cid);
    else
        log_debug("rpc %s", call->method);
}

int rpc_done(const struct ttrpc_call *call, int r, struct error *err)
{
    if (r < 0)
        log_error("rpc %s failed: %s: %s", call->method, grpc_code_name(err->code), err->msg);
    return r;
}
