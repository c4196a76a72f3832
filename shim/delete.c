/* The daemon binary's `delete` (containerd.md §3.5): cleans up after a dead shim. For a sandbox
 * that means its VM too, so this side loads libvirt; the front hands it every delete that is not
 * a container's (shim/delete-front.c). */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "shim/bundle.h"
#include "shim/commands.h"
#include "shim/config.h"
#include "shim/sandbox-vm.h"
#include "shim/shim-socket.h"
#include "vmm/domain.h"

#define DAEMON_EXIT_WAIT_MS 1000 /* after SIGKILL, before the socket is judged */

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

/* Whether pid runs this very binary: a recycled pid must not be killed. */
static bool is_our_daemon(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
    struct stat theirs, ours;
    return pid != getpid() && stat(path, &theirs) == 0 && stat("/proc/self/exe", &ours) == 0 &&
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

DEFINE_CLEANUP_FUNC(struct vmm *, vmm_close)
DEFINE_CLEANUP_FUNC(struct config *, config_free)

static struct vmm *open_vmm(const struct config *cfg)
{
    struct vmm *vmm = NULL;
    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    if (vmm_open(cfg->hypervisor.uri, &vmm, &err) < 0) {
        log_warn("delete: %s; no domain is destroyed", err.msg);
        return NULL;
    }
    return vmm;
}

static bool domain_exists(struct vmm *vmm, const char *name)
{
    struct vmm_domain *dom = NULL;
    if (!vmm || vmm_domain_lookup(vmm, name, &dom, NULL) < 0)
        return false;
    vmm_domain_free(dom);
    return true;
}

/* Whether the task is a sandbox, i.e. owns the VM, the daemon and the state directory. Without
 * a readable config.json, a domain or a state directory under its id says so. */
static bool is_sandbox(const char *bundle, const struct shim_flags *f, const struct config *cfg,
                       struct vmm **vmm, const char *domain, const char *state_dir)
{
    _cleanup_free_ char *group = NULL;
    enum pod_role role;
    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    if (bundle_group(bundle, f->id, &group, &role, &err) == 0)
        return role != POD_ROLE_CONTAINER;
    if (err.code != GRPC_NOT_FOUND)
        log_warn("delete: %s", err.msg);
    struct stat st;
    if (stat(state_dir, &st) == 0)
        return true;
    *vmm = open_vmm(cfg);
    return domain_exists(*vmm, domain);
}

int shim_cmd_delete(const struct shim_flags *f)
{
    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    if (shim_flags_check_names(f, &err) < 0) {
        fprintf(stderr, "%s: delete: %s\n", SHIM_BINARY_NAME, err.msg);
        return EXIT_FAILURE;
    }
    _cleanup_free_ char *bundle = shim_flags_bundle(f);
    _cleanup_(config_freep) struct config *cfg = delete_config(bundle);
    pid_t pid = bundle_read_pid(bundle);
    _cleanup_free_ char *domain = vmm_domain_name(f->id);
    _cleanup_free_ char *state_dir = sandbox_state_dir(cfg, f->id);
    _cleanup_(vmm_closep) struct vmm *vmm = NULL;

    if (is_sandbox(bundle, f, cfg, &vmm, domain, state_dir)) {
        /* The daemon first, so it is not around to react to its VM going away. */
        kill_daemon(pid);
        if (!vmm)
            vmm = open_vmm(cfg);
        if (vmm && vmm_destroy_by_name(vmm, domain, &err) < 0)
            log_warn("delete: destroy domain %s: %s", domain, err.msg);
        remove_tree(state_dir);
        remove_dead_socket(f);
    }

    bundle_remove_files(bundle);
    if (shim_write_delete_response(pid) < 0) {
        fprintf(stderr, "%s: delete: write the response to stdout: %s\n", SHIM_BINARY_NAME,
                strerror(errno));
        return EXIT_FAILURE;
    }
    return EXIT_SUCCESS;
}
