/* What VM a sandbox gets: the configuration, the sandbox id and the pod's annotations turned
 * into a struct vm_spec (vmm/vm-spec.h). Nothing is started and nothing on the host is looked
 * at, so `cocoonctl render` shows exactly what the shim would ask libvirt for. */
#pragma once

#include <stddef.h>

#include "annotations/overrides.h"
#include "lib/error.h"
#include "shim/config.h"
#include "vmm/vm-spec.h"

/* Per-sandbox files, under <state_dir>/<sandbox id>/. */
#define SANDBOX_AGENT_SOCKET "agent.sock" /* the virtio-serial agent channel */
#define SANDBOX_CONSOLE_LOG "console.log"

/* <state_dir>/<sandbox id>; caller frees. */
char *sandbox_state_dir(const struct config *cfg, const char *sandbox_id);

/* Fills *out (the caller frees it with vm_spec_free, also on failure). Enabled hypervisor
 * annotations cocoon does nothing with are logged as warnings. Returns 0, or -1 with
 * GRPC_INVALID_ARGUMENT naming the annotation or value at fault. */
int sandbox_vm_spec(const struct config *cfg, const char *sandbox_id, const struct annotation *anns,
                    size_t n, struct vm_spec *out, struct error *err);
