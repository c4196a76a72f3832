/* `start` (containerd.md §3.2): finds the pod's live shim daemon or spawns one, and prints its
 * address. It runs once per container, so it is kept light: no libvirt, no libcrypto. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/close_range.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/xalloc.h"
#include "shim/bundle.h"
#include "shim/commands.h"
#include "shim/config.h"
#include "shim/runtime-options.h"
#include "shim/shim-socket.h"
#include "ttrpc/dial.h"

/* The oom_score_adj for the daemon: ours + 1, at most 1000 (containerd's AdjustOOMScore), so
 * the kernel picks the shim before containerd. "" when ours cannot be read. */
static void daemon_oom_score(char *buf, size_t size)
{
    buf[0] = '\0';
    _cleanup_free_ char *text = NULL;
    size_t len;
    if (fs_read_file("/proc/self/oom_score_adj", 64, &text, &len, NULL) < 0)
        return;
    long v = strtol(text, NULL, 10) + 1;
    snprintf(buf, size, "%ld", v > 1000 ? 1000 : v);
}

/* Marks every fd from `from` on close-on-exec. */
static void cloexec_from(int from)
{
#ifdef SYS_close_range
    if (syscall(SYS_close_range, (unsigned)from, ~0u, CLOSE_RANGE_CLOEXEC) == 0)
        return;
#endif
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 65536)
        max = 65536;
    for (int fd = from; fd < max; fd++)
        fcntl(fd, F_SETFD, FD_CLOEXEC);
}

/* Runs in the forked child (single-threaded, so plain libc calls are fine): fds 0-2 on
 * /dev/null, the listener on fd 3 and nothing else, a session of its own, cwd = bundle. */
__attribute__((noreturn)) static void exec_daemon(int devnull, int listener, int status_fd,
                                                  const char *bundle, const char *oom_score,
                                                  const char *exe, char **argv)
{
    int e = 0;
    if (setsid() < 0 || dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 || dup2(devnull, 2) < 0 ||
        dup2(listener, 3) < 0 || chdir(bundle) < 0)
        e = errno;
    if (!e) {
        cloexec_from(4); /* status_fd included: it closes when exec succeeds */
        if (*oom_score) {
            int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
            if (fd >= 0) {
                (void)!write(fd, oom_score, strlen(oom_score)); /* best effort */
                close(fd);
            }
        }
        execv(exe, argv);
        e = errno;
    }
    (void)!write(status_fd, &e, sizeof(e));
    _exit(127);
}

/* fork+exec of the daemon binary. Its argv[0] stays the front's name, so that `ps` shows it as
 * containerd's other shims look (containerd-shim-<name>-v2 -namespace ... -id ... -address ...).
 * Returns its pid, or -1. */
static pid_t spawn_daemon(const struct shim_flags *f, const char *bundle, int listener, char *argv0,
                          struct error *err)
{
    _cleanup_free_ char *exe = shim_libexec_path(SHIM_DAEMON_NAME);
    char *argv[] = {argv0,
                    "-namespace",
                    (char *)f->namespace_,
                    "-id",
                    (char *)f->id,
                    "-address",
                    (char *)(f->address ? f->address : ""),
                    "-publish-binary",
                    (char *)(f->publish_binary ? f->publish_binary : ""),
                    f->debug ? "-debug" : NULL,
                    NULL};
    char oom_score[24];
    daemon_oom_score(oom_score, sizeof(oom_score));

    /* Above fd 3, so the dup2s in the child cannot overwrite one another. */
    _cleanup_close_ int devnull = -1;
    _cleanup_close_ int listen_fd = -1;
    _cleanup_close_ int status_r = -1;
    _cleanup_close_ int status_w = -1;
    _cleanup_close_ int nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (nullfd < 0)
        return error_set_errno(err, errno, "open /dev/null");
    devnull = fcntl(nullfd, F_DUPFD_CLOEXEC, 10);
    listen_fd = fcntl(listener, F_DUPFD_CLOEXEC, 10);
    int pipefd[2];
    if (devnull < 0 || listen_fd < 0 || pipe2(pipefd, O_CLOEXEC) < 0)
        return error_set_errno(err, errno, "spawn the shim daemon");
    status_r = pipefd[0];
    status_w = pipefd[1];

    pid_t pid = fork();
    if (pid < 0)
        return error_set_errno(err, errno, "fork the shim daemon");
    if (pid == 0)
        exec_daemon(devnull, listen_fd, status_w, bundle, oom_score, exe, argv);
    close(TAKE_FD(status_w));

