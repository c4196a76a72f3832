/* binary:// and binary-v2:// loggers (containerd.md §4): the process, its pipes and its end. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/subprocess.h"
#include "lib/xalloc.h"
#include "shim/stdio-parts.h"

#define LOGGER_KILL_WAIT_MS 1000

extern char **environ;

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static bool wait_exit(pid_t pid, int64_t ms)
{
    int64_t deadline = now_ms() + ms;
    long nap_us = 1000;
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD)) /* ECHILD: someone else reaped it */
            return true;
        if (r < 0 && errno != EINTR)
            return false;
        if (now_ms() >= deadline)
            return false;
        usleep((useconds_t)nap_us);
        nap_us = nap_us < 20000 ? nap_us * 2 : nap_us;
    }
}

void stdio_logger_reap(pid_t pid, bool at_once, int64_t exit_ms)
{
    if (!at_once && wait_exit(pid, exit_ms))
        return;
    if (!at_once) {
        log_warn("stdio: logger %d still running after its pipes closed; sending SIGTERM", pid);
        kill(pid, SIGTERM);
        if (wait_exit(pid, exit_ms))
            return;
        log_warn("stdio: logger %d ignored SIGTERM; killing it", pid);
    }
    kill(pid, SIGKILL);
    if (!wait_exit(pid, LOGGER_KILL_WAIT_MS))
        log_warn("stdio: logger %d did not die; leaving it", pid);
}

static char **logger_env(const char *cid, const char *ns)
{
    size_t n = 0;
    while (environ && environ[n])
        n++;
    char **env = xcalloc(n + 3, sizeof(*env));
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "CONTAINER_ID=", 13) != 0 &&
            strncmp(environ[i], "CONTAINER_NAMESPACE=", 20) != 0)
            env[k++] = xstrdup(environ[i]);
    env[k++] = xasprintf("CONTAINER_ID=%s", cid);
    env[k++] = xasprintf("CONTAINER_NAMESPACE=%s", ns);
    return env;
}

static void strv_free(char **v)
{
    for (char **p = v; p && *p; p++)
        free(*p);
    free(v);
}
DEFINE_CLEANUP_FUNC(char **, strv_free)

/* Reads a byte, or end of file, from the ready pipe within the limit. */
static int wait_ready(int fd, const struct stdio_target *t, const char *stream, int64_t ms,
                      struct error *err)
{
    int64_t deadline = now_ms() + ms;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, remaining_ms(deadline));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return error_set_errno(err, errno, "%s: wait for logger %s", stream, t->path);
        if (r == 0)
            return error_set(err, GRPC_DEADLINE_EXCEEDED,
                             "%s: logger %s did not signal ready on fd 5 within %lld ms", stream,
                             t->path, (long long)ms);
        char b;
        ssize_t n = read(fd, &b, 1);
        if (n == 1)
            return 0;
        if (n == 0 && t->kind == KIND_BINARY)
            return 0; /* binary:// takes end of file as ready, as containerd does */
        if (n == 0)
            return error_set(err, GRPC_FAILED_PRECONDITION,
                             "%s: binary-v2 logger %s closed fd 5 (or exited) without writing "
                             "the ready byte",
                             stream, t->path);
        if (errno != EINTR && errno != EAGAIN)
            return error_set_errno(err, errno, "%s: wait for logger %s", stream, t->path);
    }
}

/* Runs the logger with fd 3 / 4 = the read ends of a stdout / stderr pipe, fd 5 = the write end
 * of the ready pipe, 0-2 = /dev/null; the write ends go to the outputs whose target it is. */
int stdio_logger_start(const struct stdio_target *t, const bool serves[2], const char *cid,
                       const char *ns, int64_t ready_ms, int out_fds[2], pid_t *logger,
                       struct error *err)
{
    const char *stream = serves[0] ? "stdout" : "stderr";
    /* posix_spawn reports a binary it cannot run only where it may (glibc's clone; not under
     * every emulator): look first, for an error that names it either way. */
    if (access(t->path, X_OK) < 0)
        return error_set_errno(err, errno, "%s: start logger %s", stream, t->path);
    int pipes[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}}; /* stdout, stderr, ready */
    int child[3] = {-1, -1, -1};
    int r = 0;
    for (int i = 0; i < 3 && r == 0; i++)
        if (pipe2(pipes[i], O_CLOEXEC) < 0)
            r = error_set_errno(err, errno, "%s: logger pipes", stream);
    /* The child's ends above 5, so that placing them on 3, 4, 5 never overwrites one another. */
    for (int i = 0; i < 3 && r == 0; i++) {
        int end = i < 2 ? pipes[i][0] : pipes[i][1];
        child[i] = fcntl(end, F_DUPFD_CLOEXEC, 6);
        if (child[i] < 0)
            r = error_set_errno(err, errno, "%s: logger pipes", stream);
    }
    if (r == 0) {
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        posix_spawn_file_actions_init(&fa);
        spawn_attr_init_clean(&attr);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
        for (int i = 0; i < 3; i++)
            posix_spawn_file_actions_adddup2(&fa, child[i], 3 + i);
#if __GLIBC_PREREQ(2, 34)
        posix_spawn_file_actions_addclosefrom_np(&fa, 6); /* even a stray fd without O_CLOEXEC */
#endif

        size_t nargs = 0;
        while (t->args[nargs])
            nargs++;
        _cleanup_free_ char **argv = xcalloc(nargs + 2, sizeof(*argv));
        argv[0] = t->path;
        memcpy(argv + 1, t->args, nargs * sizeof(*argv));
        _cleanup_(strv_freep) char **env = logger_env(cid, ns ? ns : "");
        pid_t pid;
        int e = posix_spawn(&pid, t->path, &fa, &attr, argv, env);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        if (e != 0)
            r = error_set_errno(err, e, "%s: start logger %s", stream, t->path);
        else
            *logger = pid;
    }
    for (int i = 0; i < 3; i++) {
        close_fd(&child[i]);
        close_fd(i < 2 ? &pipes[i][0] : &pipes[i][1]);
    }
    for (int i = 0; i < 2; i++) {
        out_fds[i] = -1;
        if (r == 0 && serves[i]) {
            out_fds[i] = pipes[i][1];
            fcntl(out_fds[i], F_SETFL, O_NONBLOCK);
        } else {
            close_fd(&pipes[i][1]); /* the logger reads end of file on this one */
        }
    }
    if (r == 0 && wait_ready(pipes[2][0], t, stream, ready_ms, err) < 0) {
        stdio_logger_reap(*logger, true, 0);
        *logger = 0;
        for (int i = 0; i < 2; i++)
            close_fd(&out_fds[i]);
        r = -1;
    }
    close_fd(&pipes[2][0]);
    return r;
}
