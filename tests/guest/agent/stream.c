#include "stream.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#define DRAIN_MS 500

static bool proc_done(struct proc *p)
{
    pthread_mutex_lock(&agent.lock);
    bool done = p->exited || p->unlinked || agent.stopping;
    pthread_mutex_unlock(&agent.lock);
    return done;
}

ssize_t stdio_read(struct proc *p, int stream, uint8_t *buf, size_t len, struct error *err)
{
    int fd = p->out_fd[stream];
    if (fd < 0)
        return 0; /* a tty's stderr: everything comes on stdout */
    for (;;) {
        bool done = proc_done(p);
        struct pollfd pfd[2] = {{fd, POLLIN, 0}, {p->wake_fd, POLLIN, 0}};
        int r = poll(pfd, done ? 1 : 2, done ? DRAIN_MS : -1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return error_set_errno(err, errno, "poll");
        if (r == 0)
            return 0;
        if (pfd[0].revents) {
            ssize_t n = read(fd, buf, len);
            if (n >= 0)
                return n;
            if (errno == EIO) /* a pty master once the slave side is closed */
                return 0;
            if (errno != EAGAIN && errno != EINTR)
                return error_set_errno(err, errno, "read the process's output");
        }
        /* woken: the process exited or was removed; drain from now on */
    }
}

static ssize_t write_all(struct proc *p, int fd, const uint8_t *data, size_t len, struct error *err)
{
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN)
            return error_set_errno(err, errno, "write to the process's stdin");
        if (proc_done(p))
            return error_set(err, GRPC_FAILED_PRECONDITION, "the process has exited");
        struct pollfd pfd[2] = {{fd, POLLOUT, 0}, {p->wake_fd, POLLIN, 0}};
        poll(pfd, 2, -1);
    }
    return (ssize_t)off;
}

ssize_t stdio_write(struct proc *p, const uint8_t *data, size_t len, struct error *err)
{
    if (len == 0)
        return stdio_close_stdin(p, err);
    pthread_mutex_lock(&p->stdin_lock);
    ssize_t r = p->stdin_fd < 0 ? error_set(err, GRPC_FAILED_PRECONDITION, "stdin is closed")
                                : write_all(p, p->stdin_fd, data, len, err);
    pthread_mutex_unlock(&p->stdin_lock);
    return r;
}

int stdio_close_stdin(struct proc *p, struct error *err)
{
    int r = 0;
    pthread_mutex_lock(&p->stdin_lock);
    if (p->tty && p->stdin_fd >= 0) {
        struct termios t;
        uint8_t eof = tcgetattr(p->stdin_fd, &t) == 0 ? t.c_cc[VEOF] : 4;
        r = write_all(p, p->stdin_fd, &eof, 1, err) < 0 ? -1 : 0;
    } else if (p->stdin_fd >= 0) {
        close(p->stdin_fd);
        p->stdin_fd = -1;
    }
    pthread_mutex_unlock(&p->stdin_lock);
    return r;
}

int stdio_resize(struct proc *p, unsigned rows, unsigned cols, struct error *err)
{
    if (!p->tty)
        return error_set(err, GRPC_UNAVAILABLE, "no tty"); /* kata-agent's answer */
    struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
    if (ioctl(p->out_fd[0], TIOCSWINSZ, &ws) < 0)
        return error_set_errno(err, errno, "resize the terminal");
    return 0;
}
