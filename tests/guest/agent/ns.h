/* Namespaces the agent makes for containers. The pid namespace of a new process, and the shared
 * UTS and IPC namespaces of a sandbox, are made in the calling thread (namespaces other than
 * mount and user belong to a thread, not to the process) and the thread is put back at once. */
#pragma once

#include "lib/error.h"

/* Opens the agent's own pid, UTS and IPC namespaces (to come back to). At start-up. */
int ns_init(struct error *err);

/* New UTS (with hostname when it is not empty) and IPC namespaces; fds in *uts and *ipc. */
int ns_shared_create(const char *hostname, int *uts, int *ipc, struct error *err);

/* The next fork of this thread goes into pid namespace pidns_fd, or into a new one (-1), whose
 * pid 1 it then is. Returns 0, or -1 with errno. Call ns_pid_restore right after the fork. */
int ns_pid_for_children(int pidns_fd);
void ns_pid_restore(void);
