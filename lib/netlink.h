/* rtnetlink (NETLINK_ROUTE) from C without a library: build a request, send it and wait for its
 * acknowledgement, or dump a table; parse attributes. One socket serves one network namespace,
 * the one it was opened in, whatever thread uses it later. */
#pragma once

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"

struct nl_sock {
    int fd;
    uint32_t seq;
};

/* Opens a socket in the calling thread's network namespace, or, when netns is not NULL, in the
 * namespace that path names (a bind mount such as /var/run/netns/NAME, or /proc/PID/ns/net).
 * The thread is back in its own namespace when this returns. */
int nl_open(struct nl_sock *s, const char *netns, struct error *err);
void nl_close(struct nl_sock *s); /* fd -1 afterwards; twice is fine */

#define NL_MSG_MAX 4096

/* A request being built: the netlink header, the family header, then attributes. */
struct nl_msg {
    union {
        struct nlmsghdr h;
        char buf[NL_MSG_MAX];
    };
};

/* Starts a request of type (RTM_*) with flags (NLM_F_CREATE, ...; NLM_F_REQUEST and NLM_F_ACK
 * are added) and a zeroed family header of hdr_len bytes, which it returns for the caller to
 * fill (struct ifinfomsg, rtmsg, tcmsg, ...). */
void *nl_msg_init(struct nl_msg *m, uint16_t type, uint16_t flags, size_t hdr_len);

/* Appends an attribute; the requests here are small, so overflowing NL_MSG_MAX is a bug and
 * aborts. */
void nl_put(struct nl_msg *m, uint16_t type, const void *data, size_t len);
void nl_put_u32(struct nl_msg *m, uint16_t type, uint32_t v);
void nl_put_str(struct nl_msg *m, uint16_t type, const char *s); /* NUL included */
struct rtattr *nl_nest_begin(struct nl_msg *m, uint16_t type);
void nl_nest_end(struct nl_msg *m, struct rtattr *nest);

/* Sends m and waits for the kernel's answer. Returns 0, or -errno of the kernel's (or the
 * socket's) error with err set to its strerror; callers add what they were doing. */
int nl_call(struct nl_sock *s, struct nl_msg *m, struct error *err);

/* nl_call for a request that is answered (a get): fn sees each answer before the
 * acknowledgement. */
typedef int (*nl_dump_fn)(const struct nlmsghdr *h, void *user, struct error *err);
int nl_get(struct nl_sock *s, struct nl_msg *m, nl_dump_fn fn, void *user, struct error *err);

/* Sends m as a dump request (NLM_F_DUMP) and calls fn with each answer until the dump is done.
 * fn returns 0 to go on, or -1 (err set) to stop: the rest of the dump is read and dropped. */
int nl_dump(struct nl_sock *s, struct nl_msg *m, nl_dump_fn fn, void *user, struct error *err);

/* The attributes after a message's family header (hdr_len bytes), by type: tb[0..max], NULL
 * where absent; types above max are skipped. nl_nested does the same for a nested attribute. */
void nl_attrs(const struct nlmsghdr *h, size_t hdr_len, const struct rtattr **tb, int max);
void nl_nested(const struct rtattr *nest, const struct rtattr **tb, int max);

/* An attribute's payload and its length. */
static inline const void *nl_data(const struct rtattr *a)
{
    return RTA_DATA(a);
}
static inline size_t nl_len(const struct rtattr *a)
{
    return RTA_PAYLOAD(a);
}
