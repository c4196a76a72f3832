#include "ttrpc/frame.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "lib/xalloc.h"

void ttrpc_header_encode(uint8_t out[TTRPC_HEADER_LEN], const struct ttrpc_frame_header *h)
{
    out[0] = (uint8_t)(h->length >> 24);
    out[1] = (uint8_t)(h->length >> 16);
    out[2] = (uint8_t)(h->length >> 8);
    out[3] = (uint8_t)h->length;
    out[4] = (uint8_t)(h->stream_id >> 24);
    out[5] = (uint8_t)(h->stream_id >> 16);
    out[6] = (uint8_t)(h->stream_id >> 8);
    out[7] = (uint8_t)h->stream_id;
    out[8] = h->type;
    out[9] = h->flags;
}

void ttrpc_header_decode(const uint8_t in[TTRPC_HEADER_LEN], struct ttrpc_frame_header *h)
{
    h->length = (uint32_t)in[0] << 24 | (uint32_t)in[1] << 16 | (uint32_t)in[2] << 8 | in[3];
    h->stream_id = (uint32_t)in[4] << 24 | (uint32_t)in[5] << 16 | (uint32_t)in[6] << 8 | in[7];
    h->type = in[8];
    h->flags = in[9];
}

int64_t ttrpc_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t ttrpc_deadline_after_ms(int64_t ms)
{
    return ms > 0 ? ttrpc_now_ns() + ms * 1000000 : 0;
}

void ttrpc_frame_reader_free(struct ttrpc_frame_reader *r)
{
    free(r->buf);
    memset(r, 0, sizeof(*r));
}

/* Spinning: waking a thread that sleeps on an idle CPU costs tens of microseconds (a halted
 * vCPU in a VM is the worst case), far more than a ttrpc round trip. So a waiter first polls
 * without sleeping for a short while. At most (CPUs - 1) threads of the process spin at once, so
 * spinners never take every CPU from the threads doing the work, and none spin on one CPU. */
static int spinners;

static int max_spinners(void)
{
    static int max = -1;
    int m = __atomic_load_n(&max, __ATOMIC_RELAXED);
    if (m < 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        m = n > 1 ? (int)n - 1 : 0;
        __atomic_store_n(&max, m, __ATOMIC_RELAXED);
    }
    return m;
}

bool ttrpc_spin_begin(void)
{
    if (__atomic_add_fetch(&spinners, 1, __ATOMIC_ACQ_REL) <= max_spinners())
        return true;
    __atomic_sub_fetch(&spinners, 1, __ATOMIC_ACQ_REL);
    return false;
}

void ttrpc_spin_end(void)
{
    __atomic_sub_fetch(&spinners, 1, __ATOMIC_ACQ_REL);
}

/* Polls fd (and wake_fd) without sleeping for up to TTRPC_SPIN_NS. Returns 1 readable, WOKEN,
 * or 0 if nothing arrived (or no spin slot was free). */
static int spin_readable(int fd, int wake_fd, int64_t deadline_ns)
{
    if (!ttrpc_spin_begin())
        return 0;
    int64_t until = ttrpc_now_ns() + TTRPC_SPIN_NS;
    if (deadline_ns && deadline_ns < until)
        until = deadline_ns;
    int r = 0;
    do {
        struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = wake_fd, .events = POLLIN}};
        if (poll(p, wake_fd >= 0 ? 2 : 1, 0) > 0) {
            r = wake_fd >= 0 && p[1].revents ? TTRPC_READ_WOKEN : 1;
            break;
        }
    } while (ttrpc_now_ns() < until);
    ttrpc_spin_end();
    return r;
}

/* Waits until fd is readable. Returns 1 readable, TIMEOUT, WOKEN or ERROR. */
static int wait_readable(int fd, int wake_fd, int64_t deadline_ns, struct error *err)
{
    int s = spin_readable(fd, wake_fd, deadline_ns);
    if (s != 0)
        return s;
    for (;;) {
        int timeout = -1;
        if (deadline_ns) {
            int64_t left = deadline_ns - ttrpc_now_ns();
            if (left <= 0)
                return TTRPC_READ_TIMEOUT;
            timeout = (int)((left + 999999) / 1000000);
        }
        struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = wake_fd, .events = POLLIN}};
        int n = poll(p, wake_fd >= 0 ? 2 : 1, timeout);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            error_set_errno(err, errno, "ttrpc: poll");
            return TTRPC_READ_ERROR;
        }
        if (n == 0)
            continue; /* re-check the deadline */
        if (wake_fd >= 0 && p[1].revents)
            return TTRPC_READ_WOKEN;
        return 1; /* readable, or HUP/ERR which read() reports */
    }
}

