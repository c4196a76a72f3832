#include "lib/netlink.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/cleanup.h"

#define RECV_BUF (32 * 1024)

static int open_here(struct nl_sock *s, struct error *err)
{
    s->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (s->fd < 0)
        return error_set_errno(err, errno, "netlink socket");
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
    if (bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        nl_close(s);
        return error_set_errno(err, e, "bind a netlink socket");
    }
    /* The kernel says which request an error answers (extended acks are not needed). */
    int one = 1;
    setsockopt(s->fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
    s->seq = (uint32_t)getpid() << 8;
    return 0;
}

int nl_open(struct nl_sock *s, const char *netns, struct error *err)
{
    s->fd = -1;
    if (!netns)
        return open_here(s, err);
    _cleanup_close_ int target = open(netns, O_RDONLY | O_CLOEXEC);
    if (target < 0)
        return error_set_errno(err, errno, "network namespace %s", netns);
    _cleanup_close_ int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (self < 0)
        return error_set_errno(err, errno, "open this thread's network namespace");
    if (setns(target, CLONE_NEWNET) < 0)
        return error_set_errno(err, errno, "enter network namespace %s", netns);
    int r = open_here(s, err);
    /* A thread left in the pod's namespace would open every later socket there. */
    if (setns(self, CLONE_NEWNET) < 0)
        abort();
    return r;
}

void nl_close(struct nl_sock *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

void *nl_msg_init(struct nl_msg *m, uint16_t type, uint16_t flags, size_t hdr_len)
{
    memset(m->buf, 0, NLMSG_SPACE(hdr_len));
    m->h.nlmsg_len = NLMSG_LENGTH(hdr_len);
    m->h.nlmsg_type = type;
    m->h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
    return NLMSG_DATA(&m->h);
}

static struct rtattr *tail(struct nl_msg *m)
{
    return (struct rtattr *)(m->buf + NLMSG_ALIGN(m->h.nlmsg_len));
}

void nl_put(struct nl_msg *m, uint16_t type, const void *data, size_t len)
{
    size_t at = NLMSG_ALIGN(m->h.nlmsg_len);
    if (at + RTA_SPACE(len) > sizeof(m->buf))
        abort();
    struct rtattr *a = tail(m);
    a->rta_type = type;
    a->rta_len = (unsigned short)RTA_LENGTH(len);
    /* the alignment padding goes to the kernel too: no stale bytes in it */
    memset(RTA_DATA(a), 0, RTA_SPACE(len) - RTA_LENGTH(0));
    if (len)
        memcpy(RTA_DATA(a), data, len);
    m->h.nlmsg_len = (uint32_t)(at + RTA_SPACE(len));
}

void nl_put_u32(struct nl_msg *m, uint16_t type, uint32_t v)
{
    nl_put(m, type, &v, sizeof(v));
}

void nl_put_str(struct nl_msg *m, uint16_t type, const char *s)
{
    nl_put(m, type, s, strlen(s) + 1);
}

struct rtattr *nl_nest_begin(struct nl_msg *m, uint16_t type)
{
    struct rtattr *nest = tail(m);
    nl_put(m, type, NULL, 0);
    return nest;
}

void nl_nest_end(struct nl_msg *m, struct rtattr *nest)
{
    nest->rta_len = (unsigned short)((char *)tail(m) - (char *)nest);
}

static int send_msg(struct nl_sock *s, struct nl_msg *m, struct error *err)
{
    m->h.nlmsg_seq = ++s->seq;
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    ssize_t n;
    do
        n = sendto(s->fd, m->buf, m->h.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel));
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return error_set_errno(err, errno, "netlink send");
    return 0;
}

/* Reads the answers to the last request until it is done: its acknowledgement or error, or the
 * end of a dump. Other messages go to fn while it has not failed. */
static int receive(struct nl_sock *s, nl_dump_fn fn, void *user, struct error *err)
{
    _cleanup_free_ char *buf = malloc(RECV_BUF);
    if (!buf)
        abort();
    int result = 0; /* -EIO once fn failed: its error stays, the rest is read and dropped */
    for (;;) {
        ssize_t n = recv(s->fd, buf, RECV_BUF, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            if (result == 0)
                error_set_errno(err, e, "netlink receive");
            return result ? result : -e;
        }
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
             h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_seq != s->seq)
                continue; /* an answer to an earlier, abandoned request */
            if (h->nlmsg_type == NLMSG_DONE)
                return result;
            if (h->nlmsg_type == NLMSG_ERROR) {
                const struct nlmsgerr *e = NLMSG_DATA(h);
                if (e->error != 0 && result == 0) {
                    error_set_errno(err, -e->error, "netlink");
                    return e->error;
                }
                return result;
            }
            if (fn && result == 0 && fn(h, user, err) < 0)
                result = -EIO;
        }
    }
}

int nl_call(struct nl_sock *s, struct nl_msg *m, struct error *err)
{
    return nl_get(s, m, NULL, NULL, err);
}

int nl_get(struct nl_sock *s, struct nl_msg *m, nl_dump_fn fn, void *user, struct error *err)
{
    if (send_msg(s, m, err) < 0)
        return -EIO;
    return receive(s, fn, user, err);
}

int nl_dump(struct nl_sock *s, struct nl_msg *m, nl_dump_fn fn, void *user, struct error *err)
{
    m->h.nlmsg_flags |= NLM_F_DUMP;
    m->h.nlmsg_flags &= (uint16_t)~NLM_F_ACK;
    return nl_get(s, m, fn, user, err);
}

static void parse(const struct rtattr *a, int len, const struct rtattr **tb, int max)
{
    memset(tb, 0, sizeof(*tb) * (size_t)(max + 1));
    for (; RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        int type = a->rta_type & NLA_TYPE_MASK;
        if (type <= max)
            tb[type] = a;
    }
}

void nl_attrs(const struct nlmsghdr *h, size_t hdr_len, const struct rtattr **tb, int max)
{
    const struct rtattr *a =
        (const struct rtattr *)((const char *)NLMSG_DATA(h) + NLMSG_ALIGN(hdr_len));
    parse(a, (int)h->nlmsg_len - (int)NLMSG_LENGTH(NLMSG_ALIGN(hdr_len)), tb, max);
}

void nl_nested(const struct rtattr *nest, const struct rtattr **tb, int max)
{
    parse(RTA_DATA(nest), (int)RTA_PAYLOAD(nest), tb, max);
}
