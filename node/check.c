#include "node/check.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/toml.h"
#include "lib/xalloc.h"
#include "node/containerd-config.h"
#include "shim/config.h"

#define SHIM_BINARY "containerd-shim-cocoon-v2"

void check_add(struct check_report *report, const char *name, bool ok, char *detail, char *remedy)
{
    report->items = xrealloc(report->items, (report->len + 1) * sizeof(*report->items));
    report->items[report->len++] = (struct check_result){xstrdup(name), ok, detail, remedy};
}

bool check_report_ok(const struct check_report *report)
{
    for (size_t i = 0; i < report->len; i++)
        if (!report->items[i].ok)
            return false;
    return true;
}

void check_report_free(struct check_report *report)
{
    for (size_t i = 0; i < report->len; i++) {
        free(report->items[i].name);
        free(report->items[i].detail);
        free(report->items[i].remedy);
    }
    free(report->items);
    *report = (struct check_report){0};
}

static const char *tee_name(enum vm_tee tee)
{
    return tee == VM_TEE_SNP ? "snp" : tee == VM_TEE_TDX ? "tdx" : "none";
}

/* --- the configuration and the files it names --- */

static void check_config_loaded(const char *path, const struct config *cfg, struct check_report *r)
{
    const struct config_hypervisor *h = &cfg->hypervisor;
    char *detail = xasprintf(
        "%s%s: tee = \"%s\", agent_channel = \"%s\", domain_type = \"%s\", "
        "uri = \"%s\"",
        path, cfg->files.len > 1 ? " and its config.d drop-ins" : "", tee_name(h->tee),
        h->agent_channel == VM_AGENT_VSOCK ? "vsock" : "virtio-serial", h->domain_type, h->uri);
    check_add(r, "config", true, detail, NULL);
}

/* A file the VM boots from: must be a readable regular file. `needed` says why an empty value
 * is wrong, or NULL when empty is fine. */
static void check_file(struct check_report *r, const char *key, const char *path,
                       const char *needed)
{
    if (!path || !path[0]) {
        if (needed)
            check_add(r, key, false, xasprintf("[hypervisor.libvirt] %s is not set", key),
                      xasprintf("set %s in the configuration: %s", key, needed));
        else
            check_add(r, key, true, xasprintf("not needed: %s = \"\"", key), NULL);
        return;
    }
    struct stat st;
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0 || fstat(fd, &st) < 0) {
        int e = errno;
        check_add(r, key, false, xasprintf("%s = \"%s\": %s", key, path, strerror(e)),
                  e == ENOENT ? xasprintf("install the %s there, or point %s at it", key, key)
                              : xasprintf("make %s readable by root", path));
        return;
    }
    if (!S_ISREG(st.st_mode)) {
        check_add(r, key, false, xasprintf("%s = \"%s\" is not a regular file", key, path),
                  xasprintf("point %s at the %s file itself", key, key));
        return;
    }
    check_add(r, key, true, xasprintf("%s (%lld bytes)", path, (long long)st.st_size), NULL);
}

static void check_files(const struct config *cfg, struct check_report *r)
{
    const struct config_hypervisor *h = &cfg->hypervisor;
    check_file(r, "kernel", h->kernel, "the guest kernel every pod VM boots");
    check_file(r, "initrd", h->initrd, NULL);
    check_file(r, "image", h->image, NULL);
    check_file(r, "firmware", h->firmware,
               h->tee != VM_TEE_NONE ? "a TEE guest boots from firmware loaded as ROM (OVMF's "
                                       "AmdSev build for SNP, TDVF for TDX)"
                                     : NULL);
    if (h->emulator && h->emulator[0]) {
        if (access(h->emulator, X_OK) == 0)
            check_add(r, "emulator", true, xstrdup(h->emulator), NULL);
        else
            check_add(r, "emulator", false,
                      xasprintf("emulator = \"%s\": %s", h->emulator, strerror(errno)),
                      xstrdup("install QEMU there, or set emulator = \"\" for libvirt's default"));
    }
}

/* --- devices --- */

static char *host_path(const char *dir, const char *def, const char *name)
{
    return xasprintf("%s/%s", dir ? dir : def, name);
}

/* A character device the VM's QEMU opens read-write. */
static void check_device(struct check_report *r, const char *name, const char *path,
                         const char *why, const char *remedy)
{
    _cleanup_close_ int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd >= 0) {
        check_add(r, name, true, xasprintf("%s opens read-write (%s)", path, why), NULL);
        return;
    }
    check_add(r, name, false, xasprintf("%s: %s; %s", path, strerror(errno), why), xstrdup(remedy));
}

