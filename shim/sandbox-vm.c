#include "shim/sandbox-vm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "annotations/verity.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "vmm/domain.h"

#define SANDBOX_ID_MAX 76 /* containerd's identifier limit */

_Static_assert(VM_SNP_HOST_DATA_LEN == INITDATA_SNP_HOST_DATA_LEN, "SNP HOST_DATA size");
_Static_assert(VM_TDX_MR_CONFIG_ID_LEN == INITDATA_TDX_MRCONFIGID_LEN, "TDX MRCONFIGID size");

/* containerd's identifier rule (alphanumerics, single separators among ._-), which also keeps
 * the id safe as a path component. */
static int check_sandbox_id(const char *id, struct error *err)
{
    size_t n = strlen(id);
    bool ok = n > 0 && n <= SANDBOX_ID_MAX;
    for (size_t i = 0; ok && i < n; i++) {
        bool alnum = (id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') ||
                     (id[i] >= '0' && id[i] <= '9');
        bool sep = strchr("._-", id[i]) != NULL;
        ok = alnum || (sep && i > 0 && i + 1 < n && !strchr("._-", id[i + 1]));
    }
    if (!ok)
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "sandbox id \"%s\": want 1 to %d letters and digits, separated by "
                         "single '.', '_' or '-'",
                         id, SANDBOX_ID_MAX);
    return 0;
}

char *sandbox_state_dir(const struct config *cfg, const char *sandbox_id)
{
    const char *base = cfg->runtime.state_dir;
    size_t n = strlen(base);
    while (n > 1 && base[n - 1] == '/')
        n--;
    return xasprintf("%.*s/%s", (int)n, base, sandbox_id);
}

static char *optional(const char *s)
{
    return s && *s ? xstrdup(s) : NULL;
}

static char *pick(const char *override, const char *configured)
{
    return optional(override ? override : configured);
}

/* Appends " extra" (or just extra) to *params. */
static void append_param(char **params, const char *extra)
{
    if (!extra || !*extra)
        return;
    char *joined = **params ? xasprintf("%s %s", *params, extra) : xstrdup(extra);
    free(*params);
    *params = joined;
}

/* --- the kernel command line --- */

/* dm-verity for the root image, Kata's way (annotations/verity.h): the annotation's parameters
 * replace the configured ones. */
static int add_root_verity(const struct config_hypervisor *hv, const struct overrides *ovr,
                           const struct vm_spec *out, char **params, struct error *err)
{
    const char *text =
        ovr->kernel_verity_params ? ovr->kernel_verity_params : hv->kernel_verity_params;
    if (!*text)
        return 0;
    _cleanup_free_ char *from = ovr->kernel_verity_params
                                    ? xstrdup("annotation \"" ANNOTATION_KERNEL_VERITY_PARAMS "\"")
                                    : xstrdup("[hypervisor.libvirt] kernel_verity_params");
    if (!out->image || out->initrd)
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "%s: needs the VM to boot from its image (%s), whose partitions 1 and "
                         "2 hold the root and its hash tree",
                         from, out->image ? "and no initrd" : "it has none");
    struct verity_params p;
    if (verity_params_parse(text, &p, err) < 0)
        return error_wrap(err, "%s", from);
    char *with_verity = verity_root_kernel_params(*params, &p, err);
    if (!with_verity)
        return error_wrap(err, "%s", from);
    free(*params);
    *params = with_verity;
    return 0;
}

/* The configured parameters (with the root's dm-verity), the annotation's, then one
 * kata.extension.<name>.verity_params per extension image, last as in Kata. That parameter is
 * also what makes the guest mount the extension, so it is there even without verity: a bare
 * key, as Kata writes an empty value. */
static int fill_kernel_params(const struct config_hypervisor *hv, const struct overrides *ovr,
                              struct vm_spec *out, struct error *err)
{
    _cleanup_free_ char *params = xstrdup(hv->kernel_params);
    if (add_root_verity(hv, ovr, out, &params, err) < 0)
        return -1;
    append_param(&params, ovr->kernel_params);
    for (size_t i = 0; i < hv->guest_extension_images.len; i++) {
        const struct config_extension *e = &hv->guest_extension_images.items[i];
        _cleanup_free_ char *p =
            *e->verity_params
                ? xasprintf("kata.extension.%s.verity_params=%s", e->name, e->verity_params)
                : xasprintf("kata.extension.%s.verity_params", e->name);
        append_param(&params, p);
    }
    out->kernel_params = optional(params);
    return 0;
}

