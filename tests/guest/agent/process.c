#include "process.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "caps.h"
#include "cgroup.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "ns.h"
#include "rootfs.h"
#include "util.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Everything the child needs, prepared before fork so the child never allocates. */
struct spawn {
    char **argv;
    char **envp;
    const char *cwd;
    char path[4096]; /* the container's PATH, to find argv[0] */
    uid_t uid;
    gid_t gid;
    gid_t *groups;
    size_t n_groups;
    struct {
        int resource;
        struct rlimit limit;
    } rlimits[RLIM_NLIMITS];
    size_t n_rlimits;
    bool tty;
    bool no_new_privs;
    struct caps caps;
    int pidns_fd;   /* the pid namespace it is forked into; -1: a new one, whose pid 1 it is */
    bool hold_term; /* the pause process: SIGTERM/SIGINT stay blocked until its handlers are in */
    int stdio[3];   /* child ends */
    int status_wr;  /* "R" when ready, "E<message>" on failure; EOF once exec'd */
    /* init */
    bool init;
    bool chroot;
    const char *rootfs;
    bool rootfs_ro;
    const char *hostname; /* for new UTS namespace */
    int uts_fd, ipc_fd;   /* the sandbox's shared namespaces to join, or -1: new ones */
    struct mount_plan plan;
    int start_rd;
    /* exec */
    int ns_fd[3];
    int root_fd;
};

