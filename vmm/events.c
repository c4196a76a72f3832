#include "vmm/events.h"

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include <libvirt/virterror.h>
#include <libxml/parser.h>

#include "lib/log.h"
#include "lib/xalloc.h"
#include "vmm/vir-error.h"

#ifdef __SANITIZE_ADDRESS__
#define EVENT_LOOP_STACK (1024 * 1024) /* ASan's redzones make frames larger */
#else
#define EVENT_LOOP_STACK (256 * 1024)
#endif

/* --- the event loop --- */

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static char *init_failure; /* set once by init_events, read after pthread_once */

/* libvirt prints every error to stderr by default; errors reach callers through struct error. */
static void quiet_errors(void *user, virErrorPtr e) {}

static void *run_event_loop(void *arg)
{
    /* asynchronous signals belong to the shim's own threads */
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    for (;;) {
        if (virEventRunDefaultImpl() < 0) {
            log_error("libvirt event loop: %s", virGetLastErrorMessage());
            usleep(100 * 1000); /* do not spin on a persistent failure */
        }
    }
    return NULL;
}

static void init_events(void)
{
    if (virInitialize() < 0) {
        init_failure = xasprintf("libvirt initialisation: %s", virGetLastErrorMessage());
        return;
    }
    virSetErrorFunc(NULL, quiet_errors);
    xmlInitParser(); /* libxml2 must be initialised before threads use it */
    if (virEventRegisterDefaultImpl() < 0) {
        init_failure = xasprintf("libvirt event loop: %s", virGetLastErrorMessage());
        return;
    }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, EVENT_LOOP_STACK);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t thread;
    int r = pthread_create(&thread, &attr, run_event_loop, NULL);
    pthread_attr_destroy(&attr);
    if (r != 0)
        init_failure = xasprintf("libvirt event loop: start thread: %s", strerror(r));
}

int vmm_events_init(struct error *err)
{
    pthread_once(&init_once, init_events);
    if (init_failure)
        return error_set(err, GRPC_INTERNAL, "%s", init_failure);
    return 0;
}

/* --- routing lifecycle events to domain watches --- */

/* One connection-wide registration for the life of the vmm, not one per domain: libvirt drops
 * queued events and leaves its dispatch timer unarmed when a connection's last callback goes
 * away while other domains' events are in flight (seen with concurrent domains on libvirt
 * 9.0), and a domain's events before its own registration would be lost. */
struct event_router {
    pthread_mutex_t lock; /* guards watches */
    struct domain_watch *watches;
    int callback_id;
    int refs; /* the vmm, libvirt's registration, each watch */
};

struct domain_watch {
    struct domain_watch *next; /* in router->watches */
    struct event_router *router;
    unsigned char uuid[VIR_UUID_BUFLEN];
    /* Held while the user's callback runs, so that domain_watch_stop can wait it out. */
    pthread_mutex_t lock;
    bool active;
    bool stopped_delivered;
    vmm_event_fn cb;
    void *user;
    int refs; /* the owner, the router's dispatch in progress, a pending synthetic STOPPED */
};

static void router_ref(struct event_router *r)
{
    __atomic_add_fetch(&r->refs, 1, __ATOMIC_RELAXED);
}

