/* Create: a sandbox task boots the pod's VM; every task becomes a container in the guest.
 * The container's image reaches the guest by guest pull (kata.md §3), and the files CRI bind-mounts
 * from the host (hostname, hosts, resolv.conf, ...) by CopyFile: the host shares no filesystem
 * with the VM. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "annotations/guest-pull.h"
#include "containerd/events/task.pb-c.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "shim/runtime-options.h"
#include "shim/bundle.h"
#include "shim/guest-files.h"
#include "shim/oci.h"
#include "shim/task.h"

#define GUEST_FILE_MAX (1024 * 1024)

struct create_plan {
    char *json;
    size_t json_len;
    struct pod_annotations anns;
    enum pod_role role;
    Grpc__Spec *spec;
};

static void create_plan_free(struct create_plan *c)
{
    free(c->json);
    pod_annotations_free(&c->anns);
    if (c->spec)
        protobuf_c_message_free_unpacked(&c->spec->base, NULL);
}

static int read_bundle(const char *bundle, struct create_plan *c, struct error *err)
{
    if (bundle_read_config(bundle, &c->json, &c->json_len, err) < 0 ||
        pod_annotations_from_json(c->json, c->json_len, &c->anns, err) < 0 ||
        pod_role(c->anns.items, c->anns.len, &c->role, err) < 0 ||
        oci_spec_from_json(c->json, c->json_len, &c->spec, err) < 0)
        return -1;
    return 0;
}

static void on_vm_death(void *user, const char *detail)
{
    struct pod *pod = user;
    pthread_mutex_lock(&pod->lock);
    pod->vm_dead = true;
    pod_end_all(pod);
    pthread_mutex_unlock(&pod->lock);
}

/* The pause container, or a lone container (ctr run): its Create starts the VM. */
static bool owns_vm(const struct create_plan *c)
{
    return c->role != POD_ROLE_CONTAINER;
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

/* The host files CRI bind-mounts into the container, copied into the guest; the spec already
 * points at the copies (guest_files_plan). */
static int copy_guest_files(struct agent *agent, const struct guest_file *files, size_t n,
                            struct error *err)
{
    for (size_t i = 0; i < n; i++) {
        _cleanup_close_ int fd = open(files[i].host_path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
            return error_set_errno(err, errno, "read %s", files[i].host_path);
        if (st.st_size > GUEST_FILE_MAX)
            return error_set(err, GRPC_INVALID_ARGUMENT,
                             "%s: %lld bytes; files bind-mounted from the host are copied into "
                             "the guest, up to %d bytes",
                             files[i].host_path, (long long)st.st_size, GUEST_FILE_MAX);
        _cleanup_free_ char *data = xmalloc((size_t)st.st_size + 1);
        ssize_t got = read(fd, data, (size_t)st.st_size);
        if (got < 0)
            return error_set_errno(err, errno, "read %s", files[i].host_path);
        if (agent_copy_file(agent, files[i].guest_path, data, (size_t)got, st.st_mode & 07777,
                            err) < 0)
            return -1;
    }
    return 0;
}

/* CreateContainer in the guest: the image by guest pull, the host's files by CopyFile. */
static int create_container(struct pod *pod, struct task *t,
                            const Containerd__Task__V2__CreateTaskRequest *req,
                            struct create_plan *c, struct error *err)
{
    pthread_mutex_lock(&pod->lock);
    struct agent *agent = pod->sandbox && !pod->vm_dead ? sandbox_agent(pod->sandbox) : NULL;
    bool force = pod->force_guest_pull;
    pthread_mutex_unlock(&pod->lock);
    if (!agent)
        return error_set(err, GRPC_FAILED_PRECONDITION, "the pod's VM is gone");

    char *const *rootfs_opts = req->n_rootfs > 0 ? req->rootfs[0]->options : NULL;
    struct guest_pull_input in = {
        .container_id = t->id,
        .anns = c->anns.items,
        .n_anns = c->anns.len,
        .rootfs_options = rootfs_opts,
        .n_rootfs_options = req->n_rootfs > 0 ? req->rootfs[0]->n_options : 0,
        .force = force,
    };
    Grpc__Storage *storage = NULL;
    int pull = guest_pull_storage(&in, &storage, err);
    if (pull < 0)
        return -1;
    if (pull == 0)
        log_warn("task %s: its image is not pulled in the guest (no io.katacontainers.volume and "
                 "no experimental_force_guest_pull) and the host shares no filesystem with the "
                 "VM, so it runs on the guest image's own root filesystem",
                 t->id);

    struct guest_file *files = NULL;
    size_t n_files = 0;
    int r = guest_files_plan(c->spec, t->id, &files, &n_files, err);
    if (r == 0)
        r = copy_guest_files(agent, files, n_files, err);
    if (r == 0) {
        Grpc__CreateContainerRequest creq = GRPC__CREATE_CONTAINER_REQUEST__INIT;
        creq.container_id = t->id;
        creq.exec_id = t->id;
        creq.oci = c->spec;
        creq.n_storages = storage ? 1 : 0;
        creq.storages = storage ? &storage : NULL;
        r = agent_create_container(agent, &creq, err);
    }
    guest_files_free(files, n_files);
    guest_pull_storage_free(storage);
    return r;
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
    if (sandbox && guest_pull_forced(pod->cfg->runtime.experimental_force_guest_pull, c.anns.items,
                                     c.anns.len, &pod->force_guest_pull, err) < 0) {
        pthread_mutex_lock(&pod->lock);
        pod->sandbox_starting = false;
        pod->creating--;
        pod_exit_if_idle(pod);
        pthread_mutex_unlock(&pod->lock);
        create_plan_free(&c);
        return -1;
    }

    struct task *t = xcalloc(1, sizeof(*t));
    t->pod = pod;
    t->id = xstrdup(req->id);
    t->bundle = xstrdup(req->bundle);
    t->is_sandbox = sandbox;
    process_init(&t->init, t, "", req->terminal, req->stdin, req->stdout, req->stderr,
                 pod->namespace_);

    struct sandbox *sb = NULL;
    int r = stdio_open(&t->init.io_cfg, &t->init.io, err);
    if (r == 0 && sandbox)
        r = sandbox_start(pod->cfg, req->id, &c.anns, on_vm_death, pod, &sb, err);
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
        error_wrap(err, "create task %s", req->id);
        log_error("%s", err->msg);
        if (sandbox) {
            pthread_mutex_lock(&pod->lock);
            pod->sandbox = NULL;
            pthread_mutex_unlock(&pod->lock);
            if (sb)
                sandbox_stop(sb);
            pod_unwatch_oom(pod);
            sandbox_free(sb);
        }
        process_release(&t->init);
        free(t->id);
        free(t->bundle);
        free(t);
        pthread_mutex_lock(&pod->lock);
        pod->creating--;
        pod_exit_if_idle(pod);
        pthread_mutex_unlock(&pod->lock);
        return -1;
    }

    pthread_mutex_lock(&pod->lock);
    pod->creating--;
    t->next = pod->tasks;
    pod->tasks = t;
    resp->pid = pod_pid(pod);
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
    ev.pid = resp->pid;
    pod_publish(pod, "/tasks/create", &ev.base);
    pthread_mutex_unlock(&pod->lock);
    log_info("task %s created (%s)", req->id, sandbox ? "sandbox" : "container");
    return 0;
}
