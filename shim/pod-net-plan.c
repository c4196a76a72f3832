/* What of the pod's namespace the VM gets, and the agent's messages for it (no I/O). The fields
 * follow Kata 4.x's runtime-rs (network_info_from_link.rs, network_with_netns.rs): type is the
 * netlink kind, raw_flags only IFF_NOARP, masks are prefix lengths, the default route's dest is
 * "", the source is the route's source prefix, neighbours are the permanent ones. */
#include <net/if.h> /* before any linux/ header: glibc then skips linux/if.h */
#include <arpa/inet.h>
#include <linux/if_arp.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/xalloc.h"
#include "shim/pod-net.h"

#define GROW(arr, n) ((arr) = xrealloc((arr), ((n) + 1) * sizeof(*(arr))), &(arr)[(n)++])

/* Kinds whose frames tc can mirror to and from the tap unchanged: Ethernet devices of the pod's
 * own (Kata: veth, macvlan, macvtap, ipvlan; runtime-rs adds vlan). */
static const char *const MIRRORED_KINDS[] = {"veth", "macvlan", "macvtap", "ipvlan", "vlan"};

static bool is_loopback_addr(const struct pod_net_addr *a)
{
    static const uint8_t v6_loopback[16] = {[15] = 1};
    return (a->family == AF_INET && a->addr[0] == 127) ||
           (a->family == AF_INET6 && memcmp(a->addr, v6_loopback, 16) == 0);
}

static bool has_address(const struct pod_net_link *l)
{
    for (size_t i = 0; i < l->n_addrs; i++)
        if (!is_loopback_addr(&l->addrs[i]))
            return true;
    return false;
}

static int check_link(const struct pod_net_link *l, struct error *err)
{
    static const uint8_t zero_mac[6];
    if (l->type != ARPHRD_ETHER || !l->has_mac)
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "interface %s (%s, link type %u) has no Ethernet link layer: its packets "
                         "cannot be mirrored to the VM's Ethernet NIC",
                         l->name, *l->kind ? l->kind : "no kind", (unsigned)l->type);
    if (memcmp(l->mac, zero_mac, 6) == 0)
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "interface %s has no MAC address (00:00:00:00:00:00) for the VM's NIC",
                         l->name);
    if (!*l->kind)
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "interface %s is a physical device: it would have to be passed through "
                         "to the VM (VFIO), which cocoon does not do",
                         l->name);
    for (size_t i = 0; i < sizeof(MIRRORED_KINDS) / sizeof(*MIRRORED_KINDS); i++)
        if (strcmp(l->kind, MIRRORED_KINDS[i]) == 0)
            return 0;
    return error_set(err, GRPC_INVALID_ARGUMENT,
                     "interface %s is a %s device: cocoon mirrors veth, macvlan, macvtap, ipvlan "
                     "and vlan devices into the VM (a %s in the pod's namespace is not the pod's "
                     "own link to its network)",
                     l->name, l->kind, l->kind);
}

static Types__IPFamily family_of(int family)
{
    return family == AF_INET6 ? TYPES__IPFAMILY__v6 : TYPES__IPFAMILY__v4;
}

static char *addr_text(int family, const uint8_t *addr)
{
    char buf[INET6_ADDRSTRLEN];
    inet_ntop(family, addr, buf, sizeof(buf));
    return xstrdup(buf);
}

static char *mac_text(const uint8_t *mac)
{
    return xasprintf("%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
                     mac[5]);
}

static Types__IPAddress *ip_address(int family, const uint8_t *addr, const char *mask)
{
    Types__IPAddress *a = xmalloc(sizeof(*a));
    *a = (Types__IPAddress)TYPES__IPADDRESS__INIT;
    a->family = family_of(family);
    a->address = addr_text(family, addr);
    a->mask = xstrdup(mask);
    return a;
}

static int add_interface(struct pod_net_plan *p, const struct pod_net_link *l, struct error *err)
{
    Types__Interface *in = xmalloc(sizeof(*in));
    *in = (Types__Interface)TYPES__INTERFACE__INIT;
    *GROW(p->interfaces, p->n_interfaces) = in;
    in->device = xstrdup(l->name);
    in->name = xstrdup(l->name);
    in->mtu = l->mtu;
    in->hwaddr = mac_text(l->mac);
    in->devicepath = xstrdup(""); /* cold-plugged: the agent finds the NIC by its MAC */
    in->type = xstrdup(l->kind);
    in->raw_flags = l->flags & IFF_NOARP;
    for (size_t i = 0; i < l->n_addrs; i++) {
        const struct pod_net_addr *a = &l->addrs[i];
        if (a->family != AF_INET && a->family != AF_INET6)
            return error_set(err, GRPC_INVALID_ARGUMENT,
                             "interface %s has an address of family %d: cocoon carries IPv4 and "
                             "IPv6 addresses only",
                             l->name, a->family);
        if (is_loopback_addr(a))
            continue;
        char mask[4];
        snprintf(mask, sizeof(mask), "%u", a->prefix);
        in->ipaddresses = xrealloc(in->ipaddresses, (in->n_ipaddresses + 1) * sizeof(void *));
        in->ipaddresses[in->n_ipaddresses++] = ip_address(a->family, a->addr, mask);
    }
    return 0;
}

