/* Small file-system helpers for the agent. */
#pragma once

#include <stddef.h>
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
