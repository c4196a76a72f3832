/* `delete` (containerd.md §3.5): cleans up after a dead shim. A sandbox's means its daemon, its
 * VM (destroyed through cocoon-vm), its state directory and socket; any task's, its bundle
 * files. */
#include <dirent.h>
#include <time.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "containerd/task/v2/shim.pb-c.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "shim/bundle.h"
#include "shim/commands.h"
#include "shim/config.h"
#include "shim/pod-net.h"
#include "shim/sandbox-vm.h"
#include "shim/shim-socket.h"
#include "vmm/vm-helper.h"
#include "vmm/vm-spec.h"

#define DAEMON_EXIT_WAIT_MS 1000 /* after SIGKILL, before the socket is judged */
#define EXIT_STATUS_KILLED 137   /* 128 + SIGKILL, what runc and Kata report */

/* The configuration the daemon used (named in the bundle), else the default one. */
static struct config *delete_config(const char *bundle)
{
    _cleanup_free_ char *named = bundle_read_small_file(bundle, BUNDLE_CONFIG_FILE);
    const char *path = named && *named ? named : config_default_path();
    struct config *cfg = NULL;
    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    if (config_load(path, &cfg, &err) < 0) {
        log_warn("delete: %s; using the default configuration", err.msg);
        cfg = config_new_defaults();
    }
    return cfg;
}

/* Whether pid runs our daemon binary: a recycled pid must not be killed. */
static bool is_our_daemon(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
    _cleanup_free_ char *daemon = shim_libexec_path(SHIM_DAEMON_NAME);
    struct stat theirs, ours;
    return pid != getpid() && stat(path, &theirs) == 0 && stat(daemon, &ours) == 0 &&
           theirs.st_dev == ours.st_dev && theirs.st_ino == ours.st_ino;
}

/* Whether every thread of pid is gone or a zombie. The leader turns zombie while other threads
 * still run and hold the fds (the listener too), so each thread is looked at. */
static bool process_gone(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return true;
    bool gone = true;
    struct dirent *e;
    while (gone && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        _cleanup_free_ char *stat_path = xasprintf("%s/%s/stat", path, e->d_name);
        _cleanup_free_ char *text = NULL;
        size_t len;
        if (fs_read_file(stat_path, 4096, &text, &len, NULL) < 0)
            continue; /* that thread just went */
        const char *paren = strrchr(text, ')');
        gone = paren && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X');
    }
    closedir(d);
    return gone;
}

static void kill_daemon(pid_t pid)
{
    if (pid <= 0 || !is_our_daemon(pid))
        return;
    if (kill(pid, SIGKILL) < 0) {
        if (errno != ESRCH)
            log_warn("delete: kill shim daemon %d: %s", (int)pid, strerror(errno));
        return;
    }
    for (int waited = 0; waited < DAEMON_EXIT_WAIT_MS && !process_gone(pid); waited += 10)
        usleep(10 * 1000);
}

/* rm -rf that neither follows symlinks nor crosses into mounts. */
static void remove_tree(const char *dir)
{
    _cleanup_(error_clear) struct error err = ERROR_INIT;
    if (fs_remove_tree(dir, &err) < 0)
        log_warn("delete: %s", err.msg);
}

static void remove_dead_socket(const struct shim_flags *f)
{
    const char *dir = shim_socket_dir();
    _cleanup_free_ char *addr = shim_socket_address(dir, f->address, f->namespace_, f->id);
    const char *path = addr + strlen("unix://");
    _cleanup_close_ int lock = shim_socket_dir_lock(dir, false, NULL);
    if (lock < 0)
        return; /* no socket directory, no socket */
    struct stat st;
    if (lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode) || shim_socket_is_live(addr))
        return;
    if (unlink(path) < 0 && errno != ENOENT)
        log_warn("delete: remove socket %s: %s", path, strerror(errno));
}

DEFINE_CLEANUP_FUNC(struct config *, config_free)

/* Destroys the sandbox's domain through cocoon-vm; 1 if there was one. */
static int destroy_domain(const struct config *cfg, const char *domain)
{
    _cleanup_free_ char *helper = shim_libexec_path(VM_HELPER_NAME);
    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    int r = vm_helper_destroy(helper, cfg->hypervisor.uri, domain, &err);
    if (r < 0)
        log_warn("delete: destroy domain %s: %s", domain, err.msg);
    return r;
}

/* Removes what a sandbox owns: its daemon (first, so that it is not around to react to its VM
 * going away), its domain, the taps and filters of its network, its state directory and its
 * dead socket. */
static void delete_sandbox(const struct shim_flags *f, const char *bundle, const char *domain,
                           bool domain_gone)
{
    _cleanup_(config_freep) struct config *cfg = delete_config(bundle);
    kill_daemon(bundle_read_pid(bundle));
    if (!domain_gone)
        destroy_domain(cfg, domain);
    _cleanup_free_ char *state_dir = sandbox_state_dir(cfg, f->id);
    pod_net_unplumb_recorded(state_dir);
    remove_tree(state_dir);
    remove_dead_socket(f);
}

int shim_write_delete_response(pid_t pid)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    ts.seconds = now.tv_sec;
    ts.nanos = (int32_t)now.tv_nsec;
    Containerd__Task__V2__DeleteResponse resp = CONTAINERD__TASK__V2__DELETE_RESPONSE__INIT;
    resp.pid = (uint32_t)pid;
    resp.exit_status = EXIT_STATUS_KILLED;
    resp.exited_at = &ts;
    size_t len = containerd__task__v2__delete_response__get_packed_size(&resp);
    _cleanup_free_ uint8_t *buf = xmalloc(len);
    containerd__task__v2__delete_response__pack(&resp, buf);
    return fs_write_all(STDOUT_FILENO, buf, len);
}

int shim_cmd_delete(const struct shim_flags *f)
{
    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    if (shim_flags_check_names(f, &err) < 0) {
        fprintf(stderr, "%s: delete: %s\n", SHIM_BINARY_NAME, err.msg);
        return EXIT_FAILURE;
    }
    _cleanup_free_ char *bundle = shim_flags_bundle(f);
    pid_t pid = bundle_read_pid(bundle);
    _cleanup_free_ char *domain = vmm_domain_name(f->id);
    _cleanup_free_ char *group = NULL;
    enum pod_role role;
    if (bundle_group(bundle, f->id, &group, &role, &err) == 0) {
        /* a container of a pod owns nothing but its bundle files */
        if (role != POD_ROLE_CONTAINER)
            delete_sandbox(f, bundle, domain, false);
    } else {
        if (err.code != GRPC_NOT_FOUND)
            log_warn("delete: %s", err.msg);
        /* Without a readable config.json, a state directory or a domain under the id says
         * "sandbox". */
        _cleanup_(config_freep) struct config *cfg = delete_config(bundle);
        _cleanup_free_ char *state_dir = sandbox_state_dir(cfg, f->id);
        struct stat st;
        if (stat(state_dir, &st) == 0)
            delete_sandbox(f, bundle, domain, false);
        else if (destroy_domain(cfg, domain) == 1)
            delete_sandbox(f, bundle, domain, true);
    }
    bundle_remove_files(bundle);
    if (shim_write_delete_response(pid) < 0) {
        fprintf(stderr, "%s: delete: write the response to stdout: %s\n", SHIM_BINARY_NAME,
                strerror(errno));
        return EXIT_FAILURE;
    }
    return EXIT_SUCCESS;
}
