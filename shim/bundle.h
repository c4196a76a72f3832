/* The bundle directory containerd makes for each task: its config.json, which decides the pod
 * the task belongs to, and the files the shim keeps there. `address` and `shim.pid` are
 * conventions containerd and Kata share; `cocoon-config` names the configuration the daemon
 * loaded, so that `delete`, run after a crash, reads the same one. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#include "annotations/pod.h"
#include "lib/error.h"

#define BUNDLE_ADDRESS_FILE "address"
#define BUNDLE_PID_FILE "shim.pid"
#define BUNDLE_CONFIG_FILE "cocoon-config"

/* Larger config.json files are refused (a real one is a few KiB). */
#define BUNDLE_MAX_CONFIG_JSON (16u << 20)

/* Reads <bundle>/config.json whole (NUL-terminated); caller frees. GRPC_NOT_FOUND if absent;
 * GRPC_INVALID_ARGUMENT if it is not a regular file or larger than BUNDLE_MAX_CONFIG_JSON.
 * Messages start "config.json: ". */
int bundle_read_config(const char *bundle, char **json, size_t *len, struct error *err);

/* The group a task's shim serves (kata.md §1.2): for a container of a pod its sandbox id, else
 * the task's own id (a sandbox, or a lone container that gets a VM of its own). Reads the
 * bundle's config.json (GRPC_NOT_FOUND without one). Caller frees *group. */
int bundle_group(const char *bundle, const char *id, char **group, enum pod_role *role,
                 struct error *err);

/* Writes <bundle>/<name> atomically (mode 0644). */
int bundle_write_file(const char *bundle, const char *name, const char *text, struct error *err);

/* <bundle>/<name> without its trailing newline, or NULL when it cannot be read. Caller frees. */
char *bundle_read_small_file(const char *bundle, const char *name);

/* The pid in <bundle>/shim.pid, or 0. */
pid_t bundle_read_pid(const char *bundle);

/* Removes address, shim.pid and cocoon-config; what cannot be removed is logged. */
void bundle_remove_files(const char *bundle);