static void spawn_init(struct spawn *s)
{
    memset(s, 0, sizeof(*s));
    s->stdio[0] = s->stdio[1] = s->stdio[2] = s->status_wr = s->start_rd = s->root_fd = -1;
    s->pidns_fd = s->uts_fd = s->ipc_fd = -1;
    s->ns_fd[0] = s->ns_fd[1] = s->ns_fd[2] = -1;
    s->cwd = "/";
    snprintf(s->path, sizeof(s->path), "%s", DEFAULT_PATH);
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void spawn_free(struct spawn *s)
{
    for (char **a = s->argv; a && *a; a++)
        free(*a);
    free(s->argv);
    for (char **e = s->envp; e && *e; e++)
        free(*e);
    free(s->envp);
    free(s->groups);
    mount_plan_free(&s->plan);
    /* stdio[] may hold one pty slave three times */
    if (s->stdio[1] == s->stdio[0])
        s->stdio[1] = s->stdio[2] = -1;
    for (int i = 0; i < 3; i++) {
        close_fd(&s->stdio[i]);
        close_fd(&s->ns_fd[i]);
    }
    close_fd(&s->status_wr);
    close_fd(&s->start_rd);
    close_fd(&s->root_fd);
    close_fd(&s->pidns_fd);
    close_fd(&s->uts_fd);
    close_fd(&s->ipc_fd);
}

static char **strv_dup(char **v, size_t n)
{
    char **out = xcalloc(n + 1, sizeof(*out));
    for (size_t i = 0; i < n; i++)
        out[i] = xstrdup(v[i]);
    return out;
}

static const struct {
    const char *name;
    int resource;
} rlimit_names[] = {
    {"RLIMIT_CPU", RLIMIT_CPU},           {"RLIMIT_FSIZE", RLIMIT_FSIZE},
    {"RLIMIT_DATA", RLIMIT_DATA},         {"RLIMIT_STACK", RLIMIT_STACK},
    {"RLIMIT_CORE", RLIMIT_CORE},         {"RLIMIT_RSS", RLIMIT_RSS},
    {"RLIMIT_NPROC", RLIMIT_NPROC},       {"RLIMIT_NOFILE", RLIMIT_NOFILE},
    {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},   {"RLIMIT_AS", RLIMIT_AS},
    {"RLIMIT_LOCKS", RLIMIT_LOCKS},       {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
    {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE}, {"RLIMIT_NICE", RLIMIT_NICE},
    {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},     {"RLIMIT_RTTIME", RLIMIT_RTTIME},
};

static int spawn_from_process(struct spawn *s, const Grpc__Process *proc, struct error *err)
{
    if (!proc || proc->n_args == 0 || !proc->args[0][0])
        return error_set(err, GRPC_INVALID_ARGUMENT, "the process has no args");
    s->argv = strv_dup(proc->args, proc->n_args);
    s->envp = strv_dup(proc->env, proc->n_env);
    for (size_t i = 0; i < proc->n_env; i++)
        if (!strncmp(proc->env[i], "PATH=", 5))
            snprintf(s->path, sizeof(s->path), "%s", proc->env[i] + 5);
    if (proc->cwd && proc->cwd[0])
        s->cwd = proc->cwd;
    if (proc->user) {
        s->uid = proc->user->uid;
        s->gid = proc->user->gid;
        s->n_groups = proc->user->n_additionalgids;
        s->groups = xcalloc(s->n_groups + 1, sizeof(gid_t));
        for (size_t i = 0; i < s->n_groups; i++)
            s->groups[i] = proc->user->additionalgids[i];
    }
    for (size_t i = 0; i < proc->n_rlimits && s->n_rlimits < RLIM_NLIMITS; i++) {
        for (size_t j = 0; j < sizeof(rlimit_names) / sizeof(rlimit_names[0]); j++) {
            if (strcmp(proc->rlimits[i]->type, rlimit_names[j].name))
                continue;
            s->rlimits[s->n_rlimits].resource = rlimit_names[j].resource;
            s->rlimits[s->n_rlimits].limit.rlim_cur = proc->rlimits[i]->soft;
            s->rlimits[s->n_rlimits].limit.rlim_max = proc->rlimits[i]->hard;
            s->n_rlimits++;
        }
    }
    s->tty = proc->terminal;
    s->no_new_privs = proc->nonewprivileges;
    caps_from_spec(proc->capabilities, &s->caps);
    return 0;
}

bool process_selinux_enabled(void)
{
    _cleanup_free_ char *mounts = read_small_file("/proc/mounts", 1u << 20, NULL, NULL);
    return mounts && strstr(mounts, "selinuxfs");
}

int process_check_selinux(const Grpc__Process *proc, struct error *err)
{
    if (proc && proc->selinuxlabel && *proc->selinuxlabel && !process_selinux_enabled())
        return error_set(err, GRPC_FAILED_PRECONDITION,
                         "SELinux label for the process is provided but SELinux is not enabled "
                         "on the running kernel");
    return 0;
}

/* --- stdio --- */

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static int make_pty(struct proc *p, struct spawn *s, const Grpc__Box *size, struct error *err)
{
    _cleanup_close_ int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0)
        return error_set_errno(err, errno, "open a pty");
    char name[128];
    if (grantpt(master) < 0 || unlockpt(master) < 0 || ptsname_r(master, name, sizeof(name)) != 0)
        return error_set_errno(err, errno, "set up the pty");
    int slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0)
        return error_set_errno(err, errno, "open %s", name);
    if (size && size->height && size->width) {
        struct winsize ws = {.ws_row = (unsigned short)size->height,
                             .ws_col = (unsigned short)size->width};
        ioctl(slave, TIOCSWINSZ, &ws);
    }
    set_nonblock(master);
    s->stdio[0] = s->stdio[1] = s->stdio[2] = slave;
    p->stdin_fd = fcntl(master, F_DUPFD_CLOEXEC, 3);
    p->out_fd[0] = TAKE_FD(master);
    return 0;
}

static int make_pipes(struct proc *p, struct spawn *s, struct error *err)
{
    int fds[3][2];
    for (int i = 0; i < 3; i++) {
        if (pipe2(fds[i], O_CLOEXEC) < 0) {
            for (int j = 0; j < i; j++) {
                close(fds[j][0]);
                close(fds[j][1]);
            }
            return error_set_errno(err, errno, "create stdio pipes");
        }
    }
    s->stdio[0] = fds[0][0];
    p->stdin_fd = fds[0][1];
    for (int i = 1; i < 3; i++) {
        s->stdio[i] = fds[i][1];
        p->out_fd[i - 1] = fds[i][0];
    }
    set_nonblock(p->stdin_fd);
    set_nonblock(p->out_fd[0]);
    set_nonblock(p->out_fd[1]);
    return 0;
}

