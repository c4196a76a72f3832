/* What the shim binary does for containerd (containerd.md §3): the short-lived actions `start`,
 * `delete` and -info, and where the daemon binary is.
 *
 * Two binaries share the work so that the frequent actions stay light. The front,
 * containerd-shim-cocoon-v2 (the only name containerd knows), answers -v, -info, `start` and the
 * `delete` of a container; it loads neither libvirt nor libcrypto. The daemon binary,
 * cocoon-shimd, serves the pod (shim/daemon.h) and does the `delete` that needs libvirt (a
 * sandbox's: its VM). `start` and `delete` write only their answer on stdout (containerd reads
 * stdout and stderr together at `start`); they return the process exit code. */
#pragma once

#include <sys/types.h>

#include "shim/flags.h"

#define SHIM_DAEMON_NAME "cocoon-shimd"
#ifndef SHIM_DAEMON_INSTALLED
#define SHIM_DAEMON_INSTALLED "/usr/libexec/cocoon/" SHIM_DAEMON_NAME
#endif

/* The daemon binary: cocoon-shimd beside the front's own file (symlinks resolved), else the
 * installed one. Caller frees. */
char *shim_daemon_path(void);

/* `start` (cwd or -bundle = the bundle): groups the task by its config.json annotations (a pod's
 * containers share the sandbox's shim), reuses a live socket, else listens, spawns the daemon
 * (fd 3 = listener, $COCOON_CONFIG = the config path from stdin, if any) and writes `address` and
 * `shim.pid`. The daemon's argv[0] is argv0, the front's. Prints only the address on stdout; on
 * failure removes what it made, says why on stderr and returns 1. */
int shim_cmd_start(const struct shim_flags *f, char *argv0);

/* The front's `delete`: a container of a pod owns nothing but its bundle files, which it
 * removes before answering; for anything else (a sandbox, a lone container, a bundle without a
 * readable config.json) it executes the daemon binary's `delete` with the same arguments
 * (argv as main got it). */
int shim_cmd_delete_front(const struct shim_flags *f, char **argv);

/* The daemon binary's `delete` (the bundle may be half gone): for a sandbox, kills the daemon,
 * destroys the domain, removes the sandbox's state dir and dead socket; for any task, the bundle
 * files. Prints only a DeleteResponse{pid from shim.pid, 137, now} on stdout, warnings on
 * stderr; succeeds again when run twice. */
int shim_cmd_delete(const struct shim_flags *f);

/* DeleteResponse{pid, 137 (128 + SIGKILL, as runc and Kata report), now} on stdout. Returns 0,
 * or -1 with errno set. */
int shim_write_delete_response(pid_t pid);

/* -info: prints a serialized containerd.types.RuntimeInfo. */
int shim_cmd_info(const struct shim_flags *f);
