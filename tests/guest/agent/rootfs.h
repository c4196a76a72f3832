/* A container's root: the mounts it gets (planned in the agent, where allocating is safe) and
 * entering it (in the forked child, which only makes system calls). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "kata/oci.pb-c.h"
#include "lib/error.h"

struct mount_op {
    char *source;
    char *target; /* absolute, inside the rootfs as the agent sees it */
    char *fstype;
    char *data;
    unsigned long flags;
    unsigned long propagation;
    bool bind;
    bool populate_dev; /* a fresh /dev: bind the basic device nodes into it */
};

struct mount_plan {
    struct mount_op *ops;
    size_t n;
};

/* Spec mounts in order, preceded by /proc, /dev (the guest's, bound) and /sys (read-only) for
 * whichever of them the spec does not mount itself. Fails as kata-agent would on a mount
 * destination that is not absolute or has "..", and on a bind source that does not exist. */
int mount_plan_build(struct mount_plan *plan, const char *rootfs, const Grpc__Spec *spec,
                     struct error *err);
void mount_plan_free(struct mount_plan *plan);

/* In the child, in its new mount namespace: makes every mount private, binds rootfs onto
 * itself, applies the plan (a mount that fails despite the checks of mount_plan_build is a
 * warning on the console: a cgroup v1 mount on a cgroup2 guest, say), and makes rootfs the root.
 * Returns 0, or -1 with a message in msg. */
int rootfs_enter(const char *rootfs, bool readonly, const struct mount_plan *plan, char *msg,
                 size_t msg_len);
