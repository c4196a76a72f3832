/* Connecting to a ttrpc peer, and listening for them.
 *
 * Addresses:
 *   unix:///path  or  /path      a unix socket; one attempt
 *   vsock://CID:PORT             AF_VSOCK; retried until the deadline (the agent may not be up)
 *   hvsock:///path:PORT          hybrid vsock (Firecracker, Cloud Hypervisor): connect to the unix
 *                                socket, send "CONNECT PORT\n", expect a line starting "OK";
 *                                retried until the deadline
 *   virtio-serial:///path        the unix socket QEMU serves for a virtio-serial port: like unix,
 *                                but retried until the deadline while the socket is not there yet
 */
#pragma once

#include <stdint.h>

#include "lib/error.h"

/* Returns a connected, close-on-exec fd, or -1 with err set (DEADLINE_EXCEEDED when every
 * attempt until the deadline failed, INVALID_ARGUMENT for a malformed address). */
int ttrpc_dial(const char *address, int64_t timeout_ms, struct error *err);

/* Creates, binds and listens on a unix socket at path (mode 0600). Fails with ALREADY_EXISTS if
 * something is at path already. */
int ttrpc_listen_unix(const char *path, struct error *err);
