/* What Kata's runtime strips from the OCI spec before the agent sees it (kata.md §1.3,
 * constrainGRPCSpec; runtime-rs amend_spec), and from an exec's process. */
#include <stdlib.h>
#include <string.h>

#include "annotations/pod.h"
#include "lib/xalloc.h"
#include "shim/oci.h"

static void free_message(void *m)
{
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
}

static void clear_string(char **s)
{
    if (*s != protobuf_c_empty_string)
        free(*s);
    *s = (char *)protobuf_c_empty_string;
}

/* Devices, pids, block I/O and network limits are the host's business (the VM's cgroup), and
 * cpusets name host CPUs and NUMA nodes the guest does not have. */
void oci_strip_resources(Grpc__LinuxResources *r)
{
    for (size_t i = 0; i < r->n_devices; i++)
        free_message(r->devices[i]);
    free(r->devices);
    r->devices = NULL;
    r->n_devices = 0;
    free_message(r->pids);
    free_message(r->blockio);
    free_message(r->network);
    r->pids = NULL;
    r->blockio = NULL;
    r->network = NULL;
    if (r->cpu) {
        clear_string(&r->cpu->cpus);
        clear_string(&r->cpu->mems);
    }
}

/* The guest makes its own network, cgroup and time namespaces; a path names a host namespace.
 * The pid namespace is the agent's to give (a new one per container, or the sandbox's shared
 * one): Kata removes the entry, and a path in it is how containerd says the pod shares one
 * (shareProcessNamespace). The network namespace's path is the pod's network, which the shim
 * mirrors into the VM (pod-net.h). */
static void strip_namespaces(Grpc__Linux *l, struct oci_spec_facts *facts)
{
    size_t kept = 0;
    for (size_t i = 0; i < l->n_namespaces; i++) {
        Grpc__LinuxNamespace *ns = l->namespaces[i];
        bool has_path = ns->path && *ns->path;
        if (strcmp(ns->type, "pid") == 0)
            facts->pid_shared = facts->pid_shared || has_path;
        if (strcmp(ns->type, "network") == 0) {
            facts->has_net_ns = true;
            free(facts->net_ns);
            facts->net_ns = has_path ? xstrdup(ns->path) : NULL;
        }
        if (strcmp(ns->type, "network") == 0 || strcmp(ns->type, "cgroup") == 0 ||
            strcmp(ns->type, "time") == 0 || strcmp(ns->type, "pid") == 0) {
            free_message(ns);
            continue;
        }
        clear_string(&ns->path);
        l->namespaces[kept++] = ns;
    }
    l->n_namespaces = kept;
    if (kept == 0) {
        free(l->namespaces);
        l->namespaces = NULL;
    }
}

void oci_spec_facts_clear(struct oci_spec_facts *f)
{
    free(f->net_ns);
    *f = (struct oci_spec_facts){0};
}

struct oci_spec_facts oci_strip_spec(Grpc__Spec *s)
{
    struct oci_spec_facts facts = {0};
    free_message(s->hooks); /* host paths; the agent would run them in the guest */
    s->hooks = NULL;
    size_t kept = 0;
    for (size_t i = 0; i < s->n_annotations; i++) {
        /* init-data and policy are the VM's, not the container's */
        if (annotation_is_private(s->annotations[i]->key))
            free_message(s->annotations[i]);
        else
            s->annotations[kept++] = s->annotations[i];
    }
    s->n_annotations = kept;
    if (kept == 0) {
        free(s->annotations);
        s->annotations = NULL;
    }
    /* The guest has no SELinux (Kata's disable_guest_selinux, on in every CoCo configuration):
     * kata-agent refuses a process label there, and genpolicy's rules refuse both labels. */
    if (s->process)
        clear_string(&s->process->selinuxlabel);
    if (!s->linux)
        return facts;
    clear_string(&s->linux->mountlabel);
    free_message(s->linux->seccomp); /* the guest kernel is the boundary; Kata's default */
    s->linux->seccomp = NULL;
    if (s->linux->resources)
        oci_strip_resources(s->linux->resources);
    strip_namespaces(s->linux, &facts);
    return facts;
}

/* What Kata's runtime sends of an exec's process (kata_agent.go cmdToKataProcess): terminal,
 * user ids, args, env, cwd. runtime-rs forwards noNewPrivileges too, which genpolicy's rules
 * compare with the container's, so it stays. Without capabilities the agent gives the exec the
 * container's; labels, AppArmor, rlimits and the OOM score are the container's business. */
void oci_strip_exec_process(Grpc__Process *p)
{
    free_message(p->consolesize); /* the shim resizes the terminal after the start instead */
    p->consolesize = NULL;
    free_message(p->capabilities);
    p->capabilities = NULL;
    for (size_t i = 0; i < p->n_rlimits; i++)
        free_message(p->rlimits[i]);
    free(p->rlimits);
    p->rlimits = NULL;
    p->n_rlimits = 0;
    clear_string(&p->apparmorprofile);
    clear_string(&p->selinuxlabel);
    p->oomscoreadj = 0;
    if (p->user)
        clear_string(&p->user->username);
}
