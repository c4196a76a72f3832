/* Reading the pod's network namespace with rtnetlink dumps. */
#include <net/if.h> /* before any linux/ header: glibc then skips linux/if.h */
#include <arpa/inet.h>
#include <linux/if_arp.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/netlink.h"
#include "lib/xalloc.h"
#include "shim/pod-net.h"

#define GROW(arr, n) ((arr) = xrealloc((arr), ((n) + 1) * sizeof(*(arr))), &(arr)[(n)++])

static size_t addr_len(int family)
{
    return family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
}

/* Copies an address attribute of family into out (16 bytes); false if it does not fit. */
static bool copy_addr(const struct rtattr *a, int family, uint8_t *out)
{
    size_t len = addr_len(family);
    if (!a || len == 0 || nl_len(a) != len)
        return false;
    memcpy(out, nl_data(a), len);
    return true;
}

static struct pod_net_link *find_link(struct pod_net_scan *s, int index)
{
    for (size_t i = 0; i < s->n_links; i++)
        if (s->links[i].index == index)
            return &s->links[i];
    return NULL;
}

static int on_link(const struct nlmsghdr *h, void *user, struct error *err)
{
    struct pod_net_scan *s = user;
    if (h->nlmsg_type != RTM_NEWLINK)
        return 0;
    const struct ifinfomsg *ifi = NLMSG_DATA(h);
    const struct rtattr *tb[IFLA_MAX + 1];
    nl_attrs(h, sizeof(*ifi), tb, IFLA_MAX);
    struct pod_net_link *l = GROW(s->links, s->n_links);
    *l = (struct pod_net_link){
        .index = ifi->ifi_index, .type = ifi->ifi_type, .flags = ifi->ifi_flags};
    if (tb[IFLA_IFNAME])
        snprintf(l->name, sizeof(l->name), "%.*s", (int)nl_len(tb[IFLA_IFNAME]),
                 (const char *)nl_data(tb[IFLA_IFNAME]));
    if (tb[IFLA_MTU] && nl_len(tb[IFLA_MTU]) == 4)
        memcpy(&l->mtu, nl_data(tb[IFLA_MTU]), 4);
    if (tb[IFLA_ADDRESS] && nl_len(tb[IFLA_ADDRESS]) == 6) {
        memcpy(l->mac, nl_data(tb[IFLA_ADDRESS]), 6);
        l->has_mac = true;
    }
    if (tb[IFLA_LINKINFO]) {
        const struct rtattr *info[IFLA_INFO_MAX + 1];
        nl_nested(tb[IFLA_LINKINFO], info, IFLA_INFO_MAX);
        if (info[IFLA_INFO_KIND])
            snprintf(l->kind, sizeof(l->kind), "%.*s", (int)nl_len(info[IFLA_INFO_KIND]),
                     (const char *)nl_data(info[IFLA_INFO_KIND]));
    }
    return 0;
}

static int on_addr(const struct nlmsghdr *h, void *user, struct error *err)
{
    struct pod_net_scan *s = user;
    if (h->nlmsg_type != RTM_NEWADDR)
        return 0;
    const struct ifaddrmsg *ifa = NLMSG_DATA(h);
    const struct rtattr *tb[IFA_MAX + 1];
    nl_attrs(h, sizeof(*ifa), tb, IFA_MAX);
    struct pod_net_link *l = find_link(s, (int)ifa->ifa_index);
    if (!l)
        return 0; /* a link that came after the link dump: not part of the pod as scanned */
    struct pod_net_addr *a = GROW(l->addrs, l->n_addrs);
    *a = (struct pod_net_addr){.family = ifa->ifa_family, .prefix = ifa->ifa_prefixlen};
    /* IFA_LOCAL is the interface's own address (IFA_ADDRESS is the peer's on point-to-point). */
    if (!copy_addr(tb[IFA_LOCAL], ifa->ifa_family, a->addr))
        copy_addr(tb[IFA_ADDRESS], ifa->ifa_family, a->addr);
    return 0;
}

