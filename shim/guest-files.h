/* What a container's mounts become in a guest that shares no filesystem with the host (Kata's
 * shared_fs = "none", as in Confidential Containers), planned from the spec before
 * CreateContainer: the host files and directories to copy in with CopyFile, the guest-local
 * storages that replace emptyDirs, the pod's /dev/shm, and the spec's mounts rewritten to point
 * at all of these. Looking at the host (stat, statfs) is all it does; the copying is
 * guest-copy.h's.
 *
 * The rule, per mount, in Kata's order (kata-containers 4.x: container.go mountSharedDirMounts,
 * fs_share_linux.go ShareFile, kata_agent.go handleShm / handleEphemeralStorage /
 * handleLocalStorage, pkg/katautils SetEphemeralStorageType):
 *   1. destination /dev/shm (not already "ephemeral"): binds the pod's guest tmpfs,
 *      {bind, /run/kata-containers/sandbox/shm, [rbind]}; when the pod has none, a tmpfs of its
 *      own {tmpfs, shm, [noexec, nosuid, nodev, mode=1777, size=67108864]};
 *   2. a source under /proc or /sys, or a mount that is not a bind (type "bind", or an option
 *      "bind" / "rbind"), or a source that is not absolute: left as it is;
 *   3. a Kubernetes emptyDir (source .../volumes/kubernetes.io~empty-dir/<name>): on a tmpfs
 *      (medium: Memory) an "ephemeral" storage at /run/kata-containers/sandbox/ephemeral/<name>,
 *      else a "local" storage at /run/kata-containers/shared/containers/<sandbox id>/rootfs/
 *      local/<name>; both shared by every container of the pod that mounts it, never copied;
 *   4. /dev itself, or a non-regular file below /dev: left as it is (the guest has its own);
 *   5. anything else is copied: a regular file (hostname, hosts, resolv.conf, termination-log,
 *      a hostPath file), or a directory tree (ConfigMap, Secret, projected ServiceAccount token,
 *      downward API, hostPath directory); symlinks in the source are followed at the mount's
 *      root, as the bind would. A socket, FIFO or device to copy fails the plan, naming the
 *      mount: it cannot be copied and would silently be missing in the guest.
 * A copied mount's source becomes the guest copy,
 * /run/kata-containers/shared/containers/<container id>-<16 random hex digits>-<last element of
 * the destination>: Kata's name, which genpolicy's policies accept and the Kata agent confines
 * CopyFile to. A directory holding Kubernetes' atomic-writer layout (a `..data` symlink at its
 * root: ConfigMap, Secret, projected, downward API) is watched and copied again when the kubelet
 * updates it (guest-copy.h).
 *
 * The container's termination message file (annotation io.kubernetes.container.
 * terminationMessagePath with ...terminationMessagePolicy "File" or "FallbackToLogsOnError",
 * which containerd passes when its container_annotations allow them) is remembered by its host
 * path, so that the shim can copy back what the container wrote there when it exits. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "annotations/pod.h"
#include "kata/agent.pb-c.h"
#include "kata/oci.pb-c.h"
#include "lib/error.h"

#define GUEST_FILES_DIR "/run/kata-containers/shared/containers"
#define GUEST_SHM_DIR "/run/kata-containers/sandbox/shm"
#define GUEST_EPHEMERAL_DIR "/run/kata-containers/sandbox/ephemeral"
#define GUEST_SHM_DEFAULT_SIZE (UINT64_C(64) << 20) /* containerd's and Kata's 64 MiB */

#define ANNOTATION_TERMINATION_MESSAGE_PATH "io.kubernetes.container.terminationMessagePath"
#define ANNOTATION_TERMINATION_MESSAGE_POLICY "io.kubernetes.container.terminationMessagePolicy"

struct guest_copy {
    char *host_path;   /* the mount's source on the host */
    char *guest_path;  /* where it is copied; now the mount's source in the spec */
    char *destination; /* the mount's destination, for messages */
    bool tree;         /* a directory, copied whole */
    bool watch;        /* the kubelet's atomic-writer layout: copied again on updates */
};

struct guest_files {
    struct guest_copy *copies; /* in the order of the spec's mounts */
    size_t n_copies;
    Grpc__Storage **storages; /* emptyDirs, for CreateContainerRequest.storages */
    size_t n_storages;
    char *termination_log; /* host path of the termination message file, or NULL */
};

/* The size of the pod's /dev/shm, from its sandbox's spec (the pause container's, or a lone
 * container's): the first mount at /dev/shm decides; a bind of a host directory other than
 * /dev/shm has the size of the filesystem there (containerd's 64 MiB tmpfs), anything else
 * GUEST_SHM_DEFAULT_SIZE; no such mount: 0 (the pod has no shared /dev/shm). */
uint64_t guest_files_shm_size(const Grpc__Spec *sandbox_spec);

/* The CreateSandboxRequest storage for a pod /dev/shm of `size` bytes:
 *   {ephemeral, shm, tmpfs, [noexec, nosuid, nodev, mode=1777, size=<size>],
 *    /run/kata-containers/sandbox/shm}
 * Free with protobuf_c_message_free_unpacked. */
Grpc__Storage *guest_files_shm_storage(uint64_t size);

/* Plans `spec` (a tree as oci_spec_from_json builds it) as above and rewrites its mounts.
 * anns are the container's annotations (its termination message). shm_size is the pod's
 * (guest_files_shm_size of its sandbox). On failure the spec is left unchanged and *out empty:
 * an invalid id or mount destination (GRPC_INVALID_ARGUMENT), a source that cannot be stat'ed
 * (errno's code), a source that cannot be copied (GRPC_INVALID_ARGUMENT), no randomness
 * (GRPC_INTERNAL); every message names the mount. */
int guest_files_plan(Grpc__Spec *spec, const char *container_id, const char *sandbox_id,
                     uint64_t shm_size, const struct annotation *anns, size_t n_anns,
                     struct guest_files *out, struct error *err);

void guest_files_free(struct guest_files *f); /* members only; twice is fine */

/* What a file that cannot be copied into the guest is, for messages: "a socket", "a FIFO", ... */
const char *guest_file_kind(mode_t mode);
