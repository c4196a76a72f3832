/* shim/stdio-relay: a process's stdio, containerd's side (FIFOs, file://, binary:// loggers;
 * containerd.md §4) relayed to and from the agent's ReadStdout / ReadStderr / WriteStdin (kata.md
 * §1.4). The paths are parsed in stdio-uri.c, loggers run by stdio-logger.c, and the copiers live
 * in stdio-relay.c.
 *
 * Opened at Create / Exec, so a bad path fails the call; relayed from Start on one thread per
 * stream (small stacks). Output copiers end at the agent's end of stream (an empty read) or when
 * the agent connection closes; the process's exit is reported only after they have ended, so no
 * output is lost. With a terminal, stdout carries the pty and there is no stderr.
 *
 * Paths: "" = none; "/path" or "fifo:///path" = an existing FIFO; "file:///path" = append to the
 * file (directories 0755, file 0644; stdout and stderr naming the same file share one open file);
 * "binary:///path?k=v&k2=v2" or "binary-v2://..." = a logging binary run as `path k v k2 v2` with
 * CONTAINER_ID and CONTAINER_NAMESPACE in its environment and fds 3 / 4 / 5 = stdout / stderr /
 * ready (stdout and stderr, when both given, must name the same logger). stdin is a FIFO or "".
 *
 * Output without a host side ("") is still read from the agent and discarded, so the guest
 * process never blocks on a full pipe (runc gives it /dev/null); with a terminal, stderr is not
 * read at all. Output FIFOs are held open for reading too (as the runc shim does): a reader
 * that goes away (containerd restarting) never causes EPIPE and finds what was written when it
 * comes back. The write end closes as soon as the guest's stream ends, so the reader sees end of
 * file then (containerd's ExecSync and attach wait for it), not at Delete. Output for a host side
 * that stays full longer than the stall limit, or fails (a logger that died), is discarded until it
 * takes data again, for the same reason.
 *
 * Thread safety: stdio_wait_output and stdio_close_stdin may be called from any thread while the
 * relay runs; stdio_free must not race with them. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "lib/error.h"
#include "shim/agent.h"

struct stdio;

struct stdio_config {
    const char *stdin_path;  /* "" = none */
    const char *stdout_path; /* a FIFO path, file:///path, binary:///path?k=v, or "" */
    const char *stderr_path;
    bool terminal;
    const char *container_id; /* for the agent calls and a binary logger's CONTAINER_ID */
    const char *exec_id;      /* "" for the container's init */
    const char *namespace_;   /* a binary logger's CONTAINER_NAMESPACE */
};

/* Opens containerd's side. For binary://, starts the logger and waits for it to be ready (a byte
 * or, for binary:// only, end of file on its fd 5). Errors name the stream and the path:
 * INVALID_ARGUMENT for a malformed path, the errno's code for one that cannot be opened. */
int stdio_open(const struct stdio_config *cfg, struct stdio **out, struct error *err);

/* Starts the relay threads against a (the agent outlives the stdio). Once only. */
int stdio_start(struct stdio *s, struct agent *a, struct error *err);

/* Blocks until both output copiers have ended (at once if never started). */
void stdio_wait_output(struct stdio *s);

/* CloseIO{stdin}: lets the stdin copier forward what the FIFO already holds, then CloseStdin in
 * the guest (once: not again if stdin's end of file already did it). Returns CloseStdin's error.
 * Without a stdin it does nothing; before stdio_start the close happens when the relay starts.
 * If the copier is held in a WriteStdin (a process not reading its stdin) for longer than a
 * couple of seconds, CloseStdin is sent from the calling thread instead. */
int stdio_close_stdin(struct stdio *s, struct error *err);

/* Stops the copiers (one waiting on the host side is woken), closes every fd, reaps a binary logger
 * (closing its pipes lets it finish; SIGTERM, then SIGKILL, if it does not exit in time), frees.
 * NULL is fine.
 * A copier inside an agent call (the ReadStdout / ReadStderr long polls, a WriteStdin to a process
 * not reading) ends only when the agent answers or the connection closes, and stdio_free joins
 * it: call it once the output has ended (stdio_wait_output returned) or after agent_close. */
void stdio_free(struct stdio *s);

/* Limits, process-wide; mostly for tests. A value <= 0 restores the default. */
struct stdio_limits {
    int64_t output_stall_ms; /* a full output FIFO / logger pipe is waited for this long, then
                                written around (discarded) until it drains; default 10 s */
    int64_t logger_ready_ms; /* a binary logger must be ready within this; default 10 s */
    int64_t logger_exit_ms;  /* after its pipes close, a logger gets this long to exit, then the
                                same again after SIGTERM before SIGKILL; default 5 s */
};
void stdio_set_limits(const struct stdio_limits *l);