static int on_route(const struct nlmsghdr *h, void *user, struct error *err)
{
    struct pod_net_scan *s = user;
    if (h->nlmsg_type != RTM_NEWROUTE)
        return 0;
    const struct rtmsg *rt = NLMSG_DATA(h);
    if (rt->rtm_flags & RTM_F_CLONED)
        return 0; /* a cache entry, not a route */
    const struct rtattr *tb[RTA_MAX + 1];
    nl_attrs(h, sizeof(*rt), tb, RTA_MAX);
    struct pod_net_route *r = GROW(s->routes, s->n_routes);
    *r = (struct pod_net_route){
        .family = rt->rtm_family,
        .table = rt->rtm_table,
        .protocol = rt->rtm_protocol,
        .scope = rt->rtm_scope,
        .type = rt->rtm_type,
        .flags = rt->rtm_flags,
        .dst_len = rt->rtm_dst_len,
        .src_len = rt->rtm_src_len,
    };
    if (tb[RTA_TABLE] && nl_len(tb[RTA_TABLE]) == 4) {
        uint32_t table;
        memcpy(&table, nl_data(tb[RTA_TABLE]), 4);
        r->table = table > 255 ? 0 : (uint8_t)table; /* 0: not the main table (254) */
    }
    if (tb[RTA_OIF] && nl_len(tb[RTA_OIF]) == 4)
        memcpy(&r->oif, nl_data(tb[RTA_OIF]), 4);
    r->has_dst = copy_addr(tb[RTA_DST], r->family, r->dst);
    r->has_gateway = copy_addr(tb[RTA_GATEWAY], r->family, r->gateway);
    r->has_src = copy_addr(tb[RTA_SRC], r->family, r->src);
    if (tb[RTA_METRICS]) {
        const struct rtattr *mx[RTAX_MAX + 1];
        nl_nested(tb[RTA_METRICS], mx, RTAX_MAX);
        if (mx[RTAX_MTU] && nl_len(mx[RTAX_MTU]) == 4)
            memcpy(&r->mtu, nl_data(mx[RTAX_MTU]), 4);
    }
    return 0;
}

static int on_neigh(const struct nlmsghdr *h, void *user, struct error *err)
{
    struct pod_net_scan *s = user;
    if (h->nlmsg_type != RTM_NEWNEIGH)
        return 0;
    const struct ndmsg *nd = NLMSG_DATA(h);
    const struct rtattr *tb[NDA_MAX + 1];
    nl_attrs(h, sizeof(*nd), tb, NDA_MAX);
    struct pod_net_neigh *n = GROW(s->neighs, s->n_neighs);
    *n = (struct pod_net_neigh){
        .family = nd->ndm_family,
        .ifindex = nd->ndm_ifindex,
        .state = nd->ndm_state,
        .flags = nd->ndm_flags,
    };
    copy_addr(tb[NDA_DST], n->family, n->addr);
    if (tb[NDA_LLADDR] && nl_len(tb[NDA_LLADDR]) == 6) {
        memcpy(n->lladdr, nl_data(tb[NDA_LLADDR]), 6);
        n->has_lladdr = true;
    }
    return 0;
}

static int dump(struct nl_sock *sock, uint16_t type, size_t hdr_len, int family, nl_dump_fn fn,
                struct pod_net_scan *s, const char *what, struct error *err)
{
    struct nl_msg m;
    unsigned char *hdr = nl_msg_init(&m, type, 0, hdr_len);
    hdr[0] = (unsigned char)family; /* every family header starts with its family byte */
    if (nl_dump(sock, &m, fn, s, err) < 0)
        return error_wrap(err, "list %s", what);
    return 0;
}

int pod_net_scan(const char *netns, struct pod_net_scan *out, struct error *err)
{
    *out = (struct pod_net_scan){0};
    struct nl_sock sock;
    if (nl_open(&sock, netns, err) < 0)
        return -1;
    int r =
        dump(&sock, RTM_GETLINK, sizeof(struct ifinfomsg), AF_UNSPEC, on_link, out, "links", err);
    if (r == 0)
        r = dump(&sock, RTM_GETADDR, sizeof(struct ifaddrmsg), AF_UNSPEC, on_addr, out, "addresses",
                 err);
    for (int f = 0; r == 0 && f < 2; f++) {
        int family = f ? AF_INET6 : AF_INET;
        r = dump(&sock, RTM_GETROUTE, sizeof(struct rtmsg), family, on_route, out, "routes", err);
        if (r == 0)
            r = dump(&sock, RTM_GETNEIGH, sizeof(struct ndmsg), family, on_neigh, out, "neighbours",
                     err);
    }
    nl_close(&sock);
    if (r < 0) {
        pod_net_scan_free(out);
        return error_wrap(err, "network namespace %s", netns);
    }
    return 0;
}

void pod_net_scan_free(struct pod_net_scan *s)
{
    for (size_t i = 0; i < s->n_links; i++)
        free(s->links[i].addrs);
    free(s->links);
    free(s->routes);
    free(s->neighs);
    *s = (struct pod_net_scan){0};
}
