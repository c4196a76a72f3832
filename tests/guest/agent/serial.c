#include "serial.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/log.h"
#include "ttrpc/frame.h"
#include "util.h"

#define IDLE_MS 20 /* between sessions: reads return 0 at once while no host is connected */

static struct {
    struct ttrpc_server *srv;
    int port;
    int stop;
    pthread_t thread;
    /* host -> guest framing, to see where each request starts */
    uint8_t hdr[TTRPC_HEADER_LEN];
    size_t hdr_len;
    uint32_t body_left;
    uint32_t last_stream;
    atomic_bool stalled; /* serial_relay_stall: nothing passes any more */
} relay;

enum { SESSION_GOES_ON, SESSION_HOST_LEFT, SESSION_NEW_CLIENT, SESSION_STOP };

static int write_all(int fd, const uint8_t *p, size_t len)
{
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Forwards the complete header in relay.hdr, noting its stream id. */
static int forward_header(int sock)
{
    struct ttrpc_frame_header h;
    ttrpc_header_decode(relay.hdr, &h);
    if (h.type == TTRPC_TYPE_REQUEST)
        relay.last_stream = h.stream_id;
    relay.hdr_len = 0;
    relay.body_left = h.length;
    return write_all(sock, relay.hdr, TTRPC_HEADER_LEN);
}

/* Forwards host bytes to the server, watching request headers go by. */
static int from_host(int sock, const uint8_t *p, size_t len, size_t *used)
{
    size_t off = 0;
    while (off < len) {
        if (relay.body_left) {
            size_t n = len - off < relay.body_left ? len - off : relay.body_left;
            if (write_all(sock, p + off, n) < 0)
                return SESSION_HOST_LEFT;
            off += n;
            relay.body_left -= (uint32_t)n;
            continue;
        }
        size_t n = TTRPC_HEADER_LEN - relay.hdr_len;
        if (n > len - off)
            n = len - off;
        memcpy(relay.hdr + relay.hdr_len, p + off, n);
        relay.hdr_len += n;
        off += n;
        if (relay.hdr_len < TTRPC_HEADER_LEN)
            break;
        struct ttrpc_frame_header h;
        ttrpc_header_decode(relay.hdr, &h);
        if (h.type == TTRPC_TYPE_REQUEST && relay.last_stream && h.stream_id <= relay.last_stream) {
            *used = off; /* the header stays in relay.hdr for the next session */
            return SESSION_NEW_CLIENT;
        }
        if (forward_header(sock) < 0)
            return SESSION_HOST_LEFT;
    }
    *used = off;
    return SESSION_GOES_ON;
}

static void session_reset(void)
{
    relay.body_left = 0;
    relay.last_stream = 0;
}

/* One host session over sock; returns why it ended. Host bytes read but not yet forwarded when a
 * new client shows up are carried in *carry and carry_len. */
static int session(int sock, uint8_t *buf, size_t cap, uint8_t **carry, size_t *carry_len)
{
    /* the first header of a new client was read at the end of the last session */
    if (relay.hdr_len == TTRPC_HEADER_LEN && forward_header(sock) < 0)
        return SESSION_HOST_LEFT;
    if (*carry_len) {
        size_t used;
        int r = from_host(sock, *carry, *carry_len, &used);
        *carry += used;
        *carry_len -= used;
        if (r != SESSION_GOES_ON)
            return r;
    }
    for (;;) {
        struct pollfd pfd[3] = {
            {relay.port, POLLIN, 0}, {sock, POLLIN, 0}, {relay.stop, POLLIN, 0}};
        if (poll(pfd, 3, -1) < 0 && errno != EINTR)
            return SESSION_STOP;
        if (pfd[2].revents)
            return SESSION_STOP;
        if (pfd[1].revents) {
            ssize_t n = read(sock, buf, cap);
            if (n > 0 && atomic_load(&relay.stalled))
                continue; /* an answer nobody gets */
            if (n > 0 && write_all(relay.port, buf, (size_t)n) < 0)
                log_warn("serial: write to the port: %s", strerror(errno));
            if (n == 0)
                return SESSION_HOST_LEFT; /* the server closed: start over */
        }
        if (pfd[0].revents) {
            ssize_t n = read(relay.port, buf, cap);
            if (n < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (n <= 0)
                return SESSION_HOST_LEFT;
            if (atomic_load(&relay.stalled))
                continue; /* a request nobody serves */
            size_t used;
            int r = from_host(sock, buf, (size_t)n, &used);
            if (r == SESSION_NEW_CLIENT) {
                *carry = buf + used;
                *carry_len = (size_t)n - used;
            }
            if (r != SESSION_GOES_ON)
                return r;
        }
    }
}

static void *relay_main(void *arg)
{
    static uint8_t buf[64 * 1024];
    uint8_t *carry = NULL;
    size_t carry_len = 0;
    for (;;) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
            log_error("serial: socketpair: %s", strerror(errno));
            return NULL;
        }
        ttrpc_server_add_connection(relay.srv, sv[1]);
        int why = session(sv[0], buf, sizeof(buf), &carry, &carry_len);
        close(sv[0]);
        if (why == SESSION_STOP)
            return NULL;
        if (why == SESSION_NEW_CLIENT) {
            log_info("serial: a new host client; starting a new connection");
            session_reset();
            continue;
        }
        /* the host left (or is not there yet) */
        session_reset();
        relay.hdr_len = 0;
        carry_len = 0;
        struct pollfd pfd = {relay.stop, POLLIN, 0};
        if (poll(&pfd, 1, IDLE_MS) > 0)
            return NULL;
    }
}

int serial_relay_start(struct ttrpc_server *srv, int port_fd, struct error *err)
{
    relay.srv = srv;
    relay.port = port_fd;
    relay.stop = eventfd(0, EFD_CLOEXEC);
    if (relay.stop < 0)
        return error_set_errno(err, errno, "eventfd");
    int r = pthread_create(&relay.thread, NULL, relay_main, NULL);
    if (r != 0)
        return error_set_errno(err, r, "start the serial relay");
    return 0;
}

void serial_relay_stall(void)
{
    if (!atomic_exchange(&relay.stalled, true))
        log_warn("serial: stalled by request: nothing is answered any more");
}

void serial_relay_stop(void)
{
    uint64_t one = 1;
    (void)!write(relay.stop, &one, sizeof(one));
    pthread_join(relay.thread, NULL);
    close(relay.stop);
}
