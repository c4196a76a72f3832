#include "vmm/vm-spec.h"

#include <stdlib.h>
#include <string.h>

void vm_spec_free(struct vm_spec *spec)
{
    if (!spec)
        return;
    free(spec->name);
    free(spec->sandbox_id);
    free(spec->domain_type);
    free(spec->emulator);
    free(spec->machine_type);
    free(spec->kernel);
    free(spec->initrd);
    free(spec->image);
    free(spec->kernel_params);
    free(spec->firmware);
    free(spec->snp.guest_visible_workarounds);
    free(spec->snp.id_block);
    free(spec->snp.id_auth);
    free(spec->tdx.mr_owner);
    free(spec->tdx.mr_owner_config);
    free(spec->tdx.qgs_socket_path);
    for (size_t i = 0; i < spec->n_disks; i++) {
        free(spec->disks[i].path);
        free(spec->disks[i].serial);
    }
    free(spec->disks);
    free(spec->agent_socket);
    free(spec->console_log);
    /* leave a spec that can be freed again or refilled */
    memset(spec, 0, sizeof(*spec));
}
