/* A pod's VM and its agent. */
#include "shim/sandbox.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/cleanup.h"
#include "lib/clock.h"
#include "lib/fs.h"
#include "lib/log.h"
#include "lib/thread.h"
#include "lib/xalloc.h"
#include "shim/sandbox-vm.h"
#include "shim/commands.h"
#include "shim/guest-files.h"
#include "shim/pod-net.h"
#include "shim/timing.h"
#include "vmm/domain-xml.h"
#include "vmm/vm-helper.h"

#define AGENT_VSOCK_PORT 1024

struct sandbox {
    char *id;
    char *state_dir;
    char *helper; /* cocoon-vm */
    char *uri;    /* libvirt's, NULL for its default */
    char *domain; /* the domain's name once it was created */
    struct qemu_watch *watch;
    struct agent *agent;
    uint32_t pid;
    uint32_t cid;
    atomic_bool stopping; /* sandbox_stop was asked: a STOPPED event is expected, not a death */
    atomic_bool killed;   /* sandbox_kill destroyed it: a death, but not a surprise */
    atomic_bool dead;
    sandbox_death_fn on_death;
    void *user;
};

static void on_vm_event(void *user, enum vmm_event event, const char *detail)
{
    struct sandbox *s = user;
    if (event == VMM_EVENT_CRASHED)
        log_warn("sandbox %s: the VM crashed (%s)", s->id, detail);
    if (event != VMM_EVENT_STOPPED || atomic_exchange(&s->dead, true))
        return;
    /* Every call still waiting on the guest fails at once with UNAVAILABLE. */
    agent_close(s->agent);
    if (atomic_load(&s->stopping))
        return;
    if (!atomic_load(&s->killed))
        log_error("sandbox %s: the VM stopped on its own (%s)", s->id, detail);
    if (s->on_death)
        s->on_death(s->user, detail);
}

static int agent_address(struct sandbox *s, const struct vm_spec *spec, char **out,
                         struct error *err)
{
    if (spec->agent_channel == VM_AGENT_SERIAL) {
        *out = xasprintf("virtio-serial://%s", spec->agent_socket);
        return 0;
    }
    if (s->cid == 0)
        return error_set(err, GRPC_FAILED_PRECONDITION,
                         "domain %s has no vsock CID (no <vsock> device, or the driver assigned "
                         "no address)",
                         s->domain);
    *out = xasprintf("vsock://%u:%d", s->cid, AGENT_VSOCK_PORT);
    return 0;
}

/* Creates the domain through cocoon-vm and watches its QEMU. */
static int start_domain(struct sandbox *s, const char *name, const char *xml, struct error *err)
{
    struct vm_started started;
    int64_t since = now_us();
    int r = vm_helper_create(s->helper, s->uri, xml, &started, err);
    timing_add_wait(TIMING_VM_HELPER, since);
    if (r < 0)
        return -1;
    s->domain = xstrdup(name);
    s->pid = started.pid;
    s->cid = started.cid;
    if (s->pid == 0) {
        log_warn("sandbox %s: libvirt does not tell the domain's QEMU pid (not qemu:///system); "
                 "its end is noticed only when the agent connection closes",
                 s->id);
        return 0;
    }
    return qemu_watch_start(s->pid, s->domain, on_vm_event, s, &s->watch, err);
}

#define MAX_HOSTNAME 64 /* Kata's maxHostnameLen */

static int create_in_guest(struct sandbox *s, const struct sandbox_guest *guest, struct error *err)
{
    Grpc__CreateSandboxRequest req = GRPC__CREATE_SANDBOX_REQUEST__INIT;
    req.sandbox_id = s->id;
    _cleanup_free_ char *hostname = xstrndup(guest->hostname ? guest->hostname : "", MAX_HOSTNAME);
    req.hostname = hostname;
    req.dns = (char **)guest->dns;
    req.n_dns = guest->n_dns;
    Grpc__Storage *shm = guest->shm_size ? guest_files_shm_storage(guest->shm_size) : NULL;
    req.storages = shm ? &shm : NULL;
    req.n_storages = shm ? 1 : 0;
    int r = agent_create_sandbox(s->agent, &req, err);
    if (shm)
        protobuf_c_message_free_unpacked(&shm->base, NULL);
    return r;
}

/* Reads the pod's network namespace, makes a tap per interface to mirror and adds the VM's NICs
 * on them. */