static int make_stdio(struct proc *p, struct spawn *s, const Grpc__Process *proc, struct error *err)
{
    p->tty = s->tty;
    return s->tty ? make_pty(p, s, proc ? proc->consolesize : NULL, err) : make_pipes(p, s, err);
}

/* --- the child --- */

static void __attribute__((noreturn, format(printf, 2, 3)))
child_fail(const struct spawn *s, const char *fmt, ...)
{
    char buf[1024];
    buf[0] = 'E';
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + 1, sizeof(buf) - 1, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(buf) - 2)
        n = (int)sizeof(buf) - 2;
    (void)!write(s->status_wr, buf, (size_t)n + 1);
    _exit(127);
}

static void child_reset_signals(const struct spawn *s)
{
    for (int sig = 1; sig < NSIG; sig++)
        signal(sig, SIG_DFL); /* SIG_IGN (SIGPIPE in the agent) would survive exec */
    sigset_t mask;
    sigemptyset(&mask);
    if (s->hold_term) {
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
    }
    sigprocmask(SIG_SETMASK, &mask, NULL);
}

static void child_exec(const struct spawn *s)
{
    const char *file = s->argv[0];
    if (strchr(file, '/')) {
        execve(file, s->argv, s->envp);
        child_fail(s, "exec %s: %s", file, strerror(errno));
    }
    int saved = ENOENT;
    const char *dir = s->path;
    for (;;) {
        const char *end = strchrnul(dir, ':');
        char path[4096];
        int dl = (int)(end - dir);
        snprintf(path, sizeof(path), "%.*s%s%s", dl, dir, dl ? "/" : "", file);
        execve(path, s->argv, s->envp);
        if (errno != ENOENT && errno != ENOTDIR)
            saved = errno;
        if (!*end)
            break;
        dir = end + 1;
    }
    child_fail(s, "exec %s: %s (PATH %s)", file, strerror(saved), s->path);
}

