/* The pod's OCI JSON (the bundle's config.json, an exec's Process, an update's LinuxResources)
 * turned into the agent's protobuf OCI types (proto/kata/oci.proto), with what Kata strips before
 * CreateContainer stripped here too (kata.md §1.3, constrainGRPCSpec): hooks; seccomp;
 * Resources.Devices/Pids/BlockIO/Network; CPU.Cpus and CPU.Mems; the network, cgroup and time
 * namespaces (all other namespace paths emptied: they name host namespaces); the init-data and
 * policy annotations, which must never reach the guest's container config.
 *
 * JSON members are matched to the proto fields by name, ignoring case (the proto keeps Go's
 * spelling: "OOMScoreAdj" is "oomScoreAdj"; "ociVersion" fills Spec.Version). Unknown members are
 * ignored (the OCI spec grows: process.user.umask, linux.personality, ... have no proto field);
 * null or missing members keep the proto default. A member of the wrong JSON type, or an integer
 * outside its field's range, is GRPC_INVALID_ARGUMENT naming its path
 * ("config.json: process.args[1]: expected a string, got 7"). Integers up to UINT64_MAX are
 * read exactly (rlimits of RLIM_INFINITY). Results are single protobuf-c trees laid out as
 * protobuf-c's unpacker lays them out: the caller frees them with
 * protobuf_c_message_free_unpacked(&x->base, NULL). */
#pragma once

#include <stddef.h>

#include "annotations/overrides.h"
#include "kata/oci.pb-c.h"
#include "lib/error.h"

/* Larger JSON input is refused (a config.json is a few KiB). */
#define OCI_MAX_JSON_SIZE (16u << 20)

/* config.json text -> Spec (stripped as above). */
int oci_spec_from_json(const char *json, size_t len, Grpc__Spec **out, struct error *err);

/* An exec's OCI Process JSON (ExecProcessRequest.spec) -> Process; errors say "process: ...". */
int oci_process_from_json(const char *json, size_t len, Grpc__Process **out, struct error *err);

/* UpdateTaskRequest.resources JSON -> LinuxResources (stripped like the spec's); errors say
 * "resources: ...". */
int oci_resources_from_json(const char *json, size_t len, Grpc__LinuxResources **out,
                            struct error *err);

/* The annotations of a config.json, for `start` (grouping) and the sandbox (VM overrides):
 * all of them, init-data and policy included (the sandbox needs those; only the Spec sent to the
 * agent loses them). */
struct oci_annotations {
    struct annotation *items; /* keys and values owned by this struct */
    size_t len;
};
int oci_annotations_from_json(const char *json, size_t len, struct oci_annotations *out,
                              struct error *err);
void oci_annotations_free(struct oci_annotations *a); /* members only */
/* The value for key, or NULL. */
const char *oci_annotation_get(const struct oci_annotations *a, const char *key);

/* What kind of task a config.json describes (kata.md §1.2): the first present of
 * io.kubernetes.cri.container-type (containerd), io.kubernetes.cri-o.ContainerType (CRI-O) and
 * io.kubernetes.docker.type (dockershim) decides: "sandbox" or "podsandbox" -> sandbox,
 * "container" -> container, anything else is GRPC_INVALID_ARGUMENT naming key and value. None
 * means a lone container (ctr run), which gets a VM of its own like a sandbox. */
enum oci_task_kind {
    OCI_TASK_SANDBOX,
    OCI_TASK_CONTAINER, /* a container of the pod named by oci_sandbox_id() */
};
int oci_task_kind(const struct oci_annotations *a, enum oci_task_kind *kind, struct error *err);
/* The first non-empty of io.kubernetes.cri.sandbox-id, io.kubernetes.cri-o.SandboxID,
 * io.kubernetes.sandbox.id; or NULL. */
const char *oci_sandbox_id(const struct oci_annotations *a);

/* Reads <bundle>/config.json whole (NUL-terminated); caller frees. NOT_FOUND if absent;
 * INVALID_ARGUMENT if it is not a regular file or larger than OCI_MAX_JSON_SIZE. */
int oci_read_config(const char *bundle, char **json, size_t *len, struct error *err);
