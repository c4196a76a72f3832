/* Domain lifecycle through the libvirt C API: connect, create a transient domain (autodestroy
 * where the driver supports it, so a dead shim leaves no VM), read back the vsock CID, destroy,
 * and lifecycle events (stopped, crashed) delivered from libvirt's event-loop thread.
 * Errors carry libvirt's own message. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "lib/error.h"

struct vmm;        /* a libvirt connection plus the event-loop thread */
struct vmm_domain; /* a domain this process created or looked up */

enum vmm_event {
    VMM_EVENT_STOPPED, /* shut down, destroyed (also from outside, e.g. virsh destroy), failed */
    VMM_EVENT_CRASHED,
};

/* Called on libvirt's event-loop thread; must not block or call back into vmm for the domain.
 * STOPPED comes at most once; its detail is "shutdown", "destroyed", "crashed", "failed",
 * "migrated", "saved", "from-snapshot", or "gone" when the domain had already vanished by the
 * time vmm_domain_create registered for its events. CRASHED details: "panicked", "crashloaded".
 * vmm_domain_free waits for a callback in flight, so do not call it while holding a lock the
 * callback takes. */
typedef void (*vmm_event_fn)(void *user, enum vmm_event event, const char *detail);

/* Opens uri (NULL: qemu:///system). The first call in a process registers libvirt's default
 * event implementation and starts the thread that runs it (so fork before, not after). */
int vmm_open(const char *uri, struct vmm **out, struct error *err);
/* Stops event delivery: free the domains first. An autodestroy domain lives until the
 * connection's last reference (the vmm's or a domain's) is gone. */
void vmm_close(struct vmm *vmm);

/* Starts a transient domain from xml. `cb` (may be NULL) hears this domain's lifecycle events
 * until vmm_domain_free. */
int vmm_domain_create(struct vmm *vmm, const char *xml, vmm_event_fn cb, void *user,
                      struct vmm_domain **out, struct error *err);

/* Like vmm_domain_create; without autodestroy the domain outlives the connection (and this
 * process), for a launcher that exits once the VM runs. */
int vmm_domain_start(struct vmm *vmm, const char *xml, bool autodestroy, vmm_event_fn cb,
                     void *user, struct vmm_domain **out, struct error *err);

/* Finds a running or defined domain by name, without watching its events. GRPC_NOT_FOUND if
 * there is none. */
int vmm_domain_lookup(struct vmm *vmm, const char *name, struct vmm_domain **out,
                      struct error *err);

/* The domain's libvirt name, owned by dom. */
const char *vmm_domain_get_name(const struct vmm_domain *dom);

/* The guest CID libvirt assigned to <vsock><cid auto='yes'/>, read from the live XML. */
int vmm_domain_vsock_cid(struct vmm_domain *dom, uint32_t *cid, struct error *err);

/* The host PID of the domain's QEMU process, read from libvirtd's pid file
 * /run/libvirt/qemu/<name>.pid on qemu:///system; 0 for other URIs (test:///). */
int vmm_domain_pid(struct vmm_domain *dom, uint32_t *pid, struct error *err);

/* Destroys the domain; a domain that is already gone is success. */
int vmm_domain_destroy(struct vmm_domain *dom, struct error *err);

/* Destroys the domain with this name if it exists (the shim's `delete` after a crash).
 * Returns 1 if one was destroyed, 0 if there was none. */
int vmm_destroy_by_name(struct vmm *vmm, const char *name, struct error *err);

void vmm_domain_free(struct vmm_domain *dom);
