#include "vmm/domain-xml.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/base64.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"
#include "vmm/xml-writer.h"

#define SNP_GUEST_VISIBLE_WORKAROUNDS_LEN 16
#define SNP_ID_BLOCK_LEN 96
#define SNP_ID_AUTH_LEN 4096
#define SNP_POLICY_RESERVED_1 (UINT64_C(1) << 17) /* must be set, per the SNP ABI */
#define TDX_MR_LEN 48
#define TDX_POLICY_ALLOWED ((UINT64_C(1) << 0) | (UINT64_C(1) << 28)) /* what libvirt accepts */
#define VIRTIO_BLK_SERIAL_MAX 20                                      /* VIRTIO_BLK_ID_BYTES */
#define MAX_DISKS 26       /* vda..vdz, the root image included */
#define MAX_NETDEV_NAME 15 /* IFNAMSIZ - 1 */

/* --- checks --- */

static int invalid(struct error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int invalid(struct error *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *msg = xvasprintf(fmt, ap);
    va_end(ap);
    return error_set(err, GRPC_INVALID_ARGUMENT, "vm spec: %s", msg);
}

static int check_text(const char *field, const char *value, struct error *err)
{
    if (value && !xml_text_valid(value))
        return invalid(err, "%s: not valid UTF-8, or holds a control character", field);
    return 0;
}

/* An optional absolute host path (libvirt wants absolute paths for all of them). */
static int check_path(const char *field, const char *value, struct error *err)
{
    if (!value)
        return 0;
    if (check_text(field, value, err) < 0)
        return -1;
    if (value[0] != '/' || value[1] == '\0')
        return invalid(err, "%s \"%s\": must be an absolute path", field, value);
    return 0;
}

static int require_path(const char *field, const char *value, const char *why, struct error *err)
{
    if (!value || !*value)
        return invalid(err, "%s is required%s", field, why);
    return check_path(field, value, err);
}

static bool is_base64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

/* Decoded length of padded standard base64, or -1 if s is not that. */
static long base64_decoded_len(const char *s)
{
    size_t n = strlen(s), pad = 0;
    if (n == 0 || n % 4)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '=') {
            if (i < n - 2)
                return -1;
            pad++;
        } else if (pad || !is_base64_char(s[i])) {
            return -1;
        }
    }
    return (long)(n / 4 * 3 - pad);
}

/* An optional base64 blob whose decoded length libvirt or QEMU checks; fail here, by name. */
static int check_base64(const char *field, const char *value, long want, struct error *err)
{
    if (!value)
        return 0;
    long got = base64_decoded_len(value);
    if (got < 0)
        return invalid(err, "%s: not valid base64 (standard alphabet, with padding)", field);
    if (got != want)
        return invalid(err, "%s: base64 decodes to %ld bytes, want %ld", field, got, want);
    return 0;
}

static int check_basics(const struct vm_spec *spec, struct error *err)
{
    if (!spec->name || !*spec->name)
        return invalid(err, "name is required");
    if (check_text("name", spec->name, err) < 0)
        return -1;
    if (strchr(spec->name, '\n') || strchr(spec->name, '\r') || strchr(spec->name, '\t'))
        return invalid(err, "name: must be a single line");
    if (check_text("sandbox_id", spec->sandbox_id, err) < 0)
        return -1;
    if (spec->domain_type && strcmp(spec->domain_type, "kvm") != 0 &&
        strcmp(spec->domain_type, "qemu") != 0)
        return invalid(err, "domain_type \"%s\": want \"kvm\" or \"qemu\" (TCG)",
                       spec->domain_type);
    if (spec->machine_type) {
        if (!*spec->machine_type || check_text("machine_type", spec->machine_type, err) < 0)
            return invalid(err, "machine_type: must be a machine name such as q35 or pc");
        if (spec->tee == VM_TEE_TDX && !strstr(spec->machine_type, "q35"))
            return invalid(err, "machine_type \"%s\": a TDX guest needs q35", spec->machine_type);
    }
    if (spec->vcpus < 1)
        return invalid(err, "vcpus must be at least 1");
    if (spec->memory_mib < 1)
        return invalid(err, "memory_mib must be at least 1");
    if (check_path("emulator", spec->emulator, err) < 0 ||
        require_path("kernel", spec->kernel, " (the VM boots its kernel directly)", err) < 0 ||
        check_path("initrd", spec->initrd, err) < 0 || check_path("image", spec->image, err) < 0 ||
        check_text("kernel_params", spec->kernel_params, err) < 0 ||
        check_path("firmware", spec->firmware, err) < 0 ||
        check_path("console_log", spec->console_log, err) < 0)
        return -1;
    return 0;
}

