/* Create: a sandbox task boots the pod's VM; every task becomes a container in the guest.
 * The container's image reaches the guest by guest pull (kata.md §3): a container whose image is
 * not pulled in the guest is refused, so nothing ever runs on another root filesystem than its
 * image. Its volumes reach the guest as guest-files.h plans them: copied files and trees,
 * guest-local emptyDirs, the pod's /dev/shm. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "annotations/guest-pull.h"
#include "containerd/events/task.pb-c.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "shim/bundle.h"
#include "shim/guest-copy.h"
#include "shim/guest-files.h"
#include "shim/oci.h"
#include "shim/runtime-options.h"
#include "shim/task.h"

#define MAX_RESOLV_CONF (64 * 1024)
#define MAX_VOLUME_ENTRIES 100000

struct create_plan {
    char *json;
    size_t json_len;
    struct pod_annotations anns;
    enum pod_role role;
    Grpc__Spec *spec;
    struct oci_spec_facts facts;
};

static void create_plan_free(struct create_plan *c)
{
    free(c->json);
    pod_annotations_free(&c->anns);
    oci_spec_facts_clear(&c->facts);
    if (c->spec)
        protobuf_c_message_free_unpacked(&c->spec->base, NULL);
}

static int read_bundle(const char *bundle, struct create_plan *c, struct error *err)
{
    if (bundle_read_config(bundle, &c->json, &c->json_len, err) < 0 ||
        pod_annotations_from_json(c->json, c->json_len, &c->anns, err) < 0 ||
        pod_role(c->anns.items, c->anns.len, &c->role, err) < 0 ||
        oci_spec_from_json(c->json, c->json_len, &c->spec, &c->facts, err) < 0)
        return -1;
    return 0;
}

/* The pause container, or a lone container (ctr run): its Create starts the VM. */
static bool owns_vm(const struct create_plan *c)
{
    return c->role != POD_ROLE_CONTAINER;
}

static void on_vm_death(void *user, const char *detail)
{
    struct pod *pod = user;
    pthread_mutex_lock(&pod->lock);
    pod->vm_dead = true;
    pod_end_all(pod);
    pthread_mutex_unlock(&pod->lock);
}

/* Reserves the VM slot (sandbox) or checks the pod can take a container. */
static int admit(struct pod *pod, const char *id, const struct create_plan *c, struct error *err)
{
    const char *sid = pod_sandbox_id(c->anns.items, c->anns.len);
    struct error ignored = ERROR_INIT;
    int r = 0;
    pthread_mutex_lock(&pod->lock);
    if (pod_find_task(pod, id, &ignored))
        r = error_set(err, GRPC_ALREADY_EXISTS, "task %s already exists", id);
    else if (owns_vm(c) && (pod->sandbox || pod->sandbox_starting))
        r = error_set(err, GRPC_FAILED_PRECONDITION,
                      "task %s: this shim already runs a sandbox; a pod has one", id);
    else if (!owns_vm(c) && (!pod->sandbox || pod->vm_dead))
        r = error_set(err, GRPC_FAILED_PRECONDITION,
                      "task %s: its sandbox %s does not run in this shim", id,
                      sid ? sid : "(none)");
    else if (owns_vm(c))
        pod->sandbox_starting = true;
    if (r == 0)
        pod->creating++; /* Shutdown must not end the daemon under this Create */
    pthread_mutex_unlock(&pod->lock);
    error_clear(&ignored);
    return r;
}

/* --- what CreateSandbox tells the guest --- */