/* Reads more bytes into the buffer. Returns bytes read (> 0), 0 at EOF, or a negative result. */
static ssize_t fill(struct ttrpc_frame_reader *r, int fd, int wake_fd, int64_t deadline_ns,
                    size_t want, struct error *err)
{
    if (r->start > 0 && r->start == r->end)
        r->start = r->end = 0;
    if (r->cap - r->start < want) {
        /* Compact first, then grow to what the current frame needs. */
        if (r->end > r->start)
            memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
        if (r->cap < want) {
            size_t cap = r->cap ? r->cap : 4096;
            while (cap < want)
                cap *= 2;
            r->buf = xrealloc(r->buf, cap);
            r->cap = cap;
        }
    }
    for (;;) {
        int w = wait_readable(fd, wake_fd, deadline_ns, err);
        if (w != 1)
            return w;
        ssize_t n = read(fd, r->buf + r->end, r->cap - r->end);
        if (n >= 0) {
            r->end += (size_t)n;
            return n;
        }
        if (errno == EINTR || errno == EAGAIN)
            continue;
        error_set_errno(err, errno, "ttrpc: read");
        return TTRPC_READ_ERROR;
    }
}

enum ttrpc_read_result ttrpc_frame_read(struct ttrpc_frame_reader *r, int fd, int wake_fd,
                                        int64_t deadline_ns, struct ttrpc_frame *out,
                                        struct error *err)
{
    for (;;) {
        size_t avail = r->end - r->start;
        if (r->discard > 0) {
            size_t skip = avail < r->discard ? avail : (size_t)r->discard;
            r->start += skip;
            r->discard -= skip;
            if (r->discard > 0) {
                r->start = r->end = 0; /* everything buffered was skipped */
                ssize_t n = fill(r, fd, wake_fd, deadline_ns, 64 * 1024, err);
                if (n == 0)
                    return error_set(err, GRPC_UNAVAILABLE,
                                     "ttrpc: connection closed inside an oversized frame"),
                           TTRPC_READ_ERROR;
                if (n < 0)
                    return (enum ttrpc_read_result)n;
                continue;
            }
            avail = r->end - r->start;
        }
        if (avail >= TTRPC_HEADER_LEN) {
            ttrpc_header_decode(r->buf + r->start, &out->hdr);
            if (out->hdr.length > TTRPC_MESSAGE_LENGTH_MAX) {
                r->start += TTRPC_HEADER_LEN;
                r->discard = out->hdr.length;
                out->data = NULL;
                return TTRPC_READ_OVERSIZE;
            }
            if (avail >= TTRPC_HEADER_LEN + (size_t)out->hdr.length) {
                out->data = r->buf + r->start + TTRPC_HEADER_LEN;
                r->start += TTRPC_HEADER_LEN + out->hdr.length;
                return TTRPC_READ_FRAME;
            }
        }
        size_t need = avail >= TTRPC_HEADER_LEN ? TTRPC_HEADER_LEN + (size_t)out->hdr.length
                                                : TTRPC_HEADER_LEN;
        ssize_t n = fill(r, fd, wake_fd, deadline_ns, need, err);
        if (n == 0) {
            if (r->end == r->start)
                return TTRPC_READ_EOF;
            error_set(err, GRPC_UNAVAILABLE,
                      "ttrpc: connection closed mid-frame (%zu of %zu bytes)", r->end - r->start,
                      need);
            return TTRPC_READ_ERROR;
        }
        if (n < 0)
            return (enum ttrpc_read_result)n;
    }
}

int ttrpc_frame_write(int fd, uint32_t stream_id, uint8_t type, uint8_t flags, const void *data,
                      size_t len)
{
    uint8_t hdr[TTRPC_HEADER_LEN];
    struct ttrpc_frame_header h = {(uint32_t)len, stream_id, type, flags};
    ttrpc_header_encode(hdr, &h);
    struct iovec iov[2] = {{hdr, sizeof(hdr)}, {(void *)data, len}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = len ? 2 : 1};
    bool use_send = true;
    while (msg.msg_iovlen > 0) {
        /* sendmsg with MSG_NOSIGNAL on sockets; writev on other fds (virtio-serial ports). */
        ssize_t n = use_send ? sendmsg(fd, &msg, MSG_NOSIGNAL)
                             : writev(fd, msg.msg_iov, (int)msg.msg_iovlen);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == ENOTSOCK && use_send) {
                use_send = false;
                continue;
            }
            if (errno == EAGAIN) {
                struct pollfd p = {.fd = fd, .events = POLLOUT};
                (void)poll(&p, 1, -1);
                continue;
            }
            return -errno;
        }
        while (n > 0 && msg.msg_iovlen > 0) {
            if ((size_t)n >= msg.msg_iov[0].iov_len) {
                n -= (ssize_t)msg.msg_iov[0].iov_len;
                msg.msg_iov++;
                msg.msg_iovlen--;
            } else {
                msg.msg_iov[0].iov_base = (uint8_t *)msg.msg_iov[0].iov_base + n;
                msg.msg_iov[0].iov_len -= (size_t)n;
                n = 0;
            }
        }
    }
    return 0;
}