static void __attribute__((noreturn)) child_main(const struct spawn *s)
{
    child_reset_signals(s);
    char msg[900];
    if (s->init) {
        bool shared = s->uts_fd >= 0;
        if (unshare(CLONE_NEWNS | (shared ? 0 : CLONE_NEWUTS | CLONE_NEWIPC)) < 0)
            child_fail(s, "unshare namespaces: %s", strerror(errno));
        if (shared && (setns(s->uts_fd, CLONE_NEWUTS) < 0 || setns(s->ipc_fd, CLONE_NEWIPC) < 0))
            child_fail(s, "join the sandbox's UTS and IPC namespaces: %s", strerror(errno));
        if (s->chroot && rootfs_enter(s->rootfs, s->rootfs_ro, &s->plan, msg, sizeof(msg)) < 0)
            child_fail(s, "%s", msg);
        if (!shared && s->hostname && *s->hostname &&
            sethostname(s->hostname, strlen(s->hostname)) < 0)
            child_fail(s, "sethostname %s: %s", s->hostname, strerror(errno));
        (void)!write(s->status_wr, "R", 1);
        char go;
        if (read(s->start_rd, &go, 1) != 1)
            _exit(1); /* removed before StartContainer */
    } else {
        static const char *const ns[] = {"mnt", "uts", "ipc"};
        for (int i = 0; i < 3; i++)
            if (setns(s->ns_fd[i], 0) < 0)
                child_fail(s, "enter the container's %s namespace: %s", ns[i], strerror(errno));
        if (fchdir(s->root_fd) < 0 || chroot(".") < 0)
            child_fail(s, "enter the container's root: %s", strerror(errno));
    }
    if (chdir(s->cwd) < 0)
        child_fail(s, "chdir %s: %s", s->cwd, strerror(errno));
    /* rustjail's setid: the capabilities survive the change of user until they are set */
    if (setgroups(s->n_groups, s->groups) < 0 || prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 ||
        setresgid(s->gid, s->gid, s->gid) < 0 || setresuid(s->uid, s->uid, s->uid) < 0 ||
        (s->uid != 0 && caps_reset_effective() < 0) || prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
        child_fail(s, "set user %u:%u: %s", s->uid, s->gid, strerror(errno));
    for (size_t i = 0; i < s->n_rlimits; i++)
        if (setrlimit(s->rlimits[i].resource, &s->rlimits[i].limit) < 0)
            child_fail(s, "setrlimit %d: %s", s->rlimits[i].resource, strerror(errno));
    if (s->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        child_fail(s, "cannot set no new privileges: %s", strerror(errno));
    setsid();
    if (s->tty && ioctl(s->stdio[0], TIOCSCTTY, 0) < 0)
        child_fail(s, "set the controlling terminal: %s", strerror(errno));
    for (int i = 0; i < 3; i++)
        if (dup2(s->stdio[i], i) < 0)
            child_fail(s, "dup2: %s", strerror(errno));
    /* Whatever the agent has open (connections, other containers' pipes) ends at exec. */
    close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
    if (caps_apply(&s->caps, msg, sizeof(msg)) < 0)
        child_fail(s, "%s", msg);
    child_exec(s);
    _exit(127);
}

/* --- the parent --- */

/* Forks into the process's pid namespace (s->pidns_fd, or a new one), with agent.lock held so
 * the reaper finds p by its pid whenever the child exits. */
static int spawn_fork(struct spawn *s, struct proc *p, struct error *err)
{
    pthread_mutex_lock(&agent.lock);
    int r = ns_pid_for_children(s->pidns_fd);
    int e = errno;
    pid_t pid = -1;
    if (r == 0) {
        pid = fork();
        e = errno;
        if (pid == 0)
            child_main(s);
        ns_pid_restore();
    }
    if (pid > 0)
        p->pid = pid;
    pthread_mutex_unlock(&agent.lock);
    if (r < 0)
        return error_set_errno(err, e, "%s the pid namespace",
                               s->pidns_fd >= 0 ? "join" : "create");
    if (pid < 0) /* ENOMEM: the pid namespace's init has exited */
        return error_set_errno(err, e, "fork");
    return 0;
}

/* Reads the child's status pipe until want (a byte) or EOF; an "E" message becomes the error. */
static int read_status(int fd, char want, struct error *err)
{
    char buf[1024];
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, sizeof(buf) - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
        if (want && buf[0] == want)
            return 0;
        if (n == sizeof(buf) - 1)
            break;
    }
    buf[n] = '\0';
    if (n > 0 && buf[0] == 'E')
        return error_set(err, GRPC_INTERNAL, "%s", buf + 1);
    if (want)
        return error_set(err, GRPC_INTERNAL, "the process died while setting up");
    return 0;
}

static int make_status_pipe(struct spawn *s, int *rd, struct error *err)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return error_set_errno(err, errno, "create a pipe");
    *rd = fds[0];
    s->status_wr = fds[1];
    return 0;
}

