/* The pod network RPCs: UpdateInterface, UpdateRoutes, AddARPNeighbors.
 *
 * They make kata-agent's requests (netlink.rs) in its order, with its error texts, so that a
 * host that works with this agent works with kata-agent. rtnetlink rather than busybox's `ip`:
 * busybox cannot add a neighbour, nor a route with a source prefix or rtm_flags, and no text
 * from the host ends up on a command line. Unlike kata-agent, which changes the guest up to the
 * first field it cannot parse, every field is checked before anything is changed. The policy
 * stand-in (policy.c) checks genpolicy's rules first, as kata-agent's is_allowed does. */
#include "network.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "kata/agent.pb-c.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "netaddr.h"
#include "pcipath.h"
#include "policy.h"
#include "rtnl.h"
#include "util.h"

/* kata-agent holds its sandbox lock across each of these calls: one at a time here too. */
static pthread_mutex_t net_lock = PTHREAD_MUTEX_INITIALIZER;

static void nl_closep(struct nl_sock *s)
{
    nl_close(s);
}

/* kata-agent answers every failure past the request checks INTERNAL "<what>: <cause>". */
static int internal(struct error *err, const char *what)
{
    error_wrap(err, "%s", what);
    err->code = GRPC_INTERNAL;
    return -1;
}

static const char *family_name(int family)
{
    return family == AF_INET6 ? "v6" : "v4";
}

static int find_by_name(struct nl_sock *s, const char *name, struct rtnl_link *l, struct error *err)
{
    int r = rtnl_link_find(s, name, NULL, l, err);
    if (r == 0)
        return error_set(err, GRPC_INTERNAL, "Link not found (Name: %s)", name);
    return r < 0 ? -1 : 0;
}

static int find_by_mac(struct nl_sock *s, const uint8_t mac[6], const char *text,
                       struct rtnl_link *l, struct error *err)
{
    int r = rtnl_link_find(s, NULL, mac, l, err);
    if (r == 0)
        return error_set(err, GRPC_INTERNAL, "Link not found (Address: %s)", text);
    return r < 0 ? -1 : 0;
}

/* --- UpdateInterface --- */

struct addr_req {
    struct ip_addr ip;
    unsigned prefix;
};

/* kata-agent adds IPv6 addresses only when one of these says "0". */
static bool ipv6_enabled(void)
{
    static const char *const knobs[] = {"/proc/sys/net/ipv6/conf/all/disable_ipv6",
                                        "/proc/sys/net/ipv6/conf/default/disable_ipv6"};
    for (size_t i = 0; i < sizeof(knobs) / sizeof(knobs[0]); i++) {
        _cleanup_free_ char *v = read_small_file(knobs[i], 16, NULL, NULL);
        if (v && !strcmp(v, "0\n"))
            return true;
    }
    return false;
}

/* The MAC, the name and the addresses to add (IPv6 ones left out while IPv6 is disabled). */
static int parse_interface(const Types__Interface *in, uint8_t mac[6], struct addr_req **addrs,
                           size_t *n_addrs, struct error *err)
{
    if (!parse_mac(in->hwaddr, mac))
        return error_set(err, GRPC_INTERNAL, "Failed to parse MAC address: %s", in->hwaddr);
    if (!valid_ifname(in->name))
        return error_set(err, GRPC_INTERNAL,
                         "\"%s\" is not a link name (1 to 15 bytes, not \".\" or \"..\", no '/', "
                         "':' or white space)",
                         in->name);
    if (in->mtu > UINT32_MAX)
        return error_set(err, GRPC_INTERNAL, "mtu %llu does not fit the kernel's 32 bits",
                         (unsigned long long)in->mtu);
    bool v6 = ipv6_enabled();
    *addrs = xcalloc(in->n_ipaddresses + 1, sizeof(**addrs));
    *n_addrs = 0;
    for (size_t i = 0; i < in->n_ipaddresses; i++) {
        const Types__IPAddress *a = in->ipaddresses[i];
        struct addr_req *q = &(*addrs)[*n_addrs];
        if (!parse_ip(a->address, 0, &q->ip))
            return error_set(err, GRPC_INTERNAL, "invalid IP address syntax: \"%s\"", a->address);
        unsigned max = q->ip.family == AF_INET6 ? 128 : 32;
        if (!parse_prefix(a->mask, max, &q->prefix))
            return error_set(err, GRPC_INTERNAL,
                             "address %s: mask \"%s\" is not a prefix length (decimal, 0-%u)",
                             a->address, a->mask, max);
        if (q->ip.family == AF_INET6 && !v6) {
            log_info("UpdateInterface: IPv6 is disabled in the guest; %s/%s not added", a->address,
                     a->mask);
            continue;
        }
        (*n_addrs)++;
    }
    return 0;
}

