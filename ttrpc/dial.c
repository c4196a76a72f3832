#include "ttrpc/dial.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "ttrpc/frame.h"

#define RETRY_INTERVAL_MS 20

static int unix_addr(const char *path, struct sockaddr_un *sa, struct error *err)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    size_t n = strlen(path);
    if (n == 0)
        return error_set(err, GRPC_INVALID_ARGUMENT, "ttrpc: empty unix socket path");
    if (n >= sizeof(sa->sun_path))
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "ttrpc: unix socket path \"%s\" is %zu bytes, longer than the %zu allowed",
                         path, n, sizeof(sa->sun_path) - 1);
    memcpy(sa->sun_path, path, n);
    return 0;
}

/* One connect attempt bounded by the deadline. Returns fd, or -errno. */
static int connect_once(int family, const struct sockaddr *sa, socklen_t salen, int64_t deadline)
{
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, sa, salen) < 0) {
        if (errno != EINPROGRESS && errno != EAGAIN) {
            int e = errno;
            close(fd);
            return -e;
        }
        for (;;) {
            int64_t left = deadline ? deadline - ttrpc_now_ns() : -1;
            if (deadline && left <= 0) {
                close(fd);
                return -ETIMEDOUT;
            }
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int n = poll(&p, 1, deadline ? (int)((left + 999999) / 1000000) : -1);
            if (n < 0 && errno == EINTR)
                continue;
            if (n > 0)
                break;
        }
        int soerr = 0;
        socklen_t len = sizeof(soerr);
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
        if (soerr) {
            close(fd);
            return -soerr;
        }
    }
    /* The rest of ttrpc uses blocking I/O with poll for deadlines. */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static bool retryable(int e)
{
    return e == ENOENT || e == ECONNREFUSED || e == ECONNRESET || e == EAGAIN || e == ENODEV ||
           e == ETIMEDOUT || e == EPIPE || e == EHOSTUNREACH || e == ENETUNREACH;
}

/* Reads one line (up to 63 bytes) for the hybrid-vsock handshake. Returns its length or -errno. */
static int read_line(int fd, char *buf, size_t size, int64_t deadline)
{
    size_t n = 0;
    while (n + 1 < size) {
        int64_t left = deadline ? deadline - ttrpc_now_ns() : -1;
        if (deadline && left <= 0)
            return -ETIMEDOUT;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int pr = poll(&p, 1, deadline ? (int)((left + 999999) / 1000000) : -1);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            continue;
        /* Byte by byte: what follows the line is ttrpc and must stay in the socket. */
        ssize_t r = read(fd, buf + n, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            return -ECONNRESET;
        if (buf[n++] == '\n')
            break;
    }
    buf[n] = '\0';
    return (int)n;
}

static int hvsock_handshake(int fd, uint32_t port, int64_t deadline)
{
    char line[64];
    int n = snprintf(line, sizeof(line), "CONNECT %" PRIu32 "\n", port);
    if (send(fd, line, (size_t)n, MSG_NOSIGNAL) != n)
        return -errno ? -errno : -EIO;
    n = read_line(fd, line, sizeof(line), deadline);
    if (n < 0)
        return n;
    return strncmp(line, "OK", 2) == 0 ? 0 : -ECONNREFUSED;
}

static int parse_u32(const char *s, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || v > UINT32_MAX || *s == '-' || *s == '+')
        return -1;
    *out = (uint32_t)v;
    return 0;
}

enum kind { KIND_UNIX, KIND_VSOCK, KIND_HVSOCK, KIND_SERIAL };

