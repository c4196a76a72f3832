/* Storages of CreateSandbox and CreateContainer, as kata-agent's storage handlers treat them:
 * "ephemeral" (a tmpfs at mount_point), "local" (a directory at mount_point) and
 * "image_guest_pull" (the container's pulled root; rpc-container.c pulls it). Any other driver
 * fails the request. A mount point is set up once and counted: two containers of a pod sharing
 * an emptyDir both name it, and the second only takes a reference. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "kata/agent.pb-c.h"
#include "lib/error.h"

#define KATA_DIR "/run/kata-containers"
#define KATA_SANDBOX_DIR KATA_DIR "/sandbox"
#define KATA_SHARED_DIR KATA_DIR "/shared/containers"

/* Sets up st[0..n) (image_guest_pull only for a container: for_container) and appends the mount
 * point of each ephemeral or local storage to *refs (one reference each). On failure the
 * references taken so far are given back. */
int storage_add(Grpc__Storage *const *st, size_t n, bool for_container, char ***refs,
                size_t *n_refs, struct error *err);

/* Gives back references taken by storage_add; frees nothing of refs. A mount point whose last
 * reference goes is forgotten (its tmpfs stays mounted, as with Kata; a later storage at the same
 * mount point mounts a fresh one). */
void storage_release(char *const *refs, size_t n);

/* A new sandbox (or none): unmounts every tmpfs storage_add mounted and forgets them all. */
void storage_reset(void);
