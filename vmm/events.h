/* libvirt's event loop (one thread per process) and per-domain lifecycle watches.
 * Internal to vmm/. */
#pragma once

#include <libvirt/libvirt.h>

#include "lib/error.h"
#include "vmm/domain.h"

/* Once per process, before the first connection: quiets libvirt's stderr error printing,
 * registers the default event implementation and starts the thread that runs it. */
int vmm_events_init(struct error *err);

struct event_router;
struct domain_watch;

/* Registers for conn's lifecycle events, for the life of the connection's vmm. */
struct event_router *event_router_new(virConnectPtr conn, struct error *err);
/* Deregisters; watches still started keep the router's memory until they stop. */
void event_router_free(virConnectPtr conn, struct event_router *router);

/* Delivers dom's STOPPED and CRASHED events to cb until domain_watch_stop. STOPPED is
 * delivered at most once, also when the domain stopped before the watch was in place. */
struct domain_watch *domain_watch_start(struct event_router *router, virDomainPtr dom,
                                        vmm_event_fn cb, void *user, struct error *err);

/* After this returns, cb is not running and will not be called again. Must not be called
 * from cb itself. */
void domain_watch_stop(struct domain_watch *watch);
