/* Starting container processes: the init process of a container (new mount, UTS and IPC
 * namespaces, its rootfs, stopped before exec until StartContainer) and exec'd processes
 * (entering the init's namespaces and root). */
#pragma once

#include <stdbool.h>

#include "agent.h"
#include "kata/agent.pb-c.h"

/* Forks c's init process p (already linked into c, which is linked into the agent) from spec;
 * returns once the child has set up its root and waits for process_start. c->pause runs our own
 * binary with --pause and no chroot. */
int process_create_init(struct container *c, struct proc *p, const Grpc__Spec *spec,
                        struct error *err);

/* Lets the init process exec; returns once it has (or failed to). */
int process_start(struct proc *p, struct error *err);

/* Forks p (linked into its container) running `proc` inside the namespaces and root of the
 * container's init process init_pid; returns once it has exec'd. */
int process_exec(struct proc *p, pid_t init_pid, const char *cgroup, const Grpc__Process *proc,
                 struct error *err);
