#include "http.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/xalloc.h"

#define HEADER_MAX 65536
#define REDIRECTS_MAX 5
#define IO_TIMEOUT_S 60

struct url {
    char *host; /* with the port, for the Host header */
    char *name;
    char *port;
    char *path;
};

static void url_free(struct url *u)
{
    free(u->host);
    free(u->name);
    free(u->port);
    free(u->path);
}

static int url_parse(const char *s, struct url *u, struct error *err)
{
    memset(u, 0, sizeof(*u));
    if (strncmp(s, "http://", 7))
        return error_set(err, GRPC_INVALID_ARGUMENT, "only http:// URLs are supported: %s", s);
    s += 7;
    const char *slash = strchrnul(s, '/');
    u->host = xstrndup(s, (size_t)(slash - s));
    u->path = xstrdup(*slash ? slash : "/");
    char *colon = strrchr(u->host, ':');
    u->name = colon ? xstrndup(u->host, (size_t)(colon - u->host)) : xstrdup(u->host);
    u->port = xstrdup(colon ? colon + 1 : "80");
    return 0;
}

static int dial(const struct url *u, struct error *err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    int r = getaddrinfo(u->name, u->port, &hints, &res);
    if (r != 0)
        return error_set(err, GRPC_UNAVAILABLE, "resolve %s: %s", u->name, gai_strerror(r));
    int fd = -1, saved = 0;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0)
            continue;
        struct timeval tv = {IO_TIMEOUT_S, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (connect(fd, a->ai_addr, a->ai_addrlen) < 0) {
            saved = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        return error_set(err, GRPC_UNAVAILABLE, "connect to %s: %s", u->host, strerror(saved));
    return fd;
}

static int send_all(int fd, const char *s, size_t len, struct error *err)
{
    while (len) {
        ssize_t n = send(fd, s, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return error_set_errno(err, errno, "send");
        s += n;
        len -= (size_t)n;
    }
    return 0;
}

/* The value of header `name` in the header block, or NULL. */
static char *header(const char *head, const char *name)
{
    size_t nl = strlen(name);
    for (const char *line = strstr(head, "\r\n"); line; line = strstr(line, "\r\n")) {
        line += 2;
        if (strncasecmp(line, name, nl) || line[nl] != ':')
            continue;
        const char *v = line + nl + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        return xstrndup(v, strcspn(v, "\r\n"));
    }
    return NULL;
}

struct response {
    int status;
    char *location;
    char *content_type;
    long long length; /* -1: until EOF */
};

/* Reads the status line and headers; leftover body bytes stay in buf[0..*body_len]. */
static int read_head(int fd, char *buf, size_t *body_len, struct response *resp, struct error *err)
{
    size_t n = 0;
    char *end = NULL;
    while (!end) {
        if (n == HEADER_MAX)
            return error_set(err, GRPC_INTERNAL, "HTTP headers over %d bytes", HEADER_MAX);
        ssize_t r = recv(fd, buf + n, HEADER_MAX - n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return error_set(err, GRPC_UNAVAILABLE, "HTTP: connection closed in the headers");
        n += (size_t)r;
        buf[n] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    *end = '\0';
    if (sscanf(buf, "HTTP/%*d.%*d %d", &resp->status) != 1)
        return error_set(err, GRPC_INTERNAL, "HTTP: bad status line");
    resp->location = header(buf, "Location");
    resp->content_type = header(buf, "Content-Type");
    _cleanup_free_ char *cl = header(buf, "Content-Length");
    resp->length = cl ? strtoll(cl, NULL, 10) : -1;
    size_t head_len = (size_t)(end + 4 - buf);
    *body_len = n - head_len;
    memmove(buf, buf + head_len, *body_len);
    return 0;
}

/* Streams the body (what is buffered, then the socket) to sink, or into a short error text. */
static int read_body(int fd, char *buf, size_t have, const struct response *resp, http_sink_fn sink,
                     void *user, struct error *err)
{
    long long got = 0;
    for (;;) {
        if (have) {
            if (sink(user, (const uint8_t *)buf, have, err) < 0)
                return -1;
            got += (long long)have;
        }
        if (resp->length >= 0 && got >= resp->length)
            return 0;
        ssize_t r = recv(fd, buf, HEADER_MAX, 0);
        if (r < 0 && errno == EINTR) {
            have = 0;
            continue;
        }
        if (r < 0)
            return error_set_errno(err, errno, "HTTP: read the body");
        if (r == 0)
            return resp->length < 0 ? 0 : error_set(err, GRPC_UNAVAILABLE, "HTTP: body cut short");
        have = (size_t)r;
    }
}

static int discard(void *user, const uint8_t *data, size_t len, struct error *err)
{
    return 0;
}

static int get_once(const struct url *u, const char *accept, http_sink_fn sink, void *user,
                    struct response *resp, struct error *err)
{
    _cleanup_close_ int fd = dial(u, err);
    if (fd < 0)
        return -1;
    _cleanup_free_ char *req = xasprintf(
        "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: cocoon-test-agent\r\n%s%s%s"
        "Connection: close\r\n\r\n",
        u->path, u->host, accept ? "Accept: " : "", accept ? accept : "", accept ? "\r\n" : "");
    if (send_all(fd, req, strlen(req), err) < 0)
        return -1;
    _cleanup_free_ char *buf = xmalloc(HEADER_MAX + 1);
    size_t have = 0;
    if (read_head(fd, buf, &have, resp, err) < 0)
        return -1;
    if (resp->status == 200)
        return read_body(fd, buf, have, resp, sink, user, err);
    if (resp->status >= 300 && resp->status < 400 && resp->location)
        return 0;
    return read_body(fd, buf, have, resp, discard, NULL, err) < 0 ? -1 : 0;
}

int http_get(const char *url, const char *accept, http_sink_fn sink, void *user,
             char **content_type, struct error *err)
{
    _cleanup_free_ char *cur = xstrdup(url);
    for (int i = 0; i <= REDIRECTS_MAX; i++) {
        struct url u;
        if (url_parse(cur, &u, err) < 0)
            return -1;
        struct response resp = {0};
        int r = get_once(&u, accept, sink, user, &resp, err);
        char *next = NULL;
        if (r == 0 && resp.status >= 300 && resp.status < 400 && resp.location)
            next = resp.location[0] == '/' ? xasprintf("http://%s%s", u.host, resp.location)
                                           : xstrdup(resp.location);
        else if (r == 0 && resp.status != 200)
            r = error_set(err, resp.status == 404 ? GRPC_NOT_FOUND : GRPC_UNAVAILABLE,
                          "GET %s: HTTP %d", cur, resp.status);
        if (r == 0 && !next && content_type)
            *content_type = TAKE_PTR(resp.content_type);
        free(resp.location);
        free(resp.content_type);
        url_free(&u);
        if (r < 0 || !next)
            return r;
        free(cur);
        cur = next;
    }
    return error_set(err, GRPC_UNAVAILABLE, "GET %s: too many redirects", url);
}
