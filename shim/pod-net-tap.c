/* The taps that carry the pod's interfaces to the VM, the tc filters that mirror them, and their
 * removal (pod-net.h). Every step is in the record state_dir/network before it is taken:
 *
 *   netns <path>          the pod's network namespace
 *   tap <tap> <link>      a tap made for interface <link>
 *   qdisc <link>          an ingress qdisc the shim added to <link>
 *
 * so that a shim that dies at any point leaves `delete` enough to remove it all. */
#include <net/if.h> /* before any linux/ header: glibc then skips linux/if.h */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/tc_act/tc_mirred.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/log.h"
#include "lib/netlink.h"
#include "lib/xalloc.h"
#include "shim/pod-net.h"

#define RECORD_FILE "network"
#define RECORD_MAX (64 * 1024)
#define INGRESS_HANDLE TC_H_MAKE(TC_H_INGRESS, 0) /* ffff: */
#define FILTER_PRIO 1

/* --- the record --- */

static char *record_path(const char *state_dir)
{
    return xasprintf("%s/" RECORD_FILE, state_dir);
}

static int record_append(const char *state_dir, const char *line, struct error *err)
{
    _cleanup_free_ char *path = record_path(state_dir);
    _cleanup_free_ char *old = NULL;
    size_t len = 0;
    if (fs_read_file(path, RECORD_MAX, &old, &len, NULL) < 0)
        len = 0;
    _cleanup_free_ char *text = xasprintf("%.*s%s\n", (int)len, old ? old : "", line);
    return fs_write_file_atomic(path, text, strlen(text), 0600, err);
}

/* Removes one line from the record (the last one equal to line). */
static void record_drop(const char *state_dir, const char *line)
{
    _cleanup_free_ char *path = record_path(state_dir);
    _cleanup_free_ char *text = NULL;
    size_t len;
    if (fs_read_file(path, RECORD_MAX, &text, &len, NULL) < 0)
        return;
    _cleanup_free_ char *needle = xasprintf("%s\n", line);
    char *at = NULL;
    for (char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
        if (p == text || p[-1] == '\n')
            at = p;
    if (!at)
        return;
    memmove(at, at + strlen(needle), strlen(at + strlen(needle)) + 1);
    _cleanup_(error_clear) struct error err = ERROR_INIT;
    if (fs_write_file_atomic(path, text, strlen(text), 0600, &err) < 0)
        log_warn("pod network: %s", err.msg);
}

/* --- links and tc --- */

struct found {
    int index;
};

static int on_link(const struct nlmsghdr *h, void *user, struct error *err)
{
    if (h->nlmsg_type == RTM_NEWLINK)
        ((struct found *)user)->index = ((const struct ifinfomsg *)NLMSG_DATA(h))->ifi_index;
    return 0;
}

/* The index of link name in the socket's namespace, or -errno (ENODEV when there is none). */
static int link_index(struct nl_sock *s, const char *name, struct error *err)
{
    struct nl_msg m;
    nl_msg_init(&m, RTM_GETLINK, 0, sizeof(struct ifinfomsg));
    nl_put_str(&m, IFLA_IFNAME, name);
    struct found f = {0};
    int r = nl_get(s, &m, on_link, &f, err);
    return r < 0 ? r : f.index > 0 ? f.index : -ENODEV;
}

static int link_delete(struct nl_sock *s, const char *name, struct error *err)
{
    struct nl_msg m;
    nl_msg_init(&m, RTM_DELLINK, 0, sizeof(struct ifinfomsg));
    nl_put_str(&m, IFLA_IFNAME, name);
    return nl_call(s, &m, err);
}

static int move_to_netns(struct nl_sock *host, int index, int netns_fd, struct error *err)
{
    struct nl_msg m;
    struct ifinfomsg *ifi = nl_msg_init(&m, RTM_NEWLINK, 0, sizeof(*ifi));
    ifi->ifi_index = index;
    nl_put_u32(&m, IFLA_NET_NS_FD, (uint32_t)netns_fd);
    return nl_call(host, &m, err);
}

static int set_up(struct nl_sock *s, int index, uint32_t mtu, struct error *err)
{
    struct nl_msg m;
    struct ifinfomsg *ifi = nl_msg_init(&m, RTM_NEWLINK, 0, sizeof(*ifi));
    ifi->ifi_index = index;
    ifi->ifi_flags = IFF_UP;
    ifi->ifi_change = IFF_UP;
    if (mtu)
        nl_put_u32(&m, IFLA_MTU, mtu);
    return nl_call(s, &m, err);
}

static struct tcmsg *tc_init(struct nl_msg *m, uint16_t type, uint16_t flags, int index)
{
    struct tcmsg *tc = nl_msg_init(m, type, flags, sizeof(*tc));
    tc->tcm_family = AF_UNSPEC;
    tc->tcm_ifindex = index;
    return tc;
}

static int add_ingress(struct nl_sock *s, int index, struct error *err)
{
    struct nl_msg m;
    struct tcmsg *tc = tc_init(&m, RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL, index);
    tc->tcm_handle = INGRESS_HANDLE;
    tc->tcm_parent = TC_H_INGRESS;
    nl_put_str(&m, TCA_KIND, "ingress");
    return nl_call(s, &m, err);
}

static int del_ingress(struct nl_sock *s, int index, struct error *err)
{
    struct nl_msg m;
    struct tcmsg *tc = tc_init(&m, RTM_DELQDISC, 0, index);
    tc->tcm_handle = INGRESS_HANDLE;
    tc->tcm_parent = TC_H_INGRESS;
    return nl_call(s, &m, err);
}

/* tc filter add dev FROM parent ffff: protocol all u32 match u32 0 0
 *    action mirred egress redirect dev TO */
static int add_redirect(struct nl_sock *s, int from, int to, struct error *err)
{
    struct nl_msg m;
    struct tcmsg *tc = tc_init(&m, RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_EXCL, from);
    tc->tcm_parent = INGRESS_HANDLE;
    tc->tcm_info = TC_H_MAKE((uint32_t)FILTER_PRIO << 16, htons(ETH_P_ALL));
    nl_put_str(&m, TCA_KIND, "u32");
    struct rtattr *options = nl_nest_begin(&m, TCA_OPTIONS);
    struct {
        struct tc_u32_sel sel;
        struct tc_u32_key key; /* mask 0 at offset 0: every packet */
    } sel = {.sel = {.flags = TC_U32_TERMINAL, .nkeys = 1}};
    nl_put(&m, TCA_U32_SEL, &sel, sizeof(sel));
    struct rtattr *actions = nl_nest_begin(&m, TCA_U32_ACT);
    struct rtattr *action = nl_nest_begin(&m, 1); /* the first action */
    nl_put_str(&m, TCA_ACT_KIND, "mirred");
    struct rtattr *act_options = nl_nest_begin(&m, TCA_ACT_OPTIONS);
    struct tc_mirred mirred = {.action = TC_ACT_STOLEN, .eaction = TCA_EGRESS_REDIR, .ifindex = to};
    nl_put(&m, TCA_MIRRED_PARMS, &mirred, sizeof(mirred));
    nl_nest_end(&m, act_options);
    nl_nest_end(&m, action);
    nl_nest_end(&m, actions);
    nl_nest_end(&m, options);
    return nl_call(s, &m, err);
}

/* --- making --- */

static int make_tap(const char *name, struct error *err)
{
    _cleanup_close_ int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return error_set_errno(err, errno, "open /dev/net/tun");
    struct ifreq ifr = {.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR};
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0)
        return error_set_errno(err, errno, "create tap %s", name);
    /* Persistent: it outlives this fd until libvirt opens it, and is deleted explicitly. */
    if (ioctl(fd, TUNSETPERSIST, 1) < 0)
        return error_set_errno(err, errno, "make tap %s persistent", name);
    return 0;
}

