/* The daemon's state: one pod (the sandbox's VM and agent), its tasks (containers) and their
 * processes (each container's init and its execs), and the operations the task service drives.
 * Internal to shim/. The files use one another in one direction: task-service.c (the ttrpc
 * handlers) and task-create.c (Create) use task-state.c (the pod, lookups, configuration, OOM
 * events), which uses task-process.c (a process from start to exit, and the end of every process
 * when the VM goes).
 *
 * Locking: pod->lock guards every field below that changes after creation. It is never held
 * across an agent call or a libvirt call, so a slow guest never blocks State or Wait.
 * pod->cond is broadcast whenever a process exits or a task goes away. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "containerd/task/v2/shim.pb-c.h"
#include "containerd/types/task.pb-c.h"
#include "kata/oci.pb-c.h"
#include "lib/error.h"
#include "shim/config.h"
#include "shim/events.h"
#include "shim/guest-copy.h"
#include "shim/proto-helpers.h"
#include "shim/sandbox.h"
#include "shim/stdio-relay.h"

/* The exit status reported for processes whose VM died under them (containerd's own choice for
 * a task whose shim vanished). */
#define TASK_EXIT_VM_GONE 255

struct task;

struct process {
    struct task *task;
    char *exec_id;              /* "" for the container's init */
    struct stdio_config io_cfg; /* the strings are owned */
    struct stdio *io;
    Grpc__Process *spec;                 /* exec only: what ExecProcess sends */
    uint32_t console_rows, console_cols; /* exec only: its terminal's size at the start, or 0 */
    Containerd__V1__Types__Status status;
    bool starting;       /* a Start is under way (outside the lock) */
    bool started;        /* TaskStart / TaskExecStarted went out: TaskExit may follow */
    bool waiter_running; /* a thread waits for the exit; joined at delete */
    pthread_t waiter;
    uint32_t exit_status;
    struct timespec exited_at; /* CLOCK_REALTIME; zero until exited */
    bool exited;
    unsigned waits;       /* Wait handlers holding it: an exec's Delete frees it after them */
    struct process *next; /* the task's execs */
};

struct task {
    struct pod *pod;
    char *id;
    char *bundle;
    bool is_sandbox;       /* its Create started the VM; its exit ends it */
    unsigned users;        /* handlers using the task outside the lock (task_get) */
    bool deleting;         /* Delete is under way: lookups fail with NOT_FOUND */
    char *termination_log; /* host file the guest's termination message goes back to, or NULL */
    struct process init;
    struct process *execs;
    struct task *next;
};

struct pod {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    char *namespace_;
    char *config_path_env; /* $COCOON_CONFIG as `start` passed it, or NULL */
    struct config *cfg;    /* loaded at the first Create */
    char *config_path;
    struct publisher *pub;
    struct sandbox *sandbox;     /* NULL until the sandbox task's Create; after teardown */
    bool sandbox_starting;       /* a Create is booting the VM (the lock is not held for it) */
    bool force_guest_pull;       /* every container's image is pulled in the guest */
    char *sandbox_id;            /* the sandbox task's id, once its Create began */
    uint64_t shm_size;           /* the pod's guest /dev/shm (0: none), from the sandbox's spec */
    struct guest_watch *volumes; /* the pod's watched volumes; NULL until the first */
    bool vm_dead;                /* the VM stopped: every task has ended */
    bool oom_watcher_running;    /* a thread long-polls GetOOMEvent while the VM runs */
    pthread_t oom_watcher;
    struct task *tasks;
    unsigned creating;   /* Creates under way: their tasks are not in `tasks` yet */
    bool shutdown_asked; /* Shutdown came while a Create was under way */
    bool shutdown;       /* Shutdown asked with no task left: the daemon exits */
    void (*on_shutdown)(void *user);
    void *user;
};

struct pod *pod_new(const char *namespace_, struct publisher *pub, void (*on_shutdown)(void *user),
                    void *user);
/* Tears the VM down if still up and frees everything (the daemon is exiting). */
void pod_free(struct pod *pod);

/* Loads the configuration once (ConfigPath from Create's options, else $COCOON_CONFIG, else the
 * default path). Caller holds no lock. */
int pod_load_config(struct pod *pod, const char *config_path, const char *bundle,
                    struct error *err);

/* Lookups; the caller holds pod->lock. NOT_FOUND errors name the id. */
struct task *pod_find_task(struct pod *pod, const char *id, struct error *err);
struct process *task_find_process(struct task *t, const char *exec_id, struct error *err);
/* Finds the task and the process (exec_id "" = init) and pins the task so Delete waits until
 * task_put: for handlers that call the agent with them. Takes and releases pod->lock. */
int task_get(struct pod *pod, const char *id, const char *exec_id, struct task **t,
             struct process **p, struct error *err);
void task_put(struct task *t);

/* The pid containerd is told for every task: the hypervisor's (as Kata does). */
static inline uint32_t pod_pid(struct pod *pod)
{
    return pod->sandbox ? sandbox_pid(pod->sandbox) : 0;
}

/* Publishes an event (a non-blocking enqueue, so allowed under pod->lock, which keeps events
 * in the order of the state changes they report). */
static inline void pod_publish(struct pod *pod, const char *topic, const ProtobufCMessage *event)
{
    publisher_publish(pod->pub, topic, event);
}

/* Process lifecycle (task-process.c). process_start: StartContainer or ExecProcess, the stdio
 * relay, and the thread that waits for the exit; caller holds no lock. */
int process_start(struct pod *pod, struct process *p, struct error *err);
/* Records an exit (once), wakes waiters, publishes TaskExit if the process had started. Caller
 * holds pod->lock. */
void process_set_exited(struct pod *pod, struct process *p, uint32_t status);
/* Joins the waiter and frees the stdio and spec; the process must have exited. No lock held. */
void process_release(struct process *p);

/* Exits the daemon (once) if Shutdown was asked and no task is left or being created. Caller
 * holds pod->lock. Returns true if it did. */
bool pod_exit_if_idle(struct pod *pod);

/* Every process of the pod ends (the VM is gone); caller holds pod->lock. */
void pod_end_all(struct pod *pod);

/* Ends the pod's VM (DestroySandbox, domain destroyed) and with it every process, which
 * releases every Wait and long poll. No lock held. */
void pod_teardown_vm(struct pod *pod);

/* Ends the VM of a pod whose sandbox and volume watch the caller took out of it: the watch, the
 * VM, the OOM thread. The sandbox stays for the caller to free. No lock held. */
void pod_stop_vm(struct pod *pod, struct sandbox *sb, struct guest_watch *volumes);

/* Frees a task that is no longer in its pod's list, its exec'd processes with it. */
void task_free(struct task *t);

/* Starts the thread that turns the guest's OOM kills into TaskOOM events; it ends when the
 * agent connection closes (or at once if the agent does not implement GetOOMEvent). */
void pod_watch_oom(struct pod *pod, struct agent *agent);
/* Joins it; call after the VM was stopped. */
void pod_unwatch_oom(struct pod *pod);

/* Fills a new process (status CREATED) with owned copies of its stdio settings. */
void process_init(struct process *p, struct task *t, const char *exec_id, bool terminal,
                  const char *in, const char *out, const char *errp, const char *ns);

/* Create (task-create.c): the sandbox's VM or a container of the pod. */
int task_create(struct pod *pod, const Containerd__Task__V2__CreateTaskRequest *req,
                Containerd__Task__V2__CreateTaskResponse *resp, struct error *err);
