/* Capabilities of container processes, applied with prctl and capset (no libcap in the guest),
 * in rustjail's order: the bounding set is restricted, then effective, permitted and
 * inheritable are set, then ambient (whose failures are ignored, as rustjail's are). */
#pragma once

#include <stddef.h>

#include "agent.h"
#include "kata/oci.pb-c.h"

/* The OCI process's capabilities as masks; NULL gives present = false. Unknown names are
 * skipped with a warning (rustjail logs "X is not a cap"). In the agent. */
void caps_from_spec(const Grpc__LinuxCapabilities *c, struct caps *out);

/* In the child, after setresuid to a non-root user with PR_SET_KEEPCAPS: effective = permitted
 * again (rustjail's reset_effective), so the rest of the set-up keeps its privileges. */
int caps_reset_effective(void);

/* In the child, last before exec. Returns 0, or -1 with a message in msg. */
int caps_apply(const struct caps *c, char *msg, size_t msg_len);
