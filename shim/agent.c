/* The agent client: one ttrpc connection to the guest and a typed function per RPC. */
#include "shim/agent.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "google/protobuf/empty.pb-c.h"
#include "kata/health.pb-c.h"
#include "lib/cleanup.h"
#include "lib/clock.h"
#include "lib/xalloc.h"
#include "ttrpc/client.h"
#include "ttrpc/dial.h"
#include "shim/timing.h"

#define AGENT_SERVICE "grpc.AgentService"
#define HEALTH_SERVICE "grpc.Health"
#define NO_DEADLINE 0

struct agent {
    struct ttrpc_client *client;
    struct agent_timeouts t;
};

int agent_connect(const char *address, int64_t dial_timeout_ms, const struct agent_timeouts *t,
                  struct agent **out, struct error *err)
{
    int64_t since = now_us();
    int fd = ttrpc_dial(address, dial_timeout_ms, err);
    timing_add_wait(TIMING_GUEST_BOOT, since);
    if (fd < 0)
        return error_wrap(err, "connect to the agent at %s", address);
    struct agent *a = xcalloc(1, sizeof(*a));
    a->client = ttrpc_client_new(fd);
    a->t = *t;
    *out = a;
    return 0;
}

void agent_close(struct agent *a)
{
    if (a)
        ttrpc_client_close(a->client);
}

void agent_free(struct agent *a)
{
    if (!a)
        return;
    ttrpc_client_free(a->client);
    free(a);
}

/* containerd 1.6 keeps only some gRPC codes (NotFound, AlreadyExists, FailedPrecondition, ...)
 * and shows the others as "unknown": for those, the message says the code itself. */
static bool names_lost_code(int code)
{
    return code == GRPC_PERMISSION_DENIED || code == GRPC_UNAUTHENTICATED ||
           code == GRPC_RESOURCE_EXHAUSTED || code == GRPC_INTERNAL || code == GRPC_DATA_LOSS ||
           code == GRPC_ABORTED || code == GRPC_OUT_OF_RANGE;
}

/* "PERMISSION_DENIED" -> "permission denied" */
static const char *code_text(int code)
{
    switch (code) {
    case GRPC_PERMISSION_DENIED:
        return "permission denied";
    case GRPC_UNAUTHENTICATED:
        return "unauthenticated";
    case GRPC_RESOURCE_EXHAUSTED:
        return "resource exhausted";
    case GRPC_INTERNAL:
        return "internal error";
    case GRPC_DATA_LOSS:
        return "data loss";
    case GRPC_ABORTED:
        return "aborted";
    case GRPC_OUT_OF_RANGE:
        return "out of range";
    default:
        return grpc_code_name(code);
    }
}

/* One call; the error names the RPC so it reads well in containerd's log. */
static int call(struct agent *a, const char *service, const char *method,
                const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
                ProtobufCMessage **resp, int64_t timeout_ms, struct error *err)
{
    ProtobufCMessage *ignored = NULL;
    if (!resp_desc)
        resp_desc = &google__protobuf__empty__descriptor;
    int64_t since = now_us();
    int r = ttrpc_client_call(a->client, service, method, req, resp_desc, resp ? resp : &ignored,
                              timeout_ms, NULL, 0, err);
    timing_add_wait(TIMING_AGENT, since);
    if (ignored)
        protobuf_c_message_free_unpacked(ignored, NULL);
    if (r < 0 && names_lost_code(err->code))
        return error_wrap(err, "agent %s: %s", method, code_text(err->code));
    if (r < 0)
        return error_wrap(err, "agent %s", method);
    return 0;
}

static int call_agent(struct agent *a, const char *method, const ProtobufCMessage *req,
                      struct error *err)
{
    return call(a, AGENT_SERVICE, method, req, NULL, NULL, a->t.request_ms, err);
}

int agent_health_check(struct agent *a, struct error *err)
{
    Grpc__CheckRequest req = GRPC__CHECK_REQUEST__INIT;
    Grpc__HealthCheckResponse *resp = NULL;
    if (call(a, HEALTH_SERVICE, "Check", &req.base, &grpc__health_check_response__descriptor,
             (ProtobufCMessage **)&resp, a->t.health_check_ms, err) < 0)
        return -1;
    int status = resp->status;
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    if (status != GRPC__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING)
        return error_set(err, GRPC_UNAVAILABLE, "agent Check: the agent is not serving (status %d)",
                         status);
    return 0;
}