static char *prefix_text(int family, const uint8_t *addr, unsigned len)
{
    _cleanup_free_ char *a = addr_text(family, addr);
    return xasprintf("%s/%u", a, len);
}

static void add_route(struct pod_net_plan *p, const struct pod_net_route *r, const char *device)
{
    Types__Route *out = xmalloc(sizeof(*out));
    *out = (Types__Route)TYPES__ROUTE__INIT;
    *GROW(p->routes, p->n_routes) = out;
    out->dest = r->has_dst && r->dst_len ? prefix_text(r->family, r->dst, r->dst_len) : xstrdup("");
    out->gateway = r->has_gateway ? addr_text(r->family, r->gateway) : xstrdup("");
    out->device = xstrdup(device);
    out->source = r->has_src ? prefix_text(r->family, r->src, r->src_len) : xstrdup("");
    out->scope = r->scope;
    out->family = family_of(r->family);
    out->flags = r->flags;
    out->mtu = r->mtu;
}

static void add_neighbor(struct pod_net_plan *p, const struct pod_net_neigh *n, const char *device)
{
    Types__ARPNeighbor *out = xmalloc(sizeof(*out));
    *out = (Types__ARPNeighbor)TYPES__ARPNEIGHBOR__INIT;
    *GROW(p->neighbors, p->n_neighbors) = out;
    out->toipaddress = ip_address(n->family, n->addr, "");
    out->device = xstrdup(device);
    out->lladdr = mac_text(n->lladdr);
    out->state = n->state;
    out->flags = 0;
}

/* The mirrored link with that index, or NULL. */
static const struct pod_net_nic *nic_of(const struct pod_net_plan *p, const struct pod_net_scan *s,
                                        int index)
{
    for (size_t i = 0; i < s->n_links; i++)
        if (s->links[i].index == index)
            for (size_t j = 0; j < p->n_nics; j++)
                if (strcmp(p->nics[j].link, s->links[i].name) == 0)
                    return &p->nics[j];
    return NULL;
}

int pod_net_plan(const struct pod_net_scan *scan, const char *sandbox_id, struct pod_net_plan *out,
                 struct error *err)
{
    *out = (struct pod_net_plan){0};
    for (size_t i = 0; i < scan->n_links; i++) {
        const struct pod_net_link *l = &scan->links[i];
        if ((l->flags & IFF_LOOPBACK) || !has_address(l))
            continue;
        if (check_link(l, err) < 0 || add_interface(out, l, err) < 0) {
            pod_net_plan_free(out);
            return -1;
        }
        struct pod_net_nic *nic = GROW(out->nics, out->n_nics);
        *nic = (struct pod_net_nic){.mtu = l->mtu};
        snprintf(nic->link, sizeof(nic->link), "%s", l->name);
        snprintf(nic->tap, sizeof(nic->tap), "cc%zu-%.10s", out->n_nics - 1, sandbox_id);
        memcpy(nic->mac, l->mac, 6);
    }
    for (size_t i = 0; i < scan->n_routes; i++) {
        const struct pod_net_route *r = &scan->routes[i];
        const struct pod_net_nic *nic = nic_of(out, scan, r->oif);
        if (nic && r->table == RT_TABLE_MAIN && r->protocol != RTPROT_KERNEL &&
            (r->family == AF_INET || r->family == AF_INET6))
            add_route(out, r, nic->link);
    }
    for (size_t i = 0; i < scan->n_neighs; i++) {
        const struct pod_net_neigh *n = &scan->neighs[i];
        const struct pod_net_nic *nic = nic_of(out, scan, n->ifindex);
        if (nic && n->state == NUD_PERMANENT && n->has_lladdr &&
            (n->family == AF_INET || n->family == AF_INET6))
            add_neighbor(out, n, nic->link);
    }
    return 0;
}

void pod_net_plan_free(struct pod_net_plan *p)
{
    for (size_t i = 0; i < p->n_interfaces; i++)
        protobuf_c_message_free_unpacked(&p->interfaces[i]->base, NULL);
    for (size_t i = 0; i < p->n_routes; i++)
        protobuf_c_message_free_unpacked(&p->routes[i]->base, NULL);
    for (size_t i = 0; i < p->n_neighbors; i++)
        protobuf_c_message_free_unpacked(&p->neighbors[i]->base, NULL);
    free(p->interfaces);
    free(p->routes);
    free(p->neighbors);
    free(p->nics);
    *p = (struct pod_net_plan){0};
}
