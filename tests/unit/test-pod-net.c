/* shim/pod-net: the plan (what of a pod's namespace the VM gets, and the agent's messages), and,
 * as root, the real thing on a scratch network namespace: scan, taps, tc mirroring, removal. */
#include <net/if.h> /* before any linux/ header */

#include <arpa/inet.h>
#include <check.h>
#include <stdarg.h>
#include <linux/if_arp.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/xalloc.h"
#include "shim/pod-net.h"
#include "tests/common/run-tap.h"

#define SANDBOX "0123456789abcdef0123456789abcdef"

/* --- the plan, from scans made up here --- */

static struct pod_net_addr v4(const char *text, uint8_t prefix)
{
    struct pod_net_addr a = {.family = AF_INET, .prefix = prefix};
    ck_assert_int_eq(inet_pton(AF_INET, text, a.addr), 1);
    return a;
}

static struct pod_net_addr v6(const char *text, uint8_t prefix)
{
    struct pod_net_addr a = {.family = AF_INET6, .prefix = prefix};
    ck_assert_int_eq(inet_pton(AF_INET6, text, a.addr), 1);
    return a;
}

static struct pod_net_link link_of(int index, const char *name, const char *kind,
                                   struct pod_net_addr *addrs, size_t n)
{
    struct pod_net_link l = {.index = index,
                             .type = ARPHRD_ETHER,
                             .has_mac = true,
                             .mac = {0x0a, 0x58, 0x0a, 0xd5, 0x00, (uint8_t)index},
                             .mtu = 1450,
                             .flags = IFF_UP | IFF_BROADCAST | IFF_MULTICAST,
                             .addrs = addrs,
                             .n_addrs = n};
    snprintf(l.name, sizeof(l.name), "%s", name);
    snprintf(l.kind, sizeof(l.kind), "%s", kind);
    return l;
}

static struct pod_net_route route_of(int family, int oif, const char *dst, uint8_t dst_len,
                                     const char *gw, uint8_t protocol)
{
    struct pod_net_route r = {.family = family,
                              .oif = oif,
                              .table = RT_TABLE_MAIN,
                              .protocol = protocol,
                              .type = RTN_UNICAST,
                              .dst_len = dst_len};
    if (dst)
        r.has_dst = inet_pton(family, dst, r.dst) == 1;
    if (gw)
        r.has_gateway = inet_pton(family, gw, r.gateway) == 1;
    return r;
}

