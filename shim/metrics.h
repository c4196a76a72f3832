/* The agent's StatsContainerResponse as containerd's cgroups metrics (kata.md §1.6): v1 or v2
 * by the host's cgroup version, packed in a google.protobuf.Any whose type URL is
 * io.containerd.cgroups.v1.Metrics or io.containerd.cgroups.v2.Metrics (bare names, as
 * containerd's typeurl writes them). */
#pragma once

#include <stdbool.h>

#include "google/protobuf/any.pb-c.h"
#include "kata/agent.pb-c.h"
#include "lib/error.h"

/* True when /sys/fs/cgroup is a cgroup2 mount (unified hierarchy). */
bool metrics_host_cgroup_v2(void);

/* Initialises and fills *any (type_url and value malloc'd; free with metrics_any_free). stats
 * may be NULL or lack any sub-message: what the agent left out is left out of the Metrics. */
int metrics_to_any(const Grpc__StatsContainerResponse *stats, bool cgroup_v2,
                   Google__Protobuf__Any *any, struct error *err);
void metrics_any_free(Google__Protobuf__Any *any); /* members only */
