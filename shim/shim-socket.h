/* The unix socket a pod's shim daemon serves, shared by `start`, `delete` and the daemon. */
#pragma once

#include <stdbool.h>

#include "lib/error.h"

/* Where `start` puts the sockets (containerd's own choice, containerd.md §3.3). The environment
 * variable replaces it, for tests and for users without /run/containerd: `start` and `delete`
 * must see the same value. */
#define SHIM_SOCKET_DIR_DEFAULT "/run/containerd/s"
#define SHIM_SOCKET_DIR_ENV "COCOON_SOCKET_DIR"

/* $COCOON_SOCKET_DIR if set and not empty, else SHIM_SOCKET_DIR_DEFAULT. */
const char *shim_socket_dir(void);

/* "unix:///run/containerd/s/" + hex(sha256(<address>/<namespace>/<group>)), the path cleaned as
 * Go's filepath.Join does; socket_dir replaces /run/containerd/s when not NULL. Caller frees. */
char *shim_socket_address(const char *socket_dir, const char *grpc_address, const char *ns,
                          const char *group);

/* Whether a shim answers at address (a connect within 100 ms, as runc's shim checks). */
bool shim_socket_is_live(const char *address);

/* Opens dir (created 0700 first when `create`, missing parents 0711) and takes an exclusive
 * flock on it; the lock goes with the returned fd. */
int shim_socket_dir_lock(const char *dir, bool create, struct error *err);