START_TEST(plan_a_cni_pod)
{
    struct pod_net_addr lo_addrs[] = {v4("127.0.0.1", 8), v6("::1", 128)};
    struct pod_net_addr eth0_addrs[] = {v4("10.213.0.5", 24), v6("fd00::5", 64),
                                        v6("fe80::858:aff:fed5:2", 64)};
    struct pod_net_link links[] = {link_of(1, "lo", "", lo_addrs, 2),
                                   link_of(2, "eth0", "veth", eth0_addrs, 3),
                                   link_of(3, "spare", "veth", NULL, 0)};
    links[0].flags |= IFF_LOOPBACK;
    links[0].type = ARPHRD_LOOPBACK;
    links[1].flags |= IFF_NOARP | IFF_PROMISC; /* only NOARP is the agent's business */
    struct pod_net_route routes[] = {
        route_of(AF_INET, 2, "10.213.0.0", 24, NULL, RTPROT_KERNEL), /* from the address */
        route_of(AF_INET, 2, NULL, 0, "10.213.0.1", RTPROT_BOOT),    /* the default route */
        route_of(AF_INET, 2, "10.96.0.0", 12, "10.213.0.1", RTPROT_STATIC),
        route_of(AF_INET6, 2, "fe80::", 64, NULL, RTPROT_KERNEL),
        route_of(AF_INET, 1, "127.0.0.0", 8, NULL, RTPROT_BOOT), /* lo: not mirrored */
        route_of(AF_INET, 2, "192.168.9.0", 24, NULL, RTPROT_BOOT),
    };
    routes[5].table = 100; /* not the main table */
    routes[2].mtu = 1400;
    struct pod_net_neigh neighs[] = {
        {.family = AF_INET,
         .ifindex = 2,
         .state = NUD_PERMANENT,
         .has_lladdr = true,
         .lladdr = {0xee, 0xee, 0xee, 0xee, 0xee, 0xee}},
        {.family = AF_INET, .ifindex = 2, .state = NUD_REACHABLE, .has_lladdr = true},
    };
    inet_pton(AF_INET, "10.213.0.1", neighs[0].addr);
    struct pod_net_scan scan = {links, 3, routes, 6, neighs, 2};

    struct pod_net_plan p;
    struct error err = ERROR_INIT;
    ck_assert_msg(pod_net_plan(&scan, SANDBOX, &p, &err) == 0, "%s", err.msg);

    ck_assert_uint_eq(p.n_nics, 1);
    ck_assert_str_eq(p.nics[0].link, "eth0");
    ck_assert_str_eq(p.nics[0].tap, "cc0-0123456789");
    ck_assert_uint_eq(p.nics[0].mtu, 1450);
    ck_assert_int_eq(p.nics[0].mac[5], 2);

    ck_assert_uint_eq(p.n_interfaces, 1);
    Types__Interface *in = p.interfaces[0];
    ck_assert_str_eq(in->name, "eth0");
    ck_assert_str_eq(in->device, "eth0");
    ck_assert_str_eq(in->hwaddr, "0a:58:0a:d5:00:02");
    ck_assert_str_eq(in->type, "veth");
    ck_assert_str_eq(in->devicepath, "");
    ck_assert_uint_eq(in->mtu, 1450);
    ck_assert_uint_eq(in->raw_flags, IFF_NOARP);
    ck_assert_uint_eq(in->n_ipaddresses, 3);
    ck_assert_str_eq(in->ipaddresses[0]->address, "10.213.0.5");
    ck_assert_str_eq(in->ipaddresses[0]->mask, "24");
    ck_assert_int_eq(in->ipaddresses[0]->family, TYPES__IPFAMILY__v4);
    ck_assert_str_eq(in->ipaddresses[1]->address, "fd00::5");
    ck_assert_int_eq(in->ipaddresses[1]->family, TYPES__IPFAMILY__v6);
    ck_assert_str_eq(in->ipaddresses[2]->address, "fe80::858:aff:fed5:2"); /* Kata sends it too */

    /* the kernel's own routes, lo's and another table's are not sent */
    ck_assert_uint_eq(p.n_routes, 2);
    ck_assert_str_eq(p.routes[0]->dest, ""); /* runtime-rs: the default route */
    ck_assert_str_eq(p.routes[0]->gateway, "10.213.0.1");
    ck_assert_str_eq(p.routes[0]->device, "eth0");
    ck_assert_str_eq(p.routes[0]->source, "");
    ck_assert_str_eq(p.routes[1]->dest, "10.96.0.0/12");
    ck_assert_uint_eq(p.routes[1]->mtu, 1400);

    /* permanent neighbours only */
    ck_assert_uint_eq(p.n_neighbors, 1);
    ck_assert_str_eq(p.neighbors[0]->toipaddress->address, "10.213.0.1");
    ck_assert_str_eq(p.neighbors[0]->toipaddress->mask, "");
    ck_assert_str_eq(p.neighbors[0]->lladdr, "ee:ee:ee:ee:ee:ee");
    ck_assert_str_eq(p.neighbors[0]->device, "eth0");
    ck_assert_int_eq(p.neighbors[0]->state, NUD_PERMANENT);
    pod_net_plan_free(&p);
    pod_net_plan_free(&p); /* twice is fine */
}
END_TEST

/* Only loopback, or interfaces without addresses: nothing for the VM (no error). */
START_TEST(plan_nothing_to_mirror)
{
    struct pod_net_addr lo_addrs[] = {v4("127.0.0.1", 8)};
    struct pod_net_link links[] = {link_of(1, "lo", "", lo_addrs, 1),
                                   link_of(2, "eth0", "veth", NULL, 0)};
    links[0].flags |= IFF_LOOPBACK;
    struct pod_net_scan scan = {links, 2, NULL, 0, NULL, 0};
    struct pod_net_plan p;
    struct error err = ERROR_INIT;
    ck_assert_int_eq(pod_net_plan(&scan, SANDBOX, &p, &err), 0);
    ck_assert_uint_eq(p.n_nics, 0);
    ck_assert_uint_eq(p.n_interfaces, 0);
    pod_net_plan_free(&p);
}
END_TEST