/* The lines of the resolv.conf the sandbox's spec mounts, as Kata's getDNS sends them. */
static char **sandbox_dns(const Grpc__Spec *spec, size_t *n)
{
    *n = 0;
    const char *source = NULL;
    for (size_t i = 0; i < spec->n_mounts; i++)
        if (spec->mounts[i]->destination &&
            strcmp(spec->mounts[i]->destination, "/etc/resolv.conf") == 0)
            source = spec->mounts[i]->source;
    _cleanup_free_ char *text = NULL;
    size_t len;
    if (!source || !*source || fs_read_file(source, MAX_RESOLV_CONF, &text, &len, NULL) < 0)
        return NULL;
    size_t cap = 8;
    char **lines = xcalloc(cap, sizeof(*lines));
    for (char *p = text; *p;) {
        size_t l = strcspn(p, "\n");
        if (*n + 1 == cap)
            lines = xrealloc(lines, (cap *= 2) * sizeof(*lines));
        lines[(*n)++] = xstrndup(p, l);
        p += l + (p[l] == '\n');
    }
    return lines;
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static int start_sandbox(struct pod *pod, const char *id, const struct create_plan *c,
                         struct sandbox **out, struct error *err)
{
    size_t n_dns;
    char **dns = sandbox_dns(c->spec, &n_dns);
    struct sandbox_guest guest = {
        .has_netns = c->facts.has_net_ns,
        .netns = c->facts.net_ns,
        .hostname = c->spec->hostname,
        .dns = dns,
        .n_dns = n_dns,
        .shm_size = guest_files_shm_size(c->spec),
    };
    pthread_mutex_lock(&pod->lock);
    pod->shm_size = guest.shm_size;
    free(pod->sandbox_id);
    pod->sandbox_id = xstrdup(id);
    pthread_mutex_unlock(&pod->lock);
    int r = sandbox_start(pod->cfg, id, &c->anns, &guest, on_vm_death, pod, out, err);
    strv_free(dns, n_dns);
    return r;
}

/* --- the container in the guest --- */

static struct guest_copy_limits copy_limits(const struct pod *pod)
{
    return (struct guest_copy_limits){
        .max_bytes = (uint64_t)pod->cfg->runtime.copy_volume_limit_mib << 20,
        .max_entries = MAX_VOLUME_ENTRIES,
    };
}

/* Copies the planned volumes, and watches those the kubelet updates in place. */
static int copy_volumes(struct pod *pod, struct agent *agent, const char *cid,
                        const struct guest_files *files, struct error *err)
{
    struct guest_copy_limits lim = copy_limits(pod);
    /* All checked first: a volume that cannot be copied leaves nothing in the guest. */
    for (size_t i = 0; i < files->n_copies; i++)
        if (guest_copy_check(&files->copies[i], &lim, err) < 0)
            return -1;
    for (size_t i = 0; i < files->n_copies; i++) {
        const struct guest_copy *c = &files->copies[i];
        if (guest_copy(agent, c, &lim, err) < 0)
            return -1;
        if (!c->watch)
            continue;
        pthread_mutex_lock(&pod->lock);
        if (!pod->volumes)
            pod->volumes = guest_watch_new(agent, &lim);
        struct guest_watch *w = pod->volumes;
        pthread_mutex_unlock(&pod->lock);
        if (guest_watch_add(w, cid, c, err) < 0)
            return -1;
    }
    return 0;
}

/* The image's Storage, which the guest pulls: required (see the top of the file). */
static int pull_storage(const struct task *t, const Containerd__Task__V2__CreateTaskRequest *req,
                        const struct create_plan *c, bool force, Grpc__Storage **out,
                        struct error *err)
{
    char *const *rootfs_opts = req->n_rootfs > 0 ? req->rootfs[0]->options : NULL;
    struct guest_pull_input in = {
        .container_id = t->id,
        .anns = c->anns.items,
        .n_anns = c->anns.len,
        .rootfs_options = rootfs_opts,
        .n_rootfs_options = req->n_rootfs > 0 ? req->rootfs[0]->n_options : 0,
        .force = force,
    };
    int pull = guest_pull_storage(&in, out, err);
    if (pull == 0)
        return error_set(err, GRPC_FAILED_PRECONDITION,
                         "its image would not be pulled in the guest: set [runtime] "
                         "experimental_force_guest_pull = true in cocoon's configuration (or "
                         "annotation " ANNOTATION_FORCE_GUEST_PULL " on the pod), or use a "
                         "snapshotter that marks the rootfs for guest pull; cocoon never runs a "
                         "container on anything but its image, and the host shares no "
                         "filesystem with the VM");
    return pull < 0 ? -1 : 0;
}

/* The guest-pull rootfs path Kata sends (kata_agent.go: /run/kata-containers/<cid>/rootfs). */
static void set_root_path(Grpc__Spec *spec, const char *cid)
{
    if (!spec->root) {
        spec->root = xmalloc(sizeof(*spec->root));
        *spec->root = (Grpc__Root)GRPC__ROOT__INIT;
    }
    if (spec->root->path != protobuf_c_empty_string)
        free(spec->root->path);
    spec->root->path = xasprintf("/run/kata-containers/%s/rootfs", cid);
}

/* Kata's runtime names the pod's network namespace on the sandbox container's spec, and
 * genpolicy's rules require it there (and only there). */
#define ANNOTATION_NETNS "nerdctl/network-namespace"

static void set_netns_annotation(Grpc__Spec *spec, const char *netns)
{
    Grpc__Spec__AnnotationsEntry *e = xmalloc(sizeof(*e));
    *e = (Grpc__Spec__AnnotationsEntry)GRPC__SPEC__ANNOTATIONS_ENTRY__INIT;
    e->key = xstrdup(ANNOTATION_NETNS);
    e->value = xstrdup(netns);
    spec->annotations =
        xrealloc(spec->annotations, (spec->n_annotations + 1) * sizeof(*spec->annotations));
    spec->annotations[spec->n_annotations++] = e;
}

static int create_container(struct pod *pod, struct task *t,
                            const Containerd__Task__V2__CreateTaskRequest *req,
                            struct create_plan *c, struct error *err)
{
    pthread_mutex_lock(&pod->lock);
    struct agent *agent = pod->sandbox && !pod->vm_dead ? sandbox_agent(pod->sandbox) : NULL;
    bool force = pod->force_guest_pull;
    uint64_t shm_size = pod->shm_size;
    _cleanup_free_ char *sandbox_id = xstrdup(pod->sandbox_id ? pod->sandbox_id : t->id);
    pthread_mutex_unlock(&pod->lock);
    if (!agent)
        return error_set(err, GRPC_FAILED_PRECONDITION, "the pod's VM is gone");

    Grpc__Storage *image = NULL;
    if (pull_storage(t, req, c, force, &image, err) < 0)
        return -1;
    set_root_path(c->spec, t->id);
    if (t->is_sandbox && c->facts.net_ns)
        set_netns_annotation(c->spec, c->facts.net_ns);
    struct guest_files files;
    int r = guest_files_plan(c->spec, t->id, sandbox_id, shm_size, c->anns.items, c->anns.len,
                             &files, err);
    if (r == 0)
        r = copy_volumes(pod, agent, t->id, &files, err);
    if (r == 0) {
        size_t n = 1 + files.n_storages;
        _cleanup_free_ Grpc__Storage **storages = xcalloc(n, sizeof(*storages));
        storages[0] = image;
        if (files.n_storages) /* none planned: files.storages is NULL, which memcpy must not get */
            memcpy(storages + 1, files.storages, files.n_storages * sizeof(*storages));
        Grpc__CreateContainerRequest creq = GRPC__CREATE_CONTAINER_REQUEST__INIT;
        creq.container_id = t->id;
        creq.exec_id = t->id;
        creq.oci = c->spec;
        creq.storages = storages;
        creq.n_storages = n;
        /* The pause container anchors the pod's pid namespace; a container joins it when the
         * pod shares one (shareProcessNamespace), else it gets its own. */
        creq.sandbox_pidns = !t->is_sandbox && c->facts.pid_shared;
        r = agent_create_container(agent, &creq, err);
    }
    if (r == 0 && files.termination_log)
        t->termination_log = xstrdup(files.termination_log);
    if (r < 0)
        guest_watch_remove(pod->volumes, t->id);
    guest_files_free(&files);
    guest_pull_storage_free(image);
    return r;
}

/* --- the task --- */

static struct task *task_new(struct pod *pod, const Containerd__Task__V2__CreateTaskRequest *req,
                             bool sandbox)
{
    struct task *t = xcalloc(1, sizeof(*t));
    t->pod = pod;
    t->id = xstrdup(req->id);
    t->bundle = xstrdup(req->bundle);
    t->is_sandbox = sandbox;
    process_init(&t->init, t, "", req->terminal, req->stdin, req->stdout, req->stderr,
                 pod->namespace_);
    return t;
}

/* Undoes a Create that failed: the VM it started, the task, the slot. */
static void create_failed(struct pod *pod, struct task *t, struct sandbox *sb, struct error *err)
{
    error_wrap(err, "create task %s", t->id);
    log_error("%s", err->msg);
    if (t->is_sandbox) {
        pthread_mutex_lock(&pod->lock);
        pod->sandbox = NULL;
        struct guest_watch *volumes = TAKE_PTR(pod->volumes);
        pthread_mutex_unlock(&pod->lock);
        pod_stop_vm(pod, sb, volumes);
        sandbox_free(sb);
    }
    task_free(t);
    pthread_mutex_lock(&pod->lock);
    pod->creating--;
    pod_exit_if_idle(pod);
    pthread_mutex_unlock(&pod->lock);
}

static void publish_create(struct pod *pod, struct task *t,
                           const Containerd__Task__V2__CreateTaskRequest *req, uint32_t pid)
{
    Containerd__Events__TaskIO io = CONTAINERD__EVENTS__TASK_IO__INIT;
    io.stdin = (char *)t->init.io_cfg.stdin_path;
    io.stdout = (char *)t->init.io_cfg.stdout_path;
    io.stderr = (char *)t->init.io_cfg.stderr_path;
    io.terminal = req->terminal;
    Containerd__Events__TaskCreate ev = CONTAINERD__EVENTS__TASK_CREATE__INIT;
    ev.container_id = t->id;
    ev.bundle = t->bundle;
    ev.n_rootfs = req->n_rootfs;
    ev.rootfs = req->rootfs;
    ev.io = &io;
    ev.pid = pid;
    pod_publish(pod, "/tasks/create", &ev.base);
}

int task_create(struct pod *pod, const Containerd__Task__V2__CreateTaskRequest *req,
                Containerd__Task__V2__CreateTaskResponse *resp, struct error *err)
{
    if (!req->id || !*req->id || !req->bundle || !*req->bundle)
        return error_set(err, GRPC_INVALID_ARGUMENT, "create: id and bundle are required");
    if (req->checkpoint && *req->checkpoint)
        return error_set(err, GRPC_UNIMPLEMENTED,
                         "create: restoring a checkpoint is not supported");
    _cleanup_free_ char *config_path = NULL;
    if ((req->options && shim_config_path_from_any(req->options, &config_path, err) < 0) ||
        pod_load_config(pod, config_path, req->bundle, err) < 0)
        return -1;
    struct create_plan c = {0};
    if (read_bundle(req->bundle, &c, err) < 0 || admit(pod, req->id, &c, err) < 0) {
        create_plan_free(&c);
        return -1;
    }
    bool sandbox = owns_vm(&c);
    struct task *t = task_new(pod, req, sandbox);
    struct sandbox *sb = NULL;
    int r = 0;
    if (sandbox)
        r = guest_pull_forced(pod->cfg->runtime.experimental_force_guest_pull, c.anns.items,
                              c.anns.len, &pod->force_guest_pull, err);
    if (r == 0)
        r = stdio_open(&t->init.io_cfg, &t->init.io, err);
    if (r == 0 && sandbox)
        r = start_sandbox(pod, req->id, &c, &sb, err);
    if (sandbox) {
        pthread_mutex_lock(&pod->lock);
        pod->sandbox = sb;
        pod->sandbox_starting = false;
        pthread_mutex_unlock(&pod->lock);
        if (sb)
            pod_watch_oom(pod, sandbox_agent(sb));
    }
    if (r == 0)
        r = create_container(pod, t, req, &c, err);
    create_plan_free(&c);
    if (r < 0) {
        create_failed(pod, t, sb, err);
        return -1;
    }

    pthread_mutex_lock(&pod->lock);
    pod->creating--;
    t->next = pod->tasks;
    pod->tasks = t;
    resp->pid = pod_pid(pod);
    publish_create(pod, t, req, resp->pid);
    pthread_mutex_unlock(&pod->lock);
    log_info("task %s created (%s)", req->id, sandbox ? "sandbox" : "container");
    return 0;
}