static void check_devices(const struct config *cfg, const struct check_opts *o,
                          struct check_report *r)
{
    const struct config_hypervisor *h = &cfg->hypervisor;
    _cleanup_free_ char *vsock = host_path(o->dev_dir, "/dev", "vhost-vsock");
    if (h->agent_channel == VM_AGENT_VSOCK)
        check_device(r, "vhost-vsock", vsock, "agent_channel = \"vsock\" needs it",
                     "load the module (modprobe vhost_vsock; on a VM, its hypervisor must allow "
                     "nested vsock), or set agent_channel = \"virtio-serial\"");
    else
        check_add(r, "vhost-vsock", true, xstrdup("not needed: agent_channel = \"virtio-serial\""),
                  NULL);

    _cleanup_free_ char *kvm = host_path(o->dev_dir, "/dev", "kvm");
    if (strcmp(h->domain_type, "kvm") == 0)
        check_device(r, "kvm", kvm, "domain_type = \"kvm\" needs it",
                     "enable virtualization in the firmware and load kvm_amd or kvm_intel, or "
                     "set domain_type = \"qemu\" (TCG: slow, and no TEE)");
    else
        check_add(r, "kvm", true,
                  xasprintf("not needed: domain_type = \"%s\" (TCG)", h->domain_type), NULL);

    /* The host kernel's side of the TEE: the KVM module parameter that turns it on. */
    if (h->tee == VM_TEE_NONE)
        return;
    bool snp = h->tee == VM_TEE_SNP;
    _cleanup_free_ char *param =
        host_path(o->sys_dir, "/sys",
                  snp ? "module/kvm_amd/parameters/sev_snp" : "module/kvm_intel/parameters/tdx");
    _cleanup_free_ char *value = NULL;
    size_t len = 0;
    struct error err = ERROR_INIT;
    const char *name = snp ? "kvm-sev-snp" : "kvm-tdx";
    if (fs_read_file(param, 64, &value, &len, &err) < 0)
        check_add(r, name, false, xstrdup(err.msg),
                  xasprintf("tee = \"%s\" needs a host kernel with %s support and the %s module "
                            "loaded",
                            tee_name(h->tee), snp ? "SEV-SNP" : "TDX",
                            snp ? "kvm_amd" : "kvm_intel"));
    else if (value[0] == 'Y' || value[0] == '1')
        check_add(r, name, true, xasprintf("%s = %c", param, value[0]), NULL);
    else
        check_add(r, name, false,
                  xasprintf("%s is %c: KVM has %s off", param, value[0], snp ? "SEV-SNP" : "TDX"),
                  xasprintf("load %s with %s=1 (and enable it in the firmware)",
                            snp ? "kvm_amd" : "kvm_intel", snp ? "sev_snp" : "tdx"));
    error_clear(&err);
}

/* --- the shim binary and containerd's config --- */

static char *find_in_path(const char *name)
{
    const char *path = getenv("PATH");
    _cleanup_free_ char *copy = xstrdup(path && path[0] ? path : "/usr/local/bin:/usr/bin:/bin");
    char *save = NULL;
    for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        char *p = xasprintf("%s/%s", d, name);
        if (access(p, X_OK) == 0)
            return p;
        free(p);
    }
    return NULL;
}

static void check_shim(struct check_report *r)
{
    _cleanup_free_ char *p = find_in_path(SHIM_BINARY);
    if (p)
        check_add(r, "shim", true, xasprintf("%s", p), NULL);
    else
        check_add(r, "shim", false,
                  xstrdup(SHIM_BINARY " is not in PATH (containerd looks for the shim of "
                                      "runtime_type io.containerd.cocoon.v2 in its PATH)"),
                  xstrdup("install cocoon (meson install), or link the binary into a directory "
                          "of containerd's PATH such as /usr/local/bin"));
}

/* Two paths name the same file (or, if either is missing, are the same text). */
static bool same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    if (stat(a, &sa) == 0 && stat(b, &sb) == 0)
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    return strcmp(a, b) == 0;
}

/* <dir of path>/config.d: where the drop-ins of the configuration at path are read from. */
static char *dropin_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? xasprintf("%.*s/config.d", (int)(slash - path), path) : xstrdup("config.d");
}