static int plan_network(struct sandbox *s, const struct sandbox_guest *g, struct pod_net_plan *plan,
                        struct vm_spec *spec, struct error *err)
{
    if (!g->has_netns || !g->netns) {
        log_info("sandbox %s: %s: the VM gets no pod network device", s->id,
                 g->has_netns ? "its network namespace is a new, empty one"
                              : "no network namespace in its spec (the host's network)");
        return 0;
    }
    struct pod_net_scan scan;
    if (pod_net_scan(g->netns, &scan, err) < 0)
        return error_wrap(err, "pod network");
    int r = pod_net_plan(&scan, s->id, plan, err);
    pod_net_scan_free(&scan);
    if (r < 0)
        return error_wrap(err, "pod network %s", g->netns);
    if (plan->n_nics == 0)
        log_info("sandbox %s: network namespace %s has no interface with an address: the VM gets "
                 "no pod network device",
                 s->id, g->netns);
    spec->nics = xcalloc(plan->n_nics ? plan->n_nics : 1, sizeof(*spec->nics));
    spec->n_nics = plan->n_nics;
    for (size_t i = 0; i < plan->n_nics; i++) {
        spec->nics[i].tap = xstrdup(plan->nics[i].tap);
        memcpy(spec->nics[i].mac, plan->nics[i].mac, 6);
        spec->nics[i].mtu = plan->nics[i].mtu;
    }
    return plan->n_nics ? pod_net_make_taps(plan, g->netns, s->state_dir, err) : 0;
}

/* The guest's side of the network, in Kata's order (kata_agent.go setupNetworks). */
static int configure_network(struct sandbox *s, const struct pod_net_plan *plan, struct error *err)
{
    for (size_t i = 0; i < plan->n_interfaces; i++)
        if (agent_update_interface(s->agent, plan->interfaces[i], err) < 0)
            return error_wrap(err, "pod network: interface %s", plan->interfaces[i]->name);
    if (plan->n_routes && agent_update_routes(s->agent, plan->routes, plan->n_routes, err) < 0)
        return error_wrap(err, "pod network: routes");
    if (plan->n_neighbors &&
        agent_add_arp_neighbors(s->agent, plan->neighbors, plan->n_neighbors, err) < 0)
        return error_wrap(err, "pod network: neighbours");
    for (size_t i = 0; i < plan->n_nics; i++)
        log_info("sandbox %s: %s mirrored into the VM through tap %s", s->id, plan->nics[i].link,
                 plan->nics[i].tap);
    return 0;
}

/* Moving the taps into the pod's namespace waits for the kernel (an RCU grace period per move:
 * 15-25 ms on the project's machines), the guest's boot takes seconds, and nothing needs the
 * mirroring before UpdateInterface: so it runs beside the boot, on a thread of its own. */
struct plumbing {
    const struct pod_net_plan *plan;
    const char *netns, *state_dir;
    pthread_t thread;
    bool running;
    int result;
    int64_t took_us;
    struct error err;
};

#define PLUMBING_STACK (64 * 1024)

static void *plumb_main(void *arg)
{
    struct plumbing *p = arg;
    int64_t start = now_us();
    p->result = pod_net_plumb(p->plan, p->netns, p->state_dir, &p->err);
    p->took_us = now_us() - start;
    return NULL;
}

static void plumbing_start(struct plumbing *p)
{
    if (p->plan->n_nics == 0)
        return;
    p->running = thread_start(&p->thread, PLUMBING_STACK, plumb_main, p) == 0;
    if (!p->running) /* no thread to spare: do it here */
        plumb_main(p);
}

/* Waits for it; its error, if any, moves to err. */
static int plumbing_finish(struct plumbing *p, struct error *err)
{
    if (p->running)
        pthread_join(p->thread, NULL);
    p->running = false;
    if (p->result < 0) {
        error_move(err, &p->err);
        return error_wrap(err, "pod network");
    }
    return 0;
}

/* Every way out of boot waits for the thread: the teardown must not race it. */
static void plumbing_cleanup(struct plumbing *p)
{
    if (p->running)
        pthread_join(p->thread, NULL);
    error_clear(&p->err);
}

