#include "vmm/vm-spec.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"

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
    for (size_t i = 0; spec->disks && i < spec->n_disks; i++) {
        free(spec->disks[i].path);
        free(spec->disks[i].serial);
    }
    free(spec->disks);
    for (size_t i = 0; spec->nics && i < spec->n_nics; i++)
        free(spec->nics[i].tap);
    free(spec->nics);
    free(spec->agent_socket);
    free(spec->console_log);
    /* leave a spec that can be freed again or refilled */
    memset(spec, 0, sizeof(*spec));
}

char *vmm_domain_name(const char *sandbox_id)
{
    static const char prefix[] = "cocoon-";
    size_t n = sandbox_id ? strlen(sandbox_id) : 0;
    char *name = xmalloc(sizeof(prefix) + n);
    memcpy(name, prefix, sizeof(prefix) - 1);
    char *p = name + sizeof(prefix) - 1;
    for (size_t i = 0; i < n; i++) {
        char c = sandbox_id[i];
        bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '-';
        *p++ = keep ? c : '_';
    }
    *p = '\0';
    return name;
}
