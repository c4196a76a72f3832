#include "ns.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/log.h"

static int own_pid = -1, own_uts = -1, own_ipc = -1;

int ns_init(struct error *err)
{
    static const char *const paths[] = {"/proc/self/ns/pid", "/proc/self/ns/uts",
                                        "/proc/self/ns/ipc"};
    int *fds[] = {&own_pid, &own_uts, &own_ipc};
    for (int i = 0; i < 3; i++) {
        *fds[i] = open(paths[i], O_RDONLY | O_CLOEXEC);
        if (*fds[i] < 0)
            return error_set_errno(err, errno, "open %s", paths[i]);
    }
    return 0;
}

int ns_shared_create(const char *hostname, int *uts, int *ipc, struct error *err)
{
    *uts = *ipc = -1;
    if (unshare(CLONE_NEWUTS | CLONE_NEWIPC) < 0)
        return error_set_errno(err, errno, "create the sandbox's UTS and IPC namespaces");
    int r = 0;
    if (hostname && *hostname && sethostname(hostname, strlen(hostname)) < 0)
        r = error_set_errno(err, errno, "sethostname %s", hostname);
    if (r == 0 && ((*uts = open("/proc/thread-self/ns/uts", O_RDONLY | O_CLOEXEC)) < 0 ||
                   (*ipc = open("/proc/thread-self/ns/ipc", O_RDONLY | O_CLOEXEC)) < 0))
        r = error_set_errno(err, errno, "open the sandbox's namespaces");
    if (setns(own_uts, CLONE_NEWUTS) < 0 || setns(own_ipc, CLONE_NEWIPC) < 0) {
        log_error("cannot return to the agent's UTS and IPC namespaces: %s", strerror(errno));
        r = error_set_errno(err, errno, "return to the agent's namespaces");
    }
    if (r < 0) {
        if (*uts >= 0)
            close(*uts);
        if (*ipc >= 0)
            close(*ipc);
        *uts = *ipc = -1;
    }
    return r;
}

int ns_pid_for_children(int pidns_fd)
{
    return pidns_fd >= 0 ? setns(pidns_fd, CLONE_NEWPID) : unshare(CLONE_NEWPID);
}

void ns_pid_restore(void)
{
    if (setns(own_pid, CLONE_NEWPID) < 0)
        log_error("cannot return to the agent's pid namespace: %s", strerror(errno));
}
