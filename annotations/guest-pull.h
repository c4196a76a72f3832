/* Guest pull: whether a container's image is pulled inside the guest, and the Storage that tells
 * the agent to do it (kata.md §3). The host never mounts such a rootfs; the agent (through the
 * Confidential Data Hub, or the test agent itself) pulls the image into the storage's mount
 * point, or for the pod's pause container unpacks the pause bundle baked into the guest image.
 *
 * Follows the Go runtime (src/runtime/virtcontainers, kata-containers 7c6ba40c):
 * fs_share_linux.go ShareRootFilesystem / forceGuestPull / handleVirtualVolume and kata_agent.go
 * handleImageGuestPullBlockVolume. Pure: no I/O, nothing logged. Errors are
 * GRPC_INVALID_ARGUMENT with a message starting "guest pull: ". */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "annotations/pod.h"
#include "kata/agent.pb-c.h"
#include "lib/error.h"

#define GUEST_PULL_DRIVER "image_guest_pull" /* Storage.driver, and the KataVirtualVolume type */
/* A rootfs mount option "io.katacontainers.volume=<base64 of a KataVirtualVolume JSON>", set by
 * nydus-snapshotter in proxy mode or CRI-O with runtime_pull_image. */
#define GUEST_PULL_VOLUME_OPTION "io.katacontainers.volume"

/* Larger decoded KataVirtualVolume documents are refused (real ones are a few hundred bytes). */
#define GUEST_PULL_MAX_VOLUME (64u * 1024)

struct guest_pull_input {
    const char *container_id;
    /* The container's OCI annotations (config.json), borrowed. They decide everything else: the
     * pause container is the one pod_role() calls POD_ROLE_SANDBOX; a lone container (ctr run,
     * nerdctl) pulls its image like any other. All of them go to the agent as the pull's
     * metadata, except the private ones (annotation_is_private), which never reach the
     * guest. */
    const struct annotation *anns;
    size_t n_anns;
    /* CreateTaskRequest.rootfs[0].options, borrowed; may be empty. */
    char *const *rootfs_options;
    size_t n_rootfs_options;
    bool force; /* guest_pull_forced() of the pod */
};

/* Kata's force rule: the sandbox's ANNOTATION_FORCE_GUEST_PULL, when present, overrides the
 * configured value (`configured`). Runtime annotations are not gated by enable_annotations
 * (kata.md §4). Values as Go's strconv.ParseBool: 1 t T TRUE true True / 0 f F FALSE false
 * False; anything else is an error naming the annotation. Evaluate it once, on the sandbox's
 * annotations, and pass the result for every container of the pod. */
int guest_pull_forced(bool configured, const struct annotation *anns, size_t n_anns, bool *force,
                      struct error *err);

/* When the image is to be pulled in the guest (force, or an io.katacontainers.volume rootfs option
 * of type image_guest_pull) returns 1 and sets *out to
 *   Storage{driver "image_guest_pull",
 *           driver_options ["image_guest_pull={\"metadata\":{...}}"],
 *           source <image reference, or "pause" for the pause container>,
 *           fstype "overlay", mount_point "/run/kata-containers/<container_id>/rootfs"}
 * for CreateContainerRequest.storages; the caller frees it with guest_pull_storage_free (or as
 * part of a request with protobuf_c_message_free_unpacked: it is laid out the same way).
 * The metadata is the volume's image_pull.metadata overlaid with the container's annotations.
 * The image reference comes from the annotation pod_image_name_key() names, never from the
 * volume's "source".
 * Returns 0 and sets *out to NULL when the image is not pulled in the guest (no such option and
 * not forced). Returns -1 on a malformed option (base64, JSON, field types), a volume type other
 * than image_guest_pull, more than one such option, an unknown container type, a missing image
 * reference, an invalid container id. */
int guest_pull_storage(const struct guest_pull_input *in, Grpc__Storage **out, struct error *err);

void guest_pull_storage_free(Grpc__Storage *st);
