/* The pod's state: lookups, the configuration, and what happens when the VM dies. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "containerd/events/task.pb-c.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "lib/thread.h"
#include "shim/bundle.h"
#include "shim/task.h"

struct pod *pod_new(const char *namespace_, struct publisher *pub, void (*on_shutdown)(void *user),
                    void *user)
{
    struct pod *pod = xcalloc(1, sizeof(*pod));
    pthread_mutex_init(&pod->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&pod->cond, &ca);
    pthread_condattr_destroy(&ca);
    pod->namespace_ = xstrdup(namespace_ ? namespace_ : "");
    const char *env = getenv(CONFIG_ENV);
    pod->config_path_env = env && *env ? xstrdup(env) : NULL;
    pod->pub = pub;
    pod->on_shutdown = on_shutdown;
    pod->user = user;
    return pod;
}

void task_free(struct task *t)
{
    process_release(&t->init);
    while (t->execs) {
        struct process *p = t->execs;
        t->execs = p->next;
        process_release(p);
        free(p);
    }
    free(t->termination_log);
    free(t->id);
    free(t->bundle);
    free(t);
}

void pod_stop_vm(struct pod *pod, struct sandbox *sb, struct guest_watch *volumes)
{
    guest_watch_free(volumes); /* it uses the agent: it goes first */
    if (sb)
        sandbox_stop(sb);
    pod_unwatch_oom(pod);
}

void pod_free(struct pod *pod)
{
    if (!pod)
        return;
    pthread_mutex_lock(&pod->lock);
    struct sandbox *sb = pod->sandbox;
    pod_end_all(pod);
    struct task *tasks = pod->tasks;
    pod->tasks = NULL;
    struct guest_watch *volumes = TAKE_PTR(pod->volumes);
    pthread_mutex_unlock(&pod->lock);
    /* Stopping the VM ends every long poll the waiter threads are blocked in; then they can be
     * joined, and only then is the sandbox (which a waiter may be stopping too) freed. */
    pod_stop_vm(pod, sb, volumes);
    while (tasks) {
        struct task *t = tasks;
        tasks = t->next;
        task_free(t);
    }
    pthread_mutex_lock(&pod->lock);
    pod->sandbox = NULL;
    pthread_mutex_unlock(&pod->lock);
    sandbox_free(sb);
    config_free(pod->cfg);
    free(pod->config_path);
    free(pod->config_path_env);
    free(pod->sandbox_id);
    free(pod->namespace_);
    pthread_cond_destroy(&pod->cond);
    pthread_mutex_destroy(&pod->lock);
    free(pod);
}

/* Records the path in the bundle so `delete`, run after a crash, reads the same configuration. */
static void remember_config_path(const char *bundle, const char *path)
{
    _cleanup_(error_clear) struct error err = ERROR_INIT;
    _cleanup_free_ char *text = xasprintf("%s\n", path);
    if (bundle_write_file(bundle, BUNDLE_CONFIG_FILE, text, &err) < 0)
        log_warn("%s; `delete` will read the default configuration", err.msg);
}

int pod_load_config(struct pod *pod, const char *config_path, const char *bundle, struct error *err)
{
    pthread_mutex_lock(&pod->lock);
    bool loaded = pod->cfg != NULL;
    pthread_mutex_unlock(&pod->lock);
    if (!loaded) {
        const char *path = config_path && *config_path ? config_path
                           : pod->config_path_env      ? pod->config_path_env
                                                       : CONFIG_DEFAULT_PATH;
        struct config *cfg;
        if (config_load(path, &cfg, err) < 0)
            return error_wrap(err, "configuration");
        pthread_mutex_lock(&pod->lock);
        if (pod->cfg) { /* a concurrent Create won */
            config_free(cfg);
        } else {
            pod->cfg = cfg;
            pod->config_path = xstrdup(path);
            if (cfg->runtime.debug)
                log_set_level(LOG_LEVEL_DEBUG);
            log_info("configuration %s loaded", path);
        }
        pthread_mutex_unlock(&pod->lock);
    }
    remember_config_path(bundle, pod->config_path);
    return 0;
}

struct task *pod_find_task(struct pod *pod, const char *id, struct error *err)
{
    for (struct task *t = pod->tasks; t; t = t->next)
        if (!strcmp(t->id, id) && !t->deleting)
            return t;
    error_set(err, GRPC_NOT_FOUND, "task %s not found", id);
    return NULL;
}

struct process *task_find_process(struct task *t, const char *exec_id, struct error *err)
{
    if (!exec_id || !*exec_id)
        return &t->init;
    for (struct process *p = t->execs; p; p = p->next)
        if (!strcmp(p->exec_id, exec_id))
            return p;
    error_set(err, GRPC_NOT_FOUND, "exec %s of task %s not found", exec_id, t->id);
    return NULL;
}

int task_get(struct pod *pod, const char *id, const char *exec_id, struct task **t,
             struct process **p, struct error *err)
{
    pthread_mutex_lock(&pod->lock);
    *t = pod_find_task(pod, id, err);
    struct process *found = *t ? task_find_process(*t, exec_id, err) : NULL;
    if (found) {
        (*t)->users++;
        if (p)
            *p = found;
    }
    pthread_mutex_unlock(&pod->lock);
    return found ? 0 : -1;
}

void task_put(struct task *t)
{
    struct pod *pod = t->pod;
    pthread_mutex_lock(&pod->lock);
    t->users--;
    pthread_cond_broadcast(&pod->cond);
    pthread_mutex_unlock(&pod->lock);
}

struct oom_watch {
    struct pod *pod;
    struct agent *agent;
};

static void *oom_watcher_main(void *arg)
{
    struct oom_watch *w = arg;
    for (;;) {
        _cleanup_(error_clear) struct error err = ERROR_INIT;
        _cleanup_free_ char *cid = NULL;
        if (agent_get_oom_event(w->agent, &cid, &err) == 0) {
            log_warn("container %s: the guest's OOM killer struck", cid);
            Containerd__Events__TaskOOM ev = CONTAINERD__EVENTS__TASK_OOM__INIT;
            ev.container_id = cid;
            pod_publish(w->pod, "/tasks/oom", &ev.base);
            continue;
        }
        if (err.code == GRPC_UNAVAILABLE || err.code == GRPC_UNIMPLEMENTED) {
            log_debug("OOM events end: %s", err.msg);
            break;
        }
        log_warn("%s; retrying in 1 s", err.msg);
        sleep(1);
    }
    free(w);
    return NULL;
}

void pod_watch_oom(struct pod *pod, struct agent *agent)
{
    struct oom_watch *w = xcalloc(1, sizeof(*w));
    w->pod = pod;
    w->agent = agent;
    if (thread_start(&pod->oom_watcher, 64 * 1024, oom_watcher_main, w) == 0)
        pod->oom_watcher_running = true;
    else
        free(w);
}

void pod_unwatch_oom(struct pod *pod)
{
    if (pod->oom_watcher_running)
        pthread_join(pod->oom_watcher, NULL);
    pod->oom_watcher_running = false;
}

bool pod_exit_if_idle(struct pod *pod)
{
    if (!pod->shutdown_asked || pod->tasks || pod->creating)
        return false;
    if (!pod->shutdown) {
        pod->shutdown = true;
        if (pod->on_shutdown)
            pod->on_shutdown(pod->user);
    }
    return true;
}
