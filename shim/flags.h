/* The shim binary's command line (containerd.md §3), as containerd writes it for `start`,
 * `delete` and the daemon, with Go's flag syntax. Shared by the front binary and the daemon. */
#pragma once

#include <stdbool.h>

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

/* The runtime name and the binary containerd runs for it. */
#define SHIM_RUNTIME_NAME "io.containerd.cocoon.v2"
#define SHIM_BINARY_NAME "containerd-shim-cocoon-v2"

/* Parses argv (argv[0] excluded). The strings in *f point into argv. Unknown flags, a missing
 * value, an action other than start/delete, or anything after the action are errors
 * (GRPC_INVALID_ARGUMENT, the message ends with a usage line). */
int shim_flags_parse(int argc, char **argv, struct shim_flags *f, struct error *err);

/* -namespace and -id name files and directories: required, and no '/', "." or "..". */
int shim_flags_check_names(const struct shim_flags *f, struct error *err);

/* The bundle: -bundle, else the cwd (containerd runs `start` there). Caller frees. */
char *shim_flags_bundle(const struct shim_flags *f);
