/* cgroup v2 for containers: /sys/fs/cgroup/cocoon/<cid> when /sys/fs/cgroup is cgroup2 (the
 * guest's /init mounts it); without it every call degrades to "no cgroup" (NULL path). */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "kata/agent.pb-c.h"
#include "lib/error.h"

/* The container's cgroup directory (created, controllers enabled), or NULL without cgroup2. */
char *cgroup_create(const char *cid);
int cgroup_add_pid(const char *cg, pid_t pid, struct error *err);
void cgroup_remove(const char *cg);
int cgroup_freeze(const char *cg, bool frozen, struct error *err);
int cgroup_update(const char *cg, const Grpc__LinuxResources *res, struct error *err);

/* Fills stats from cg (NULL: leaves it empty). Free with cgroup_stats_free. */
Grpc__CgroupStats *cgroup_stats(const char *cg);
void cgroup_stats_free(Grpc__CgroupStats *s);
