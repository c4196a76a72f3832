/* What VM a sandbox gets: the configuration, the sandbox id and the pod's annotations turned
 * into a struct vm_spec (vmm/vm-spec.h). Nothing is started and nothing on the host is looked
 * at, so `cocoonctl render` shows exactly what the shim would ask libvirt for.
 *
 * The one file a sandbox needs before its VM starts, the init-data disk, is written separately
 * by sandbox_vm_write_initdata(), so planning stays free of I/O. */
#pragma once

#include <stddef.h>

#include "annotations/initdata.h"
#include "annotations/overrides.h"
#include "lib/error.h"
#include "shim/config.h"
#include "vmm/vm-spec.h"

/* Per-sandbox files, under <state_dir>/<sandbox id>/. */
#define SANDBOX_AGENT_SOCKET "agent.sock" /* the virtio-serial agent channel */
#define SANDBOX_CONSOLE_LOG "console.log"
#define SANDBOX_INITDATA_IMAGE "initdata.img" /* the init-data disk, if the pod has init-data */

/* The init-data disk's virtio-blk serial: the guest finds it as /dev/disk/by-id/virtio-initdata
 * (Kata's agent also finds it by the magic at offset 0). */
#define SANDBOX_INITDATA_SERIAL "initdata"

/* <state_dir>/<sandbox id>; caller frees. */
char *sandbox_state_dir(const struct config *cfg, const char *sandbox_id);

/* Fills *out (the caller frees it with vm_spec_free, also on failure). Enabled hypervisor
 * annotations cocoon does nothing with are logged as warnings.
 *
 * Init-data: if the pod carries a non-empty ANNOTATION_INITDATA (which enable_annotations must
 * allow, like every hypervisor annotation), it is decoded and validated, its digest is fitted
 * into snp.host_data (tee "snp") or tdx.mr_config_id (tee "tdx"; tee "none" binds nothing), and
 * out->disks gets <state_dir>/<sandbox id>/initdata.img, read-only, serial "initdata". That file
 * is not written here: pass the decoded init-data to sandbox_vm_write_initdata() before the
 * domain starts. initdata may be NULL (`cocoonctl render` needs no file); otherwise *initdata is
 * set to the decoded init-data (caller frees with initdata_free) or to NULL when the pod has none
 * or on failure.
 *
 * Sizing: with [runtime] static_sandbox_resource_mgmt, the VM gets the pod's resources on top of
 * its base size (default_vcpus / default_memory, or their annotations), as Kata sizes TEE VMs:
 * vcpus += ceil(quota / period) when both are positive, memory_mib += the sandbox memory in MiB
 * rounded up. Without it those annotations are ignored.
 *
 * Returns 0, or -1 with GRPC_INVALID_ARGUMENT naming the annotation or value at fault. */
int sandbox_vm_spec(const struct config *cfg, const char *sandbox_id, const struct annotation *anns,
                    size_t n, struct vm_spec *out, struct initdata **initdata, struct error *err);

/* Writes the init-data disk image for d (initdata_disk_image()) to
 * <state_dir>/<sandbox id>/initdata.img, the path sandbox_vm_spec() put in the spec, creating
 * that directory and missing parents (0755) first. The image goes to a temporary file in the same
 * directory, is made 0644 (QEMU runs as another user) and renamed over the final name, so the VM
 * never sees half an image and an image left by an earlier attempt is replaced. Removing the
 * directory at teardown is the caller's. Returns 0, or -1 with err naming the path. */
int sandbox_vm_write_initdata(const struct config *cfg, const char *sandbox_id,
                              const struct initdata *d, struct error *err);
