/* What the shim binary does for containerd (containerd.md §3): the short-lived actions `start`,
 * `delete` and -info, and where cocoon's other programs are.
 *
 * Three programs share the work, so that what runs often or long stays light:
 * containerd-shim-cocoon-v2 (the only name containerd knows) answers -v, -info, `start` and
 * `delete`; cocoon-shimd is the daemon serving a pod (shim/daemon.h), spawned by `start`; and
 * cocoon-vm (vmm/vm-helper.h) is the one that loads libvirt, run for a moment to start or
 * destroy a domain. `start` and `delete` write only their answer on stdout (containerd reads
 * stdout and stderr together at `start`); they return the process exit code. */
#pragma once

#include <sys/types.h>

#include "shim/flags.h"

#define SHIM_DAEMON_NAME "cocoon-shimd"
#ifndef SHIM_LIBEXEC_DIR
#define SHIM_LIBEXEC_DIR "/usr/libexec/cocoon"
#endif

/* A program of cocoon's (SHIM_DAEMON_NAME, VM_HELPER_NAME): the one beside this process's own
 * file (symlinks resolved), else the installed one in <libexecdir>/cocoon. Caller frees. */
char *shim_libexec_path(const char *name);

/* `start` (cwd or -bundle = the bundle): groups the task by its config.json annotations (a pod's
 * containers share the sandbox's shim), reuses a live socket, else listens, spawns the daemon
 * (fd 3 = listener, $COCOON_CONFIG = the config path from stdin, if any) and writes `address` and
 * `shim.pid`. The daemon's argv[0] is argv0, the front's. Prints only the address on stdout; on
 * failure removes what it made, says why on stderr and returns 1. */
int shim_cmd_start(const struct shim_flags *f, char *argv0);

/* `delete` (the bundle may be half gone): for a sandbox (its config.json says so, or without
 * one, a state directory or a domain under its id), kills the daemon, destroys the domain,
 * removes the sandbox's state dir and dead socket; for any task, the bundle files. Prints only a
 * DeleteResponse{pid from shim.pid, 137, now} on stdout, warnings on stderr; succeeds again when
 * run twice. */
int shim_cmd_delete(const struct shim_flags *f);

/* DeleteResponse{pid, 137 (128 + SIGKILL, as runc and Kata report), now} on stdout. Returns 0,
 * or -1 with errno set. */
int shim_write_delete_response(pid_t pid);

/* -info: prints a serialized containerd.types.RuntimeInfo. */
int shim_cmd_info(const struct shim_flags *f);