static void add_disk(struct vm_spec *out, char *path, char *serial)
{
    out->disks = xrealloc(out->disks, (out->n_disks + 1) * sizeof(*out->disks));
    out->disks[out->n_disks++] = (struct vm_disk){.path = path, .serial = serial, .readonly = true};
}

/* Kata's composable images: each extension a read-only virtio-blk disk after the root image,
 * found by the guest as /dev/disk/by-id/virtio-extension-<name>. */
static void add_extensions(const struct config_hypervisor *hv, struct vm_spec *out)
{
    for (size_t i = 0; i < hv->guest_extension_images.len; i++) {
        const struct config_extension *e = &hv->guest_extension_images.items[i];
        add_disk(out, xstrdup(e->path), xasprintf(CONFIG_EXTENSION_SERIAL_PREFIX "%s", e->name));
    }
}

static void fill_snp(const struct config_hypervisor *hv, struct vm_snp *snp)
{
    snp->policy = hv->snp_guest_policy;
    snp->has_cbitpos = hv->snp_cbitpos != 0;
    snp->cbitpos = hv->snp_cbitpos;
    snp->has_reduced_phys_bits = hv->snp_reduced_phys_bits != 0;
    snp->reduced_phys_bits = hv->snp_reduced_phys_bits;
    snp->id_block = optional(hv->snp_id_block);
    snp->id_auth = optional(hv->snp_id_auth);
    snp->kernel_hashes = hv->snp_kernel_hashes;
}

static void fill_tdx(const struct config_hypervisor *hv, struct vm_tdx *tdx)
{
    tdx->has_policy = true;
    tdx->policy = hv->tdx_policy;
    tdx->mr_owner = optional(hv->tdx_mr_owner);
    tdx->mr_owner_config = optional(hv->tdx_mr_owner_config);
    tdx->quote_generation_service = hv->tdx_quote_generation_service;
    tdx->qgs_socket_path = optional(hv->tdx_quote_generation_service_socket);
}

/* QEMU binds the channel socket itself; a path longer than sun_path fails there, obscurely. */
static int fill_agent(const struct config *cfg, const char *dir, struct vm_spec *out,
                      struct error *err)
{
    out->agent_channel = cfg->hypervisor.agent_channel;
    if (out->agent_channel != VM_AGENT_SERIAL)
        return 0;
    out->agent_socket = xasprintf("%s/%s", dir, SANDBOX_AGENT_SOCKET);
    if (strlen(out->agent_socket) >= sizeof(((struct sockaddr_un *)0)->sun_path))
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "agent socket %s: longer than a unix socket path may be (%zu bytes); "
                         "use a shorter [runtime] state_dir",
                         out->agent_socket, sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
    return 0;
}

/* --- init-data --- */

/* overrides_compute() has already refused the annotation unless enable_annotations allows it.
 * A pod without it gets the node's [hypervisor.libvirt] initdata, if any; an empty value means
 * no init-data, even over the node's (runtime-rs: the annotation replaces the configured
 * init-data, and "" is none). */
static int decode_initdata(const struct config *cfg, const struct annotation *anns, size_t n,
                           struct initdata **d, struct error *err)
{
    const char *value = annotation_get(anns, n, ANNOTATION_INITDATA);
    if (!value)
        return config_default_initdata(cfg, d, err) < 0
                   ? error_wrap(err, "[hypervisor.libvirt] initdata")
                   : 0;
    if (!*value)
        return 0;
    struct initdata_limits lim;
    config_initdata_limits(cfg, &lim);
    if (initdata_from_annotation(value, &lim, d, err) < 0)
        return error_wrap(err, "annotation \"%s\"", ANNOTATION_INITDATA);
    return 0;
}

static int add_initdata(const struct config *cfg, const struct annotation *anns, size_t n,
                        const char *dir, struct vm_spec *out, struct initdata **decoded,
                        struct error *err)
{
    _cleanup_(initdata_freep) struct initdata *d = NULL;
    if (decode_initdata(cfg, anns, n, &d, err) < 0)
        return -1;
    if (!d)
        return 0;

    /* The TEE signs this field into every report, so the guest's attester and the verifier can
     * tell the disk's document is the one the VM was launched with. */
    if (out->tee == VM_TEE_SNP) {
        out->snp.has_host_data = true;
        initdata_fit(d, out->snp.host_data, sizeof(out->snp.host_data));
    } else if (out->tee == VM_TEE_TDX) {
        out->tdx.has_mr_config_id = true;
        initdata_fit(d, out->tdx.mr_config_id, sizeof(out->tdx.mr_config_id));
    }