/* kata-agent's set_link_mac_by_name: the link called name gets the MAC, down while it changes. */
static int set_mac_by_name(struct nl_sock *s, const char *name, const uint8_t mac[6],
                           const char *text, struct error *err)
{
    struct rtnl_link l;
    if (find_by_name(s, name, &l, err) < 0)
        return -1;
    if (l.has_mac && !memcmp(l.mac, mac, 6))
        return 0;
    bool up = l.flags & IFF_UP;
    struct rtnl_link_change c = {.mac = mac};
    if ((up && rtnl_link_updown(s, l.index, false, err) < 0) ||
        rtnl_link_set(s, l.index, &c, err) < 0 ||
        (up && rtnl_link_updown(s, l.index, true, err) < 0))
        return error_wrap(err, "failed to set MAC for interface %s to %s", name, text);
    return 0;
}

static int update_interface(struct nl_sock *s, const Types__Interface *in, struct error *err)
{
    uint8_t mac[6];
    _cleanup_free_ struct addr_req *addrs = NULL;
    size_t n_addrs = 0;
    if (parse_interface(in, mac, &addrs, &n_addrs, err) < 0)
        return -1;
    /* by MAC; else the link with the name gets the MAC (a NIC whose MAC the host could not
     * choose, as in a VM template) */
    struct rtnl_link link;
    int r = rtnl_link_find(s, NULL, mac, &link, err);
    if (r < 0)
        return -1;
    if (r == 0 && (set_mac_by_name(s, in->name, mac, in->hwaddr, err) < 0 ||
                   find_by_mac(s, mac, in->hwaddr, &link, err) < 0))
        return -1;
    if ((link.flags & IFF_UP) && rtnl_link_updown(s, link.index, false, err) < 0)
        return error_wrap(err, "set %s down", link.name);
    for (size_t i = 0; i < n_addrs; i++) {
        if (rtnl_addr_replace(s, link.index, &addrs[i].ip, addrs[i].prefix, err) < 0) {
            char text[INET6_ADDRSTRLEN];
            return error_wrap(err, "Failed to add address %s", ip_to_text(&addrs[i].ip, text));
        }
    }
    /* A link that already has the name is renamed <name>_temp (down), and gets this link's
     * old name (and is set up) once this one has the name. */
    struct rtnl_link displaced = {.index = 0};
    char temp[IF_NAMESIZE + 8];
    snprintf(temp, sizeof(temp), "%s_temp", in->name);
    if (strcmp(link.name, in->name)) {
        r = rtnl_link_find(s, in->name, NULL, &displaced, err);
        if (r < 0)
            return -1;
        struct rtnl_link_change rename = {.name = temp};
        if (r > 0 &&
            (((displaced.flags & IFF_UP) && rtnl_link_updown(s, displaced.index, false, err) < 0) ||
             rtnl_link_set(s, displaced.index, &rename, err) < 0))
            return error_wrap(err, "Failed to rename interface %s to %s with error", in->name,
                              temp);
    }
    if (find_by_mac(s, mac, in->hwaddr, &link, err) < 0)
        return -1;
    struct rtnl_link_change c = {
        .name = in->name,
        .set_mtu = true, /* always, as kata-agent: 0 is the kernel's to refuse */
        .mtu = (uint32_t)in->mtu,
        .flags = IFF_UP | (in->raw_flags & IFF_NOARP ? IFF_NOARP : 0),
        .change = IFF_UP | IFF_NOARP, /* the other raw_flags bits are ignored */
    };
    if (rtnl_link_set(s, link.index, &c, err) < 0)
        return error_wrap(err, "Failure in LinkSetRequest for interface %s", in->name);
    struct rtnl_link_change back = {.name = link.name, .flags = IFF_UP, .change = IFF_UP};
    if (displaced.index && rtnl_link_set(s, displaced.index, &back, err) < 0)
        return error_wrap(err, "Error swapping back interface name %s to %s", temp, link.name);
    return 0;
}