static void router_unref(void *opaque)
{
    struct event_router *r = opaque;
    if (__atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    pthread_mutex_destroy(&r->lock);
    free(r);
}

static struct domain_watch *watch_ref(struct domain_watch *w)
{
    __atomic_add_fetch(&w->refs, 1, __ATOMIC_RELAXED);
    return w;
}

static void watch_unref(void *opaque)
{
    struct domain_watch *w = opaque;
    if (__atomic_sub_fetch(&w->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    router_unref(w->router);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

static void deliver(struct domain_watch *w, enum vmm_event event, const char *detail)
{
    pthread_mutex_lock(&w->lock);
    bool duplicate = event == VMM_EVENT_STOPPED && w->stopped_delivered;
    if (w->active && !duplicate) {
        if (event == VMM_EVENT_STOPPED)
            w->stopped_delivered = true;
        w->cb(w->user, event, detail);
    }
    pthread_mutex_unlock(&w->lock);
}

static const char *stopped_detail(int detail)
{
    switch (detail) {
    case VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN:
        return "shutdown";
    case VIR_DOMAIN_EVENT_STOPPED_DESTROYED:
        return "destroyed";
    case VIR_DOMAIN_EVENT_STOPPED_CRASHED:
        return "crashed";
    case VIR_DOMAIN_EVENT_STOPPED_MIGRATED:
        return "migrated";
    case VIR_DOMAIN_EVENT_STOPPED_SAVED:
        return "saved";
    case VIR_DOMAIN_EVENT_STOPPED_FAILED:
        return "failed";
    case VIR_DOMAIN_EVENT_STOPPED_FROM_SNAPSHOT:
        return "from-snapshot";
    default:
        return "unknown";
    }
}

static const char *crashed_detail(int detail)
{
    switch (detail) {
    case VIR_DOMAIN_EVENT_CRASHED_PANICKED:
        return "panicked";
    case VIR_DOMAIN_EVENT_CRASHED_CRASHLOADED:
        return "crashloaded";
    default:
        return "unknown";
    }
}

/* The watch for dom's UUID (UUIDs, unlike names of transient domains, are never reused). */
static struct domain_watch *find_watch(struct event_router *r, virDomainPtr dom)
{
    unsigned char uuid[VIR_UUID_BUFLEN];
    if (virDomainGetUUID(dom, uuid) < 0)
        return NULL;
    struct domain_watch *found = NULL;
    pthread_mutex_lock(&r->lock);
    for (struct domain_watch *w = r->watches; w; w = w->next)
        if (memcmp(w->uuid, uuid, sizeof(uuid)) == 0) {
            found = watch_ref(w);
            break;
        }
    pthread_mutex_unlock(&r->lock);
    return found;
}

static int on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
    if (event != VIR_DOMAIN_EVENT_STOPPED && event != VIR_DOMAIN_EVENT_CRASHED)
        return 0;
    struct domain_watch *w = find_watch(opaque, dom);
    if (!w)
        return 0; /* a domain nobody here watches */
    if (event == VIR_DOMAIN_EVENT_STOPPED)
        deliver(w, VMM_EVENT_STOPPED, stopped_detail(detail));
    else
        deliver(w, VMM_EVENT_CRASHED, crashed_detail(detail));
    watch_unref(w);
    return 0;
}

struct event_router *event_router_new(virConnectPtr conn, struct error *err)
{
    struct event_router *r = xcalloc(1, sizeof(*r));
    pthread_mutex_init(&r->lock, NULL);
    r->refs = 2; /* the caller, and libvirt until it calls router_unref as the free callback */
    r->callback_id =
        virConnectDomainEventRegisterAny(conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                         VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), r, router_unref);
    if (r->callback_id < 0) {
        vir_error(err, "watch domain events");
        /* libvirt's reference stays: whether it called the free callback on failure is not
         * documented, and leaking a few bytes beats freeing twice */
        router_unref(r);
        return NULL;
    }
    return r;
}

void event_router_free(virConnectPtr conn, struct event_router *r)
{
    if (!r)
        return;
    if (virConnectDomainEventDeregisterAny(conn, r->callback_id) < 0)
        log_warn("stop watching domain events: %s", virGetLastErrorMessage());
    router_unref(r);
}

/* A STOPPED for a domain that was gone before its watch was in place, sent from the event
 * loop thread like every other event. */
static void on_missed_stop(int timer, void *opaque)
{
    virEventRemoveTimeout(timer);
    deliver(opaque, VMM_EVENT_STOPPED, "gone");
}

/* 1 if dom still runs, 0 if it stopped or vanished, -1 if that cannot be told. */
static int domain_running(virDomainPtr dom)
{
    int r = virDomainIsActive(dom);
    if (r < 0 && vir_last_error_code() == VIR_ERR_NO_DOMAIN)
        return 0;
    return r;
}

struct domain_watch *domain_watch_start(struct event_router *r, virDomainPtr dom, vmm_event_fn cb,
                                        void *user, struct error *err)
{
    struct domain_watch *w = xcalloc(1, sizeof(*w));
    if (virDomainGetUUID(dom, w->uuid) < 0) {
        free(w);
        vir_error(err, "watch domain events: domain UUID");
        return NULL;
    }
    pthread_mutex_init(&w->lock, NULL);
    w->active = true;
    w->cb = cb;
    w->user = user;
    w->refs = 1;
    router_ref(r);
    w->router = r;
    pthread_mutex_lock(&r->lock);
    w->next = r->watches;
    r->watches = w;
    pthread_mutex_unlock(&r->lock);
    /* the domain may have died before the watch was in the list */
    if (domain_running(dom) == 0 &&
        virEventAddTimeout(0, on_missed_stop, watch_ref(w), watch_unref) < 0)
        watch_unref(w);
    return w;
}

void domain_watch_stop(struct domain_watch *w)
{
    if (!w)
        return;
    struct event_router *r = w->router;
    pthread_mutex_lock(&r->lock);
    for (struct domain_watch **p = &r->watches; *p; p = &(*p)->next)
        if (*p == w) {
            *p = w->next;
            break;
        }
    pthread_mutex_unlock(&r->lock);
    pthread_mutex_lock(&w->lock); /* waits for a callback in flight */
    w->active = false;
    pthread_mutex_unlock(&w->lock);
    watch_unref(w);
}