    add_disk(out, xasprintf("%s/%s", dir, SANDBOX_INITDATA_IMAGE),
             xstrdup(SANDBOX_INITDATA_SERIAL));
    if (decoded)
        *decoded = TAKE_PTR(d);
    return 0;
}

/* --- static sandbox sizing --- */

/* runtime-rs: ceil(overhead_vcpus + quota / period), at least 1; in thousandths, so exact. */
static int overhead_vcpus(int overhead_milli, uint64_t quota, uint64_t period, unsigned *vcpus,
                          struct error *err)
{
    unsigned __int128 num =
        (unsigned __int128)overhead_milli * period + (unsigned __int128)quota * 1000;
    unsigned __int128 den = (unsigned __int128)period * 1000;
    unsigned __int128 v = period ? (num + den - 1) / den : ((unsigned)overhead_milli + 999) / 1000;
    if (v > OVERRIDES_MAX_VCPUS)
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "sandbox resources: [hypervisor.libvirt] overhead_vcpus plus the pod's "
                         "%llu / %llu (%s / %s) are more than the %d vCPUs a VM may have",
                         (unsigned long long)quota, (unsigned long long)period,
                         ANNOTATION_SANDBOX_CPU_QUOTA, ANNOTATION_SANDBOX_CPU_PERIOD,
                         OVERRIDES_MAX_VCPUS);
    *vcpus = v ? (unsigned)v : 1;
    return 0;
}

static int overhead_memory(int overhead, uint64_t mib, unsigned *memory_mib, struct error *err)
{
    if (mib > OVERRIDES_MAX_MEMORY_MIB - (unsigned)overhead)
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "sandbox resources: %d MiB of [hypervisor.libvirt] overhead_memory plus "
                         "%llu MiB for the pod (%s) are more than the %u MiB a VM may have",
                         overhead, (unsigned long long)mib, ANNOTATION_SANDBOX_MEMORY,
                         OVERRIDES_MAX_MEMORY_MIB);
    /* runtime-rs's safety net: a CPU limit alone with no overhead would give a VM no memory */
    if (mib + (unsigned)overhead == 0)
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "sandbox resources: 0 MiB: the pod has no memory limit (%s) and "
                         "[hypervisor.libvirt] overhead_memory is 0; set either",
                         ANNOTATION_SANDBOX_MEMORY);
    *memory_mib = (unsigned)overhead + (unsigned)mib;
    return 0;
}

/* Kata's static sizing: a TEE VM cannot hot-plug CPUs or memory, so it is created big enough
 * for the whole pod. A pod without limits keeps the VM's base size (default_vcpus and
 * default_memory, or their annotations). A pod with a CPU or a memory limit gets, in each
 * dimension, its limit plus overhead_vcpus / overhead_memory (runtime-rs, InitialSizeManager:
 * a missing limit counts 0), or, where that key is unset, its limit on top of the base size
 * (the Go runtime, CalculateSandboxSizing: ceil(quota / period) vCPUs). */
static int add_sandbox_resources(const struct config_hypervisor *hv, const struct annotation *anns,
                                 size_t n, struct vm_spec *out, struct error *err)
{
    uint64_t vcpus, mib, quota, period;
    if (pod_sandbox_resources(anns, n, &vcpus, &mib, err) < 0 ||
        pod_sandbox_cpu(anns, n, &quota, &period, err) < 0)
        return -1;
    if (!vcpus && !mib)
        return 0;
    if (hv->overhead_millivcpus != CONFIG_UNSET) {
        if (overhead_vcpus(hv->overhead_millivcpus, quota, period, &out->vcpus, err) < 0)
            return -1;
        vcpus = 0;
    }
    if (hv->overhead_memory != CONFIG_UNSET) {
        if (overhead_memory(hv->overhead_memory, mib, &out->memory_mib, err) < 0)
            return -1;
        mib = 0;
    }
    if (vcpus > OVERRIDES_MAX_VCPUS - out->vcpus)
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "sandbox resources: %u vCPUs plus %llu for the pod (%s / %s) are more "
                         "than the %d a VM may have",
                         out->vcpus, (unsigned long long)vcpus, ANNOTATION_SANDBOX_CPU_QUOTA,
                         ANNOTATION_SANDBOX_CPU_PERIOD, OVERRIDES_MAX_VCPUS);
    if (mib > OVERRIDES_MAX_MEMORY_MIB - out->memory_mib)
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "sandbox resources: %u MiB plus %llu MiB for the pod (%s) are more than "
                         "the %u MiB a VM may have",
                         out->memory_mib, (unsigned long long)mib, ANNOTATION_SANDBOX_MEMORY,
                         OVERRIDES_MAX_MEMORY_MIB);
    out->vcpus += (unsigned)vcpus;
    out->memory_mib += (unsigned)mib;
    return 0;
}