/* kata-agent, given a devicePath and a MAC: the netdev found under the PCI device gets the MAC
 * before the lookup by MAC; a failure is only a warning. */
static void reconcile_pci_mac(struct nl_sock *s, const Types__Interface *in, const char *netdev)
{
    uint8_t mac[6];
    _cleanup_(error_clearp) struct error e = ERROR_INIT;
    if (!parse_mac(in->hwaddr, mac))
        error_set(&e, GRPC_INTERNAL, "Failed to parse MAC address: %s", in->hwaddr);
    else
        set_mac_by_name(s, netdev, mac, in->hwaddr, &e);
    if (error_is_set(&e))
        log_warn("UpdateInterface: devicePath %s: %s; falling back to the lookup by MAC",
                 in->devicepath, e.msg);
}

static int do_update_interface(void *user, const struct ttrpc_call *call,
                               const ProtobufCMessage *req, struct ttrpc_reply *reply,
                               struct error *err)
{
    const Grpc__UpdateInterfaceRequest *r = (const void *)req;
    const Types__Interface *in = r->interface;
    if (in)
        log_debug("rpc UpdateInterface name=%s hwAddr=%s addresses=%zu mtu=%llu raw_flags=%#x "
                  "devicePath=%s",
                  in->name, in->hwaddr, in->n_ipaddresses, (unsigned long long)in->mtu,
                  in->raw_flags, in->devicepath);
    else
        rpc_log(call, NULL, NULL);
    if (policy_check_update_interface(r, err) < 0)
        return rpc_done(call, -1, err);
    if (!in)
        return rpc_done(
            call, error_set(err, GRPC_INVALID_ARGUMENT, "empty update interface request"), err);
    /* a NIC given by its PCI path is waited for first (outside the lock, as kata-agent) */
    char netdev[IF_NAMESIZE] = "";
    if (*in->devicepath && pcipath_wait_netdev(in->devicepath, netdev, err) < 0)
        return rpc_done(call, -1, err);
    pthread_mutex_lock(&net_lock);
    _cleanup_(nl_closep) struct nl_sock s = {.fd = -1};
    int ret = nl_open(&s, NULL, err);
    if (ret == 0 && *netdev && *in->hwaddr)
        reconcile_pci_mac(&s, in, netdev);
    if (ret == 0)
        ret = update_interface(&s, in, err);
    pthread_mutex_unlock(&net_lock);
    if (ret < 0)
        return rpc_done(call, internal(err, "update interface"), err);
    ttrpc_reply_set(reply, &in->base); /* the request's interface, as kata-agent answers */
    return 0;
}

/* --- UpdateRoutes --- */

