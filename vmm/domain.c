#include "vmm/domain.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>

#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "vmm/events.h"
#include "vmm/vir-error.h"

#define DEFAULT_URI "qemu:///system"
#define QEMU_SYSTEM_PID_DIR "/run/libvirt/qemu" /* libvirtd's state dir for the QEMU driver */
#define KEEPALIVE_INTERVAL_S 5
#define KEEPALIVE_COUNT 5

struct vmm {
    virConnectPtr conn;
    struct event_router *events;
    bool test_driver; /* test:///: refuses AUTODESTROY, runs no QEMU */
    bool qemu_system; /* the privileged QEMU driver: pid files in QEMU_SYSTEM_PID_DIR */
};

struct vmm_domain {
    virDomainPtr dom; /* holds a reference to the connection */
    char *name;
    bool qemu_system;
    struct domain_watch *watch;
};

DEFINE_CLEANUP_FUNC(xmlDocPtr, xmlFreeDoc)
DEFINE_CLEANUP_FUNC(xmlXPathContextPtr, xmlXPathFreeContext)
DEFINE_CLEANUP_FUNC(xmlXPathObjectPtr, xmlXPathFreeObject)

/* --- connection --- */

/* qemu:///system, qemu+unix:///system, optionally with ?socket=... : the local system daemon. */
static bool is_qemu_system_uri(const char *uri)
{
    if (strncmp(uri, "qemu", 4) != 0)
        return false;
    uri += 4;
    if (strncmp(uri, "+unix", 5) == 0)
        uri += 5;
    if (strncmp(uri, ":///system", 10) != 0)
        return false;
    return uri[10] == '\0' || uri[10] == '?';
}

static void on_connection_closed(virConnectPtr conn, int reason, void *opaque)
{
    static const char *const reasons[] = {"error", "end of file", "keepalive timeout", "client"};
    const char *why = reason >= 0 && reason < 4 ? reasons[reason] : "unknown";
    log_warn("libvirt connection closed (%s): no more domain events; domains started with "
             "autodestroy go with it",
             why);
}

int vmm_open(const char *uri, struct vmm **out, struct error *err)
{
    *out = NULL;
    if (vmm_events_init(err) < 0)
        return -1;
    if (!uri)
        uri = DEFAULT_URI;
    virConnectPtr conn = virConnectOpen(uri);
    if (!conn) {
        vir_error(err, NULL);
        if (err)
            err->code = GRPC_UNAVAILABLE;
        return error_wrap(err, "connect to %s", uri);
    }
    /* keepalive notices a dead daemon; the test driver does not support it */
    if (virConnectSetKeepAlive(conn, KEEPALIVE_INTERVAL_S, KEEPALIVE_COUNT) < 0 &&
        vir_last_error_code() != VIR_ERR_NO_SUPPORT)
        log_warn("libvirt keepalive on %s: %s", uri, virGetLastErrorMessage());
    if (virConnectRegisterCloseCallback(conn, on_connection_closed, NULL, NULL) < 0)
        virResetLastError(); /* only remote connections can close under us */
    struct event_router *events = event_router_new(conn, err);
    if (!events) {
        virConnectUnregisterCloseCallback(conn, on_connection_closed);
        virConnectClose(conn);
        return error_wrap(err, "connect to %s", uri);
    }

    /* decide by the URI libvirt resolved, e.g. when uri was an alias */
    _cleanup_free_ char *actual = virConnectGetURI(conn);
    const char *u = actual ? actual : uri;
    struct vmm *vmm = xcalloc(1, sizeof(*vmm));
    vmm->conn = conn;
    vmm->events = events;
    vmm->test_driver = strncmp(u, "test:", 5) == 0;
    vmm->qemu_system = is_qemu_system_uri(u);
    *out = vmm;
    return 0;
}

void vmm_close(struct vmm *vmm)
{
    if (!vmm)
        return;
    event_router_free(vmm->conn, vmm->events);
    virConnectUnregisterCloseCallback(vmm->conn, on_connection_closed);
    virConnectClose(vmm->conn);
    free(vmm);
}

/* --- domains --- */

static struct vmm_domain *domain_new(struct vmm *vmm, virDomainPtr dom)
{
    struct vmm_domain *d = xcalloc(1, sizeof(*d));
    d->dom = dom;
    const char *name = virDomainGetName(dom);
    d->name = xstrdup(name ? name : "");
    d->qemu_system = vmm->qemu_system;
    return d;
}

int vmm_domain_create(struct vmm *vmm, const char *xml, vmm_event_fn cb, void *user,
                      struct vmm_domain **out, struct error *err)
{
    return vmm_domain_start(vmm, xml, true, cb, user, out, err);
}