static void plan_fails(struct pod_net_link l, const char *want)
{
    struct pod_net_scan scan = {&l, 1, NULL, 0, NULL, 0};
    struct pod_net_plan p;
    struct error err = ERROR_INIT;
    ck_assert_int_eq(pod_net_plan(&scan, SANDBOX, &p, &err), -1);
    ck_assert_msg(strstr(err.msg, want), "%s does not say %s", err.msg, want);
    ck_assert_msg(strstr(err.msg, l.name), "%s does not name %s", err.msg, l.name);
    ck_assert_uint_eq(p.n_nics, 0);
    error_clear(&err);
}

START_TEST(plan_refuses_what_it_cannot_mirror)
{
    struct pod_net_addr addrs[] = {v4("10.1.0.5", 24)};
    struct pod_net_link l = link_of(4, "wg0", "wireguard", addrs, 1);
    l.type = ARPHRD_NONE;
    l.has_mac = false;
    plan_fails(l, "has no Ethernet link layer");
    l = link_of(4, "tun0", "tun", addrs, 1);
    l.type = ARPHRD_NONE;
    plan_fails(l, "has no Ethernet link layer");
    plan_fails(link_of(5, "ens5", "", addrs, 1), "physical device");
    plan_fails(link_of(6, "br0", "bridge", addrs, 1), "is a bridge device");
    plan_fails(link_of(7, "vx0", "vxlan", addrs, 1), "cocoon mirrors veth, macvlan");
    l = link_of(8, "eth1", "veth", addrs, 1);
    memset(l.mac, 0, 6);
    plan_fails(l, "no MAC address");
    struct pod_net_addr odd[] = {v4("10.1.0.5", 24), {.family = 12 /* AF_DECnet */}};
    plan_fails(link_of(9, "eth2", "macvlan", odd, 2), "IPv4 and IPv6 addresses only");
    /* accepted kinds */
    const char *ok[] = {"veth", "macvlan", "macvtap", "ipvlan", "vlan"};
    for (size_t i = 0; i < 5; i++) {
        struct pod_net_link good = link_of(2, "eth0", ok[i], addrs, 1);
        struct pod_net_scan scan = {&good, 1, NULL, 0, NULL, 0};
        struct pod_net_plan p;
        struct error err = ERROR_INIT;
        ck_assert_msg(pod_net_plan(&scan, SANDBOX, &p, &err) == 0, "%s: %s", ok[i], err.msg);
        pod_net_plan_free(&p);
    }
}
END_TEST

/* --- as root: a scratch namespace --- */

static char ns_name[64], ns_path[128], state_dir[64];

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *cmd = xvasprintf(fmt, ap);
    va_end(ap);
    return system(cmd);
}

/* Output of a shell command, trailing newlines removed. */
static char *out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *out(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *cmd = xvasprintf(fmt, ap);
    va_end(ap);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    char *buf = xcalloc(1, 8192);
    size_t n = fread(buf, 1, 8191, p);
    pclose(p);
    while (n && buf[n - 1] == '\n')
        buf[--n] = 0;
    return buf;
}

static bool root;

