/* Small file-system helpers the shim, cocoonctl and the tests share. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#include "lib/error.h"

/* Removes path and everything under it, without following symlinks or crossing mount points.
 * A path that does not exist is success. */
int fs_remove_tree(const char *path, struct error *err);

/* Reads fd to its end, at most max bytes, into *out (malloc'd, NUL-terminated, not counted in
 * *len). A closed fd (EBADF) reads as empty. `what` names the input in errors; more than max
 * bytes is GRPC_INVALID_ARGUMENT "<what> is larger than <max> bytes". */
int fs_read_fd(int fd, size_t max, const char *what, char **out, size_t *len, struct error *err);

/* Reads a regular file whole (see fs_read_fd). Anything else at path (a FIFO, a directory) is
 * GRPC_INVALID_ARGUMENT and never blocks; a missing file is GRPC_NOT_FOUND. The file is read to
 * its end rather than to its size, which may change under us. */
int fs_read_file(const char *path, size_t max, char **out, size_t *len, struct error *err);

/* Writes all of data, retrying short writes and EINTR. Returns 0, or -1 with errno set. */
int fs_write_all(int fd, const void *data, size_t len);

/* Creates path with mode, and every missing directory above it with parent_mode. An existing
 * directory is success. */
int fs_mkdir_p(const char *path, mode_t mode, mode_t parent_mode, struct error *err);

/* Replaces path with data so that no reader ever sees half of it: a temporary file in the same
 * directory, given `mode` (not masked by the umask) and renamed over path. No fsync: callers
 * write to /run, which does not outlive the host. */
int fs_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                         struct error *err);
