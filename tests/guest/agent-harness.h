/* Running cocoon-test-agent on the host for tests (test-agent.c, test-shim-agent.c), as root.
 *
 * The agent gets namespaces of its own, so that what it does to "the guest" stays out of the
 * host: a mount namespace with every mount private, a fresh /proc, and an empty tmpfs on /run
 * (CreateSandbox wipes /run/kata-containers and binds over /etc/resolv.conf; storages mount
 * under /run/kata-containers), and a pid namespace whose pid 1 it is (its containers' pid
 * namespaces nest in it, and die with it). The test sees the agent's files through
 * /proc/<pid>/root (harness_guest_path). */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HARNESS_BUSYBOX "/bin/busybox"

/* Prints "<program>: <message>" and exits 1. */
void harness_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* system(command); dies when it fails. */
void harness_run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A whole file (NUL-terminated), or NULL. */
uint8_t *harness_read_file(const char *path, size_t *len);

/* dir/rootfs: a busybox rootfs like the guest image's, /bin/busybox and one symlink per applet. */
void harness_make_rootfs(const char *dir);

/* Starts agent_bin with argv[1..] = args (NULL-terminated) in its own mount and pid namespaces
 * (see above), stdout and stderr to dir/agent.log. Dies with the calling thread (SIGKILL).
 * Returns its pid. */
pid_t harness_spawn_agent(const char *agent_bin, const char *dir, const char *const *args);

/* harness_spawn_agent, and a network namespace of its own too (only lo, down), for the network
 * RPCs: they change that namespace, never the host's. A sysfs mounted for it on /sys shows its
 * links in /sys/class/net (and hides the host's /sys/fs/cgroup: containers get no cgroup). The
 * test reaches the namespace through /proc/<pid>/ns/net. */
pid_t harness_spawn_agent_netns(const char *agent_bin, const char *dir, const char *const *args);

/* Prints dir/agent.log on stderr. */
void harness_dump_log(const char *dir);

/* "/proc/<agent>/root<path>": path as the agent sees it. Caller frees. */
char *harness_guest_path(pid_t agent, const char *path);
