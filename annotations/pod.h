/* What a pod's annotations mean, in one place: the names of the keys cocoon reads (Kata's, so a
 * pod spec written for Kata CoCo runs unchanged, and those containerd's CRI, CRI-O and dockershim
 * set), one lookup with one rule for a key given twice, and the decisions taken from them: the
 * task's role in its pod, its sandbox, its image, the sandbox's size and its agent policy.
 *
 * Pure: no I/O, nothing logged (policies and init-data never reach a log). Errors are
 * GRPC_INVALID_ARGUMENT and name the annotation. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"

/* Kata's, gated by [hypervisor.libvirt] enable_annotations (annotations/overrides.h). */
#define ANNOTATION_HYPERVISOR_PREFIX "io.katacontainers.config.hypervisor."
#define ANNOTATION_INITDATA ANNOTATION_HYPERVISOR_PREFIX "cc_init_data"
#define ANNOTATION_KERNEL_VERITY_PARAMS ANNOTATION_HYPERVISOR_PREFIX "kernel_verity_params"
/* Kata's, not gated: the Rego policy (base64) the agent enforces, and the guest-pull switch. */
#define ANNOTATION_POLICY "io.katacontainers.config.agent.policy"
#define ANNOTATION_FORCE_GUEST_PULL "io.katacontainers.config.runtime.experimental_force_guest_pull"

/* Which task of a pod a config.json describes: containerd's CRI, CRI-O, dockershim. */
#define ANNOTATION_CRI_CONTAINER_TYPE "io.kubernetes.cri.container-type"
#define ANNOTATION_CRIO_CONTAINER_TYPE "io.kubernetes.cri-o.ContainerType"
#define ANNOTATION_DOCKER_TYPE "io.kubernetes.docker.type"
#define ANNOTATION_CRI_SANDBOX_ID "io.kubernetes.cri.sandbox-id"
#define ANNOTATION_CRIO_SANDBOX_ID "io.kubernetes.cri-o.SandboxID"
#define ANNOTATION_DOCKER_SANDBOX_ID "io.kubernetes.sandbox.id"
#define ANNOTATION_CRI_IMAGE_NAME "io.kubernetes.cri.image-name"
#define ANNOTATION_CRIO_IMAGE_NAME "io.kubernetes.cri-o.ImageName"

/* containerd's sandbox sizing (kubelet >= 1.23, when the pod has resources): decimal CFS period
 * and quota in microseconds, memory limit in bytes. */
#define ANNOTATION_SANDBOX_CPU_PERIOD "io.kubernetes.cri.sandbox-cpu-period"
#define ANNOTATION_SANDBOX_CPU_QUOTA "io.kubernetes.cri.sandbox-cpu-quota"
#define ANNOTATION_SANDBOX_MEMORY "io.kubernetes.cri.sandbox-memory"

/* One pod annotation; both strings are borrowed from the caller. */
struct annotation {
    const char *key;
    const char *value;
};

/* The value of key, or NULL. A key given more than once (`cocoonctl render --annotation` may
 * repeat one) has its last value, as a later flag overrides an earlier one. */
const char *annotation_get(const struct annotation *anns, size_t n, const char *key);

/* Whether the annotation belongs to the VM and must never reach the guest's container config or
 * a pull's metadata: the init-data and the policy (Kata deletes both from the spec first). */
bool annotation_is_private(const char *key);

/* A config.json's annotations, owned. */
struct pod_annotations {
    struct annotation *items; /* keys and values owned by this struct */
    size_t len;
};

/* The "annotations" member of an OCI config.json; the rest of the document is not looked at
 * but must parse. Values must be strings ("config.json: annotations.k: expected a string, got
 * 5"). On failure *out is left empty. */
int pod_annotations_from_json(const char *json, size_t len, struct pod_annotations *out,
                              struct error *err);
void pod_annotations_free(struct pod_annotations *a); /* members only; twice is fine */

/* The role of a task in its pod (kata.md §1.2). The first present of
 * io.kubernetes.cri.container-type, io.kubernetes.cri-o.ContainerType and
 * io.kubernetes.docker.type decides: "sandbox" or "podsandbox" -> POD_ROLE_SANDBOX (the pause
 * container, which owns the VM), "container" -> POD_ROLE_CONTAINER (joins the VM of
 * pod_sandbox_id()), anything else is an error naming key and value. None of them:
 * POD_ROLE_LONE, a container without a pod (ctr run, nerdctl) that gets a VM of its own and
 * pulls its image like any container. */
enum pod_role {
    POD_ROLE_SANDBOX,
    POD_ROLE_CONTAINER,
    POD_ROLE_LONE,
};
int pod_role(const struct annotation *anns, size_t n, enum pod_role *role, struct error *err);

/* The first non-empty of io.kubernetes.cri.sandbox-id, io.kubernetes.cri-o.SandboxID,
 * io.kubernetes.sandbox.id; or NULL. */
const char *pod_sandbox_id(const struct annotation *anns, size_t n);

/* The annotation that names a container's image: CRI-O's io.kubernetes.cri-o.ImageName when
 * CRI-O's container type is there and containerd's is not, else containerd's
 * io.kubernetes.cri.image-name (which nerdctl sets too). */
const char *pod_image_name_key(const struct annotation *anns, size_t n);

/* CRI-O's sandbox sizing: the kubelet's LinuxPodSandboxConfig.resources as JSON
 * ({"cpu_period":100000,"cpu_quota":150000,"memory_limit_in_bytes":268435456,...}) on the pause
 * container; the first name since CRI-O 1.35, the second from 1.28 to 1.34. */
#define ANNOTATION_CRIO_POD_RESOURCES "pod-linux-resources.crio.io"
#define ANNOTATION_CRIO_POD_RESOURCES_V1 "io.kubernetes.cri-o.PodLinuxResources"

/* The pod's resources from the sandbox sizing annotations: containerd's three when any of them
 * is there, else CRI-O's JSON (ANNOTATION_CRIO_POD_RESOURCES, else its V1 name; "null" or {}
 * is no sizing). ceil(quota / period) vCPUs when both are positive (a quota of -1 means no
 * limit), and the memory limit in MiB rounded up. Absent values count 0. */
int pod_sandbox_resources(const struct annotation *anns, size_t n, uint64_t *vcpus,
                          uint64_t *memory_mib, struct error *err);

/* The pod's CPU limit unrounded, from the same annotations as pod_sandbox_resources(), for
 * sizing that adds a fraction of a vCPU to it (Kata runtime-rs): quota and period in
 * microseconds, both 0 unless both are positive. */
int pod_sandbox_cpu(const struct annotation *anns, size_t n, uint64_t *quota, uint64_t *period,
                    struct error *err);

/* The agent policy: the Rego text of ANNOTATION_POLICY, which Kata carries in base64. *rego is
 * NULL when the pod has none (absent or empty), else NUL-terminated (caller frees). */
int pod_policy(const struct annotation *anns, size_t n, char **rego, struct error *err);