static int check_snp(const struct vm_spec *spec, struct error *err)
{
    const struct vm_snp *snp = &spec->snp;
    if (!spec->firmware)
        return invalid(err, "firmware is required for a SEV-SNP guest (an OVMF AmdSev build, "
                            "loaded as ROM)");
    if (!(snp->policy & SNP_POLICY_RESERVED_1))
        return invalid(err,
                       "snp.policy 0x%" PRIx64 ": bit 17 is reserved and must be set "
                       "(the usual policy is 0x30000)",
                       snp->policy);
    if (check_base64("snp.guest_visible_workarounds", snp->guest_visible_workarounds,
                     SNP_GUEST_VISIBLE_WORKAROUNDS_LEN, err) < 0 ||
        check_base64("snp.id_block", snp->id_block, SNP_ID_BLOCK_LEN, err) < 0 ||
        check_base64("snp.id_auth", snp->id_auth, SNP_ID_AUTH_LEN, err) < 0)
        return -1;
    if (snp->id_block && !snp->id_auth)
        return invalid(err, "snp.id_block needs snp.id_auth");
    if (snp->id_auth && !snp->id_block)
        return invalid(err, "snp.id_auth needs snp.id_block");
    if (snp->author_key && !snp->id_auth)
        return invalid(err, "snp.author_key needs snp.id_block and snp.id_auth (which holds the "
                            "author key)");
    return 0;
}

static int check_tdx(const struct vm_spec *spec, struct error *err)
{
    const struct vm_tdx *tdx = &spec->tdx;
    if (!spec->firmware)
        return invalid(err, "firmware is required for a TDX guest (a TDVF build, loaded as ROM)");
    if (tdx->has_policy && (tdx->policy & ~TDX_POLICY_ALLOWED))
        return invalid(err,
                       "tdx.policy 0x%" PRIx64 ": only bit 0 (debug) and bit 28 "
                       "(sept-ve-disable) are allowed",
                       tdx->policy);
    if (check_base64("tdx.mr_owner", tdx->mr_owner, TDX_MR_LEN, err) < 0 ||
        check_base64("tdx.mr_owner_config", tdx->mr_owner_config, TDX_MR_LEN, err) < 0 ||
        check_path("tdx.qgs_socket_path", tdx->qgs_socket_path, err) < 0)
        return -1;
    return 0;
}

static bool is_disk_serial_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           strchr("_.+- ", c);
}

static int check_disks(const struct vm_spec *spec, struct error *err)
{
    size_t max = spec->image ? MAX_DISKS - 1 : MAX_DISKS;
    if (spec->n_disks > max)
        return invalid(err, "disks: %zu disks, at most %zu fit (vda..vdz)", spec->n_disks, max);
    if (spec->n_disks && !spec->disks)
        return invalid(err, "disks: n_disks is %zu but the array is missing", spec->n_disks);
    for (size_t i = 0; i < spec->n_disks; i++) {
        const struct vm_disk *d = &spec->disks[i];
        char field[48];
        snprintf(field, sizeof(field), "disks[%zu].path", i);
        if (require_path(field, d->path, "", err) < 0)
            return -1;
        if (!d->serial)
            continue;
        size_t n = strlen(d->serial);
        if (n == 0 || n > VIRTIO_BLK_SERIAL_MAX)
            return invalid(err, "disks[%zu].serial \"%s\": want 1 to %d characters (virtio-blk)", i,
                           d->serial, VIRTIO_BLK_SERIAL_MAX);
        for (size_t j = 0; j < n; j++)
            if (!is_disk_serial_char(d->serial[j]))
                return invalid(err,
                               "disks[%zu].serial \"%s\": only letters, digits, space and "
                               "_.+- are allowed",
                               i, d->serial);
    }
    return 0;
}

