#include "vmm/vm-helper.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/clock.h"
#include "lib/fs.h"
#include "lib/subprocess.h"
#include "lib/xalloc.h"

#define WATCH_STACK (64 * 1024)
#define MAX_OUTPUT (64 * 1024) /* a line on stdout, a message on stderr */

extern char **environ;

/* --- running the helper --- */

struct run {
    int in, out, err; /* our ends; -1 once done */
    struct buf stdout_text, stderr_text;
};

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Reads what fd has; closes it at end of file. */
static void drain(int *fd, struct buf *b)
{
    char chunk[4096];
    ssize_t n = read(*fd, chunk, sizeof(chunk));
    if (n > 0 && b->len < MAX_OUTPUT)
        buf_append(b, chunk, (size_t)n);
    else if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
        close_fd(fd);
}

/* Feeds `in` to the helper and collects its output until both output pipes close or the deadline
 * passes (then it is killed). Returns the wait status, or -1 with err set. */
static int exchange(struct run *r, pid_t pid, const char *in, const char *what, struct error *err)
{
    size_t in_len = in ? strlen(in) : 0, written = 0;
    if (in_len == 0)
        close_fd(&r->in);
    int64_t deadline = now_ms() + VM_HELPER_TIMEOUT_MS;
    bool timed_out = false;
    while (r->out >= 0 || r->err >= 0) {
        struct pollfd p[3] = {{.fd = r->in, .events = POLLOUT},
                              {.fd = r->out, .events = POLLIN},
                              {.fd = r->err, .events = POLLIN}};
        int n = poll(p, 3, remaining_ms(deadline));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            timed_out = n == 0;
            kill(pid, SIGKILL);
            break;
        }
        if (p[0].revents & (POLLOUT | POLLERR | POLLHUP)) {
            ssize_t w = write(r->in, in + written, in_len - written);
            if (w > 0)
                written += (size_t)w;
            if ((w < 0 && errno != EAGAIN && errno != EINTR) || written == in_len)
                close_fd(&r->in); /* its end of file: the whole XML is there */
        }
        if (p[1].revents)
            drain(&r->out, &r->stdout_text);
        if (p[2].revents)
            drain(&r->err, &r->stderr_text);
    }
    int status;
    for (;;) {
        pid_t w = waitpid(pid, &status, timed_out ? 0 : WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR)
            return error_set_errno(err, errno, "%s: wait for %s", what, VM_HELPER_NAME);
        if (w == 0 && now_ms() >= deadline) { /* it closed its output but does not exit */
            timed_out = true;
            kill(pid, SIGKILL);
        } else if (w == 0) {
            usleep(2000);
        }
    }
    if (timed_out)
        return error_set(err, GRPC_DEADLINE_EXCEEDED, "%s: %s did not finish within %d s; killed",
                         what, VM_HELPER_NAME, VM_HELPER_TIMEOUT_MS / 1000);
    return status;
}

/* Runs helper with args; *out gets its stdout (NUL-terminated, caller frees) when it exits 0. A
 * non-zero exit is an error carrying its stderr. */