int pod_net_make_taps(const struct pod_net_plan *p, const char *netns, const char *state_dir,
                      struct error *err)
{
    _cleanup_free_ char *ns_line = xasprintf("netns %s", netns);
    if (record_append(state_dir, ns_line, err) < 0)
        return error_wrap(err, "record the pod's network");
    for (size_t i = 0; i < p->n_nics; i++) {
        _cleanup_free_ char *line = xasprintf("tap %s %s", p->nics[i].tap, p->nics[i].link);
        if (record_append(state_dir, line, err) < 0 || make_tap(p->nics[i].tap, err) < 0) {
            error_wrap(err, "interface %s", p->nics[i].link);
            pod_net_unplumb_recorded(state_dir);
            return -1;
        }
    }
    return 0;
}

static int plumb_nic(struct nl_sock *host, struct nl_sock *pod, int netns_fd,
                     const struct pod_net_nic *nic, const char *state_dir, struct error *err)
{
    int tap = link_index(host, nic->tap, err);
    if (tap < 0 || move_to_netns(host, tap, netns_fd, err) < 0)
        return error_wrap(err, "move tap %s into the pod's network namespace", nic->tap);
    tap = link_index(pod, nic->tap, err);
    int link = tap < 0 ? tap : link_index(pod, nic->link, err);
    if (link < 0)
        return error_wrap(err, "find %s and %s in the pod's network namespace", nic->tap,
                          nic->link);
    if (set_up(pod, tap, nic->mtu, err) < 0)
        return error_wrap(err, "bring tap %s up (MTU %u)", nic->tap, nic->mtu);
    _cleanup_free_ char *line = xasprintf("qdisc %s", nic->link);
    if (record_append(state_dir, line, err) < 0)
        return -1;
    int r = add_ingress(pod, link, err);
    if (r == -EEXIST) {
        record_drop(state_dir, line); /* someone else's: not ours to remove */
        return error_set(err, GRPC_FAILED_PRECONDITION,
                         "%s already has an ingress qdisc (tc); cocoon needs its own there to "
                         "mirror %s into the VM",
                         nic->link, nic->link);
    }
    if (r < 0)
        return error_wrap(err, "add an ingress qdisc to %s", nic->link);
    if (add_ingress(pod, tap, err) < 0)
        return error_wrap(err, "add an ingress qdisc to %s", nic->tap);
    if (add_redirect(pod, link, tap, err) < 0 || add_redirect(pod, tap, link, err) < 0)
        return error_wrap(err, "mirror %s and %s with tc", nic->link, nic->tap);
    return 0;
}