static int check_nics(const struct vm_spec *spec, struct error *err)
{
    if (spec->n_nics && !spec->nics)
        return invalid(err, "nics: n_nics is %zu but the array is missing", spec->n_nics);
    for (size_t i = 0; i < spec->n_nics; i++) {
        const struct vm_nic *n = &spec->nics[i];
        size_t len = n->tap ? strlen(n->tap) : 0;
        if (len == 0 || len > MAX_NETDEV_NAME)
            return invalid(err, "nics[%zu].tap \"%s\": want 1 to %d characters", i,
                           n->tap ? n->tap : "", MAX_NETDEV_NAME);
        for (size_t j = 0; j < len; j++)
            if (n->tap[j] <= ' ' || n->tap[j] == '/' || n->tap[j] == ':' || n->tap[j] > '~')
                return invalid(err, "nics[%zu].tap \"%s\": not a network device name", i, n->tap);
        if (n->mac[0] & 1)
            return invalid(err, "nics[%zu].mac: a multicast address", i);
        if (n->mtu && (n->mtu < 68 || n->mtu > 65535))
            return invalid(err, "nics[%zu].mtu %u: want 68 to 65535", i, n->mtu);
    }
    return 0;
}

static int check_agent(const struct vm_spec *spec, struct error *err)
{
    switch (spec->agent_channel) {
    case VM_AGENT_VSOCK:
        return 0;
    case VM_AGENT_SERIAL:
        if (!spec->agent_socket || !*spec->agent_socket)
            return invalid(err, "agent_socket is required for the virtio-serial agent channel");
        return check_path("agent_socket", spec->agent_socket, err);
    }
    return invalid(err, "agent_channel %d: unknown", (int)spec->agent_channel);
}

int vm_spec_validate(const struct vm_spec *spec, struct error *err)
{
    if (check_basics(spec, err) < 0 || check_disks(spec, err) < 0 || check_nics(spec, err) < 0 ||
        check_agent(spec, err) < 0)
        return -1;
    switch (spec->tee) {
    case VM_TEE_NONE:
        return 0;
    case VM_TEE_SNP:
        return check_snp(spec, err);
    case VM_TEE_TDX:
        return check_tdx(spec, err);
    }
    return invalid(err, "tee %d: unknown", (int)spec->tee);
}

/* --- XML --- */

static void write_number(struct xml_writer *w, const char *tag, unsigned long long v,
                         const char *attr, const char *attr_value)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%llu", v);
    xml_element(w, tag, buf, attr, attr_value, NULL);
}

static void write_hex(struct xml_writer *w, const char *tag, uint64_t v)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "0x%08" PRIx64, v); /* the form libvirt writes: 0x00030000 */
    xml_element(w, tag, buf, NULL);
}

static void write_metadata(struct xml_writer *w, const struct vm_spec *spec)
{
    if (!spec->sandbox_id)
        return;
    xml_open(w, "metadata", NULL);
    xml_element(w, DOMAIN_XML_METADATA_PREFIX ":" DOMAIN_XML_METADATA_ELEMENT, spec->sandbox_id,
                "xmlns:" DOMAIN_XML_METADATA_PREFIX, DOMAIN_XML_METADATA_NS, NULL);
    xml_close(w);
}

static void write_os(struct xml_writer *w, const struct vm_spec *spec)
{
    const char *machine = spec->machine_type ? spec->machine_type : "q35";
    xml_open(w, "os", NULL);
    xml_element(w, "type", "hvm", "arch", "x86_64", "machine", machine, NULL);
    /* SNP and TDX firmware must be a ROM (QEMU -bios): neither can run from pflash */
    if (spec->firmware)
        xml_element(w, "loader", spec->firmware, "type", "rom", "readonly", "yes", NULL);
    xml_element(w, "kernel", spec->kernel, NULL);
    if (spec->initrd)
        xml_element(w, "initrd", spec->initrd, NULL);
    if (spec->kernel_params)
        xml_element(w, "cmdline", spec->kernel_params, NULL);
    xml_close(w);
}

static void write_features(struct xml_writer *w, const struct vm_spec *spec)
{
    xml_open(w, "features", NULL);
    xml_empty(w, "acpi", NULL); /* without ACPI a guest's poweroff leaves the domain running */
    if (spec->tee == VM_TEE_TDX) {
        /* libvirt refuses TDX without a split irqchip, and with PMU or SMM enabled */
        xml_empty(w, "ioapic", "driver", "qemu", NULL);
        xml_empty(w, "pmu", "state", "off", NULL);
        xml_empty(w, "smm", "state", "off", NULL);
    }
    xml_close(w);
    if (spec->tee == VM_TEE_TDX)
        xml_empty(w, "cpu", "mode", "host-passthrough", NULL); /* QEMU rejects named models */
}

