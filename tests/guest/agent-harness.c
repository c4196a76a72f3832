#include "agent-harness.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/xalloc.h"

void harness_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", program_invocation_short_name);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

void harness_run(const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    if (system(cmd) != 0)
        harness_die("command failed: %s", cmd);
}

uint8_t *harness_read_file(const char *path, size_t *len)
{
    char *data = NULL;
    size_t n = 0;
    if (fs_read_file(path, 256u << 20, &data, &n, NULL) != 0)
        return NULL;
    if (len)
        *len = n;
    return (uint8_t *)data;
}

void harness_make_rootfs(const char *dir)
{
    harness_run("mkdir -p %s/rootfs/bin %s/rootfs/etc %s/rootfs/tmp %s/rootfs/proc %s/rootfs/dev "
                "%s/rootfs/sys",
                dir, dir, dir, dir, dir, dir);
    harness_run("cp " HARNESS_BUSYBOX " %s/rootfs/bin/busybox", dir);
    harness_run("cd %s/rootfs/bin && for a in $(./busybox --list); do [ \"$a\" = busybox ] || "
                "ln -sf busybox \"$a\"; done",
                dir);
}

/* In the child, pid 1 of its namespace: the guest-like mounts, then the agent. */
static void __attribute__((noreturn))
agent_child(const char *agent_bin, const char *log, char **argv, bool own_netns)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        _exit(126);
    dup2(fd, 1);
    dup2(fd, 2);
    static const struct {
        const char *source, *target, *type;
        unsigned long flags;
        const char *data;
    } mounts[] = {
        {NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL},
        {"proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL},
        {"run", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"},
    };
    for (size_t i = 0; i < sizeof(mounts) / sizeof(mounts[0]); i++) {
        if (mount(mounts[i].source, mounts[i].target, mounts[i].type, mounts[i].flags,
                  mounts[i].data) < 0) {
            dprintf(2, "agent-harness: mount %s: %s\n", mounts[i].target, strerror(errno));
            _exit(126);
        }
    }
    /* sysfs shows the network namespace of whoever mounts it */
    if (own_netns && mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
        dprintf(2, "agent-harness: mount /sys: %s\n", strerror(errno));
        _exit(126);
    }
    execv(agent_bin, argv);
    dprintf(2, "agent-harness: exec %s: %s\n", agent_bin, strerror(errno));
    _exit(127);
}

static pid_t spawn_agent(const char *agent_bin, const char *dir, const char *const *args,
                         bool own_netns)
{
    size_t n = 0;
    while (args[n])
        n++;
    char **argv = xcalloc(n + 2, sizeof(*argv));
    argv[0] = (char *)agent_bin;
    memcpy(argv + 1, args, n * sizeof(*argv));
    _cleanup_free_ char *log = xasprintf("%s/agent.log", dir);
    /* clone rather than fork: the child must be the first process of the new pid namespace */
    unsigned long flags = CLONE_NEWNS | CLONE_NEWPID | (own_netns ? CLONE_NEWNET : 0) | SIGCHLD;
    pid_t pid = (pid_t)syscall(SYS_clone, flags, NULL, NULL, NULL, NULL);
    if (pid == 0)
        agent_child(agent_bin, log, argv, own_netns);
    free(argv);
    if (pid < 0)
        harness_die("clone the agent: %s", strerror(errno));
    return pid;
}

pid_t harness_spawn_agent(const char *agent_bin, const char *dir, const char *const *args)
{
    return spawn_agent(agent_bin, dir, args, false);
}

pid_t harness_spawn_agent_netns(const char *agent_bin, const char *dir, const char *const *args)
{
    return spawn_agent(agent_bin, dir, args, true);
}

void harness_dump_log(const char *dir)
{
    _cleanup_free_ char *path = xasprintf("%s/agent.log", dir);
    _cleanup_free_ uint8_t *log = harness_read_file(path, NULL);
    if (log)
        fprintf(stderr, "--- agent log ---\n%s--- end of agent log ---\n", (char *)log);
}

char *harness_guest_path(pid_t agent, const char *path)
{
    return xasprintf("/proc/%d/root%s", (int)agent, path);
}