int process_create_init(struct container *c, struct proc *p, const Grpc__Spec *spec, int pidns_fd,
                        struct error *err)
{
    struct spawn s;
    spawn_init(&s);
    s.init = true;
    s.pidns_fd = pidns_fd;
    int r;
    if (c->pause) {
        char *args[] = {(char *)agent.cfg.self_exe, "--pause"};
        Grpc__Process pause = GRPC__PROCESS__INIT;
        pause.args = args;
        pause.n_args = 2;
        r = spawn_from_process(&s, &pause, err);
        s.hold_term = true;
        s.caps = c->caps;
        s.no_new_privs = spec->process->nonewprivileges;
    } else {
        r = spawn_from_process(&s, spec->process, err);
        s.chroot = true;
        s.rootfs = c->rootfs;
        s.rootfs_ro = spec->root->readonly;
        if (r == 0)
            r = mount_plan_build(&s.plan, c->rootfs, spec, err);
    }
    s.hostname = spec->hostname;
    pthread_mutex_lock(&agent.lock);
    if (agent.shared_uts_fd >= 0) {
        s.uts_fd = fcntl(agent.shared_uts_fd, F_DUPFD_CLOEXEC, 3);
        s.ipc_fd = fcntl(agent.shared_ipc_fd, F_DUPFD_CLOEXEC, 3);
    }
    pthread_mutex_unlock(&agent.lock);
    int start[2] = {-1, -1};
    if (r == 0 && pipe2(start, O_CLOEXEC) < 0)
        r = error_set_errno(err, errno, "create a pipe");
    s.start_rd = start[0];
    p->start_fd = start[1];
    if (r == 0)
        r = make_stdio(p, &s, c->pause ? NULL : spec->process, err);
    if (r == 0)
        r = make_status_pipe(&s, &p->status_fd, err);
    if (r == 0)
        r = spawn_fork(&s, p, err);
    spawn_free(&s); /* the parent's copies of the child's ends */
    if (r < 0)
        return r;
    _cleanup_(error_clearp) struct error cg_err = ERROR_INIT;
    if (c->cgroup && cgroup_add_pid(c->cgroup, p->pid, &cg_err) < 0)
        log_warn("container %s: %s", c->id, cg_err.msg);
    return read_status(p->status_fd, 'R', err);
}

int process_start(struct proc *p, struct error *err)
{
    pthread_mutex_lock(&agent.lock);
    int start_fd = TAKE_FD(p->start_fd);
    int status_fd = TAKE_FD(p->status_fd);
    pthread_mutex_unlock(&agent.lock);
    if (start_fd < 0)
        return error_set(err, GRPC_FAILED_PRECONDITION, "the container was started already");
    int r = 0;
    if (write(start_fd, "S", 1) != 1)
        r = error_set_errno(err, errno, "start the container's process");
    close(start_fd);
    if (r == 0)
        r = read_status(status_fd, 0, err);
    close(status_fd);
    return r;
}

static int open_ns(struct spawn *s, pid_t pid, struct error *err)
{
    static const char *const ns[] = {"mnt", "uts", "ipc", "pid"};
    int *fds[] = {&s->ns_fd[0], &s->ns_fd[1], &s->ns_fd[2], &s->pidns_fd};
    char path[64];
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof(path), "/proc/%d/ns/%s", pid, ns[i]);
        *fds[i] = open(path, O_RDONLY | O_CLOEXEC);
        if (*fds[i] < 0)
            return error_set_errno(err, errno, "open %s", path);
    }
    snprintf(path, sizeof(path), "/proc/%d/root", pid);
    s->root_fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (s->root_fd < 0)
        return error_set_errno(err, errno, "open %s", path);
    return 0;
}

int process_exec(struct proc *p, pid_t init_pid, const char *cgroup, const Grpc__Process *proc,
                 const struct caps *ctr_caps, struct error *err)
{
    struct spawn s;
    spawn_init(&s);
    int status_rd = -1;
    int r = spawn_from_process(&s, proc, err);
    if (r == 0 && !s.caps.present)
        s.caps = *ctr_caps; /* rustjail: an exec without capabilities gets the container's */
    if (r == 0)
        r = open_ns(&s, init_pid, err);
    if (r == 0)
        r = make_stdio(p, &s, proc, err);
    if (r == 0)
        r = make_status_pipe(&s, &status_rd, err);
    if (r == 0)
        r = spawn_fork(&s, p, err);
    spawn_free(&s);
    if (r == 0) {
        _cleanup_(error_clearp) struct error cg_err = ERROR_INIT;
        if (cgroup && cgroup_add_pid(cgroup, p->pid, &cg_err) < 0)
            log_warn("exec %s: %s", p->exec_id, cg_err.msg);
        r = read_status(status_rd, 0, err);
    }
    if (status_rd >= 0)
        close(status_rd);
    return r;
}
