/* A domain started and destroyed through cocoon-vm, the helper program that links libvirt, and
 * watched through its QEMU process: what a pod's shim daemon uses, so that it never maps libvirt
 * (whose relocated data alone would cost each pod's shim over a MiB of private memory).
 *
 * The domain is transient without autodestroy: it outlives the helper and the shim, and is
 * destroyed by the shim at teardown or, after a crash, by the shim binary's `delete`, which
 * containerd runs for a dead shim. Its end is seen on a pidfd of its QEMU process.
 *
 * The caller ignores SIGPIPE (the shim's programs do): a helper may exit before it has read all
 * of its stdin, and the write to its pipe must then fail with EPIPE, not kill the caller. */
#pragma once

#include <stdint.h>

#include "lib/error.h"
#include "vmm/domain.h" /* vmm_event_fn: only its type, no libvirt */

#define VM_HELPER_NAME "cocoon-vm"
#define VM_HELPER_CREATED_FORMAT "pid=%u cid=%u"

/* How long one run of the helper may take before it is killed: a domain start under load (TCG,
 * libvirt probing QEMU's capabilities the first time) takes tens of seconds. */
#define VM_HELPER_TIMEOUT_MS (180 * 1000)

struct vm_started {
    uint32_t pid; /* QEMU's, or 0 when libvirt does not tell (a non-system driver) */
    uint32_t cid; /* the vsock CID libvirt assigned, or 0 without a vsock device */
};

/* Runs `helper create -uri URI` with xml on stdin. Errors carry the helper's message (libvirt's
 * own words), prefixed with "create domain". */
int vm_helper_create(const char *helper, const char *uri, const char *xml, struct vm_started *out,
                     struct error *err);

/* Runs `helper destroy -uri URI NAME`: 1 if a domain was destroyed, 0 if there was none. */
int vm_helper_destroy(const char *helper, const char *uri, const char *name, struct error *err);

/* Calls cb(user, VMM_EVENT_STOPPED, "exited") once, from a thread of its own, when the QEMU
 * process pid of domain `name` ends (at once if it is already gone, or if pid now runs another
 * program). */
struct qemu_watch;
int qemu_watch_start(uint32_t pid, const char *name, vmm_event_fn cb, void *user,
                     struct qemu_watch **out, struct error *err);
/* After this returns, cb is not running and will not be called. Not from cb itself. NULL is
 * fine. */
void qemu_watch_stop(struct qemu_watch *w);