/* Two paths name the same configuration: the same file, with the same drop-ins. The drop-ins
 * are read beside the path named, not beside a link's target, so debug-dev/cocoon.toml (a link
 * to ../cocoon-dev.toml, with config.d/50-debug.toml beside it) is not cocoon-dev.toml. */
static bool same_config(const char *a, const char *b)
{
    if (!same_file(a, b))
        return false;
    _cleanup_free_ char *da = dropin_dir(a);
    _cleanup_free_ char *db = dropin_dir(b);
    struct stat sa, sb;
    bool ha = stat(da, &sa) == 0, hb = stat(db, &sb) == 0;
    if (!ha || !hb)
        return !ha && !hb; /* neither has drop-ins */
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static void check_containerd(const struct check_opts *o, struct check_report *r)
{
    const char *path = o->containerd_config;
    const char *install = "cocoonctl install containerd";
    _cleanup_free_ char *text = NULL;
    size_t len = 0;
    struct error err = ERROR_INIT;
    struct toml_value *root = NULL;
    int version = 0;
    if (fs_read_file(path, 16u << 20, &text, &len, &err) < 0) {
        check_add(r, "containerd", false, xasprintf("%s: %s", path, err.msg),
                  err.code == GRPC_NOT_FOUND
                      ? xasprintf("%s writes one with cocoon's runtimes (or give "
                                  "--containerd-config PATH)",
                                  install)
                      : xasprintf("make %s readable", path));
        error_clear(&err);
        return;
    }
    root = toml_parse(text, len, &err);
    if (!root || ctd_config_version(path, root, &version, &err) < 0) {
        check_add(r, "containerd", false, xasprintf("%s: %s", path, err.msg),
                  xstrdup("fix the file: containerd does not start with it either"));
        error_clear(&err);
        toml_free(root);
        return;
    }
    const struct toml_value *rts = ctd_config_runtimes(root, version);
    _cleanup_free_ char *others = NULL;
    char *found = NULL;
    for (size_t i = 0; rts && i < rts->u.table.len; i++) {
        const struct toml_keyval *kv = &rts->u.table.items[i];
        const char *type = ctd_toml_string(kv->value, "runtime_type");
        if (!type || strcmp(type, CTD_RUNTIME_TYPE) != 0)
            continue;
        const char *cp = ctd_toml_string(kv->value, "options.ConfigPath");
        if (cp && same_config(cp, o->config_path)) {
            found = xasprintf("%s registers runtime %s with ConfigPath = \"%s\" (config version "
                              "%d; restart containerd if you changed it since it started)",
                              path, kv->key, cp, version);
            break;
        }
        char *more = xasprintf("%s%s%s (ConfigPath \"%s\")", others ? others : "",
                               others ? ", " : "", kv->key, cp ? cp : "");
        free(others);
        others = more;
    }
    if (found)
        check_add(r, "containerd", true, found, NULL);
    else
        check_add(r, "containerd", false,
                  xasprintf("%s (config version %d) registers no runtime of type " CTD_RUNTIME_TYPE
                            " whose options.ConfigPath is %s%s%s",
                            path, version, o->config_path, others ? "; it has " : "",
                            others ? others : ""),
                  xasprintf("%s --config %s (with --cocoon-dir DIR when this configuration "
                            "is not DIR/cocoon-<tee>.toml or DIR/debug-<tee>/cocoon.toml of "
                            "cocoon's config dir), or set options.ConfigPath of a cocoon runtime "
                            "to %s; then restart containerd",
                            install, path, o->config_path));
    toml_free(root);
}

void node_check(const struct check_opts *o, struct check_report *r)
{
    *r = (struct check_report){0};
    struct config *cfg = NULL;
    struct error err = ERROR_INIT;
    if (config_load(o->config_path, &cfg, &err) < 0) {
        check_add(r, "config", false, xstrdup(err.msg),
                  err.code == GRPC_NOT_FOUND
                      ? xstrdup("install one of cocoon's configurations there (cocoon-snp.toml, "
                                "cocoon-tdx.toml, cocoon-dev.toml), or give --config FILE")
                      : xstrdup("fix the key named; the other checks need a configuration "
                                "that loads"));
        error_clear(&err);
    } else {
        check_config_loaded(o->config_path, cfg, r);
        check_files(cfg, r);
        check_devices(cfg, o, r);
        check_libvirt(cfg, r);
    }
    check_shim(r);
    check_containerd(o, r);
    config_free(cfg);
}