int ttrpc_dial(const char *address, int64_t timeout_ms, struct error *err)
{
    enum kind kind;
    const char *rest;
    if (strncmp(address, "unix://", 7) == 0) {
        kind = KIND_UNIX;
        rest = address + 7;
    } else if (strncmp(address, "vsock://", 8) == 0) {
        kind = KIND_VSOCK;
        rest = address + 8;
    } else if (strncmp(address, "hvsock://", 9) == 0) {
        kind = KIND_HVSOCK;
        rest = address + 9;
    } else if (strncmp(address, "virtio-serial://", 16) == 0) {
        kind = KIND_SERIAL;
        rest = address + 16;
    } else if (address[0] == '/') {
        kind = KIND_UNIX;
        rest = address;
    } else {
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "ttrpc: address \"%s\" has no known scheme (unix://, vsock://, hvsock://, "
                         "virtio-serial://)",
                         address);
    }

    struct sockaddr_storage ss;
    socklen_t salen;
    int family;
    uint32_t port = 0;
    if (kind == KIND_VSOCK) {
        const char *colon = strrchr(rest, ':');
        uint32_t cid;
        char cidbuf[16];
        size_t cl = colon ? (size_t)(colon - rest) : 0;
        if (!colon || cl == 0 || cl >= sizeof(cidbuf))
            return error_set(err, GRPC_INVALID_ARGUMENT,
                             "ttrpc: vsock address \"%s\" must be vsock://CID:PORT", address);
        memcpy(cidbuf, rest, cl);
        cidbuf[cl] = '\0';
        if (parse_u32(cidbuf, &cid) < 0 || parse_u32(colon + 1, &port) < 0)
            return error_set(
                err, GRPC_INVALID_ARGUMENT,
                "ttrpc: vsock address \"%s\": CID and PORT must be decimal 32-bit numbers",
                address);
        struct sockaddr_vm *vm = (struct sockaddr_vm *)&ss;
        memset(vm, 0, sizeof(*vm));
        vm->svm_family = AF_VSOCK;
        vm->svm_cid = cid;
        vm->svm_port = port;
        salen = sizeof(*vm);
        family = AF_VSOCK;
    } else {
        char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 16];
        size_t len = strlen(rest);
        if (kind == KIND_HVSOCK) {
            const char *colon = strrchr(rest, ':');
            if (!colon || parse_u32(colon + 1, &port) < 0)
                return error_set(err, GRPC_INVALID_ARGUMENT,
                                 "ttrpc: hybrid vsock address \"%s\" must be hvsock://PATH:PORT",
                                 address);
            len = (size_t)(colon - rest);
        }
        if (len >= sizeof(path))
            return error_set(err, GRPC_INVALID_ARGUMENT, "ttrpc: socket path in \"%s\" is too long",
                             address);
        memcpy(path, rest, len);
        path[len] = '\0';
        if (path[0] != '/')
            return error_set(err, GRPC_INVALID_ARGUMENT,
                             "ttrpc: socket path in \"%s\" must be absolute", address);
        if (unix_addr(path, (struct sockaddr_un *)&ss, err) < 0)
            return -1;
        salen = sizeof(struct sockaddr_un);
        family = AF_UNIX;
    }

    int64_t deadline = ttrpc_deadline_after_ms(timeout_ms);
    for (;;) {
        int fd = connect_once(family, (struct sockaddr *)&ss, salen, deadline);
        if (fd >= 0 && kind == KIND_HVSOCK) {
            int r = hvsock_handshake(fd, port, deadline);
            if (r < 0) {
                close(fd);
                fd = r;
            }
        }
        if (fd >= 0)
            return fd;
        int e = -fd;
        bool retry = kind != KIND_UNIX && retryable(e);
        if (!retry || (deadline && ttrpc_now_ns() + RETRY_INTERVAL_MS * 1000000LL >= deadline)) {
            if (retry)
                return error_set(err, GRPC_DEADLINE_EXCEEDED,
                                 "ttrpc: dial %s: gave up after %" PRId64 " ms: %s", address,
                                 timeout_ms, strerror(e));
            return error_set_errno(err, e, "ttrpc: dial %s", address);
        }
        sleep_ms(RETRY_INTERVAL_MS);
    }
}

int ttrpc_listen_unix(const char *path, struct error *err)
{
    struct sockaddr_un sa;
    if (unix_addr(path, &sa, err) < 0)
        return -1;
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return error_set_errno(err, errno, "ttrpc: socket");
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return error_set_errno(err, errno, "ttrpc: bind %s", path);
    /* umask is process-wide and racy with threads, so tighten the mode after binding; callers
     * put sockets in 0700 directories (/run/containerd/s) so the window exposes nothing. */
    int e;
    if (chmod(path, 0600) < 0) {
        e = errno;
        unlink(path);
        return error_set_errno(err, e, "ttrpc: chmod %s", path);
    }
    if (listen(fd, 128) < 0) {
        e = errno;
        unlink(path);
        return error_set_errno(err, e, "ttrpc: listen on %s", path);
    }
    return TAKE_FD(fd);
}