int agent_set_policy(struct agent *a, const char *policy, struct error *err)
{
    Grpc__SetPolicyRequest req = GRPC__SET_POLICY_REQUEST__INIT;
    req.policy = (char *)policy;
    return call_agent(a, "SetPolicy", &req.base, err);
}

int agent_create_sandbox(struct agent *a, const Grpc__CreateSandboxRequest *req, struct error *err)
{
    return call_agent(a, "CreateSandbox", &req->base, err);
}

int agent_update_interface(struct agent *a, Types__Interface *iface, struct error *err)
{
    Grpc__UpdateInterfaceRequest req = GRPC__UPDATE_INTERFACE_REQUEST__INIT;
    req.interface = iface;
    ProtobufCMessage *resp = NULL; /* the interface as configured: nothing the shim needs */
    if (call(a, AGENT_SERVICE, "UpdateInterface", &req.base, &types__interface__descriptor, &resp,
             a->t.request_ms, err) < 0)
        return -1;
    protobuf_c_message_free_unpacked(resp, NULL);
    return 0;
}

int agent_update_routes(struct agent *a, Types__Route **routes, size_t n, struct error *err)
{
    Grpc__Routes list = GRPC__ROUTES__INIT;
    list.routes = routes;
    list.n_routes = n;
    Grpc__UpdateRoutesRequest req = GRPC__UPDATE_ROUTES_REQUEST__INIT;
    req.routes = &list;
    ProtobufCMessage *resp = NULL; /* the guest's routes now */
    if (call(a, AGENT_SERVICE, "UpdateRoutes", &req.base, &grpc__routes__descriptor, &resp,
             a->t.request_ms, err) < 0)
        return -1;
    protobuf_c_message_free_unpacked(resp, NULL);
    return 0;
}

int agent_add_arp_neighbors(struct agent *a, Types__ARPNeighbor **neighbors, size_t n,
                            struct error *err)
{
    Grpc__ARPNeighbors list = GRPC__ARPNEIGHBORS__INIT;
    list.arpneighbors = neighbors;
    list.n_arpneighbors = n;
    Grpc__AddARPNeighborsRequest req = GRPC__ADD_ARPNEIGHBORS_REQUEST__INIT;
    req.neighbors = &list;
    return call_agent(a, "AddARPNeighbors", &req.base, err);
}

int agent_destroy_sandbox(struct agent *a, struct error *err)
{
    Grpc__DestroySandboxRequest req = GRPC__DESTROY_SANDBOX_REQUEST__INIT;
    return call_agent(a, "DestroySandbox", &req.base, err);
}

int agent_get_guest_details(struct agent *a, Grpc__GuestDetailsResponse **out, struct error *err)
{
    Grpc__GuestDetailsRequest req = GRPC__GUEST_DETAILS_REQUEST__INIT;
    req.mem_block_size = true;
    req.mem_hotplug_probe = true;
    return call(a, AGENT_SERVICE, "GetGuestDetails", &req.base,
                &grpc__guest_details_response__descriptor, (ProtobufCMessage **)out,
                a->t.request_ms, err);
}

/* A clean path below AGENT_COPY_FILE_DIR: what kata-agent accepts, checked on our side so that
 * nothing else ever reaches a guest. */
