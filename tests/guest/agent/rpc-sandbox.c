/* Sandbox-wide RPCs of grpc.AgentService, grpc.Health, and registering both services. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "copyfile.h"
#include "kata/agent.pb-c.h"
#include "kata/health.pb-c.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "network.h"
#include "ns.h"
#include "policy.h"
#include "rpc.h"
#include "storage.h"
#include "util.h"

#define GUEST_RESOLV_CONF "/etc/resolv.conf"
#define SANDBOX_RESOLV_CONF KATA_SANDBOX_DIR "/resolv.conf"

#ifndef COCOON_VERSION
#define COCOON_VERSION "0"
#endif

static int do_check(void *user, const struct ttrpc_call *call, const ProtobufCMessage *req,
                    struct ttrpc_reply *reply, struct error *err)
{
    rpc_log(call, NULL, NULL);
    Grpc__HealthCheckResponse resp = GRPC__HEALTH_CHECK_RESPONSE__INIT;
    resp.status = GRPC__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
    ttrpc_reply_set(reply, &resp.base);
    return 0;
}

static int do_version(void *user, const struct ttrpc_call *call, const ProtobufCMessage *req,
                      struct ttrpc_reply *reply, struct error *err)
{
    rpc_log(call, NULL, NULL);
    Grpc__VersionCheckResponse resp = GRPC__VERSION_CHECK_RESPONSE__INIT;
    resp.grpc_version = "ttrpc";
    resp.agent_version = "cocoon-test-agent " COCOON_VERSION;
    ttrpc_reply_set(reply, &resp.base);
    return 0;
}

/* What a sandbox leaves in the agent: its shared namespaces, the pid namespace anchor, its
 * storages and the DNS bound over /etc/resolv.conf. */
static void sandbox_reset(void)
{
    pthread_mutex_lock(&agent.lock);
    int fds[] = {agent.shared_uts_fd, agent.shared_ipc_fd, agent.pidns_anchor_fd};
    agent.shared_uts_fd = agent.shared_ipc_fd = agent.pidns_anchor_fd = -1;
    bool resolv = agent.resolv_bound;
    agent.resolv_bound = false;
    free(agent.hostname);
    free(agent.sandbox_id);
    agent.hostname = agent.sandbox_id = NULL;
    pthread_mutex_unlock(&agent.lock);
    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
        if (fds[i] >= 0)
            close(fds[i]);
    if (resolv && umount2(GUEST_RESOLV_CONF, MNT_DETACH) < 0)
        log_warn("unmount %s: %s", GUEST_RESOLV_CONF, strerror(errno));
    storage_reset();
}

/* kata-agent's setup_guest_dns: the entries, trimmed and joined by "\n", in
 * /run/kata-containers/sandbox/resolv.conf, bound over the guest's own /etc/resolv.conf (when
 * it exists). Containers get theirs from their own mounts. */
static int setup_guest_dns(char **dns, size_t n, struct error *err)
{
    struct stat st;
    if (n == 0 || stat(GUEST_RESOLV_CONF, &st) < 0)
        return 0;
    if (S_ISDIR(st.st_mode))
        return error_set(err, GRPC_FAILED_PRECONDITION, "%s is a directory", GUEST_RESOLV_CONF);
    _cleanup_free_ char *content = xstrdup("");
    for (size_t i = 0; i < n; i++) {
        const char *b = dns[i];
        while (isspace((unsigned char)*b))
            b++;
        size_t l = strlen(b);
        while (l && isspace((unsigned char)b[l - 1]))
            l--;
        char *next = xasprintf("%s%s%.*s", content, i ? "\n" : "", (int)l, b);
        free(content);
        content = next;
    }
    if (mkdir_p(KATA_SANDBOX_DIR, 0755, err) < 0)
        return -1;
    _cleanup_close_ int fd =
        open(SANDBOX_RESOLV_CONF, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || fs_write_all(fd, content, strlen(content)) < 0)
        return error_set_errno(err, errno, "write %s", SANDBOX_RESOLV_CONF);
    if (mount(SANDBOX_RESOLV_CONF, GUEST_RESOLV_CONF, NULL, MS_BIND, NULL) < 0)
        return error_set_errno(err, errno, "failed to setup guest DNS: bind %s on %s",
                               SANDBOX_RESOLV_CONF, GUEST_RESOLV_CONF);
    pthread_mutex_lock(&agent.lock);
    agent.resolv_bound = true;
    pthread_mutex_unlock(&agent.lock);
    return 0;
}