static void ns_setup(void)
{
    root = geteuid() == 0 && access("/usr/sbin/ip", X_OK) == 0 && access("/usr/sbin/tc", X_OK) == 0;
    if (!root)
        return;
    snprintf(ns_name, sizeof(ns_name), "cocoon-test-%d", getpid());
    snprintf(ns_path, sizeof(ns_path), "/run/netns/%s", ns_name);
    snprintf(state_dir, sizeof(state_dir), "/tmp/test-pod-net-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(state_dir));
    /* a pod as the bridge plugin leaves it: eth0 a veth whose peer is outside */
    ck_assert_int_eq(
        sh("ip netns add %s && ip link add ctp%d type veth peer name eth0 netns %s && "
           "ip -n %s link set lo up && ip -n %s link set eth0 address 0a:58:0a:d5:00:07 "
           "mtu 1400 up && ip -n %s addr add 10.213.77.7/24 dev eth0 && "
           "ip -n %s route add default via 10.213.77.1 && "
           "ip -n %s neigh add 10.213.77.1 lladdr ee:ee:ee:ee:ee:01 dev eth0 nud permanent",
           ns_name, getpid(), ns_name, ns_name, ns_name, ns_name, ns_name, ns_name),
        0);
}

static void ns_teardown(void)
{
    if (!root)
        return;
    sh("ip netns del %s 2>/dev/null; ip link del ctp%d 2>/dev/null; rm -rf %s", ns_name, getpid(),
       state_dir);
}

START_TEST(scan_plumb_unplumb)
{
    if (!root)
        return; /* needs root and iproute2; CI runs as root */
    struct pod_net_scan scan;
    struct error err = ERROR_INIT;
    ck_assert_msg(pod_net_scan(ns_path, &scan, &err) == 0, "%s", err.msg);
    struct pod_net_plan p;
    ck_assert_msg(pod_net_plan(&scan, SANDBOX, &p, &err) == 0, "%s", err.msg);
    pod_net_scan_free(&scan);
    ck_assert_uint_eq(p.n_nics, 1);
    ck_assert_str_eq(p.interfaces[0]->hwaddr, "0a:58:0a:d5:00:07");
    ck_assert_uint_eq(p.interfaces[0]->mtu, 1400);
    ck_assert_str_eq(p.interfaces[0]->type, "veth");
    ck_assert_str_eq(p.interfaces[0]->ipaddresses[0]->address, "10.213.77.7");
    ck_assert_uint_eq(p.n_routes, 1); /* the default route; the subnet's is the kernel's */
    ck_assert_str_eq(p.routes[0]->gateway, "10.213.77.1");
    ck_assert_uint_eq(p.n_neighbors, 1);
    ck_assert_str_eq(p.neighbors[0]->lladdr, "ee:ee:ee:ee:ee:01");

    /* the tap is made in the host's namespace, for libvirt to open */
    ck_assert_msg(pod_net_make_taps(&p, ns_path, state_dir, &err) == 0, "%s", err.msg);
    _cleanup_free_ char *host = out("ip -d link show cc0-0123456789 2>&1");
    ck_assert_msg(strstr(host, "tun type tap") && strstr(host, "persist on"), "%s", host);

    /* then it moves into the pod's namespace and mirrors eth0 both ways */
    ck_assert_msg(pod_net_plumb(&p, ns_path, state_dir, &err) == 0, "%s", err.msg);
    _cleanup_free_ char *gone = out("ip link show cc0-0123456789 2>&1");
    ck_assert_msg(strstr(gone, "does not exist"), "%s", gone);
    _cleanup_free_ char *tap = out("ip -n %s link show cc0-0123456789", ns_name);
    ck_assert_msg(strstr(tap, "mtu 1400") && strstr(tap, ",UP"), "%s", tap);
    _cleanup_free_ char *f1 = out("ip netns exec %s tc filter show dev eth0 ingress", ns_name);
    ck_assert_msg(strstr(f1, "u32") && strstr(f1, "Egress Redirect to device cc0-0123456789"), "%s",
                  f1);
    _cleanup_free_ char *f2 =
        out("ip netns exec %s tc filter show dev cc0-0123456789 ingress", ns_name);
    ck_assert_msg(strstr(f2, "Egress Redirect to device eth0"), "%s", f2);
    /* what CNI made is untouched */
    _cleanup_free_ char *addr = out("ip -n %s -o addr show dev eth0", ns_name);
    ck_assert_msg(strstr(addr, "10.213.77.7/24"), "%s", addr);

    /* a second plumb of the same pod fails cleanly: eth0 has an ingress qdisc already */
    struct pod_net_plan again;
    ck_assert_int_eq(pod_net_scan(ns_path, &scan, &err), 0);
    ck_assert_int_eq(pod_net_plan(&scan, "fedcba9876543210", &again, &err), 0);
    pod_net_scan_free(&scan);
    char other[] = "/tmp/test-pod-net-2-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(other));
    ck_assert_int_eq(pod_net_make_taps(&again, ns_path, other, &err), 0);
    ck_assert_int_eq(pod_net_plumb(&again, ns_path, other, &err), -1);
    ck_assert_msg(strstr(err.msg, "eth0 already has an ingress qdisc"), "%s", err.msg);
    error_clear(&err);
    pod_net_unplumb_recorded(other); /* removes its own tap, not the first pod's qdisc */
    rmdir(other);
    pod_net_plan_free(&again);
    _cleanup_free_ char *still = out("ip netns exec %s tc filter show dev eth0 ingress", ns_name);
    ck_assert_msg(strstr(still, "cc0-0123456789"), "%s", still);
    _cleanup_free_ char *other_tap = out("ip -n %s link show cc0-fedcba9876 2>&1", ns_name);
    ck_assert_msg(strstr(other_tap, "does not exist"), "%s", other_tap);

    /* removal leaves the namespace as CNI made it, and no record */
    pod_net_unplumb_recorded(state_dir);
    _cleanup_free_ char *links = out("ip -n %s -o link show | awk -F': ' '{print $2}' | "
                                     "cut -d@ -f1 | tr '\\n' ' '",
                                     ns_name);
    ck_assert_str_eq(links, "lo eth0 ");
    _cleanup_free_ char *qdiscs = out("ip netns exec %s tc qdisc show dev eth0", ns_name);
    ck_assert_msg(!strstr(qdiscs, "ingress"), "%s", qdiscs);
    _cleanup_free_ char *rec = xasprintf("%s/network", state_dir);
    ck_assert_int_eq(access(rec, F_OK), -1);
    pod_net_unplumb_recorded(state_dir); /* nothing recorded: nothing to do */
    pod_net_plan_free(&p);
}
END_TEST

/* A shim that died between making the taps and moving them leaves them in the host's
 * namespace: removal (what `delete` runs) finds them there. */
START_TEST(unplumb_after_a_crash_before_the_move)
{
    if (!root)
        return;
    struct pod_net_scan scan;
    struct pod_net_plan p;
    struct error err = ERROR_INIT;
    ck_assert_int_eq(pod_net_scan(ns_path, &scan, &err), 0);
    ck_assert_int_eq(pod_net_plan(&scan, SANDBOX, &p, &err), 0);
    pod_net_scan_free(&scan);
    ck_assert_msg(pod_net_make_taps(&p, ns_path, state_dir, &err) == 0, "%s", err.msg);
    pod_net_unplumb_recorded(state_dir);
    _cleanup_free_ char *host = out("ip link show cc0-0123456789 2>&1");
    ck_assert_msg(strstr(host, "does not exist"), "%s", host);
    pod_net_plan_free(&p);
}
END_TEST

START_TEST(scan_a_missing_namespace)
{
    struct pod_net_scan scan;
    struct error err = ERROR_INIT;
    ck_assert_int_eq(pod_net_scan("/run/netns/cocoon-no-such-ns", &scan, &err), -1);
    ck_assert_msg(strstr(err.msg, "/run/netns/cocoon-no-such-ns") &&
                      strstr(err.msg, "No such file"),
                  "%s", err.msg);
    error_clear(&err);
    /* a file that is not a namespace */
    ck_assert_int_eq(pod_net_scan("/etc/hostname", &scan, &err), -1);
    ck_assert_msg(strstr(err.msg, "/etc/hostname"), "%s", err.msg);
    error_clear(&err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pod-net");
    TCase *plan = tcase_create("plan");
    tcase_add_test(plan, plan_a_cni_pod);
    tcase_add_test(plan, plan_nothing_to_mirror);
    tcase_add_test(plan, plan_refuses_what_it_cannot_mirror);
    tcase_add_test(plan, scan_a_missing_namespace);
    suite_add_tcase(s, plan);
    TCase *real = tcase_create("namespace");
    tcase_add_checked_fixture(real, ns_setup, ns_teardown);
    tcase_add_test(real, scan_plumb_unplumb);
    tcase_add_test(real, unplumb_after_a_crash_before_the_move);
    tcase_set_timeout(real, 30);
    suite_add_tcase(s, real);
    return run_tap(s);
}
