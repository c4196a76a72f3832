/* Copying a container's host files and directories into the guest with CopyFile, as Kata's
 * runtime does for a guest that shares no filesystem with the host (guest-files.h plans what),
 * and copying them again when the kubelet updates a ConfigMap, Secret, projected or downward-API
 * volume.
 *
 * A tree is walked depth first in byte order of the names, the root first, without following a
 * symlink below the root, every entry one CopyFile (Kata 4.x fs_share_linux.go copyFile): a
 * directory with its mode, a regular file in chunks of 1 MiB, a symlink with its target as
 * data; each with the host's whole st_mode (type bits included) and owner. Kubernetes'
 * atomic-writer layout (<dir>/..<timestamp>/ holding the files, <dir>/..data -> ..<timestamp>,
 * <dir>/<key> -> ..data/<key>) arrives intact. Refused, with a message naming the mount: a
 * socket, FIFO or device in the tree; a symlink whose target is absolute or has a ".."
 * component (genpolicy's rules refuse it, and in the guest it would point at the guest's own
 * files); more than the configured bytes or entries. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"
#include "shim/agent.h"
#include "shim/guest-files.h"

struct guest_copy_limits {
    uint64_t max_bytes; /* the file data of one mount */
    size_t max_entries; /* files, directories and symlinks of one mount */
};

/* Copies one planned mount (a file or a tree) into the guest. */
int guest_copy(struct agent *a, const struct guest_copy *c, const struct guest_copy_limits *lim,
               struct error *err);
/* The same walk without copying: every refusal guest_copy would meet, before the guest sees a
 * byte (the agent has no call to remove a half-copied volume). */
int guest_copy_check(const struct guest_copy *c, const struct guest_copy_limits *lim,
                     struct error *err);

/* Watches of a pod's atomic-writer volumes. The kubelet publishes an update by renaming a new
 * `..data` symlink into place; half a second after that (it then adds and removes key symlinks
 * and the old timestamped directory) the whole volume is copied again to the same guest path.
 * Files the update removed stay in the guest, unreachable through `..data` (the agent has no
 * call to remove files). One thread per pod, started with the first watch. */
struct guest_watch;

struct guest_watch *guest_watch_new(struct agent *a, const struct guest_copy_limits *lim);
/* Watches c (a copy of a tree whose `watch` is set) for container `owner`. */
int guest_watch_add(struct guest_watch *w, const char *owner, const struct guest_copy *c,
                    struct error *err);
/* Stops watching owner's volumes (its Delete); a copy under way finishes first. */
void guest_watch_remove(struct guest_watch *w, const char *owner);
/* Stops the thread and frees; before the agent goes. NULL is fine. */
void guest_watch_free(struct guest_watch *w);