/* The route as kata-agent adds it; the device is looked up first, as kata-agent does. */
static int parse_route(struct nl_sock *s, const Types__Route *in, struct rtnl_route *r,
                       struct error *err)
{
    memset(r, 0, sizeof(*r));
    struct rtnl_link l;
    if (find_by_name(s, in->device, &l, err) < 0)
        return -1;
    r->oif = l.index;
    r->family = in->family == TYPES__IPFAMILY__v6 ? AF_INET6 : AF_INET;
    const char *fam = family_name(r->family);
    r->dst.family = r->family; /* "" is the family's default route, 0/0 */
    if (*in->dest && !parse_net(in->dest, r->family, &r->dst, &r->dst_len))
        return error_set(err, GRPC_INTERNAL,
                         "IP %s route dest \"%s\": not an address or addr/len of that family "
                         "(\"\" is the default route)",
                         fam, in->dest);
    r->has_source = *in->source;
    if (r->has_source && !parse_net(in->source, r->family, &r->source, &r->src_len))
        return error_set(err, GRPC_INTERNAL,
                         "IP %s route source \"%s\": not an address or addr/len of that family",
                         fam, in->source);
    r->has_gateway = *in->gateway;
    if (r->has_gateway && !parse_ip(in->gateway, r->family, &r->gateway))
        return error_set(err, GRPC_INTERNAL,
                         "IP %s route gateway \"%s\": not an address of that family", fam,
                         in->gateway);
    if (in->scope > 255)
        return error_set(err, GRPC_INTERNAL, "route scope %u is not a scope (0-255)", in->scope);
    r->scope = (uint8_t)in->scope;
    r->flags = in->flags;
    r->mtu = in->mtu;
    return 0;
}

static int update_routes(struct nl_sock *s, const Grpc__Routes *routes, struct error *err)
{
    size_t n = routes->n_routes;
    _cleanup_free_ struct rtnl_route *parsed = xcalloc(n + 1, sizeof(*parsed));
    _cleanup_free_ size_t *order = xcalloc(n + 1, sizeof(*order));
    size_t k = 0;
    /* routes without a gateway first: a gateway may be reachable only through one of them */
    for (int with_gateway = 0; with_gateway < 2; with_gateway++)
        for (size_t i = 0; i < n; i++)
            if (!*routes->routes[i]->gateway == !with_gateway)
                order[k++] = i;
    for (size_t j = 0; j < n; j++)
        if (parse_route(s, routes->routes[order[j]], &parsed[j], err) < 0)
            return -1;
    for (size_t j = 0; j < n; j++) {
        const Types__Route *in = routes->routes[order[j]];
        int r = rtnl_route_replace(s, &parsed[j], err);
        if (r == -EEXIST) {
            error_clear(err);
            continue;
        }
        if (r < 0)
            return error_wrap(err, "Failed to add IP %s route (src: %s, dst: %s, gtw: %s)",
                              family_name(parsed[j].family), in->source, in->dest, in->gateway);
    }
    return 0;
}

struct route_list {
    Types__Route **v;
    size_t n, cap;
};

static void route_list_free(struct route_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i]->dest);
        free(l->v[i]->gateway);
        free(l->v[i]->device);
        free(l->v[i]->source);
        free(l->v[i]);
    }
    free(l->v);
}

static const char *addr_text(int family, const struct rtattr *a, char *buf)
{
    struct ip_addr ip = {.family = family};
    memcpy(ip.bytes, nl_data(a), nl_len(a) < 16 ? nl_len(a) : 16);
    return ip_to_text(&ip, buf);
}

/* kata-agent's list_routes, quirks included: main table only; dest "addr/len"; a route with a
 * gateway says dest "0.0.0.0" (IPv6: "::1"); source is RTA_SRC "addr/len"; family and flags
 * are left 0; a route without a dest (a default route without gateway) is left out. */
