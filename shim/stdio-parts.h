/* Private to shim/stdio-*.c: the paths containerd gives for a process's stdio (stdio-uri.c) and
 * the binary:// logger process (stdio-logger.c); stdio-relay.c opens them and runs the copiers.
 * See shim/stdio-relay.h for the behaviour. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/error.h"

enum stdio_kind { KIND_NONE, KIND_FIFO, KIND_FILE, KIND_BINARY, KIND_BINARY_V2 };

struct stdio_target {
    enum stdio_kind kind;
    char *path;
    char **args; /* KIND_BINARY*: k v k2 v2 ..., NULL-terminated */
};

/* "" (none), "/path" or fifo:// (a FIFO), file://, binary:// or binary-v2:// (a logger with its
 * query as arguments, %-decoded as Go's net/url does). `stream` ("stdout") starts the message of
 * a GRPC_INVALID_ARGUMENT error. */
int stdio_target_parse(const char *stream, const char *uri, struct stdio_target *t,
                       struct error *err);
void stdio_target_clear(struct stdio_target *t);

/* Runs the logger t names as `path k v k2 v2 ...` with CONTAINER_ID and CONTAINER_NAMESPACE in
 * its environment, fds 0-2 on /dev/null and fds 3 / 4 / 5 = the read ends of a stdout / stderr
 * pipe and the write end of a ready pipe. out_fds[i] gets the write end (non-blocking) of each
 * stream it serves (serves[i]), -1 for the others. Waits up to ready_ms for a byte, or for
 * binary:// also end of file, on the ready pipe. On failure nothing is left running. */
int stdio_logger_start(const struct stdio_target *t, const bool serves[2], const char *cid,
                       const char *ns, int64_t ready_ms, int out_fds[2], pid_t *pid,
                       struct error *err);

/* Reaps a logger whose pipes are closed: it exits at their end of file, else after exit_ms it
 * gets SIGTERM, after exit_ms more SIGKILL. at_once: SIGKILL straight away. */
void stdio_logger_reap(pid_t pid, bool at_once, int64_t exit_ms);
