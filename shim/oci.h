/* The pod's OCI JSON (the bundle's config.json, an exec's Process, an update's LinuxResources)
 * turned into the agent's protobuf OCI types (proto/kata/oci.proto), with what Kata strips before
 * CreateContainer stripped here too (kata.md §1.3, constrainGRPCSpec): hooks; seccomp;
 * Resources.Devices/Pids/BlockIO/Network; CPU.Cpus and CPU.Mems; the network, cgroup, time and
 * pid namespaces (all other namespace paths emptied: they name host namespaces); the SELinux
 * labels; the init-data and policy annotations, which must never reach the guest's container
 * config.
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

#include <stdbool.h>
#include <stddef.h>

#include "kata/oci.pb-c.h"
#include "lib/error.h"

/* Larger JSON input is refused (a config.json is a few KiB). */
#define OCI_MAX_JSON_SIZE (16u << 20)

/* What stripping learned that the spec no longer says. */
struct oci_spec_facts {
    bool pid_shared; /* the pid namespace had a path: the pod shares one (shareProcessNamespace) */
    bool has_net_ns; /* there was a network namespace entry (none: the host's network) */
    char *net_ns;    /* its path, owned; NULL when it had none (a new, empty namespace) */
};

void oci_spec_facts_clear(struct oci_spec_facts *f);

/* config.json text -> Spec (stripped as above; facts may be NULL). */
int oci_spec_from_json(const char *json, size_t len, Grpc__Spec **out, struct oci_spec_facts *facts,
                       struct error *err);

/* An exec's OCI Process JSON (ExecProcessRequest.spec) -> Process; errors say "process: ...". */
int oci_process_from_json(const char *json, size_t len, Grpc__Process **out, struct error *err);

/* The stripping itself (oci-strip.c): a converted spec or resources in place. The pid namespace
 * entry goes too (the agent gives each container its own, or the pod's shared one), and the
 * SELinux process and mount labels (the guest has no SELinux). */
struct oci_spec_facts oci_strip_spec(Grpc__Spec *s);
void oci_strip_resources(Grpc__LinuxResources *r);
/* An exec's process reduced to what Kata's runtime sends: terminal, user ids (no name), args,
 * env, cwd, noNewPrivileges. */
void oci_strip_exec_process(Grpc__Process *p);

/* UpdateTaskRequest.resources JSON -> LinuxResources (stripped like the spec's); errors say
 * "resources: ...". */
int oci_resources_from_json(const char *json, size_t len, Grpc__LinuxResources **out,
                            struct error *err);