static bool copy_path_allowed(const char *path)
{
    size_t n = strlen(AGENT_COPY_FILE_DIR);
    if (!path || strncmp(path, AGENT_COPY_FILE_DIR, n) != 0 || !path[n])
        return false;
    for (const char *c = path + n; *c;) {
        size_t len = strcspn(c, "/");
        if (len == 0 || (len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
            return false;
        c += len;
        if (*c == '/' && !*++c)
            return false; /* a trailing slash */
    }
    return true;
}

int agent_copy_file_chunk(struct agent *a, const struct agent_file *f, uint64_t offset,
                          const void *data, size_t len, struct error *err)
{
    if (!copy_path_allowed(f->path))
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "copy %s: not a path below " AGENT_COPY_FILE_DIR
                         " without \".\" or \"..\", the only place the agent takes files",
                         f->path ? f->path : "(null)");
    Grpc__CopyFileRequest req = GRPC__COPY_FILE_REQUEST__INIT;
    req.path = (char *)f->path;
    req.file_size = (int64_t)f->size;
    req.file_mode = f->mode;
    /* Missing parent directories: runtime-rs's S_IFDIR | 0750 (the agent takes & 0777). */
    req.dir_mode = S_IFDIR | 0750;
    req.uid = (int32_t)f->uid;
    req.gid = (int32_t)f->gid;
    req.offset = (int64_t)offset;
    req.data.data = len ? (uint8_t *)data : NULL;
    req.data.len = len;
    if (call_agent(a, "CopyFile", &req.base, err) < 0)
        return error_wrap(err, "copy %s", f->path);
    return 0;
}

int agent_copy_file(struct agent *a, const char *path, const void *data, size_t len, uint32_t mode,
                    struct error *err)
{
    struct agent_file f = {.path = path, .mode = mode, .size = len};
    size_t off = 0;
    do { /* an empty file is one empty chunk */
        size_t n = len - off < AGENT_COPY_CHUNK ? len - off : AGENT_COPY_CHUNK;
        if (agent_copy_file_chunk(a, &f, off, (const uint8_t *)data + off, n, err) < 0)
            return -1;
        off += n;
    } while (off < len);
    return 0;
}

int agent_get_termination_log(struct agent *a, const char *cid, char **data, struct error *err)
{
    Grpc__GetDiagnosticDataRequest req = GRPC__GET_DIAGNOSTIC_DATA_REQUEST__INIT;
    req.log_type = "termination_log";
    req.container_id = (char *)cid;
    Grpc__GetDiagnosticDataResponse *resp = NULL;
    *data = NULL;
    if (call(a, AGENT_SERVICE, "GetDiagnosticData", &req.base,
             &grpc__get_diagnostic_data_response__descriptor, (ProtobufCMessage **)&resp,
             a->t.request_ms, err) < 0)
        return error_wrap(err, "read the termination message of container %s", cid);
    *data = xstrdup(resp->data ? resp->data : "");
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return 0;
}

int agent_create_container(struct agent *a, const Grpc__CreateContainerRequest *req,
                           struct error *err)
{
    return call(a, AGENT_SERVICE, "CreateContainer", &req->base, NULL, NULL,
                a->t.create_container_ms, err);
}

int agent_start_container(struct agent *a, const char *cid, struct error *err)
{
    Grpc__StartContainerRequest req = GRPC__START_CONTAINER_REQUEST__INIT;
    req.container_id = (char *)cid;
    return call_agent(a, "StartContainer", &req.base, err);
}

int agent_remove_container(struct agent *a, const char *cid, uint32_t timeout_s, struct error *err)
{
    Grpc__RemoveContainerRequest req = GRPC__REMOVE_CONTAINER_REQUEST__INIT;
    req.container_id = (char *)cid;
    req.timeout = timeout_s;
    /* The agent may wait timeout_s for the processes; give the call that plus the usual. */
    int64_t deadline =
        a->t.request_ms > 0 ? a->t.request_ms + (int64_t)timeout_s * 1000 : NO_DEADLINE;
    return call(a, AGENT_SERVICE, "RemoveContainer", &req.base, NULL, NULL, deadline, err);
}

int agent_exec_process(struct agent *a, const Grpc__ExecProcessRequest *req, struct error *err)
{
    return call_agent(a, "ExecProcess", &req->base, err);
}

int agent_signal_process(struct agent *a, const char *cid, const char *exec_id, uint32_t signal,
                         struct error *err)
{
    Grpc__SignalProcessRequest req = GRPC__SIGNAL_PROCESS_REQUEST__INIT;
    req.container_id = (char *)cid;
    req.exec_id = (char *)exec_id;
    req.signal = signal;
    return call_agent(a, "SignalProcess", &req.base, err);
}

int agent_wait_process(struct agent *a, const char *cid, const char *exec_id, int32_t *status,
                       struct error *err)
{
    Grpc__WaitProcessRequest req = GRPC__WAIT_PROCESS_REQUEST__INIT;
    req.container_id = (char *)cid;
    req.exec_id = (char *)exec_id;
    Grpc__WaitProcessResponse *resp = NULL;
    if (call(a, AGENT_SERVICE, "WaitProcess", &req.base, &grpc__wait_process_response__descriptor,
             (ProtobufCMessage **)&resp, NO_DEADLINE, err) < 0)
        return -1;
    *status = resp->status;
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return 0;
}

int agent_pause_container(struct agent *a, const char *cid, struct error *err)
{
    Grpc__PauseContainerRequest req = GRPC__PAUSE_CONTAINER_REQUEST__INIT;
    req.container_id = (char *)cid;
    return call_agent(a, "PauseContainer", &req.base, err);
}

int agent_resume_container(struct agent *a, const char *cid, struct error *err)
{
    Grpc__ResumeContainerRequest req = GRPC__RESUME_CONTAINER_REQUEST__INIT;
    req.container_id = (char *)cid;
    return call_agent(a, "ResumeContainer", &req.base, err);
}

int agent_update_container(struct agent *a, const char *cid, Grpc__LinuxResources *resources,
                           struct error *err)
{
    Grpc__UpdateContainerRequest req = GRPC__UPDATE_CONTAINER_REQUEST__INIT;
    req.container_id = (char *)cid;
    req.resources = resources;
    return call_agent(a, "UpdateContainer", &req.base, err);
}

int agent_stats_container(struct agent *a, const char *cid, Grpc__StatsContainerResponse **out,
                          struct error *err)
{
    Grpc__StatsContainerRequest req = GRPC__STATS_CONTAINER_REQUEST__INIT;
    req.container_id = (char *)cid;
    return call(a, AGENT_SERVICE, "StatsContainer", &req.base,
                &grpc__stats_container_response__descriptor, (ProtobufCMessage **)out,
                a->t.request_ms, err);
}

static int read_stream(struct agent *a, const char *method, const char *cid, const char *exec_id,
                       uint32_t max, uint8_t **data, size_t *len, struct error *err)
{
    Grpc__ReadStreamRequest req = GRPC__READ_STREAM_REQUEST__INIT;
    req.container_id = (char *)cid;
    req.exec_id = (char *)exec_id;
    req.len = max;
    Grpc__ReadStreamResponse *resp = NULL;
    if (call(a, AGENT_SERVICE, method, &req.base, &grpc__read_stream_response__descriptor,
             (ProtobufCMessage **)&resp, NO_DEADLINE, err) < 0)
        return -1;
    *len = resp->data.len;
    *data = NULL;
    if (resp->data.len > 0) {
        *data = xmalloc(resp->data.len);
        memcpy(*data, resp->data.data, resp->data.len);
    }
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return 0;
}

int agent_read_stdout(struct agent *a, const char *cid, const char *exec_id, uint32_t max,
                      uint8_t **data, size_t *len, struct error *err)
{
    return read_stream(a, "ReadStdout", cid, exec_id, max, data, len, err);
}

int agent_read_stderr(struct agent *a, const char *cid, const char *exec_id, uint32_t max,
                      uint8_t **data, size_t *len, struct error *err)
{
    return read_stream(a, "ReadStderr", cid, exec_id, max, data, len, err);
}

int agent_write_stdin(struct agent *a, const char *cid, const char *exec_id, const void *data,
                      size_t len, struct error *err)
{
    Grpc__WriteStreamRequest req = GRPC__WRITE_STREAM_REQUEST__INIT;
    req.container_id = (char *)cid;
    req.exec_id = (char *)exec_id;
    size_t off = 0;
    while (off < len) {
        req.data.data = (uint8_t *)data + off;
        req.data.len = len - off;
        Grpc__WriteStreamResponse *resp = NULL;
        /* No deadline: a process that does not read its stdin makes the agent wait, as a
         * full pipe would. */
        if (call(a, AGENT_SERVICE, "WriteStdin", &req.base,
                 &grpc__write_stream_response__descriptor, (ProtobufCMessage **)&resp, NO_DEADLINE,
                 err) < 0)
            return -1;
        size_t took = resp->len;
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        if (took == 0 || took > len - off)
            return error_set(err, GRPC_INTERNAL, "agent WriteStdin: took %zu of %zu bytes", took,
                             len - off);
        off += took;
    }
    return 0;
}

int agent_close_stdin(struct agent *a, const char *cid, const char *exec_id, struct error *err)
{
    Grpc__CloseStdinRequest req = GRPC__CLOSE_STDIN_REQUEST__INIT;
    req.container_id = (char *)cid;
    req.exec_id = (char *)exec_id;
    return call_agent(a, "CloseStdin", &req.base, err);
}

int agent_tty_win_resize(struct agent *a, const char *cid, const char *exec_id, uint32_t rows,
                         uint32_t columns, struct error *err)
{
    Grpc__TtyWinResizeRequest req = GRPC__TTY_WIN_RESIZE_REQUEST__INIT;
    req.container_id = (char *)cid;
    req.exec_id = (char *)exec_id;
    req.row = rows;
    req.column = columns;
    return call_agent(a, "TtyWinResize", &req.base, err);
}

int agent_get_oom_event(struct agent *a, char **cid, struct error *err)
{
    Grpc__GetOOMEventRequest req = GRPC__GET_OOMEVENT_REQUEST__INIT;
    Grpc__OOMEvent *resp = NULL;
    if (call(a, AGENT_SERVICE, "GetOOMEvent", &req.base, &grpc__oomevent__descriptor,
             (ProtobufCMessage **)&resp, NO_DEADLINE, err) < 0)
        return -1;
    *cid = xstrdup(resp->container_id);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return 0;
}

/* What kata-agent answers for a process or container it does not know (kata-containers
 * src/agent/src/sandbox.rs find_container_process and rpc.rs). The message is the agent's whole
 * status message; call() puts "agent <Method>: " (and for INTERNAL "internal error: ") before it.
 *
 * Since Kata 3.25 (commit db0991280889, "agent: add SandboxError enum"; in 3.25.0, 4.0.0 and
 * 4.1.0), find_container_process fails with a SandboxError. SignalProcess, WaitProcess,
 * ReadStdout/ReadStderr, CloseStdin and TtyWinResize send it through sandbox_err_to_ttrpc, as
 * ttrpc_error(code, err), whose message is the error's Debug form, format!("{err:?}"):
 *   NOT_FOUND        "InitProcessNotFound"  exec id "": the init was waited for
 *   NOT_FOUND        "InvalidExecId"        an exec id that was waited for, or never was
 *   INVALID_ARGUMENT "InvalidContainerId"   no such container
 * WriteStdin (do_write_stream) passes the SandboxError through anyhow (`?`), and map_ttrpc_err
 * sends it INTERNAL with anyhow's Debug form, which is the error's Display text:
 *   INTERNAL "Process not found: init process missing", "Process not found: invalid exec id",
 *            "Invalid container id"
 * Before 3.25 the same lookup failed with anyhow errors, sent INTERNAL by map_ttrpc_err(same):
 *   INTERNAL "cannot find init process!", "Invalid exec id", "Invalid container id"
 * (anyhow's Debug form may add "\n\nStack backtrace:..." when the agent runs with
 * RUST_BACKTRACE.) Lookups that never went through SandboxError are still anyhow, in every
 * version:
 *   INTERNAL "Invalid container id"        RemoveContainer (do_remove_container), StartContainer,
 *                                           and a WaitProcess whose container went while it
 *                                           waited
 *   INTERNAL "Invalid container id <cid>"  SignalProcess of a whole container (exec id "" and
 *                                           SIGKILL: get_pids)
 *   INTERNAL "Invalid container id: <cid>" GetDiagnosticData (do_read_termination_log)
 * Not recognized: before 3.25, CloseStdin sent INVALID_ARGUMENT and TtyWinResize UNAVAILABLE
 * "\"invalid argument: ...\"" (quoted); the shim never asks about those two. */
static const struct gone_form {
    int code;
    const char *text;
    bool with_id; /* may be followed by " <cid>" or ": <cid>" */
} gone_forms[] = {
    {GRPC_NOT_FOUND, "InitProcessNotFound", false},
    {GRPC_NOT_FOUND, "InvalidExecId", false},
    {GRPC_INVALID_ARGUMENT, "InvalidContainerId", false},
    {GRPC_INTERNAL, "Process not found: init process missing", false},
    {GRPC_INTERNAL, "Process not found: invalid exec id", false},
    {GRPC_INTERNAL, "cannot find init process!", false},
    {GRPC_INTERNAL, "Invalid exec id", false},
    {GRPC_INTERNAL, "Invalid container id", true},
};

/* Whether s, from `end` on, is the rest of the agent's message: nothing, a line break (anyhow's
 * backtrace), or with with_id one container id after " " or ": ". */
static bool ends_message(const char *end, bool with_id)
{
    if (*end == '\0' || *end == '\n')
        return true;
    if (!with_id || (*end != ' ' && *end != ':'))
        return false;
    end += *end == ':' ? (end[1] == ' ' ? 2 : 1) : 1;
    size_t id = strcspn(end, " \n");
    return id > 0 && (end[id] == '\0' || end[id] == '\n');
}

/* Whether text is the agent's whole message in msg: at its start or after a ": " that some
 * prefix ended with, and ending the message. */
static bool is_agent_message(const char *msg, const char *text, bool with_id)
{
    for (const char *s = msg; (s = strstr(s, text)); s++)
        if ((s == msg || (s - msg >= 2 && s[-2] == ':' && s[-1] == ' ')) &&
            ends_message(s + strlen(text), with_id))
            return true;
    return false;
}

bool agent_error_is_gone(const struct error *err)
{
    if (!err || !err->msg)
        return false;
    for (size_t i = 0; i < sizeof(gone_forms) / sizeof(gone_forms[0]); i++)
        if (err->code == gone_forms[i].code &&
            is_agent_message(err->msg, gone_forms[i].text, gone_forms[i].with_id))
            return true;
    return false;
}
