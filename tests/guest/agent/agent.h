/* cocoon-test-agent: the agent's state (containers and their processes) and the reaper.
 *
 * One mutex (agent.lock) guards everything here; it is never held while blocking. A process is
 * reference-counted so that a handler blocked in ReadStdout or WriteStdin keeps its fds alive
 * while RemoveContainer unlinks it; the last proc_put closes them. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/error.h"

/* Which kata-agent's errors to answer with where a process or container is not found
 * (--kata-errors): Kata 3.25 (commit db0991280889, in every 4.x too) made them typed. */
enum kata_errors {
    KATA_ERRORS_3_24, /* anyhow texts, all INTERNAL: "Invalid exec id", ... */
    KATA_ERRORS_3_25, /* SandboxError: NOT_FOUND "InvalidExecId", ... */
};

struct agent_config {
    const char *rootfs;        /* busybox rootfs for containers without a pulled image */
    const char *state_dir;     /* per-container state; also holds initdata.digest */
    const char *self_exe;      /* our own binary, re-executed as the pause process */
    const char *loopback_host; /* what a 127.0.0.1/localhost registry host becomes; NULL = kept */
    enum kata_errors kata_errors;
};

struct container;

/* A process's capability sets as bit masks (bit n = capability n), from the OCI process. */
struct caps {
    bool present; /* the process had a capabilities object (an exec without one inherits) */
    uint64_t bounding, effective, inheritable, permitted, ambient;
};

struct proc {
    char *exec_id;
    struct container *ctr; /* not owning; valid while the proc is linked */
    pid_t pid;
    bool exited;
    int status; /* exit code, or 128 + signal */
    bool tty;
    bool unlinked; /* removed from its container; fds close with the last reference */
    bool waited;   /* a WaitProcess returned: no longer found by its exec id (Kata's rule) */
    int stdin_fd;  /* pipe write end or pty master; -1 once closed */
    int out_fd[2]; /* stdout, stderr read ends (tty: the master and -1) */
    int wake_fd;   /* eventfd written on exit and unlink: wakes polling readers and writers */
    int start_fd;  /* init before StartContainer: write end of the child's start pipe */
    int status_fd; /* read end of the child's status pipe until it has exec'd */
    pthread_mutex_t stdin_lock;
    unsigned refs;
    struct proc *next;
};

struct container {
    char *id;
    char *rootfs; /* directory the container's root is bound from */
    char *pulled; /* an image pulled for it (removed with it), or NULL */
    char *cgroup; /* cgroup2 directory, or NULL */
    bool pause;   /* the sandbox's pause process */
    bool frozen;
    struct caps caps;  /* the OCI process's, inherited by execs that bring none */
    char *term_path;   /* annotation io.kubernetes.container.terminationMessagePath, or NULL */
    char *term_source; /* source of the spec mount at term_path, or NULL */
    char **storages;   /* mount points of the storages it holds a reference on */
    size_t n_storages;
    struct proc *procs; /* init first (it stays there, hidden, once waited) */
    struct container *next;
};

/* A storage (ephemeral or local) set up once per mount point, with the number of users. */
struct storage_ref {
    char *mount_point;
    unsigned mounts; /* tmpfs mounts of ours stacked there (ephemeral) */
    unsigned refs;   /* 0: forgotten; the next storage there is set up again */
    struct storage_ref *next;
};

/* The policy stand-in (policy.c). */
struct policy {
    bool active;       /* a SetPolicy with a non-empty policy was received */
    bool exec_blocked; /* `default ExecProcessRequest := false` */
    bool diag_allowed; /* `default GetDiagnosticDataRequest := true` */
    bool set_allowed;  /* `default SetPolicyRequest := true` */
};

struct agent {
    pthread_mutex_t lock;
    pthread_cond_t exited; /* broadcast whenever a process exits */
    struct agent_config cfg;
    struct container *containers;
    char *hostname;
    char *sandbox_id;
    /* Namespaces every container shares after CreateSandbox (-1 before): UTS (with the
     * sandbox's hostname) and IPC. */
    int shared_uts_fd, shared_ipc_fd;
    /* The pid namespace of the first container created (the pause), which containers created
     * with sandbox_pidns join; -1 until then. */
    int pidns_anchor_fd;
    bool resolv_bound; /* /etc/resolv.conf has the sandbox's DNS bound over it */
    struct storage_ref *storages;
    struct policy policy;
    bool stopping;
};

extern struct agent agent;

void agent_init(const struct agent_config *cfg);
void agent_free(void);

/* Starts the SIGCHLD reaper thread (SIGCHLD must be blocked in every thread). */
int reaper_start(struct error *err);
void reaper_stop(void);

/* Lookups; call with agent.lock held. */
struct container *container_find_locked(const char *id);
struct proc *proc_find_locked(struct container *c, const char *exec_id);

/* The kata-agent handler a lookup stands in for: each answers a failed lookup its own way. */
enum lookup_by {
    LOOKUP_SANDBOX_ERR, /* SignalProcess, WaitProcess, ReadStdout/ReadStderr: since 3.25
                         * sandbox_err_to_ttrpc; before, anyhow (INTERNAL) */
    LOOKUP_WRITE_STDIN, /* the lookup's error through anyhow (INTERNAL), in every version */
    LOOKUP_CLOSE_STDIN, /* since 3.25 sandbox_err_to_ttrpc; before, INVALID_ARGUMENT */
    LOOKUP_TTY_RESIZE,  /* since 3.25 sandbox_err_to_ttrpc; before, UNAVAILABLE */
    LOOKUP_START,       /* StartContainer: get_container, anyhow "Invalid container id" */
};

/* Looks up (container, exec_id) and takes a reference; exec_id "" is the init process. A
 * process that was waited for is not found. The error is kata-agent's for the handler `by` in
 * the --kata-errors version (state.c lists them). */
struct proc *proc_get(const char *cid, const char *exec_id, enum lookup_by by, struct error *err);

/* kata-agent's answer where it looks a container up by id and finds none (anyhow, INTERNAL
 * "Invalid container id", in every version): RemoveContainer, StartContainer, a WaitProcess
 * whose container went. Returns -1. */
int kata_invalid_container(struct error *err);
void proc_put(struct proc *p);

struct proc *proc_new(const char *exec_id);
/* Unlinks p from its container and wakes everything waiting on it; agent.lock held. */
void proc_unlink_locked(struct proc *p);
void proc_wake(struct proc *p);

/* Sends sig to every live process of c; agent.lock held. */
void container_signal_all_locked(struct container *c, int sig);

/* Frees c's fields and c (no processes, no state on disk): for a container never linked. */
void container_free_fields(struct container *c);

/* Kills c's processes, waits up to timeout_s for them, then removes its state and unlinks it. */
int container_remove(const char *id, unsigned timeout_s, struct error *err);

/* Waits until p has exited (or the agent stops); returns its status or -1 with err. */
int proc_wait(struct proc *p, struct error *err);

/* After a WaitProcess: p is no longer found by its exec id, so the id may be used again. An
 * exec'd process leaves its container; the init stays (hidden) for the container's sake. */
void proc_forget(struct proc *p);

/* For handlers: one debug line per call, an error line for failures. Returns r. */
struct ttrpc_call;
void rpc_log(const struct ttrpc_call *call, const char *cid, const char *exec_id);
int rpc_done(const struct ttrpc_call *call, int r, struct error *err);
