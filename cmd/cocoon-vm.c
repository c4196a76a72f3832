/* cocoon-vm: the one program of cocoon's shim that loads libvirt. The shim daemon of a pod runs
 * it to start and to destroy the pod's domain, so that the daemon itself, which lives as long as
 * the pod, never maps libvirt and the ~58 libraries behind it (vmm/vm-helper.h).
 *
 *   cocoon-vm create [-uri URI]          domain XML on stdin; a transient domain that outlives
 *                                        this process; prints "pid=<QEMU pid> cid=<vsock CID>"
 *                                        (0 when libvirt does not tell, or there is no vsock)
 *   cocoon-vm destroy [-uri URI] NAME    prints "destroyed" or "absent"
 *
 * Errors go to stderr as libvirt gave them, and exit 1; usage errors exit 2. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/log.h"
#include "vmm/domain.h"
#include "vmm/vm-helper.h"

#define MAX_XML (4u << 20)

DEFINE_CLEANUP_FUNC(struct vmm *, vmm_close)
DEFINE_CLEANUP_FUNC(struct vmm_domain *, vmm_domain_free)

static int fail(struct error *err)
{
    fprintf(stderr, "%s\n", err->msg ? err->msg : "failed");
    error_clear(err);
    return 1;
}

static int create(const char *uri)
{
    struct error err = ERROR_INIT;
    _cleanup_free_ char *xml = NULL;
    size_t len;
    if (fs_read_fd(STDIN_FILENO, MAX_XML, "the domain XML on stdin", &xml, &len, &err) < 0)
        return fail(&err);
    _cleanup_(vmm_closep) struct vmm *vmm = NULL;
    _cleanup_(vmm_domain_freep) struct vmm_domain *dom = NULL;
    if (vmm_open(uri, &vmm, &err) < 0 ||
        vmm_domain_start(vmm, xml, false, NULL, NULL, &dom, &err) < 0)
        return fail(&err);
    uint32_t pid = 0, cid = 0;
    struct error cid_err = ERROR_INIT;
    int r = vmm_domain_pid(dom, &pid, &err);
    if (r == 0 && vmm_domain_vsock_cid(dom, &cid, &cid_err) < 0 &&
        cid_err.code != GRPC_FAILED_PRECONDITION) /* no vsock device: the agent is on serial */
        r = error_set(&err, cid_err.code, "%s", cid_err.msg);
    error_clear(&cid_err);
    if (r < 0) {
        /* a VM whose QEMU or agent the shim cannot find must not run */
        struct error ignored = ERROR_INIT;
        vmm_domain_destroy(dom, &ignored);
        error_clear(&ignored);
        return fail(&err);
    }
    printf(VM_HELPER_CREATED_FORMAT "\n", pid, cid);
    return fflush(stdout) == 0 ? 0 : 1;
}

static int destroy(const char *uri, const char *name)
{
    struct error err = ERROR_INIT;
    _cleanup_(vmm_closep) struct vmm *vmm = NULL;
    int r = vmm_open(uri, &vmm, &err);
    if (r == 0)
        r = vmm_destroy_by_name(vmm, name, &err);
    if (r < 0)
        return fail(&err);
    printf("%s\n", r ? "destroyed" : "absent");
    return fflush(stdout) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    /* libvirt's own warnings would be noise on stderr, which carries our one error line */
    log_set_level(LOG_LEVEL_ERROR);
    const char *uri = NULL;
    int i = 1;
    const char *action = i < argc ? argv[i++] : "";
    if (i + 1 < argc && strcmp(argv[i], "-uri") == 0) {
        uri = *argv[i + 1] ? argv[i + 1] : NULL;
        i += 2;
    }
    if (strcmp(action, "create") == 0 && i == argc)
        return create(uri);
    if (strcmp(action, "destroy") == 0 && i + 1 == argc)
        return destroy(uri, argv[i]);
    fprintf(stderr, "usage: %s create [-uri URI] < domain.xml | destroy [-uri URI] NAME\n",
            VM_HELPER_NAME);
    return 2;
}