static void write_disk(struct xml_writer *w, const char *path, int index, const char *serial,
                       bool readonly)
{
    char dev[8];
    snprintf(dev, sizeof(dev), "vd%c", 'a' + index);
    xml_open(w, "disk", "type", "file", "device", "disk", NULL);
    xml_empty(w, "driver", "name", "qemu", "type", "raw", NULL);
    xml_empty(w, "source", "file", path, NULL);
    xml_empty(w, "target", "dev", dev, "bus", "virtio", NULL);
    if (serial)
        xml_element(w, "serial", serial, NULL);
    if (readonly)
        xml_empty(w, "readonly", NULL);
    xml_close(w);
}

static void write_agent_channel(struct xml_writer *w, const struct vm_spec *spec)
{
    if (spec->agent_channel == VM_AGENT_VSOCK) {
        xml_open(w, "vsock", "model", "virtio", NULL);
        xml_empty(w, "cid", "auto", "yes", NULL);
        xml_close(w);
        return;
    }
    /* mode='bind': QEMU listens on the socket and the shim connects */
    xml_open(w, "channel", "type", "unix", NULL);
    xml_empty(w, "source", "mode", "bind", "path", spec->agent_socket, NULL);
    xml_empty(w, "target", "type", "virtio", "name", VM_AGENT_SERIAL_NAME, NULL);
    xml_close(w);
}

/* No option ROM: the kernel is booted directly, and a TEE guest measures what it loads. */
static void write_nic(struct xml_writer *w, const struct vm_nic *n)
{
    char mac[18], mtu[12];
    snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", n->mac[0], n->mac[1], n->mac[2],
             n->mac[3], n->mac[4], n->mac[5]);
    xml_open(w, "interface", "type", "ethernet", NULL);
    xml_empty(w, "mac", "address", mac, NULL);
    xml_empty(w, "target", "dev", n->tap, "managed", "no", NULL);
    xml_empty(w, "model", "type", "virtio", NULL);
    if (n->mtu) {
        snprintf(mtu, sizeof(mtu), "%u", n->mtu);
        xml_empty(w, "mtu", "size", mtu, NULL);
    }
    xml_empty(w, "rom", "enabled", "no", NULL);
    xml_close(w);
}

static void write_devices(struct xml_writer *w, const struct vm_spec *spec)
{
    xml_open(w, "devices", NULL);
    if (spec->emulator)
        xml_element(w, "emulator", spec->emulator, NULL);
    int index = 0;
    if (spec->image)
        write_disk(w, spec->image, index++, NULL, true);
    for (size_t i = 0; i < spec->n_disks; i++)
        write_disk(w, spec->disks[i].path, index++, spec->disks[i].serial, spec->disks[i].readonly);
    /* No USB: nothing uses it, and probing the default controller costs the guest ~0.5 s. */
    xml_empty(w, "controller", "type", "usb", "model", "none", NULL);
    if (spec->agent_channel == VM_AGENT_SERIAL)
        xml_empty(w, "controller", "type", "virtio-serial", "index", "0", NULL);
    for (size_t i = 0; i < spec->n_nics; i++)
        write_nic(w, &spec->nics[i]);
    if (spec->user_network) {
        xml_open(w, "interface", "type", "user", NULL);
        xml_empty(w, "mac", "address", VM_USER_NETWORK_MAC, NULL);
        xml_empty(w, "model", "type", "virtio", NULL);
        xml_empty(w, "rom", "enabled", "no", NULL);
        xml_close(w);
    }
    if (spec->console_log) {
        xml_open(w, "serial", "type", "file", NULL);
        xml_empty(w, "source", "path", spec->console_log, NULL);
        xml_empty(w, "target", "port", "0", NULL);
        xml_close(w);
    }
    write_agent_channel(w, spec);
    xml_empty(w, "memballoon", "model", "none", NULL);
    xml_close(w);
}

