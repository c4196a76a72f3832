/* The shim binary's command line and the two short-lived actions containerd runs
 * (containerd.md §3): `start` (find or create the pod's shim daemon, print its address) and
 * `delete` (clean up after a dead shim, print a DeleteResponse), plus -v and -info. With no
 * action, the binary is the daemon: shim_serve() (shim/daemon.h). */
#pragma once

#include <stdbool.h>

#include "google/protobuf/any.pb-c.h"
#include "lib/error.h"

/* Go flag syntax: -flag value, -flag=value, --flag; booleans take no value. */
struct shim_flags {
    const char *namespace_;     /* -namespace */
    const char *id;             /* -id */
    const char *address;        /* -address: containerd's gRPC socket, a plain path */
    const char *publish_binary; /* -publish-binary */
    const char *bundle;         /* -bundle (delete); else the cwd */
    const char *socket;         /* -socket: serve this address instead of fd 3 */
    bool debug;                 /* -debug */
    bool version;               /* -v, -version */
    bool info;                  /* -info */
    const char *action;         /* "start", "delete", or NULL (the daemon) */
};

/* Files the shim keeps in a bundle. `address` and `shim.pid` are conventions containerd and
 * Kata share; cocoon-config names the configuration the daemon loaded, for `delete`. */
#define BUNDLE_ADDRESS_FILE "address"
#define BUNDLE_PID_FILE "shim.pid"
#define BUNDLE_CONFIG_FILE "cocoon-config"

/* The runtime name and the binary's version. */
#define SHIM_RUNTIME_NAME "io.containerd.cocoon.v2"
#define SHIM_BINARY_NAME "containerd-shim-cocoon-v2"

/* Where `start` puts the sockets (containerd's own choice, containerd.md §3.3). The environment
 * variable replaces it, for tests and for users without /run/containerd: `start` and `delete`
 * must see the same value. */
#define SHIM_SOCKET_DIR_DEFAULT "/run/containerd/s"
#define SHIM_SOCKET_DIR_ENV "COCOON_SOCKET_DIR"

/* $COCOON_SOCKET_DIR if set and not empty, else SHIM_SOCKET_DIR_DEFAULT. */
const char *shim_socket_dir(void);

/* Parses argv (argv[0] excluded). The strings in *f point into argv. Unknown flags, a missing
 * value, an action other than start/delete, or anything after the action are errors
 * (GRPC_INVALID_ARGUMENT, the message ends with a usage line). */
int shim_flags_parse(int argc, char **argv, struct shim_flags *f, struct error *err);

/* The runtime options containerd sent on stdin at `start`: the config path
 * (runtimeoptions.v1.Options.config_path), if any. Both stdin formats are read: a serialized
 * google.protobuf.Any (containerd 1.6-2.2) or containerd.runtime.bootstrap.v1.BootstrapParams
 * (2.3+, recognised by instance_id == -id and namespace == -namespace). Reads fd to EOF, at most
 * 1 MiB. Empty stdin, another Any type or an empty config_path: *config_path = NULL; else the
 * caller frees it. Input that decodes as neither is GRPC_INVALID_ARGUMENT. */
int shim_read_start_options(int fd, const struct shim_flags *f, char **config_path,
                            struct error *err);

/* The config path in runtime options (runtimeoptions.v1.Options, also under CRI's legacy type
 * name), as containerd sends them on `start`'s stdin and in CreateTaskRequest.options. Another
 * runtime's options leave *config_path NULL; options that do not decode are an error. */
int shim_config_path_from_any(const Google__Protobuf__Any *any, char **config_path,
                              struct error *err);

/* "unix:///run/containerd/s/" + hex(sha256(<address>/<namespace>/<group>)), the path cleaned as
 * Go's filepath.Join does; socket_dir replaces /run/containerd/s when not NULL. Caller frees. */
char *shim_socket_address(const char *socket_dir, const char *grpc_address, const char *ns,
                          const char *group);

/* `start` (cwd or -bundle = the bundle): groups the task by its config.json annotations (a pod's
 * containers share the sandbox's shim), reuses a live socket, else listens, spawns the daemon
 * (fd 3 = listener, $COCOON_CONFIG = the config path from stdin, if any) and writes `address` and
 * `shim.pid`. Prints only the address on stdout; on failure removes what it made, says why on
 * stderr and returns 1. Returns the process exit code. */
int shim_cmd_start(const struct shim_flags *f);
/* `delete` (the bundle may be half gone): for a sandbox, kills the daemon, destroys the domain,
 * removes the sandbox's state dir and dead socket; for any task, the bundle files above. Prints
 * only a DeleteResponse{pid from shim.pid, 137, now} on stdout, warnings on stderr; succeeds
 * again when run twice. Returns the process exit code. */
int shim_cmd_delete(const struct shim_flags *f);
/* -info: prints a serialized containerd.types.RuntimeInfo. */
int shim_cmd_info(const struct shim_flags *f);

/* The daemon's first call: become the subreaper of what it spawns. `start` already put it in a
 * session of its own (setsid), with fds 0-2 on /dev/null and the listener on fd 3. Returns 0, or
 * -1 with errno set. */
int shim_daemon_detach(void);