static int boot(struct sandbox *s, const struct config *cfg, const struct pod_annotations *anns,
                const struct sandbox_guest *guest, struct error *err)
{
    _cleanup_(vm_spec_free) struct vm_spec spec = {0};
    _cleanup_(initdata_freep) struct initdata *initdata = NULL;
    if (sandbox_vm_spec(cfg, s->id, anns->items, anns->len, &spec, &initdata, err) < 0)
        return -1;
    /* QEMU (often not root) creates the channel socket and writes the console log here. */
    if (mkdir(s->state_dir, 0755) < 0 && errno != EEXIST)
        return error_set_errno(err, errno, "create %s", s->state_dir);
    if (initdata && sandbox_vm_write_initdata(cfg, s->id, initdata, err) < 0)
        return -1;
    _cleanup_(pod_net_plan_free) struct pod_net_plan net_plan = {0};
    struct pod_net_plan *net = &net_plan;
    if (plan_network(s, guest, net, &spec, err) < 0)
        return -1;
    _cleanup_free_ char *xml = NULL;
    if (domain_xml_build(&spec, &xml, err) < 0)
        return -1;
    /* libvirt refuses some bad settings in words that do not name them ("No PCI buses
     * available" for an unknown machine type): the error says what was asked for. */
    if (start_domain(s, spec.name, xml, err) < 0)
        return error_wrap(err, "domain %s (%s, machine type %s)", spec.name,
                          spec.domain_type ? spec.domain_type : "kvm",
                          spec.machine_type ? spec.machine_type : "q35");
    log_info("sandbox %s: domain %s started (pid %u)", s->id, spec.name, s->pid);
    /* QEMU holds the taps now: they can move into the pod's namespace. */
    _cleanup_(plumbing_cleanup) struct plumbing plumbing = {
        .plan = net, .netns = guest->netns, .state_dir = s->state_dir};
    plumbing_start(&plumbing);

    _cleanup_free_ char *address = NULL;
    if (agent_address(s, &spec, &address, err) < 0)
        return -1;
    struct agent_timeouts t = {
        .request_ms = (int64_t)cfg->agent.request_timeout * 1000,
        .health_check_ms = (int64_t)cfg->agent.health_check_timeout * 1000,
        .create_container_ms = (int64_t)cfg->runtime.create_container_timeout * 1000,
    };
    /* Until the agent answers, the wait is the guest's boot: over virtio-serial the dial
     * succeeds at once and the first call waits. */
    enum timing_wait was = timing_count_as(TIMING_GUEST_BOOT);
    int r = agent_connect(address, (int64_t)cfg->agent.dial_timeout * 1000, &t, &s->agent, err);
    if (r == 0 && atomic_load(&s->dead)) /* died before the agent existed to be closed */
        agent_close(s->agent);
    if (r == 0)
        r = agent_health_check(s->agent, err);
    timing_count_as(was);
    if (r < 0)
        return -1;

    _cleanup_free_ char *policy = NULL;
    if (pod_policy(anns->items, anns->len, &policy, err) < 0 ||
        (policy && agent_set_policy(s->agent, policy, err) < 0))
        return -1;
    if (plumbing_finish(&plumbing, err) < 0)
        return -1;
    if (net->n_nics)
        log_info("sandbox %s: pod network plumbed in %.1f ms, beside the guest's boot", s->id,
                 plumbing.took_us / 1000.0);
    if (configure_network(s, net, err) < 0)
        return -1;
    return create_in_guest(s, guest, err);
}

int sandbox_start(const struct config *cfg, const char *id, const struct pod_annotations *anns,
                  const struct sandbox_guest *guest, sandbox_death_fn on_death, void *user,
                  struct sandbox **out, struct error *err)
{
    struct sandbox *s = xcalloc(1, sizeof(*s));
    s->id = xstrdup(id);
    s->state_dir = sandbox_state_dir(cfg, id);
    s->helper = shim_libexec_path(VM_HELPER_NAME);
    s->uri = cfg->hypervisor.uri && *cfg->hypervisor.uri ? xstrdup(cfg->hypervisor.uri) : NULL;
    s->on_death = on_death;
    s->user = user;
    if (boot(s, cfg, anns, guest, err) < 0) {
        error_wrap(err, "start the VM of sandbox %s", id);
        sandbox_free(s);
        return -1;
    }
    *out = s;
    return 0;
}

struct sandbox *sandbox_of_agent(const char *id, struct agent *agent)
{
    struct sandbox *s = xcalloc(1, sizeof(*s));
    s->id = xstrdup(id);
    s->agent = agent;
    return s;
}

struct agent *sandbox_agent(struct sandbox *s)
{
    return s->agent;
}

uint32_t sandbox_pid(const struct sandbox *s)
{
    return s->pid;
}

const char *sandbox_id(const struct sandbox *s)
{
    return s->id;
}

void sandbox_stop(struct sandbox *s)
{
    if (atomic_exchange(&s->stopping, true))
        return;
    _cleanup_(error_clear) struct error err = ERROR_INIT;
    if (s->agent && !atomic_load(&s->dead)) {
        if (agent_destroy_sandbox(s->agent, &err) < 0)
            log_warn("sandbox %s: %s", s->id, err.msg);
        error_clear(&err);
    }
    if (s->domain && vm_helper_destroy(s->helper, s->uri, s->domain, &err) < 0)
        log_error("sandbox %s: %s", s->id, err.msg);
    if (s->state_dir)
        pod_net_unplumb_recorded(s->state_dir);
    agent_close(s->agent);
}

int sandbox_kill(struct sandbox *s, const char *why, struct error *err)
{
    if (atomic_load(&s->stopping) || atomic_load(&s->dead))
        return 0;
    log_warn("sandbox %s: %s: destroying the VM", s->id, why);
    atomic_store(&s->killed, true);
    if (s->domain && vm_helper_destroy(s->helper, s->uri, s->domain, err) < 0) {
        atomic_store(&s->killed, false);
        return error_wrap(err, "sandbox %s", s->id);
    }
    /* The QEMU watch reports the same end soon; whichever comes first ends the processes. */
    on_vm_event(s, VMM_EVENT_STOPPED, "destroyed");
    return 0;
}

void sandbox_free(struct sandbox *s)
{
    if (!s)
        return;
    sandbox_stop(s);
    qemu_watch_stop(s->watch);
    agent_free(s->agent);
    _cleanup_(error_clear) struct error err = ERROR_INIT;
    if (s->state_dir && fs_remove_tree(s->state_dir, &err) < 0)
        log_warn("sandbox %s: %s", s->id, err.msg);
    free(s->state_dir);
    free(s->helper);
    free(s->uri);
    free(s->domain);
    free(s->id);
    free(s);
}
