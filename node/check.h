/* `cocoonctl check`: is this node ready to run cocoon pods with a given configuration?
 *
 * Like `kata-runtime check`, every check runs (none stops at the first failure, unless it makes
 * the later ones meaningless, as a configuration that does not load does), and each failed one
 * says what is wrong and what to do. A check that the configuration does not need (SEV-SNP for a
 * tee = "none" config, /dev/vhost-vsock for a virtio-serial agent channel) is listed as passed,
 * with why it was not needed, so a reader sees that it was considered. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "lib/error.h"

struct check_result {
    char *name; /* "libvirt", "vhost-vsock", ... */
    bool ok;
    char *detail; /* what was found */
    char *remedy; /* NULL when ok: what to do */
};

struct check_report {
    struct check_result *items;
    size_t len;
};

struct check_opts {
    const char *config_path;       /* cocoon's configuration (drop-ins applied) */
    const char *containerd_config; /* containerd's config.toml */
    /* Where the host is looked at; the tests point these into a temp dir. NULL: the real one. */
    const char *dev_dir; /* "/dev": vhost-vsock, kvm */
    const char *sys_dir; /* "/sys": kvm_amd / kvm_intel module parameters */
};

/* Runs every check into report (which the caller frees). Never fails: a check that cannot be
 * made is a failed check. */
void node_check(const struct check_opts *opts, struct check_report *report);

bool check_report_ok(const struct check_report *report);
void check_report_free(struct check_report *report);

/* Appends a result; detail and remedy are formatted by the caller (remedy NULL when ok). */
void check_add(struct check_report *report, const char *name, bool ok, char *detail, char *remedy);

/* What libvirt's domain capabilities XML says about confidential guests. */
struct domcaps_tee {
    bool sev;     /* <sev supported='yes'> (SEV or SEV-ES) */
    bool sev_snp; /* <launchSecurity supported='yes'> lists sectype sev-snp */
    bool tdx;     /* <tdx supported='yes'>, or sectype tdx */
};

/* Parses virConnectGetDomainCapabilities' XML. */
int domcaps_parse_tee(const char *xml, struct domcaps_tee *out, struct error *err);

/* The libvirt part of node_check: connection, versions, domain capabilities for the tee. */
struct config;
void check_libvirt(const struct config *cfg, struct check_report *report);
