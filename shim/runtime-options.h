/* The runtime options containerd hands the shim: runtimeoptions.v1.Options (its config_path
 * names cocoon's configuration), on `start`'s stdin and in CreateTaskRequest.options. */
#pragma once

#include "google/protobuf/any.pb-c.h"
#include "lib/error.h"
#include "shim/flags.h"

/* The config path in runtime options (runtimeoptions.v1.Options, also under CRI's legacy type
 * name). Another runtime's options leave *config_path NULL; options that do not decode are an
 * error. */
int shim_config_path_from_any(const Google__Protobuf__Any *any, char **config_path,
                              struct error *err);

/* The runtime options containerd sent on stdin at `start`: the config path, if any. Both stdin
 * formats are read: a serialized google.protobuf.Any (containerd 1.6-2.2) or
 * containerd.runtime.bootstrap.v1.BootstrapParams (2.3+, recognised by instance_id == -id and
 * namespace == -namespace). Reads fd to EOF, at most 1 MiB. Empty stdin, another Any type or
 * an empty config_path: *config_path = NULL; else the caller frees it. Input that decodes as
 * neither is GRPC_INVALID_ARGUMENT. */
int shim_read_start_options(int fd, const struct shim_flags *f, char **config_path,
                            struct error *err);
