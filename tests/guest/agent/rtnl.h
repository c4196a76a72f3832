/* The guest's links, addresses, routes and neighbours over rtnetlink (lib/netlink.h), the
 * requests kata-agent's netlink.rs makes, for the network RPCs (network.c). Each function takes
 * a socket opened with nl_open in the agent's network namespace and returns 0, or a negative
 * value with err set (-errno when the kernel refused: callers may ignore -EEXIST). */
#pragma once

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/netlink.h"
#include "netaddr.h"

struct rtnl_link {
    int index;
    char name[IF_NAMESIZE];
    uint8_t mac[6];
    bool has_mac;   /* an IFLA_ADDRESS of 6 bytes */
    unsigned flags; /* IFF_* */
};

/* The link whose name is `name` (when not NULL) or whose MAC is `mac`: 1 and *out when there is
 * one, 0 when none, < 0 on error. */
int rtnl_link_find(struct nl_sock *s, const char *name, const uint8_t *mac, struct rtnl_link *out,
                   struct error *err);

/* One RTM_SETLINK of link `index`: what is set here, the rest left alone. */
struct rtnl_link_change {
    const char *name;   /* IFLA_IFNAME, or NULL */
    const uint8_t *mac; /* IFLA_ADDRESS (6 bytes), or NULL */
    bool set_mtu;
    uint32_t mtu;    /* IFLA_MTU */
    unsigned flags;  /* IFF_UP, IFF_NOARP: the values ... */
    unsigned change; /* ... of the bits set here */
};
int rtnl_link_set(struct nl_sock *s, int index, const struct rtnl_link_change *c,
                  struct error *err);

/* Sets link `index` up or down. */
int rtnl_link_updown(struct nl_sock *s, int index, bool up, struct error *err);

/* RTM_NEWADDR with NLM_F_REPLACE: the address is added, or refreshed if it is there; the link's
 * other addresses stay. */
int rtnl_addr_replace(struct nl_sock *s, int index, const struct ip_addr *a, unsigned prefix,
                      struct error *err);

/* A route as kata-agent adds it: table main, type unicast, protocol boot, output link oif. */
struct rtnl_route {
    int family;
    struct ip_addr dst;
    unsigned dst_len;
    bool has_gateway;
    struct ip_addr gateway;
    bool has_source; /* src_len > 0: RTA_SRC (a source prefix), 0: RTA_PREFSRC */
    struct ip_addr source;
    unsigned src_len;
    int oif;
    uint8_t scope;
    uint32_t flags; /* rtm_flags */
    uint32_t mtu;   /* RTAX_MTU when not 0 */
};

/* RTM_NEWROUTE with NLM_F_CREATE | NLM_F_REPLACE. */
int rtnl_route_replace(struct nl_sock *s, const struct rtnl_route *r, struct error *err);

/* RTM_NEWNEIGH with NLM_F_CREATE | NLM_F_REPLACE; lladdr may be NULL. */
int rtnl_neigh_replace(struct nl_sock *s, int index, const struct ip_addr *ip,
                       const uint8_t *lladdr, uint16_t state, uint8_t flags, struct error *err);

/* The routes of one family, every table (rtm_table says which): fn sees each RTM_NEWROUTE. */
int rtnl_route_dump(struct nl_sock *s, int family, nl_dump_fn fn, void *user, struct error *err);