static void overrides_allow_from(const struct config_hypervisor *hv, struct overrides_allow *a)
{
#define LIST(name) ((struct overrides_list){hv->name.items, hv->name.len})
    a->enable_annotations = LIST(enable_annotations);
    a->valid_kernel_paths = LIST(valid_kernel_paths);
    a->valid_initrd_paths = LIST(valid_initrd_paths);
    a->valid_image_paths = LIST(valid_image_paths);
    a->valid_firmware_paths = LIST(valid_firmware_paths);
#undef LIST
}

int sandbox_vm_spec(const struct config *cfg, const char *sandbox_id, const struct annotation *anns,
                    size_t n, struct vm_spec *out, struct initdata **initdata, struct error *err)
{
    const struct config_hypervisor *hv = &cfg->hypervisor;
    memset(out, 0, sizeof(*out));
    if (initdata)
        *initdata = NULL;
    if (check_sandbox_id(sandbox_id, err) < 0)
        return -1;

    struct overrides_allow allow;
    overrides_allow_from(hv, &allow);
    _cleanup_(overrides_free) struct overrides ovr = {0};
    if (overrides_compute(&allow, anns, n, &ovr, err) < 0)
        return -1;
    for (size_t i = 0; i < ovr.n_ignored; i++)
        log_warn("annotation \"%s\" is enabled but cocoon does not use it; ignored",
                 ovr.ignored[i]);

    out->name = vmm_domain_name(sandbox_id);
    out->sandbox_id = xstrdup(sandbox_id);
    out->domain_type = xstrdup(hv->domain_type);
    out->emulator = optional(hv->emulator);
    out->machine_type = xstrdup(hv->machine_type);
    out->vcpus = ovr.vcpus ? ovr.vcpus : hv->default_vcpus;
    out->memory_mib = ovr.memory_mib ? ovr.memory_mib : hv->default_memory;
    if (cfg->runtime.static_sandbox_resource_mgmt &&
        add_sandbox_resources(hv, anns, n, out, err) < 0)
        return -1;
    out->kernel = pick(ovr.kernel, hv->kernel);
    out->initrd = pick(ovr.initrd, hv->initrd);
    out->image = pick(ovr.image, hv->image);
    out->firmware = pick(ovr.firmware, hv->firmware);
    out->tee = hv->tee;
    if (out->tee == VM_TEE_SNP)
        fill_snp(hv, &out->snp);
    else if (out->tee == VM_TEE_TDX)
        fill_tdx(hv, &out->tdx);
    out->user_network = hv->user_network;
    if (fill_kernel_params(hv, &ovr, out, err) < 0)
        return -1;
    add_extensions(hv, out);

    _cleanup_free_ char *dir = sandbox_state_dir(cfg, sandbox_id);
    out->console_log = xasprintf("%s/%s", dir, SANDBOX_CONSOLE_LOG);
    if (fill_agent(cfg, dir, out, err) < 0)
        return -1;
    return add_initdata(cfg, anns, n, dir, out, initdata, err);
}

/* --- writing the init-data disk --- */

int sandbox_vm_write_initdata(const struct config *cfg, const char *sandbox_id,
                              const struct initdata *d, struct error *err)
{
    if (check_sandbox_id(sandbox_id, err) < 0)
        return -1;
    _cleanup_free_ uint8_t *img = NULL;
    size_t len = 0;
    if (initdata_disk_image(d, &img, &len, err) < 0)
        return -1;
    /* QEMU, another user, must reach the file: every directory 0755, the image 0644. */
    _cleanup_free_ char *dir = sandbox_state_dir(cfg, sandbox_id);
    if (fs_mkdir_p(dir, 0755, 0755, err) < 0)
        return -1;
    _cleanup_free_ char *path = xasprintf("%s/%s", dir, SANDBOX_INITDATA_IMAGE);
    return fs_write_file_atomic(path, img, len, 0644, err);
}
