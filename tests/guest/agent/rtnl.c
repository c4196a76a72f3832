#include "rtnl.h"

#include <errno.h>
#include <string.h>

/* --- links --- */

struct link_query {
    const char *name;
    const uint8_t *mac;
    struct rtnl_link *out;
    bool found;
};

static int match_link(const struct nlmsghdr *h, void *user, struct error *err)
{
    struct link_query *q = user;
    if (h->nlmsg_type != RTM_NEWLINK || q->found)
        return 0;
    const struct ifinfomsg *ifi = NLMSG_DATA(h);
    const struct rtattr *tb[IFLA_MAX + 1];
    nl_attrs(h, sizeof(*ifi), tb, IFLA_MAX);
    const char *name = tb[IFLA_IFNAME] ? nl_data(tb[IFLA_IFNAME]) : "";
    size_t name_len = tb[IFLA_IFNAME] ? strnlen(name, nl_len(tb[IFLA_IFNAME])) : 0;
    bool has_mac = tb[IFLA_ADDRESS] && nl_len(tb[IFLA_ADDRESS]) == 6;
    if (q->name && (name_len != strlen(q->name) || memcmp(name, q->name, name_len)))
        return 0;
    if (!q->name && (!has_mac || memcmp(nl_data(tb[IFLA_ADDRESS]), q->mac, 6)))
        return 0;
    struct rtnl_link *l = q->out;
    memset(l, 0, sizeof(*l));
    l->index = ifi->ifi_index;
    l->flags = ifi->ifi_flags;
    memcpy(l->name, name, name_len < IF_NAMESIZE ? name_len : IF_NAMESIZE - 1);
    l->has_mac = has_mac;
    if (has_mac)
        memcpy(l->mac, nl_data(tb[IFLA_ADDRESS]), 6);
    q->found = true;
    return 0;
}

int rtnl_link_find(struct nl_sock *s, const char *name, const uint8_t *mac, struct rtnl_link *out,
                   struct error *err)
{
    struct nl_msg m;
    nl_msg_init(&m, RTM_GETLINK, 0, sizeof(struct ifinfomsg));
    struct link_query q = {.name = name, .mac = mac, .out = out};
    /* the whole table, compared here: the kernel has no lookup by MAC */
    int r = nl_dump(s, &m, match_link, &q, err);
    if (r < 0)
        return error_wrap(err, "list links");
    return q.found ? 1 : 0;
}

int rtnl_link_set(struct nl_sock *s, int index, const struct rtnl_link_change *c, struct error *err)
{
    struct nl_msg m;
    struct ifinfomsg *ifi = nl_msg_init(&m, RTM_SETLINK, 0, sizeof(*ifi));
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_index = index;
    ifi->ifi_flags = c->flags;
    ifi->ifi_change = c->change;
    if (c->name)
        nl_put_str(&m, IFLA_IFNAME, c->name);
    if (c->mac)
        nl_put(&m, IFLA_ADDRESS, c->mac, 6);
    if (c->set_mtu)
        nl_put_u32(&m, IFLA_MTU, c->mtu);
    return nl_call(s, &m, err);
}

int rtnl_link_updown(struct nl_sock *s, int index, bool up, struct error *err)
{
    struct rtnl_link_change c = {.flags = up ? IFF_UP : 0, .change = IFF_UP};
    return rtnl_link_set(s, index, &c, err);
}

/* --- addresses --- */

int rtnl_addr_replace(struct nl_sock *s, int index, const struct ip_addr *a, unsigned prefix,
                      struct error *err)
{
    struct nl_msg m;
    struct ifaddrmsg *ifa =
        nl_msg_init(&m, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, sizeof(*ifa));
    ifa->ifa_family = (uint8_t)a->family;
    ifa->ifa_prefixlen = (uint8_t)prefix;
    ifa->ifa_scope = RT_SCOPE_UNIVERSE;
    ifa->ifa_index = (unsigned)index;
    unsigned len = ip_len(a->family);
    nl_put(&m, IFA_LOCAL, a->bytes, len);
    nl_put(&m, IFA_ADDRESS, a->bytes, len);
    if (a->family == AF_INET && prefix < 31) {
        /* the subnet's broadcast address, as the rtnetlink crate (and `ip addr add ... brd +`) */
        uint8_t brd[4];
        for (unsigned i = 0; i < 4; i++) {
            unsigned bits = prefix > i * 8 ? prefix - i * 8 : 0;
            uint8_t host = bits >= 8 ? 0 : (uint8_t)(0xff >> bits);
            brd[i] = a->bytes[i] | host;
        }
        nl_put(&m, IFA_BROADCAST, brd, sizeof(brd));
    }
    return nl_call(s, &m, err);
}

/* --- routes --- */

int rtnl_route_replace(struct nl_sock *s, const struct rtnl_route *r, struct error *err)
{
    struct nl_msg m;
    struct rtmsg *rtm = nl_msg_init(&m, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, sizeof(*rtm));
    unsigned len = ip_len(r->family);
    rtm->rtm_family = (uint8_t)r->family;
    rtm->rtm_table = RT_TABLE_MAIN;
    rtm->rtm_type = RTN_UNICAST;
    rtm->rtm_protocol = RTPROT_BOOT;
    rtm->rtm_scope = r->scope;
    rtm->rtm_flags = r->flags;
    rtm->rtm_dst_len = (uint8_t)r->dst_len;
    /* a default route carries no RTA_DST, as the rtnetlink crate sends it */
    if (r->dst_len)
        nl_put(&m, RTA_DST, r->dst.bytes, len);
    nl_put_u32(&m, RTA_OIF, (uint32_t)r->oif);
    if (r->has_source && r->src_len) {
        rtm->rtm_src_len = (uint8_t)r->src_len;
        nl_put(&m, RTA_SRC, r->source.bytes, len);
    } else if (r->has_source) {
        nl_put(&m, RTA_PREFSRC, r->source.bytes, len);
    }
    if (r->has_gateway)
        nl_put(&m, RTA_GATEWAY, r->gateway.bytes, len);
    if (r->mtu) {
        struct rtattr *metrics = nl_nest_begin(&m, RTA_METRICS);
        nl_put_u32(&m, RTAX_MTU, r->mtu);
        nl_nest_end(&m, metrics);
    }
    return nl_call(s, &m, err);
}

int rtnl_route_dump(struct nl_sock *s, int family, nl_dump_fn fn, void *user, struct error *err)
{
    struct nl_msg m;
    struct rtmsg *rtm = nl_msg_init(&m, RTM_GETROUTE, 0, sizeof(*rtm));
    rtm->rtm_family = (uint8_t)family;
    return nl_dump(s, &m, fn, user, err);
}

/* --- neighbours --- */

int rtnl_neigh_replace(struct nl_sock *s, int index, const struct ip_addr *ip,
                       const uint8_t *lladdr, uint16_t state, uint8_t flags, struct error *err)
{
    struct nl_msg m;
    struct ndmsg *ndm = nl_msg_init(&m, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, sizeof(*ndm));
    ndm->ndm_family = (uint8_t)ip->family;
    ndm->ndm_ifindex = index;
    ndm->ndm_state = state;
    ndm->ndm_flags = flags;
    nl_put(&m, NDA_DST, ip->bytes, ip_len(ip->family));
    if (lladdr)
        nl_put(&m, NDA_LLADDR, lladdr, 6);
    return nl_call(s, &m, err);
}
