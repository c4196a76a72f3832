/* The libvirt checks: the configured connection opens, which libvirt and hypervisor answer, and
 * whether its QEMU can launch the TEE the configuration asks for (domain capabilities). */
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/xalloc.h"
#include "node/check.h"
#include "shim/config.h"

/* libvirt 10.5.0 launches SEV-SNP guests (and reports sev-snp in domain capabilities); TDX came
 * with 11.6.0 (reference/libvirt.md). As virConnectGetLibVersion numbers them. */
#define LIBVIRT_SNP_VERSION 10005000UL
#define LIBVIRT_TDX_VERSION 11006000UL

/* true when the XPath expression matches at least one node */
static bool xpath_any(xmlXPathContextPtr ctx, const char *expr)
{
    xmlXPathObjectPtr o = xmlXPathEvalExpression((const xmlChar *)expr, ctx);
    bool any = o && o->type == XPATH_NODESET && o->nodesetval && o->nodesetval->nodeNr > 0;
    xmlXPathFreeObject(o);
    return any;
}

int domcaps_parse_tee(const char *xml, struct domcaps_tee *out, struct error *err)
{
    *out = (struct domcaps_tee){0};
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "domcapabilities.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc)
        return error_set(err, GRPC_INTERNAL, "libvirt's domain capabilities are not XML");
    xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    int r = 0;
    if (!ctx || !xpath_any(ctx, "/domainCapabilities")) {
        r = error_set(err, GRPC_INTERNAL,
                      "libvirt's domain capabilities have no <domainCapabilities> root");
    } else {
        const char *sectype = "/domainCapabilities/features/launchSecurity[@supported='yes']"
                              "/enum[@name='sectype']/value";
        _cleanup_free_ char *snp = xasprintf("%s[normalize-space(.)='sev-snp']", sectype);
        _cleanup_free_ char *tdx = xasprintf("%s[normalize-space(.)='tdx']", sectype);
        out->sev = xpath_any(ctx, "/domainCapabilities/features/sev[@supported='yes']");
        out->sev_snp = xpath_any(ctx, snp);
        out->tdx = xpath_any(ctx, "/domainCapabilities/features/tdx[@supported='yes']") ||
                   xpath_any(ctx, tdx);
    }
    xmlXPathFreeContext(ctx);
    xmlFreeDoc(doc);
    return r;
}

static void quiet(void *opaque, virErrorPtr e)
{
    (void)opaque;
    (void)e;
}

static char *version_string(unsigned long v)
{
    return xasprintf("%lu.%lu.%lu", v / 1000000, v / 1000 % 1000, v % 1000);
}

static const char *last_error(void)
{
    const char *m = virGetLastErrorMessage();
    return m ? m : "unknown libvirt error";
}

/* The TEE check: libvirt new enough, and the domain capabilities of this QEMU, machine and
 * domain type list the TEE. Every reason it fails for is listed. */
