/* Small file-system helpers for the agent. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/error.h"

/* mkdir -p with `mode` for the directories it creates. */
int mkdir_p(const char *path, mode_t mode, struct error *err);

/* rm -rf that never follows symlinks nor crosses into other mounts. Missing path is fine. */
int rm_rf(const char *path, struct error *err);

/* Writes `s` to an existing file (cgroup knobs). */
int write_string(const char *path, const char *s, struct error *err);

/* Reads a whole small file into a NUL-terminated string (at most max bytes). */
char *read_small_file(const char *path, size_t max, size_t *len, struct error *err);

/* Sleeps ms milliseconds. */
void sleep_ms(long ms);

/* --- paths resolved inside a root directory (openat2 RESOLVE_IN_ROOT: "..", absolute symlinks
 * and magic links cannot lead out of it) --- */

/* openat2(root, path, flags) with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS. */
int openat2_in_root(int root, const char *path, int flags);

/* Makes each missing directory of the relative `path` (parent first, with mode) and opens the
 * last one with open_flags (O_DIRECTORY is added). Returns the fd, or -1 with errno. */
int mkdirs_in_root(int root, const char *path, mode_t mode, int open_flags);

/* Removes dir_fd/name whatever it is (a directory with its contents), never following a
 * symlink. Missing is fine. Returns 0, or -1 with errno. */
int remove_at(int dir_fd, const char *name);

/* Removes everything in the directory dir_fd (which may be O_PATH). Returns 0, or -1. */
int clear_dir(int dir_fd);

/* True when path has a ".." component ("(^|/)\.\.($|/)"). */
bool has_dotdot(const char *path);

/* A copy of the len bytes at s that is valid UTF-8: each invalid sequence becomes U+FFFD
 * (Rust's from_utf8_lossy). */
char *utf8_lossy(const uint8_t *s, size_t len);