int vmm_domain_start(struct vmm *vmm, const char *xml, bool autodestroy, vmm_event_fn cb,
                     void *user, struct vmm_domain **out, struct error *err)
{
    *out = NULL;
    unsigned flags = autodestroy && !vmm->test_driver ? VIR_DOMAIN_START_AUTODESTROY : 0;
    virDomainPtr dom = virDomainCreateXML(vmm->conn, xml, flags);
    if (!dom)
        return vir_error(err, "create domain");
    struct vmm_domain *d = domain_new(vmm, dom);
    if (cb) {
        d->watch = domain_watch_start(vmm->events, dom, cb, user, err);
        if (!d->watch) {
            /* a VM whose end nobody would hear of must not run */
            struct error ignored = ERROR_INIT;
            vmm_domain_destroy(d, &ignored);
            error_clear(&ignored);
            vmm_domain_free(d);
            return error_wrap(err, "create domain");
        }
    }
    *out = d;
    return 0;
}

int vmm_domain_lookup(struct vmm *vmm, const char *name, struct vmm_domain **out, struct error *err)
{
    *out = NULL;
    virDomainPtr dom = virDomainLookupByName(vmm->conn, name);
    if (!dom)
        return vir_error(err, "look up domain");
    *out = domain_new(vmm, dom);
    return 0;
}

const char *vmm_domain_get_name(const struct vmm_domain *dom)
{
    return dom->name;
}

void vmm_domain_free(struct vmm_domain *dom)
{
    if (!dom)
        return;
    domain_watch_stop(dom->watch);
    virDomainFree(dom->dom);
    free(dom->name);
    free(dom);
}

/* Destroys dom: 1 if it was running, 0 if it had already stopped or vanished. */
static int destroy(virDomainPtr dom, struct error *err)
{
    if (virDomainDestroy(dom) == 0)
        return 1;
    int code = vir_last_error_code();
    if (code == VIR_ERR_NO_DOMAIN || code == VIR_ERR_OPERATION_INVALID)
        return 0; /* transient and gone, or defined but not running */
    return vir_error(err, "destroy domain");
}

int vmm_domain_destroy(struct vmm_domain *dom, struct error *err)
{
    return destroy(dom->dom, err) < 0 ? -1 : 0;
}

int vmm_destroy_by_name(struct vmm *vmm, const char *name, struct error *err)
{
    virDomainPtr dom = virDomainLookupByName(vmm->conn, name);
    if (!dom) {
        if (vir_last_error_code() == VIR_ERR_NO_DOMAIN)
            return 0;
        return vir_error(err, "look up domain");
    }
    int r = destroy(dom, err);
    virDomainFree(dom);
    return r;
}

/* --- what runs: vsock CID, QEMU pid --- */

/* The string value of an XPath expression over an XML document; "" when it selects nothing. */
static int xpath_string(const char *xml, const char *expr, char **out, struct error *err)
{
    _cleanup_(xmlFreeDocp) xmlDocPtr doc =
        xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL,
                      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc)
        return error_set(err, GRPC_INTERNAL, "libvirt returned domain XML that does not parse");
    _cleanup_(xmlXPathFreeContextp) xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    _cleanup_(xmlXPathFreeObjectp) xmlXPathObjectPtr obj =
        ctx ? xmlXPathEvalExpression((const xmlChar *)expr, ctx) : NULL;
    if (!obj || obj->type != XPATH_STRING || !obj->stringval)
        return error_set(err, GRPC_INTERNAL, "evaluate %s on the domain XML", expr);
    *out = xstrdup((const char *)obj->stringval);
    return 0;
}

int vmm_domain_vsock_cid(struct vmm_domain *dom, uint32_t *cid, struct error *err)
{
    *cid = 0;
    _cleanup_free_ char *xml = virDomainGetXMLDesc(dom->dom, 0);
    if (!xml)
        return vir_error(err, "vsock CID: get domain XML");
    _cleanup_free_ char *value = NULL;
    if (xpath_string(xml, "string(/domain/devices/vsock/cid/@address)", &value, err) < 0)
        return error_wrap(err, "vsock CID");
    if (!*value)
        return error_set(err, GRPC_FAILED_PRECONDITION,
                         "vsock CID: domain %s has none (no <vsock> device, or the driver "
                         "assigned no address)",
                         dom->name);
    char *end;
    errno = 0;
    unsigned long long v = strtoull(value, &end, 10);
    /* CIDs 0-2 are reserved (hypervisor, local, host); libvirt never assigns them */
    if (errno || *end || value[0] == '-' || v < 3 || v >= UINT32_MAX)
        return error_set(err, GRPC_INTERNAL, "vsock CID: domain %s has an invalid address \"%s\"",
                         dom->name, value);
    *cid = (uint32_t)v;
    return 0;
}

int vmm_domain_pid(struct vmm_domain *dom, uint32_t *pid, struct error *err)
{
    *pid = 0;
    if (!dom->qemu_system)
        return 0; /* libvirt has no API for it; only the system daemon's pid file tells */
    _cleanup_free_ char *path = xasprintf("%s/%s.pid", QEMU_SYSTEM_PID_DIR, dom->name);
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    if (!f)
        return error_set_errno(err, errno, "QEMU pid of domain %s: open %s", dom->name, path);
    unsigned long v;
    if (fscanf(f, "%lu", &v) != 1 || v == 0 || v > INT32_MAX)
        return error_set(err, GRPC_INTERNAL, "QEMU pid of domain %s: %s holds no pid", dom->name,
                         path);
    *pid = (uint32_t)v;
    return 0;
}