/* kata-agent's create_sandbox: /run/kata-containers wiped and made again, the shared UTS
 * (with the hostname) and IPC namespaces, the storages, the DNS. */
static int create_sandbox(const Grpc__CreateSandboxRequest *r, struct error *err)
{
    if (policy_check_create_sandbox(r, err) < 0)
        return -1;
    if (r->n_kernel_modules)
        return error_set(err, GRPC_UNIMPLEMENTED,
                         "CreateSandbox: kernel_modules (%s, ...): the test agent loads no kernel "
                         "modules",
                         r->kernel_modules[0]->name);
    if (mkdir_p(agent.cfg.state_dir, 0755, err) < 0)
        return -1;
    sandbox_reset();
    _cleanup_(error_clearp) struct error wipe_err = ERROR_INIT;
    if (rm_rf(KATA_DIR, &wipe_err) < 0)
        log_warn("CreateSandbox: %s", wipe_err.msg); /* a mount under it, say: Kata ignores it */
    if (mkdir_p(KATA_DIR, 0755, err) < 0)
        return -1;
    int uts, ipc;
    if (ns_shared_create(r->hostname, &uts, &ipc, err) < 0)
        return -1;
    pthread_mutex_lock(&agent.lock);
    agent.hostname = r->hostname && *r->hostname ? xstrdup(r->hostname) : NULL;
    agent.sandbox_id = r->sandbox_id && *r->sandbox_id ? xstrdup(r->sandbox_id) : NULL;
    agent.shared_uts_fd = uts;
    agent.shared_ipc_fd = ipc;
    pthread_mutex_unlock(&agent.lock);
    char **refs = NULL; /* the sandbox's references last until the next reset */
    size_t n_refs = 0;
    int ret = storage_add(r->storages, r->n_storages, false, &refs, &n_refs, err);
    for (size_t i = 0; i < n_refs; i++)
        free(refs[i]);
    free(refs);
    if (ret < 0)
        return -1;
    if (r->guest_hook_path && *r->guest_hook_path)
        log_warn("CreateSandbox: guest_hook_path %s: the test agent runs no hooks",
                 r->guest_hook_path);
    if (setup_guest_dns(r->dns, r->n_dns, err) < 0)
        return -1;
    log_info("sandbox %s created (hostname %s)", r->sandbox_id ? r->sandbox_id : "",
             r->hostname ? r->hostname : "");
    return 0;
}

static int do_create_sandbox(void *user, const struct ttrpc_call *call, const ProtobufCMessage *req,
                             struct ttrpc_reply *reply, struct error *err)
{
    rpc_log(call, NULL, NULL);
    return rpc_done(call, create_sandbox((const void *)req, err), err);
}

void destroy_all_containers(void)
{
    for (;;) {
        pthread_mutex_lock(&agent.lock);
        _cleanup_free_ char *id = agent.containers ? xstrdup(agent.containers->id) : NULL;
        pthread_mutex_unlock(&agent.lock);
        if (!id)
            return;
        _cleanup_(error_clearp) struct error err = ERROR_INIT;
        if (container_remove(id, 10, &err) < 0)
            log_warn("remove container %s: %s", id, err.msg);
    }
}

static int do_destroy_sandbox(void *user, const struct ttrpc_call *call,
                              const ProtobufCMessage *req, struct ttrpc_reply *reply,
                              struct error *err)
{
    rpc_log(call, NULL, NULL);
    destroy_all_containers();
    sandbox_reset();
    policy_reset(); /* as a new VM would start: with the init-data's policy, or none */
    return 0;
}

