/* The shim daemon: what `start` spawned (the listener on fd 3), serving one pod until Shutdown
 * or SIGTERM. */
#include "shim/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/log.h"
#include "shim/events.h"
#include "shim/task-service.h"
#include "shim/task.h"
#include "ttrpc/dial.h"
#include "ttrpc/server.h"

#define LISTEN_FD 3
#define LOG_FIFO "log"
#define SERVER_STACK_SIZE (128 * 1024)
#define PUBLISH_FLUSH_MS 3000

static int exit_fd = -1; /* eventfd: written when Shutdown finds no task left */

static void request_exit(void *user)
{
    (void)user;
    uint64_t one = 1;
    if (write(exit_fd, &one, sizeof(one)) < 0)
        log_error("cannot signal the daemon to exit: %s", strerror(errno));
}

/* containerd reads the bundle's `log` FIFO into its own log; lines go there from now on. */
static void open_log(void)
{
    int fd = open(LOG_FIFO, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return; /* CRI-O or a test without a FIFO: stderr (/dev/null) it is */
    dup2(fd, STDERR_FILENO);
    close(fd);
}

/* The path of the unix socket we serve, to remove it at exit (containerd does not). */
static char *listener_path(int fd)
{
    struct sockaddr_un sa;
    socklen_t len = sizeof(sa);
    if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0 || sa.sun_family != AF_UNIX ||
        len <= offsetof(struct sockaddr_un, sun_path) || !sa.sun_path[0])
        return NULL;
    return strndup(sa.sun_path, len - offsetof(struct sockaddr_un, sun_path));
}

static int open_listener(const struct shim_flags *f, struct error *err)
{
    if (f->socket && *f->socket) {
        const char *path = f->socket;
        if (!strncmp(path, "unix://", 7))
            path += 7;
        return ttrpc_listen_unix(path, err);
    }
    int flags = fcntl(LISTEN_FD, F_GETFD);
    if (flags < 0)
        return error_set(err, GRPC_FAILED_PRECONDITION,
                         "no listener on fd 3: the daemon is started by `start`, or with -socket");
    fcntl(LISTEN_FD, F_SETFD, flags | FD_CLOEXEC);
    return LISTEN_FD;
}

/* Waits for Shutdown (exit_fd) or SIGTERM / SIGINT. */
static void wait_for_exit(int sig_fd)
{
    struct pollfd fds[] = {{.fd = exit_fd, .events = POLLIN}, {.fd = sig_fd, .events = POLLIN}};
    for (;;) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            log_error("poll: %s", strerror(errno));
            return;
        }
        if (fds[0].revents) {
            log_info("shutdown: no task left, exiting");
            return;
        }
        struct signalfd_siginfo si;
        if (fds[1].revents && read(sig_fd, &si, sizeof(si)) == sizeof(si)) {
            log_info("signal %u: tearing the pod down and exiting", si.ssi_signo);
            return;
        }
    }
}

int shim_serve(const struct shim_flags *f)
{
    /* Processes the daemon spawns (and theirs) are reaped by it, never by init. */
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    open_log();
    log_set_level(f->debug ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO);

    /* Signals are taken by the main thread only: block them before any thread exists. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    _cleanup_close_ int sig_fd = signalfd(-1, &set, SFD_CLOEXEC);
    exit_fd = eventfd(0, EFD_CLOEXEC);

    _cleanup_(error_clear) struct error err = ERROR_INIT;
    int listen_fd = open_listener(f, &err);
    if (listen_fd < 0 || sig_fd < 0 || exit_fd < 0) {
        log_error("shim daemon: %s", err.msg ? err.msg : strerror(errno));
        return 1;
    }
    _cleanup_free_ char *socket_path = listener_path(listen_fd);

    struct publisher_options po = {
        .ttrpc_address = getenv("TTRPC_ADDRESS"),
        .publish_binary = f->publish_binary,
        .grpc_address = f->address,
        .namespace_ = f->namespace_,
    };
    struct publisher *pub = publisher_new(&po);
    struct pod *pod = pod_new(f->namespace_, pub, request_exit, NULL);
    struct ttrpc_server_options so = {
        .require_same_uid = true,
        .thread_stack_size = SERVER_STACK_SIZE,
    };
    struct ttrpc_server *srv = ttrpc_server_new(&so);
    int rc = 0;
    if (task_service_register(srv, pod, &err) < 0 ||
        ttrpc_server_listen(srv, listen_fd, &err) < 0) {
        log_error("shim daemon: %s", err.msg);
        rc = 1;
    } else {
        log_info("cocoon shim %s serving %s (namespace %s)", COCOON_VERSION,
                 socket_path ? socket_path : "fd 3", f->namespace_ ? f->namespace_ : "");
        wait_for_exit(sig_fd);
    }
    /* Every Wait is released and the VM goes; then the handlers can finish (a Shutdown reply
     * goes out) and the server closes. */
    pod_teardown_vm(pod);
    ttrpc_server_free(srv);
    pod_free(pod);
    publisher_free(pub, PUBLISH_FLUSH_MS);
    if (socket_path)
        unlink(socket_path);
    close(exit_fd);
    return rc;
}
