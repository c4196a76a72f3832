/* A pod's VM and its agent: started at the sandbox task's Create, torn down when the sandbox
 * task exits or is deleted, or when the VM dies on its own.
 *
 * Start order (kata.md §1.3): VM plan (config + annotations) -> per-sandbox state dir -> the
 * pod's network read and its taps made (pod-net.h) -> libvirt domain (transient, started by
 * cocoon-vm, its QEMU watched through a pidfd) -> taps moved into the pod's namespace and
 * mirrored -> agent dial -> Health.Check -> SetPolicy (when the pod carries a policy) ->
 * UpdateInterface, UpdateRoutes, AddARPNeighbors -> CreateSandbox (hostname, DNS, the pod's
 * /dev/shm). Any failure undoes what was done: no domain, tap, filter, socket or file is left.
 * CreateSandbox wipes the guest's /run/kata-containers: files are copied in only after it. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "annotations/pod.h"
#include "lib/error.h"
#include "shim/agent.h"
#include "shim/config.h"

struct sandbox;

/* Called once, from the thread watching QEMU, when the VM stops or crashes without
 * sandbox_stop having been asked for it. Must not block. */
typedef void (*sandbox_death_fn)(void *user, const char *detail);

/* What the guest gets from the sandbox's spec: its network (pod-net.h), and what CreateSandbox
 * tells it (Kata's startSandbox). */
struct sandbox_guest {
    bool has_netns;       /* the spec has a network namespace entry (none: the host's network) */
    const char *netns;    /* its path; NULL for a new, empty namespace */
    const char *hostname; /* the spec's, at most 64 bytes of it */
    char *const *dns;     /* the lines of the resolv.conf the spec mounts */
    size_t n_dns;
    uint64_t shm_size; /* the pod's /dev/shm (guest_files_shm_size); 0: none */
};

int sandbox_start(const struct config *cfg, const char *id, const struct pod_annotations *anns,
                  const struct sandbox_guest *guest, sandbox_death_fn on_death, void *user,
                  struct sandbox **out, struct error *err);

/* A sandbox without a VM around an agent already connected, which it takes: for tests of the
 * task service against a fake agent (tests/common/fake-agent.h). sandbox_stop sends it
 * DestroySandbox and closes it; there is no domain, network or state directory to undo. */
struct sandbox *sandbox_of_agent(const char *id, struct agent *agent);

/* The agent of a started sandbox; valid until sandbox_free. */
struct agent *sandbox_agent(struct sandbox *s);
/* The hypervisor's host PID (what containerd is told as every task's pid), or 0. */
uint32_t sandbox_pid(const struct sandbox *s);
const char *sandbox_id(const struct sandbox *s);

/* DestroySandbox in the guest (bounded), then the domain is destroyed and the agent closed.
 * Idempotent; safe after the VM died on its own. */
void sandbox_stop(struct sandbox *s);

/* For an agent that stopped answering: destroys the domain without a word to the agent, and
 * the death callback has run (every process ended, as when the VM dies) by the time this
 * returns 0. `why` goes to the log. A VM already dead or being stopped is success. */
int sandbox_kill(struct sandbox *s, const char *why, struct error *err);

/* Stops if needed, removes the state dir, frees. NULL is fine. Do not call it while holding a
 * lock the death callback takes (it waits for a callback in flight). */
void sandbox_free(struct sandbox *s);
