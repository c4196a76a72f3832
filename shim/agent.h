/* The agent client: typed calls to the Kata agent's `grpc.AgentService` and `grpc.Health` over one
 * ttrpc connection (a vsock socket or the virtio-serial channel; either way one byte stream, so
 * every call of the pod shares it: the ttrpc client multiplexes them).
 *
 * Every call is thread-safe and has a deadline: the configured request timeout, except for the
 * long polls (WaitProcess, ReadStdout/ReadStderr, GetOOMEvent), which wait until the agent answers
 * or the connection closes. When the VM dies, every pending and later call fails with
 * GRPC_UNAVAILABLE. Errors keep the agent's code and message, prefixed with the RPC's name. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kata/agent.pb-c.h"
#include "lib/error.h"

struct agent;

struct agent_timeouts {
    int64_t request_ms;          /* every call not listed below */
    int64_t health_check_ms;     /* Health.Check */
    int64_t create_container_ms; /* CreateContainer */
};

/* Dials address (see ttrpc/dial.h) until dial_timeout_ms passes. */
int agent_connect(const char *address, int64_t dial_timeout_ms, const struct agent_timeouts *t,
                  struct agent **out, struct error *err);
/* Fails every pending and later call with GRPC_UNAVAILABLE (the VM is gone). Any thread. */
void agent_close(struct agent *a);
/* Closes, waits for calls still returning, frees. NULL is fine. Callers that loop over several
 * calls (copy_file, write_stdin) must have returned first: agent_close, join, then agent_free. */
void agent_free(struct agent *a);

int agent_health_check(struct agent *a, struct error *err);
int agent_set_policy(struct agent *a, const char *policy, struct error *err);
int agent_create_sandbox(struct agent *a, const Grpc__CreateSandboxRequest *req, struct error *err);
/* The pod's network (pod-net.h), before CreateSandbox: one UpdateInterface per interface, then
 * one UpdateRoutes and one AddARPNeighbors. */
int agent_update_interface(struct agent *a, Types__Interface *iface, struct error *err);
int agent_update_routes(struct agent *a, Types__Route **routes, size_t n, struct error *err);
int agent_add_arp_neighbors(struct agent *a, Types__ARPNeighbor **neighbors, size_t n,
                            struct error *err);
int agent_destroy_sandbox(struct agent *a, struct error *err);
/* Returns the response; the caller frees it with protobuf_c_message_free_unpacked. */
int agent_get_guest_details(struct agent *a, Grpc__GuestDetailsResponse **out, struct error *err);
/* CopyFile (kata.md; Kata 4.x fs_share_linux.go copyFile): one file, directory or symlink of
 * the guest. mode is the host's whole st_mode, its type bits included (the agent decides by
 * them, and genpolicy's rules refuse a mode without them); uid and gid the host's owner. */
struct agent_file {
    const char *path; /* in the guest, under AGENT_COPY_FILE_DIR */
    uint32_t mode;
    uint32_t uid, gid;
    uint64_t size; /* the file's whole size (0 for a directory); a symlink's target length */
};
#define AGENT_COPY_CHUNK (1024 * 1024) /* Kata's grpcMaxDataSize: one CopyFile carries at most */
/* Where kata-agent (4.0+) confines CopyFile; genpolicy's rules too. */
#define AGENT_COPY_FILE_DIR "/run/kata-containers/shared/containers/"

/* One CopyFile of f: data[0..len) at offset (0 for a directory; a symlink's target as its only
 * chunk). The agent writes a regular file to a temporary name and renames it into place once
 * `size` bytes are there. A path that is not a clean one below AGENT_COPY_FILE_DIR (no "." or
 * ".." component, no empty one) is refused here, GRPC_INVALID_ARGUMENT, before the agent sees
 * it. */
int agent_copy_file_chunk(struct agent *a, const struct agent_file *f, uint64_t offset,
                          const void *data, size_t len, struct error *err);
/* Writes `len` bytes as `path` in the guest (uid and gid 0), in chunks of AGENT_COPY_CHUNK. */
int agent_copy_file(struct agent *a, const char *path, const void *data, size_t len, uint32_t mode,
                    struct error *err);

/* GetDiagnosticData{log_type "termination_log"} (Kata 3.29+): what the container wrote to its
 * termination message file in the guest (at most 4096 bytes; "" when nothing). Works after its
 * process exited, until RemoveContainer. *data is NUL-terminated; caller frees. */
int agent_get_termination_log(struct agent *a, const char *cid, char **data, struct error *err);

int agent_create_container(struct agent *a, const Grpc__CreateContainerRequest *req,
                           struct error *err);
int agent_start_container(struct agent *a, const char *cid, struct error *err);
/* timeout_s is what the agent waits for the container's processes to die (0: the agent's
 * default); the call's deadline is the request timeout plus timeout_s. */
int agent_remove_container(struct agent *a, const char *cid, uint32_t timeout_s, struct error *err);
int agent_exec_process(struct agent *a, const Grpc__ExecProcessRequest *req, struct error *err);
/* exec_id "" with the container's init: every process of the container. */
int agent_signal_process(struct agent *a, const char *cid, const char *exec_id, uint32_t signal,
                         struct error *err);
/* Long poll: returns once the process has exited, with its wait status in *status. */
int agent_wait_process(struct agent *a, const char *cid, const char *exec_id, int32_t *status,
                       struct error *err);
int agent_pause_container(struct agent *a, const char *cid, struct error *err);
int agent_resume_container(struct agent *a, const char *cid, struct error *err);
int agent_update_container(struct agent *a, const char *cid, Grpc__LinuxResources *resources,
                           struct error *err);
/* Returns the response; the caller frees it with protobuf_c_message_free_unpacked. */
int agent_stats_container(struct agent *a, const char *cid, Grpc__StatsContainerResponse **out,
                          struct error *err);

/* Stdio. Long polls: a read returns up to `max` bytes in *data (malloc'd; caller frees) and
 * *len; *len == 0 means end of stream. */
int agent_read_stdout(struct agent *a, const char *cid, const char *exec_id, uint32_t max,
                      uint8_t **data, size_t *len, struct error *err);
int agent_read_stderr(struct agent *a, const char *cid, const char *exec_id, uint32_t max,
                      uint8_t **data, size_t *len, struct error *err);
/* Writes all of data (looping while the agent takes less). */
int agent_write_stdin(struct agent *a, const char *cid, const char *exec_id, const void *data,
                      size_t len, struct error *err);
int agent_close_stdin(struct agent *a, const char *cid, const char *exec_id, struct error *err);
int agent_tty_win_resize(struct agent *a, const char *cid, const char *exec_id, uint32_t rows,
                         uint32_t columns, struct error *err);

/* Whether err, from an agent_* call, says that kata-agent no longer knows the process or its
 * container: the process exited and a WaitProcess took it away, or the container was removed.
 * For Kill, Wait and Delete that means "already exited". Both of kata-agent's forms count (the
 * typed errors of Kata 3.25 and later, the anyhow texts before; agent.c lists them). UNAVAILABLE
 * is not "gone": that is the VM or the connection, handled as such by the callers. */
bool agent_error_is_gone(const struct error *err);

/* Long poll: the id of the next container the guest OOM-killed in; caller frees. */
int agent_get_oom_event(struct agent *a, char **cid, struct error *err);
