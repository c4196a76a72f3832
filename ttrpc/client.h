/* ttrpc client: thread-safe unary calls over one connected fd.
 *
 * Any number of threads may call at once. There is no dedicated reader thread: one waiting
 * caller at a time holds the reader role, reads frames and hands each response to the caller
 * waiting on its stream id; when its own response arrives it passes the role on. A lone caller
 * thus reads its own response without a thread handoff. Every call has a deadline (or none for
 * long polls such as WaitProcess); a peer that disconnects fails every pending call at once
 * with UNAVAILABLE. */
#pragma once

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"

struct ttrpc_client;

struct ttrpc_metadata {
    const char *key;
    const char *value;
};

/* Takes ownership of fd, a connected stream socket (or a virtio-serial port). */
struct ttrpc_client *ttrpc_client_new(int fd);

/* Calls service/method with `req`. On success returns 0 and, when resp_desc is given, the
 * unpacked response in *resp (free with protobuf_c_message_free_unpacked). timeout_ms <= 0
 * means no deadline. On failure returns -1 with err holding the status the server sent (code
 * and message) or a transport error: DEADLINE_EXCEEDED, UNAVAILABLE (connection closed),
 * RESOURCE_EXHAUSTED (a message over 4 MiB). */
int ttrpc_client_call(struct ttrpc_client *c, const char *service, const char *method,
                      const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
                      ProtobufCMessage **resp, int64_t timeout_ms, const struct ttrpc_metadata *md,
                      size_t n_md, struct error *err);

/* Shuts the connection: pending and later calls fail with UNAVAILABLE. Safe from any thread. */
void ttrpc_client_close(struct ttrpc_client *c);

/* True once the connection is closed (by us, by the peer, or by an I/O error). */
bool ttrpc_client_closed(struct ttrpc_client *c);

/* Closes, waits for calls still returning, and frees. */
void ttrpc_client_free(struct ttrpc_client *c);