static void write_snp(struct xml_writer *w, const struct vm_snp *snp)
{
    /* attributes only when they differ from libvirt's defaults, so plain specs stay short */
    const char *attrs[6] = {NULL};
    int n = 0;
    if (snp->kernel_hashes)
        attrs[n++] = "kernelHashes", attrs[n++] = "yes";
    if (snp->author_key)
        attrs[n++] = "authorKey", attrs[n++] = "yes";
    if (snp->vcek_disabled)
        attrs[n++] = "vcek", attrs[n++] = "no";
    xml_open(w, "launchSecurity", "type", "sev-snp", attrs[0], attrs[1], attrs[2], attrs[3],
             attrs[4], attrs[5], NULL);
    if (snp->has_cbitpos)
        write_number(w, "cbitpos", snp->cbitpos, NULL, NULL);
    if (snp->has_reduced_phys_bits)
        write_number(w, "reducedPhysBits", snp->reduced_phys_bits, NULL, NULL);
    write_hex(w, "policy", snp->policy);
    if (snp->guest_visible_workarounds)
        xml_element(w, "guestVisibleWorkarounds", snp->guest_visible_workarounds, NULL);
    if (snp->id_block)
        xml_element(w, "idBlock", snp->id_block, NULL);
    if (snp->id_auth)
        xml_element(w, "idAuth", snp->id_auth, NULL);
    if (snp->has_host_data) {
        _cleanup_free_ char *b64 = base64_encode(snp->host_data, sizeof(snp->host_data));
        xml_element(w, "hostData", b64, NULL);
    }
    xml_close(w);
}

static void write_tdx(struct xml_writer *w, const struct vm_tdx *tdx)
{
    xml_open(w, "launchSecurity", "type", "tdx", NULL);
    if (tdx->has_policy)
        write_hex(w, "policy", tdx->policy);
    if (tdx->has_mr_config_id) {
        _cleanup_free_ char *b64 = base64_encode(tdx->mr_config_id, sizeof(tdx->mr_config_id));
        xml_element(w, "mrConfigId", b64, NULL);
    }
    if (tdx->mr_owner)
        xml_element(w, "mrOwner", tdx->mr_owner, NULL);
    if (tdx->mr_owner_config)
        xml_element(w, "mrOwnerConfig", tdx->mr_owner_config, NULL);
    /* a path implies the service; without a path libvirt uses its default socket */
    if (tdx->quote_generation_service || tdx->qgs_socket_path) {
        if (tdx->qgs_socket_path)
            xml_empty(w, "quoteGenerationService", "path", tdx->qgs_socket_path, NULL);
        else
            xml_empty(w, "quoteGenerationService", NULL);
    }
    xml_close(w);
}

int domain_xml_build(const struct vm_spec *spec, char **out_xml, struct error *err)
{
    *out_xml = NULL;
    if (vm_spec_validate(spec, err) < 0)
        return -1;

    struct xml_writer w;
    xml_writer_init(&w);
    xml_open(&w, "domain", "type", spec->domain_type ? spec->domain_type : "kvm", NULL);
    xml_element(&w, "name", spec->name, NULL);
    write_metadata(&w, spec);
    /* One fixed size, for every guest: no <maxMemory> (memory hot-plug slots), no DIMMs, no
     * balloon. An SEV-SNP or TDX guest cannot take hot-plugged memory, and one started with
     * hot-plug slots hangs at boot above 2 GiB; the shim sizes each VM once instead
     * ([runtime] static_sandbox_resource_mgmt). vm_spec has nothing that could ask for more. */
    write_number(&w, "memory", spec->memory_mib, "unit", "MiB");
    write_number(&w, "currentMemory", spec->memory_mib, "unit", "MiB");
    write_number(&w, "vcpu", spec->vcpus, "placement", "static");
    write_os(&w, spec);
    write_features(&w, spec);
    /* a pod VM never reboots: a confidential guest cannot be reset, and the shim restarts nothing
     */
    xml_element(&w, "on_poweroff", "destroy", NULL);
    xml_element(&w, "on_reboot", "destroy", NULL);
    xml_element(&w, "on_crash", "destroy", NULL);
    write_devices(&w, spec);
    if (spec->tee == VM_TEE_SNP)
        write_snp(&w, &spec->snp);
    else if (spec->tee == VM_TEE_TDX)
        write_tdx(&w, &spec->tdx);
    xml_close(&w);
    *out_xml = xml_writer_take(&w);
    return 0;
}
