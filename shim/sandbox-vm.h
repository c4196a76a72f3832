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
 * allow, like every hypervisor annotation), or carries none and the configuration has a node-wide
 * [hypervisor.libvirt] initdata (an empty annotation means none, as in Kata runtime-rs), it is
 * decoded and validated, its digest is fitted
 * into snp.host_data (tee "snp") or tdx.mr_config_id (tee "tdx"; tee "none" binds nothing), and
 * out->disks gets <state_dir>/<sandbox id>/initdata.img, read-only, serial "initdata". That file
 * is not written here: pass the decoded init-data to sandbox_vm_write_initdata() before the
 * domain starts. initdata may be NULL (`cocoonctl render` needs no file); otherwise *initdata is
 * set to the decoded init-data (caller frees with initdata_free) or to NULL when the pod has none
 * or on failure.
 *
 * Sizing: with [runtime] static_sandbox_resource_mgmt and a pod with a CPU or memory limit
 * (containerd's sandbox annotations), each dimension is sized as Kata runtime-rs does when its
 * overhead key is set: vcpus = max(1, ceil(quota / period + overhead_vcpus)), memory_mib = the
 * sandbox memory in MiB rounded up + overhead_memory; else as the Go runtime does, on top of the
 * base size (default_vcpus / default_memory, or their annotations): vcpus += ceil(quota /
 * period), memory_mib += the sandbox memory in MiB rounded up. A pod without limits gets the
 * base size. Without static_sandbox_resource_mgmt those annotations are ignored.
 *
 * Kernel command line: the configured kernel_params; with kernel_verity_params (or its
 * annotation, which replaces it) their root, rootflags and rootfstype give way to Kata's
 * dm-verity root (annotations/verity.h), which needs an image and no initrd; then the
 * kernel_params annotation; then kata.extension.<name>.verity_params for each
 * guest_extension_images entry, whose disk (read-only, serial "extension-<name>") follows the
 * root image in out->disks, before the init-data disk.
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