static int list_route(const struct nlmsghdr *h, void *user, struct error *err)
{
    struct route_list *l = user;
    const struct rtmsg *rtm = NLMSG_DATA(h);
    if (h->nlmsg_type != RTM_NEWROUTE || rtm->rtm_table != RT_TABLE_MAIN)
        return 0;
    const struct rtattr *tb[RTA_MAX + 1];
    nl_attrs(h, sizeof(*rtm), tb, RTA_MAX);
    char dest[INET6_ADDRSTRLEN + 8] = "", source[INET6_ADDRSTRLEN + 8] = "";
    char gateway[INET6_ADDRSTRLEN] = "", device[IF_NAMESIZE] = "", a[INET6_ADDRSTRLEN];
    if (tb[RTA_DST])
        snprintf(dest, sizeof(dest), "%s/%u", addr_text(rtm->rtm_family, tb[RTA_DST], a),
                 rtm->rtm_dst_len);
    if (tb[RTA_SRC])
        snprintf(source, sizeof(source), "%s/%u", addr_text(rtm->rtm_family, tb[RTA_SRC], a),
                 rtm->rtm_src_len);
    if (tb[RTA_GATEWAY]) {
        strcpy(dest, rtm->rtm_family == AF_INET6 ? "::1" : "0.0.0.0");
        addr_text(rtm->rtm_family, tb[RTA_GATEWAY], gateway);
    }
    uint32_t mtu = 0;
    if (tb[RTA_METRICS]) {
        const struct rtattr *mx[RTAX_MAX + 1];
        nl_nested(tb[RTA_METRICS], mx, RTAX_MAX);
        if (mx[RTAX_MTU] && nl_len(mx[RTAX_MTU]) >= 4)
            memcpy(&mtu, nl_data(mx[RTAX_MTU]), 4);
    }
    if (tb[RTA_OIF] && nl_len(tb[RTA_OIF]) >= 4) {
        uint32_t oif;
        memcpy(&oif, nl_data(tb[RTA_OIF]), 4);
        if (!if_indextoname(oif, device))
            device[0] = '\0';
    }
    if (!*dest)
        return 0;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    Types__Route *r = xmalloc(sizeof(*r));
    types__route__init(r);
    r->dest = xstrdup(dest);
    r->gateway = xstrdup(gateway);
    r->device = xstrdup(device);
    r->source = xstrdup(source);
    r->scope = rtm->rtm_scope;
    r->mtu = mtu;
    l->v[l->n++] = r;
    return 0;
}

static int list_routes(struct nl_sock *s, struct route_list *l, struct error *err)
{
    if (rtnl_route_dump(s, AF_INET, list_route, l, err) < 0 ||
        rtnl_route_dump(s, AF_INET6, list_route, l, err) < 0)
        return -1;
    return 0;
}

static int do_update_routes(void *user, const struct ttrpc_call *call, const ProtobufCMessage *req,
                            struct ttrpc_reply *reply, struct error *err)
{
    const Grpc__UpdateRoutesRequest *r = (const void *)req;
    log_debug("rpc UpdateRoutes (%zu routes)", r->routes ? r->routes->n_routes : 0);
    if (policy_check_update_routes(r, err) < 0)
        return rpc_done(call, -1, err);
    if (!r->routes)
        return rpc_done(call, error_set(err, GRPC_INVALID_ARGUMENT, "empty update routes request"),
                        err);
    pthread_mutex_lock(&net_lock);
    _cleanup_(nl_closep) struct nl_sock s = {.fd = -1};
    _cleanup_(route_list_free) struct route_list list = {0};
    int ret = 0;
    if (nl_open(&s, NULL, err) < 0 || update_routes(&s, r->routes, err) < 0)
        ret = internal(err, "Failed to update routes");
    if (ret == 0 && list_routes(&s, &list, err) < 0)
        ret = internal(err, "Failed to list routes after update");
    pthread_mutex_unlock(&net_lock);
    if (ret < 0)
        return rpc_done(call, -1, err);
    Grpc__Routes resp = GRPC__ROUTES__INIT;
    resp.routes = list.v;
    resp.n_routes = list.n;
    ttrpc_reply_set(reply, &resp.base);
    return 0;
}

/* --- AddARPNeighbors --- */

struct neigh_req {
    struct ip_addr ip;
    int index;
    uint16_t state;
    uint8_t flags;
    bool has_lladdr;
    uint8_t lladdr[6];
};