static int run_helper(const char *helper, char *const argv[], const char *in, const char *what,
                      char **out, struct error *err)
{
    int pin[2] = {-1, -1}, pout[2] = {-1, -1}, perr[2] = {-1, -1};
    if (pipe2(pin, O_CLOEXEC) < 0 || pipe2(pout, O_CLOEXEC) < 0 || pipe2(perr, O_CLOEXEC) < 0) {
        int e = errno;
        for (int i = 0; i < 2; i++) {
            close_fd(&pin[i]);
            close_fd(&pout[i]);
            close_fd(&perr[i]);
        }
        return error_set_errno(err, e, "%s: pipes for %s", what, VM_HELPER_NAME);
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    spawn_attr_init_clean(&attr);
    posix_spawn_file_actions_adddup2(&fa, pin[0], 0);
    posix_spawn_file_actions_adddup2(&fa, pout[1], 1);
    posix_spawn_file_actions_adddup2(&fa, perr[1], 2);

    pid_t pid;
    int e = posix_spawn(&pid, helper, &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close_fd(&pin[0]);
    close_fd(&pout[1]);
    close_fd(&perr[1]);
    struct run r = {.in = pin[1], .out = pout[0], .err = perr[0]};
    int status = -1;
    if (e != 0) {
        error_set_errno(err, e, "%s: run %s", what, helper);
    } else {
        for (int i = 0; i < 3; i++)
            fcntl(i == 0 ? r.in : i == 1 ? r.out : r.err, F_SETFL, O_NONBLOCK);
        status = exchange(&r, pid, in, what, err);
    }
    close_fd(&r.in);
    close_fd(&r.out);
    close_fd(&r.err);
    _cleanup_free_ char *text = r.stderr_text.ptr;
    if (status >= 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        size_t n = r.stderr_text.len;
        while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
            text[--n] = '\0';
        size_t wl = strlen(what);
        if (n > 0 && strncmp(text, what, wl) == 0 && text[wl] == ':')
            error_set(err, GRPC_UNAVAILABLE, "%s", text); /* it said what failed already */
        else if (n > 0)
            error_set(err, GRPC_UNAVAILABLE, "%s: %s", what, text);
        else if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
            error_set(err, GRPC_INTERNAL, "%s: %s could not be run (exit 127)", what, helper);
        else if (WIFEXITED(status))
            error_set(err, GRPC_INTERNAL, "%s: %s exited with %d and said nothing", what, helper,
                      WEXITSTATUS(status));
        else
            error_set(err, GRPC_INTERNAL, "%s: %s died of signal %d", what, helper,
                      WTERMSIG(status));
        status = -1;
    }
    if (status < 0) {
        free(r.stdout_text.ptr);
        return -1;
    }
    *out = r.stdout_text.ptr ? r.stdout_text.ptr : xstrdup("");
    return 0;
}

int vm_helper_create(const char *helper, const char *uri, const char *xml, struct vm_started *out,
                     struct error *err)
{
    *out = (struct vm_started){0};
    char *argv[] = {(char *)VM_HELPER_NAME, "create", "-uri", (char *)(uri ? uri : ""), NULL};
    _cleanup_free_ char *text = NULL;
    if (run_helper(helper, argv, xml, "create domain", &text, err) < 0)
        return -1;
    unsigned pid, cid;
    if (sscanf(text, VM_HELPER_CREATED_FORMAT, &pid, &cid) != 2)
        return error_set(err, GRPC_INTERNAL, "create domain: %s answered \"%.80s\", not \"%s\"",
                         VM_HELPER_NAME, text, VM_HELPER_CREATED_FORMAT);
    out->pid = pid;
    out->cid = cid;
    return 0;
}

int vm_helper_destroy(const char *helper, const char *uri, const char *name, struct error *err)
{
    char *argv[] = {(char *)VM_HELPER_NAME,   "destroy",    "-uri",
                    (char *)(uri ? uri : ""), (char *)name, NULL};
    _cleanup_free_ char *text = NULL;
    if (run_helper(helper, argv, NULL, "destroy domain", &text, err) < 0)
        return -1;
    return strncmp(text, "destroyed", 9) == 0 ? 1 : 0;
}

/* --- watching QEMU --- */

struct qemu_watch {
    int pidfd; /* -1: the process was already gone */
    int stop_fd;
    vmm_event_fn cb;
    void *user;
    pthread_t thread;
};

/* Whether pid still runs the QEMU of domain name: libvirt starts it with -name guest=<name>,... */
static bool runs_domain(pid_t pid, const char *name)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    _cleanup_free_ char *cmdline = NULL;
    size_t len;
    if (fs_read_file(path, 1 << 20, &cmdline, &len, NULL) < 0)
        return false;
    _cleanup_free_ char *want = xasprintf("guest=%s", name);
    size_t wl = strlen(want);
    for (size_t i = 0; i + wl <= len; i += strlen(cmdline + i) + 1) {
        const char *arg = cmdline + i;
        if (strncmp(arg, want, wl) == 0 && (arg[wl] == '\0' || arg[wl] == ','))
            return true;
    }
    return false;
}

static void *watch_main(void *arg)
{
    struct qemu_watch *w = arg;
    while (w->pidfd >= 0) { /* without one, the process was gone already */
        struct pollfd p[2] = {{.fd = w->pidfd, .events = POLLIN},
                              {.fd = w->stop_fd, .events = POLLIN}};
        if (poll(p, 2, -1) < 0) {
            if (errno != EINTR)
                usleep(100 * 1000); /* cannot happen with valid fds; never spin */
            continue;
        }
        if (p[1].revents)
            return NULL; /* stopped before QEMU ended */
        if (p[0].revents)
            break;
    }
    w->cb(w->user, VMM_EVENT_STOPPED, "exited");
    return NULL;
}

int qemu_watch_start(uint32_t pid, const char *name, vmm_event_fn cb, void *user,
                     struct qemu_watch **out, struct error *err)
{
    *out = NULL;
    struct qemu_watch *w = xcalloc(1, sizeof(*w));
    w->cb = cb;
    w->user = user;
    w->pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
    if (w->pidfd < 0 && errno != ESRCH) {
        int e = errno;
        free(w);
        return error_set_errno(err, e, "watch QEMU pid %u of domain %s: pidfd_open", pid, name);
    }
    /* The pid came from libvirt's pid file: make sure it is still that QEMU (not a new process
     * with its pid), now that the pidfd pins it. */
    if (w->pidfd >= 0 && !runs_domain((pid_t)pid, name))
        close_fd(&w->pidfd);
    w->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, WATCH_STACK);
    int e = w->stop_fd < 0 ? errno : pthread_create(&w->thread, &attr, watch_main, w);
    pthread_attr_destroy(&attr);
    if (e != 0) {
        close_fd(&w->pidfd);
        close_fd(&w->stop_fd);
        free(w);
        return error_set_errno(err, e, "watch QEMU pid %u of domain %s", pid, name);
    }
    *out = w;
    return 0;
}

void qemu_watch_stop(struct qemu_watch *w)
{
    if (!w)
        return;
    eventfd_write(w->stop_fd, 1);
    pthread_join(w->thread, NULL);
    close_fd(&w->pidfd);
    close_fd(&w->stop_fd);
    free(w);
}