static uint64_t mem_block_size(void)
{
    _cleanup_free_ char *s =
        read_small_file("/sys/devices/system/memory/block_size_bytes", 64, NULL, NULL);
    return s ? strtoull(s, NULL, 16) : 0;
}

static int do_guest_details(void *user, const struct ttrpc_call *call, const ProtobufCMessage *req,
                            struct ttrpc_reply *reply, struct error *err)
{
    const Grpc__GuestDetailsRequest *r = (const void *)req;
    rpc_log(call, NULL, NULL);
    char *storage_handlers[] = {"image_guest_pull"};
    Grpc__AgentDetails details = GRPC__AGENT_DETAILS__INIT;
    details.version = COCOON_VERSION;
    details.init_daemon = getpid() == 1;
    details.storage_handlers = storage_handlers;
    details.n_storage_handlers = 1;
    details.supports_seccomp = false;
    Grpc__GuestDetailsResponse resp = GRPC__GUEST_DETAILS_RESPONSE__INIT;
    resp.mem_block_size_bytes = r->mem_block_size ? mem_block_size() : 0;
    resp.agent_details = &details;
    resp.support_mem_hotplug_probe = false;
    ttrpc_reply_set(reply, &resp.base);
    return 0;
}

static int do_copy_file(void *user, const struct ttrpc_call *call, const ProtobufCMessage *req,
                        struct ttrpc_reply *reply, struct error *err)
{
    const Grpc__CopyFileRequest *r = (const void *)req;
    log_debug("rpc CopyFile path=%s offset=%lld len=%zu size=%lld", r->path, (long long)r->offset,
              r->data.len, (long long)r->file_size);
    if (policy_check_copy_file(r, err) < 0)
        return rpc_done(call, -1, err);
    return rpc_done(call, copy_file(r, err), err);
}

static int do_set_policy(void *user, const struct ttrpc_call *call, const ProtobufCMessage *req,
                         struct ttrpc_reply *reply, struct error *err)
{
    const Grpc__SetPolicyRequest *r = (const void *)req;
    log_debug("rpc SetPolicy (%zu bytes)", r->policy ? strlen(r->policy) : 0); /* never the text */
    if (policy_check_set_policy(err) < 0)
        return rpc_done(call, -1, err);
    policy_set(r->policy);
    return 0;
}

#define METHOD(name, type, fn)                                                                     \
    {                                                                                              \
        name, &grpc__##type##__descriptor, fn                                                      \
    }

static const struct ttrpc_method health_methods[] = {
    METHOD("Check", check_request, do_check),
    METHOD("Version", check_request, do_version),
};

static const struct ttrpc_method sandbox_methods[] = {
    METHOD("CreateSandbox", create_sandbox_request, do_create_sandbox),
    METHOD("DestroySandbox", destroy_sandbox_request, do_destroy_sandbox),
    METHOD("GetGuestDetails", guest_details_request, do_guest_details),
    METHOD("CopyFile", copy_file_request, do_copy_file),
    METHOD("SetPolicy", set_policy_request, do_set_policy),
};

int rpc_register(struct ttrpc_server *srv, struct error *err)
{
    size_t n = sizeof(sandbox_methods) / sizeof(sandbox_methods[0]);
    size_t total = n + n_container_methods + n_network_methods;
    /* One table per service name: the server keeps a pointer, so it lives as long as we do. */
    static struct ttrpc_method *all;
    all = xcalloc(total, sizeof(*all));
    memcpy(all, sandbox_methods, sizeof(sandbox_methods));
    memcpy(all + n, container_methods, n_container_methods * sizeof(*all));
    memcpy(all + n + n_container_methods, network_methods, n_network_methods * sizeof(*all));
    if (ttrpc_server_register(srv, "grpc.Health", health_methods,
                              sizeof(health_methods) / sizeof(health_methods[0]), NULL, err) < 0)
        return -1;
    return ttrpc_server_register(srv, "grpc.AgentService", all, total, NULL, err);
}
