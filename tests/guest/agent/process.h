/* Starting container processes: the init process of a container (new mount and pid
 * namespaces, the sandbox's UTS and IPC namespaces, its rootfs, stopped before exec until
 * StartContainer) and exec'd processes (entering the init's namespaces and root). The OCI
 * process's user, rlimits, NoNewPrivileges and capabilities are applied. */
#pragma once

#include <stdbool.h>

#include "agent.h"
#include "kata/agent.pb-c.h"

/* Forks c's init process p (already linked into c, which is linked into the agent) from spec
 * (checked by the caller: it has a process and a root) into pid namespace pidns_fd (taken
 * over), or a new one (-1) whose pid 1 it is; returns once the child has set up its root and
 * waits for process_start. It joins the sandbox's UTS and IPC namespaces, or gets new ones
 * before CreateSandbox. c->pause runs our own binary with --pause and no chroot. */
int process_create_init(struct container *c, struct proc *p, const Grpc__Spec *spec, int pidns_fd,
                        struct error *err);

/* Lets the init process exec; returns once it has (or failed to). */
int process_start(struct proc *p, struct error *err);

/* Forks p (linked into its container) running `proc` inside the namespaces (pid included) and
 * root of the container's init process init_pid; returns once it has exec'd. Without
 * capabilities of its own it gets ctr_caps. */
int process_exec(struct proc *p, pid_t init_pid, const char *cgroup, const Grpc__Process *proc,
                 const struct caps *ctr_caps, struct error *err);

/* rustjail's selinux::is_enabled: selinuxfs in /proc/mounts. */
bool process_selinux_enabled(void);

/* kata-agent refuses a process SELinux label when the guest kernel has no SELinux. */
int process_check_selinux(const Grpc__Process *proc, struct error *err);
