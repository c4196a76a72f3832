/* The pod's network in its VM (docs/network.md).
 *
 * CNI gave the pod a network namespace with eth0 and its addresses; QEMU runs in the host's
 * namespace (libvirtd starts it). For each interface of the pod's namespace that has an address,
 * the shim creates a tap in the host's namespace, which libvirt opens for the VM's virtio-net NIC
 * (<interface type='ethernet'>, managed='no'; the NIC gets the interface's MAC and MTU). Once
 * QEMU holds the tap, the shim moves it into the pod's namespace (the open file keeps working)
 * and mirrors the two with tc: whatever arrives on the interface is redirected out of the tap,
 * and the other way round (Kata's "tcfilter" model). The namespace stays as CNI built it. The
 * agent then configures the guest: UpdateInterface per interface, UpdateRoutes, AddARPNeighbors
 * (Kata's order), with Kata's message fields.
 *
 * Three steps: pod_net_scan reads the namespace, pod_net_plan (no I/O) decides and builds the
 * agent's messages, pod_net_plumb / pod_net_unplumb make and remove the taps and filters. A record
 * in the sandbox's state dir lets `delete` remove them after a shim crash. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kata/types.pb-c.h"
#include "lib/error.h"

#define POD_NET_NAME_MAX 16 /* IFNAMSIZ, NUL included */

/* --- what the namespace holds --- */

struct pod_net_addr {
    int family; /* AF_INET, AF_INET6, or what the kernel reported */
    uint8_t addr[16];
    uint8_t prefix;
};

struct pod_net_link {
    int index;
    char name[POD_NET_NAME_MAX];
    char kind[32];       /* IFLA_INFO_KIND ("veth", "macvlan", ...); "" for a physical device */
    unsigned short type; /* ARPHRD_* */
    uint8_t mac[6];
    bool has_mac;
    uint32_t mtu;
    uint32_t flags; /* IFF_* */
    struct pod_net_addr *addrs;
    size_t n_addrs;
};

struct pod_net_route {
    int family;
    int oif; /* 0: none (multipath, blackhole) */
    uint8_t table, protocol, scope, type;
    uint32_t flags; /* rtm_flags */
    uint8_t dst[16], dst_len;
    bool has_dst;
    uint8_t gateway[16];
    bool has_gateway;
    uint8_t src[16], src_len; /* RTA_SRC: a source prefix (runtime-rs sends this one) */
    bool has_src;
    uint32_t mtu; /* RTAX_MTU, 0 if unset */
};

struct pod_net_neigh {
    int family;
    int ifindex;
    uint8_t addr[16];
    uint8_t lladdr[6];
    bool has_lladdr;
    uint16_t state; /* NUD_* */
    uint8_t flags;  /* NTF_* */
};

struct pod_net_scan {
    struct pod_net_link *links;
    size_t n_links;
    struct pod_net_route *routes;
    size_t n_routes;
    struct pod_net_neigh *neighs;
    size_t n_neighs;
};

/* Reads links, addresses, IPv4 and IPv6 routes and neighbours of the namespace at netns. */
int pod_net_scan(const char *netns, struct pod_net_scan *out, struct error *err);
void pod_net_scan_free(struct pod_net_scan *s);

/* --- what the VM gets --- */

struct pod_net_nic {
    char link[POD_NET_NAME_MAX]; /* the interface in the pod's namespace */
    char tap[POD_NET_NAME_MAX];  /* the tap: in the host's namespace until plumbed */
    uint8_t mac[6];              /* the interface's, given to the VM's NIC */
    uint32_t mtu;
};

struct pod_net_plan {
    struct pod_net_nic *nics;
    size_t n_nics;
    Types__Interface **interfaces; /* one UpdateInterface each */
    size_t n_interfaces;
    Types__Route **routes; /* one UpdateRoutes */
    size_t n_routes;
    Types__ARPNeighbor **neighbors; /* one AddARPNeighbors */
    size_t n_neighbors;
};

/* Decides what to mirror and builds the agent's messages: every interface that is not loopback
 * and has an address other than a loopback one; its addresses (IPv4 and IPv6, link-local
 * included), the main table's routes through it that the kernel did not make for an address
 * (proto kernel), its permanent neighbours. A link cocoon cannot mirror (not Ethernet, a
 * physical device, a kind other than veth, macvlan, macvtap, ipvlan, vlan) or an address of
 * another family fails, naming the interface and why. Tap names are "cc<n>-" + the first 10
 * characters of sandbox_id. */
int pod_net_plan(const struct pod_net_scan *scan, const char *sandbox_id, struct pod_net_plan *out,
                 struct error *err);
void pod_net_plan_free(struct pod_net_plan *p);

/* --- the taps and filters --- */

/* Creates the plan's taps (persistent, in the caller's namespace, the host's) for libvirt to
 * open, after writing the record (state_dir/network) that pod_net_unplumb_recorded reads. On
 * failure nothing is left. */
int pod_net_make_taps(const struct pod_net_plan *p, const char *netns, const char *state_dir,
                      struct error *err);

/* After QEMU opened the taps: moves them into the pod's namespace, sets their MTU and brings them
 * up, and adds the ingress qdiscs and mirred filters both ways. */
int pod_net_plumb(const struct pod_net_plan *p, const char *netns, const char *state_dir,
                  struct error *err);

/* Removes what pod_net_make_taps and pod_net_plumb made, wherever it is (the host's namespace,
 * the pod's), as the record in state_dir says, then the record. Nothing recorded: nothing to do.
 * Problems are logged, not returned: teardown goes on. Used at sandbox stop and by `delete`. */
void pod_net_unplumb_recorded(const char *state_dir);