static void check_tee(virConnectPtr conn, const struct config_hypervisor *h, unsigned long lib,
                      struct check_report *r)
{
    bool snp = h->tee == VM_TEE_SNP;
    const char *name = snp ? "sev-snp" : "tdx";
    if (h->tee == VM_TEE_NONE) {
        check_add(r, "sev-snp", true, xstrdup("not needed: tee = \"none\""), NULL);
        check_add(r, "tdx", true, xstrdup("not needed: tee = \"none\""), NULL);
        return;
    }
    check_add(r, snp ? "tdx" : "sev-snp", true,
              xasprintf("not needed: tee = \"%s\"", snp ? "snp" : "tdx"), NULL);
    unsigned long want = snp ? LIBVIRT_SNP_VERSION : LIBVIRT_TDX_VERSION;
    _cleanup_free_ char *want_s = version_string(want);
    _cleanup_free_ char *have_s = version_string(lib);
    _cleanup_free_ char *reasons = xstrdup("");
    _cleanup_free_ char *remedies = xstrdup("");
#define ADD(list, ...)                                                                             \
    do {                                                                                           \
        _cleanup_free_ char *_s = xasprintf(__VA_ARGS__);                                          \
        char *_n = xasprintf("%s%s%s", list, list[0] ? "; " : "", _s);                             \
        free(list);                                                                                \
        list = _n;                                                                                 \
    } while (0)
    if (lib < want) {
        ADD(reasons, "libvirt %s is older than %s, the first to launch %s guests", have_s, want_s,
            snp ? "SEV-SNP" : "TDX");
        ADD(remedies, "install libvirt %s or later", want_s);
    }
    const char *emulator = h->emulator && h->emulator[0] ? h->emulator : NULL;
    const char *machine = h->machine_type && h->machine_type[0] ? h->machine_type : NULL;
    char *xml = virConnectGetDomainCapabilities(conn, emulator, NULL, machine, h->domain_type, 0);
    if (!xml) {
        ADD(reasons,
            "libvirt cannot report the domain capabilities of %s (machine %s, domain "
            "type %s): %s",
            emulator ? emulator : "its default QEMU", machine ? machine : "default", h->domain_type,
            last_error());
        ADD(remedies, "check that QEMU is installed and that emulator, machine_type and "
                      "domain_type name what this host has (virsh domcapabilities)");
    } else {
        struct domcaps_tee caps;
        struct error err = ERROR_INIT;
        if (domcaps_parse_tee(xml, &caps, &err) < 0) {
            ADD(reasons, "%s", err.msg);
            ADD(remedies, "look at `virsh domcapabilities --virttype %s`", h->domain_type);
        } else if (snp ? !caps.sev_snp : !caps.tdx) {
            ADD(reasons,
                "libvirt's domain capabilities (domain type %s, machine %s) do not list %s%s",
                h->domain_type, machine ? machine : "default", snp ? "sev-snp" : "tdx",
                snp && caps.sev ? " (only SEV/SEV-ES)" : "");
            ADD(remedies,
                "%s needs a %s host with it enabled in the firmware and the kernel, QEMU %s or "
                "later and domain_type = \"kvm\"",
                snp ? "SEV-SNP" : "TDX",
                snp ? "AMD EPYC (Milan or later)"
                    : "Intel Xeon (Sapphire "
                      "Rapids or later)",
                snp ? "9.1" : "10.1");
        }
        error_clear(&err);
        free(xml);
    }
#undef ADD
    if (reasons[0])
        check_add(r, name, false, TAKE_PTR(reasons), TAKE_PTR(remedies));
    else
        check_add(r, name, true, xasprintf("libvirt %s, domain capabilities list %s", have_s, name),
                  NULL);
}

void check_libvirt(const struct config *cfg, struct check_report *r)
{
    const struct config_hypervisor *h = &cfg->hypervisor;
    virSetErrorFunc(NULL, quiet); /* the messages go into the report, not to stderr */
    virConnectPtr conn = virConnectOpen(h->uri);
    if (!conn) {
        check_add(r, "libvirt", false, xasprintf("connect to %s: %s", h->uri, last_error()),
                  xasprintf("start libvirt's daemon (systemctl start libvirtd, or virtqemud on "
                            "modular daemons), or set [hypervisor.libvirt] uri to one this host "
                            "serves"));
        const char *why = h->tee == VM_TEE_NONE ? "not needed: tee = \"none\""
                                                : "not checked: libvirt is not reachable";
        bool ok = h->tee == VM_TEE_NONE;
        check_add(r, "sev-snp", ok || h->tee != VM_TEE_SNP,
                  xstrdup(h->tee == VM_TEE_TDX ? "not needed: tee = \"tdx\"" : why),
                  ok || h->tee != VM_TEE_SNP ? NULL : xstrdup("make libvirt reachable first"));
        check_add(r, "tdx", ok || h->tee != VM_TEE_TDX,
                  xstrdup(h->tee == VM_TEE_SNP ? "not needed: tee = \"snp\"" : why),
                  ok || h->tee != VM_TEE_TDX ? NULL : xstrdup("make libvirt reachable first"));
        return;
    }
    unsigned long lib = 0, hv = 0;
    virConnectGetLibVersion(conn, &lib);
    const char *type = virConnectGetType(conn);
    bool have_hv = virConnectGetVersion(conn, &hv) == 0 && hv > 0;
    _cleanup_free_ char *lib_s = version_string(lib);
    _cleanup_free_ char *hv_s = have_hv ? version_string(hv) : xstrdup("unknown");
    check_add(r, "libvirt", true,
              xasprintf("%s: libvirt %s, hypervisor %s %s", h->uri, lib_s, type ? type : "?", hv_s),
              NULL);
    check_tee(conn, h, lib, r);
    virConnectClose(conn);
}