    /* EOF: exec succeeded (the pipe was close-on-exec); an int: why it did not. */
    int child_errno = 0;
    ssize_t r;
    do
        r = read(status_r, &child_errno, sizeof(child_errno));
    while (r < 0 && errno == EINTR);
    if (r > 0) {
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        return error_set_errno(err, child_errno, "start the shim daemon %s", exe);
    }
    return pid;
}

/* What `start` created, removed again when it fails. */
struct start_undo {
    char *socket_path;
    char *address_file;
    char *pid_file;
    pid_t daemon;
};

static void start_undo(struct start_undo *u)
{
    if (u->daemon > 0) {
        kill(u->daemon, SIGKILL);
        while (waitpid(u->daemon, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    if (u->socket_path)
        unlink(u->socket_path);
    if (u->address_file)
        unlink(u->address_file);
    if (u->pid_file)
        unlink(u->pid_file);
}

static void start_undo_free(struct start_undo *u)
{
    free(u->socket_path);
    free(u->address_file);
    free(u->pid_file);
}

/* Finds the pod's live shim or starts one; fills *address. */
static int start(const struct shim_flags *f, char *argv0, struct start_undo *undo, char **address,
                 struct error *err)
{
    if (shim_flags_check_names(f, err) < 0)
        return -1;
    _cleanup_free_ char *config_path = NULL;
    if (shim_read_start_options(STDIN_FILENO, f, &config_path, err) < 0)
        return -1;
    _cleanup_free_ char *bundle = shim_flags_bundle(f);
    _cleanup_free_ char *group = NULL;
    enum pod_role role;
    if (bundle_group(bundle, f->id, &group, &role, err) < 0)
        return -1;

    const char *dir = shim_socket_dir();
    _cleanup_free_ char *addr = shim_socket_address(dir, f->address, f->namespace_, group);
    const char *path = addr + strlen("unix://");
    _cleanup_close_ int lock = shim_socket_dir_lock(dir, true, err);
    if (lock < 0)
        return -1;

    struct stat st;
    if (lstat(path, &st) == 0) {
        if (shim_socket_is_live(
                addr)) { /* another container of the pod: its shim serves this one */
            if (bundle_write_file(bundle, BUNDLE_ADDRESS_FILE, addr, err) < 0)
                return -1;
            undo->address_file = xasprintf("%s/%s", bundle, BUNDLE_ADDRESS_FILE);
            *address = TAKE_PTR(addr);
            return 0;
        }
        if (unlink(path) < 0 && errno != ENOENT) /* left by a shim that died */
            return error_set_errno(err, errno, "remove stale socket %s", path);
    }

    _cleanup_close_ int listener = ttrpc_listen_unix(path, err);
    if (listener < 0)
        return -1;
    undo->socket_path = xstrdup(path);
    if (bundle_write_file(bundle, BUNDLE_ADDRESS_FILE, addr, err) < 0)
        return -1;
    undo->address_file = xasprintf("%s/%s", bundle, BUNDLE_ADDRESS_FILE);

    /* The daemon finds the config through the environment when Create carries no options. */
    if (config_path && setenv(CONFIG_ENV, config_path, 1) < 0)
        return error_set_errno(err, errno, "set %s", CONFIG_ENV);
    pid_t pid = spawn_daemon(f, bundle, listener, argv0, err);
    if (pid < 0)
        return -1;
    undo->daemon = pid;
    char pid_text[24];
    snprintf(pid_text, sizeof(pid_text), "%d", (int)pid);
    if (bundle_write_file(bundle, BUNDLE_PID_FILE, pid_text, err) < 0)
        return -1;
    undo->pid_file = xasprintf("%s/%s", bundle, BUNDLE_PID_FILE);
    *address = TAKE_PTR(addr);
    return 0;
}

int shim_cmd_start(const struct shim_flags *f, char *argv0)
{
    struct start_undo undo = {0};
    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    _cleanup_free_ char *address = NULL;
    int r = start(f, argv0, &undo, &address, &err);
    if (r == 0 && fs_write_all(STDOUT_FILENO, address, strlen(address)) < 0)
        r = error_set_errno(&err, errno, "write the address to stdout");
    if (r < 0) {
        start_undo(&undo);
        fprintf(stderr, "%s: start: %s\n", SHIM_BINARY_NAME, err.msg);
    }
    start_undo_free(&undo);
    return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
