/* A process's stdio as the shim sees it: ReadStdout/ReadStderr read straight from the pipe (or
 * pty master), so the kernel's pipe buffer is the per-process buffer and a process that writes
 * faster than the shim reads is held back, as under the Kata agent. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "agent.h"

/* Reads at most len bytes of stream 0 (stdout) or 1 (stderr). Blocks until data, or EOF: the
 * writers closed the pipe, or the process has exited and nothing arrived for 500 ms (a
 * background child may hold the pipe open). Returns the byte count, 0 = EOF. */
ssize_t stdio_read(struct proc *p, int stream, uint8_t *buf, size_t len, struct error *err);

/* Writes all of data to stdin; empty data closes stdin (runtime-rs does so). */
ssize_t stdio_write(struct proc *p, const uint8_t *data, size_t len, struct error *err);

/* Pipes: closes the write end. A pty: sends VEOF (^D), as the master must stay open. */
int stdio_close_stdin(struct proc *p, struct error *err);

int stdio_resize(struct proc *p, unsigned rows, unsigned cols, struct error *err);