static int parse_neighbor(struct nl_sock *s, const Types__ARPNeighbor *in, struct neigh_req *q,
                          struct error *err)
{
    const char *address = in->toipaddress ? in->toipaddress->address : "";
    if (!*address)
        return error_set(err, GRPC_INTERNAL,
                         "Failed to add ARP neighbor : Unable to determine ip address of ARP "
                         "neighbor");
    if (!parse_ip(address, 0, &q->ip))
        return error_set(err, GRPC_INTERNAL, "Failed to add ARP neighbor %s: Failed to parse IP %s",
                         address, address);
    struct rtnl_link l;
    if (find_by_name(s, in->device, &l, err) < 0)
        return error_wrap(err, "Failed to add ARP neighbor %s", address);
    q->index = l.index;
    /* kata-agent truncates these to the kernel's u8 and u16; out of range is refused here */
    if (in->flags < 0 || in->flags > 0xff)
        return error_set(err, GRPC_INTERNAL,
                         "Failed to add ARP neighbor %s: flags %d are not NTF_* flags (0-255)",
                         address, in->flags);
    if (in->state < 0 || in->state > 0xffff)
        return error_set(err, GRPC_INTERNAL,
                         "Failed to add ARP neighbor %s: state %d is not a NUD_* state (0-65535)",
                         address, in->state);
    q->flags = (uint8_t)in->flags;
    q->state = in->state == 0 ? NUD_PERMANENT : (uint16_t)in->state;
    q->has_lladdr = *in->lladdr;
    if (q->has_lladdr && !parse_mac(in->lladdr, q->lladdr))
        return error_set(err, GRPC_INTERNAL,
                         "Failed to add ARP neighbor %s: parsing lladdr: \"%s\" is not a MAC "
                         "address",
                         address, in->lladdr);
    return 0;
}

static int add_neighbors(struct nl_sock *s, const Grpc__ARPNeighbors *list, struct error *err)
{
    size_t n = list->n_arpneighbors;
    _cleanup_free_ struct neigh_req *q = xcalloc(n + 1, sizeof(*q));
    for (size_t i = 0; i < n; i++)
        if (parse_neighbor(s, list->arpneighbors[i], &q[i], err) < 0)
            return -1;
    for (size_t i = 0; i < n; i++) {
        if (rtnl_neigh_replace(s, q[i].index, &q[i].ip, q[i].has_lladdr ? q[i].lladdr : NULL,
                               q[i].state, q[i].flags, err) < 0)
            return error_wrap(err, "Failed to add ARP neighbor %s",
                              list->arpneighbors[i]->toipaddress->address);
    }
    return 0;
}

static int do_add_arp_neighbors(void *user, const struct ttrpc_call *call,
                                const ProtobufCMessage *req, struct ttrpc_reply *reply,
                                struct error *err)
{
    const Grpc__AddARPNeighborsRequest *r = (const void *)req;
    log_debug("rpc AddARPNeighbors (%zu neighbours)",
              r->neighbors ? r->neighbors->n_arpneighbors : 0);
    if (policy_check_add_arp_neighbors(r, err) < 0)
        return rpc_done(call, -1, err);
    if (!r->neighbors)
        return rpc_done(
            call, error_set(err, GRPC_INVALID_ARGUMENT, "empty add arp neighbours request"), err);
    pthread_mutex_lock(&net_lock);
    _cleanup_(nl_closep) struct nl_sock s = {.fd = -1};
    int ret = nl_open(&s, NULL, err);
    if (ret == 0 && add_neighbors(&s, r->neighbors, err) < 0)
        ret = -1;
    pthread_mutex_unlock(&net_lock);
    if (ret < 0)
        return rpc_done(call, internal(err, "Failed to add ARP neighbours"), err);
    return 0;
}

#define METHOD(name, type, fn)                                                                     \
    {                                                                                              \
        name, &grpc__##type##__descriptor, fn                                                      \
    }

const struct ttrpc_method network_methods[] = {
    METHOD("UpdateInterface", update_interface_request, do_update_interface),
    METHOD("UpdateRoutes", update_routes_request, do_update_routes),
    METHOD("AddARPNeighbors", add_arpneighbors_request, do_add_arp_neighbors),
};
const size_t n_network_methods = sizeof(network_methods) / sizeof(network_methods[0]);
