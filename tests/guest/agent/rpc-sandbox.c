/* Sandbox-wide RPCs of grpc.AgentService, grpc.Health, and registering both services. */
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "agent.h"
#include "copyfile.h"
#include "kata/agent.pb-c.h"
#include "kata/health.pb-c.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "rpc.h"
#include "util.h"

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

static int do_create_sandbox(void *user, const struct ttrpc_call *call, const ProtobufCMessage *req,
                             struct ttrpc_reply *reply, struct error *err)
{
    const Grpc__CreateSandboxRequest *r = (const void *)req;
    rpc_log(call, NULL, NULL);
    if (mkdir_p(agent.cfg.state_dir, 0755, err) < 0)
        return rpc_done(call, -1, err);
    pthread_mutex_lock(&agent.lock);
    free(agent.hostname);
    free(agent.sandbox_id);
    agent.hostname = r->hostname && *r->hostname ? xstrdup(r->hostname) : NULL;
    agent.sandbox_id = r->sandbox_id && *r->sandbox_id ? xstrdup(r->sandbox_id) : NULL;
    pthread_mutex_unlock(&agent.lock);
    /* dns: the shim copies resolv.conf with CopyFile and mounts it; nothing to do here. */
    log_info("sandbox %s created (hostname %s)", r->sandbox_id ? r->sandbox_id : "",
             r->hostname ? r->hostname : "");
    return 0;
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
    pthread_mutex_lock(&agent.lock);
    free(agent.hostname);
    free(agent.sandbox_id);
    agent.hostname = agent.sandbox_id = NULL;
    pthread_mutex_unlock(&agent.lock);
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
    return rpc_done(call, copy_file(r, err), err);
}

static int do_set_policy(void *user, const struct ttrpc_call *call, const ProtobufCMessage *req,
                         struct ttrpc_reply *reply, struct error *err)
{
    const Grpc__SetPolicyRequest *r = (const void *)req;
    log_debug("rpc SetPolicy (%zu bytes)", r->policy ? strlen(r->policy) : 0); /* never the text */
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
    /* One table per service name: the server keeps a pointer, so it lives as long as we do. */
    static struct ttrpc_method *all;
    all = xcalloc(n + n_container_methods, sizeof(*all));
    memcpy(all, sandbox_methods, sizeof(sandbox_methods));
    memcpy(all + n, container_methods, n_container_methods * sizeof(*all));
    if (ttrpc_server_register(srv, "grpc.Health", health_methods,
                              sizeof(health_methods) / sizeof(health_methods[0]), NULL, err) < 0)
        return -1;
    return ttrpc_server_register(srv, "grpc.AgentService", all, n + n_container_methods, NULL, err);
}
