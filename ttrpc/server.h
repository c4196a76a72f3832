/* ttrpc server: unary calls, dispatched concurrently.
 *
 * Threads: each connection always has exactly one thread in the "reader" role. When it has read a
 * request, it hands the reader role to a pooled worker and runs the handler itself, so a handler
 * that blocks (containerd calls Wait before Start on the same connection) never delays the next
 * request, and the request path pays no thread handoff. The pool grows while every worker is
 * busy and idle workers exit after a while. Responses are written under a per-connection lock. */
#pragma once

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"

struct ttrpc_server;

/* What a handler knows of its call. */
struct ttrpc_call {
    const char *service;
    const char *method;
    uint32_t stream_id;
    int64_t deadline_ns; /* CLOCK_MONOTONIC, from the request's timeout_nano; 0 = none */
    const void *request_;
};

/* The value of metadata `key` sent with the call, or NULL. */
const char *ttrpc_call_metadata(const struct ttrpc_call *call, const char *key);

struct ttrpc_reply {
    uint8_t *data;
    size_t len;
};

/* Packs msg as the call's response payload (replacing any earlier one). */
void ttrpc_reply_set(struct ttrpc_reply *reply, const ProtobufCMessage *msg);

/* Returns 0 with the response in *reply (left empty for google.protobuf.Empty), or < 0 with err
 * set, which becomes the call's status. `req` is the unpacked request, owned by the server. */
typedef int (*ttrpc_handler_fn)(void *user, const struct ttrpc_call *call,
                                const ProtobufCMessage *req, struct ttrpc_reply *reply,
                                struct error *err);

struct ttrpc_method {
    const char *name;
    const ProtobufCMessageDescriptor *request;
    ttrpc_handler_fn handler;
};

struct ttrpc_server_options {
    bool require_same_uid;    /* SO_PEERCRED: refuse peers whose uid or gid differ from ours */
    size_t thread_stack_size; /* 0 = 512 KiB */
    unsigned max_threads;     /* 0 = 1024; beyond it, reads wait for a free worker */
    unsigned idle_timeout_ms; /* 0 = 10 s; idle workers above one exit after this */
    /* Called (from a server thread) after a connection has gone away. May be NULL. */
    void (*connection_closed)(void *user);
    void *user;
};

struct ttrpc_server *ttrpc_server_new(const struct ttrpc_server_options *opts);

/* Registers a service ("containerd.task.v2.Task"); `methods` must outlive the server. */
int ttrpc_server_register(struct ttrpc_server *srv, const char *service,
                          const struct ttrpc_method *methods, size_t n_methods, void *user,
                          struct error *err);

/* Accepts connections on listen_fd from a thread of its own. The server owns listen_fd. */
int ttrpc_server_listen(struct ttrpc_server *srv, int listen_fd, struct error *err);

/* Serves an already connected fd (a socket or a virtio-serial port); the server owns it. */
void ttrpc_server_add_connection(struct ttrpc_server *srv, int fd);

/* Number of connections currently open. */
unsigned ttrpc_server_connections(struct ttrpc_server *srv);

/* Stops accepting, closes every connection, waits for running handlers, frees everything. */
void ttrpc_server_free(struct ttrpc_server *srv);