int pod_net_plumb(const struct pod_net_plan *p, const char *netns, const char *state_dir,
                  struct error *err)
{
    _cleanup_close_ int netns_fd = open(netns, O_RDONLY | O_CLOEXEC);
    if (netns_fd < 0)
        return error_set_errno(err, errno, "network namespace %s", netns);
    struct nl_sock host, pod;
    if (nl_open(&host, NULL, err) < 0)
        return -1;
    if (nl_open(&pod, netns, err) < 0) {
        nl_close(&host);
        return -1;
    }
    int r = 0;
    for (size_t i = 0; r == 0 && i < p->n_nics; i++)
        if (plumb_nic(&host, &pod, netns_fd, &p->nics[i], state_dir, err) < 0)
            r = error_wrap(err, "interface %s", p->nics[i].link);
    nl_close(&pod);
    nl_close(&host);
    return r;
}

/* --- removing --- */

struct record {
    char *netns;
    char **taps; /* pairs: tap, link */
    size_t n_taps;
    char **qdiscs;
    size_t n_qdiscs;
};

static void record_free(struct record *r)
{
    free(r->netns);
    for (size_t i = 0; i < r->n_taps; i++)
        free(r->taps[i]);
    for (size_t i = 0; i < r->n_qdiscs; i++)
        free(r->qdiscs[i]);
    free(r->taps);
    free(r->qdiscs);
}

static void record_parse(char *text, struct record *r)
{
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char name[POD_NET_NAME_MAX];
        if (strncmp(line, "netns ", 6) == 0) {
            free(r->netns);
            r->netns = xstrdup(line + 6);
        } else if (sscanf(line, "tap %15s", name) == 1) {
            r->taps = xrealloc(r->taps, (r->n_taps + 1) * sizeof(char *));
            r->taps[r->n_taps++] = xstrdup(name);
        } else if (sscanf(line, "qdisc %15s", name) == 1) {
            r->qdiscs = xrealloc(r->qdiscs, (r->n_qdiscs + 1) * sizeof(char *));
            r->qdiscs[r->n_qdiscs++] = xstrdup(name);
        }
    }
}

/* Runs a removal; "not there" is fine (the namespace or QEMU took it already). */
static void remove_step(int r, struct error *err, const char *what, const char *name)
{
    if (r < 0 && r != -ENODEV && r != -ENOENT && r != -EINVAL)
        log_warn("pod network: remove %s %s: %s", what, name, err->msg);
    error_clear(err);
}

void pod_net_unplumb_recorded(const char *state_dir)
{
    _cleanup_free_ char *path = record_path(state_dir);
    _cleanup_free_ char *text = NULL;
    size_t len;
    if (fs_read_file(path, RECORD_MAX, &text, &len, NULL) < 0)
        return;
    struct record rec = {0};
    record_parse(text, &rec);
    struct error err = ERROR_INIT;
    struct nl_sock host, pod;
    /* A tap still in the host's namespace: the shim stopped before it was moved. */
    if (nl_open(&host, NULL, &err) == 0) {
        for (size_t i = 0; i < rec.n_taps; i++)
            remove_step(link_delete(&host, rec.taps[i], &err), &err, "tap", rec.taps[i]);
        nl_close(&host);
    }
    error_clear(&err);
    /* No namespace left: CNI removed it, and everything in it went with it. */
    if (rec.netns && nl_open(&pod, rec.netns, &err) == 0) {
        for (size_t i = 0; i < rec.n_taps; i++)
            remove_step(link_delete(&pod, rec.taps[i], &err), &err, "tap", rec.taps[i]);
        for (size_t i = 0; i < rec.n_qdiscs; i++) {
            int index = link_index(&pod, rec.qdiscs[i], &err);
            remove_step(index < 0 ? index : del_ingress(&pod, index, &err), &err,
                        "the ingress qdisc of", rec.qdiscs[i]);
        }
        nl_close(&pod);
    }
    error_clear(&err);
    record_free(&rec);
    if (unlink(path) < 0 && errno != ENOENT)
        log_warn("pod network: remove %s: %s", path, strerror(errno));
}
