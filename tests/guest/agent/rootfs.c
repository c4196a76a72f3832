#include "rootfs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/error.h"
#include "lib/xalloc.h"

/* --- planning (in the agent) --- */

struct mount_flag {
    const char *name;
    bool clear;
    unsigned long flag;
};

static const struct mount_flag mount_flags[] = {
    {"ro", false, MS_RDONLY},          {"rw", true, MS_RDONLY},
    {"nosuid", false, MS_NOSUID},      {"suid", true, MS_NOSUID},
    {"nodev", false, MS_NODEV},        {"dev", true, MS_NODEV},
    {"noexec", false, MS_NOEXEC},      {"exec", true, MS_NOEXEC},
    {"sync", false, MS_SYNCHRONOUS},   {"async", true, MS_SYNCHRONOUS},
    {"dirsync", false, MS_DIRSYNC},    {"noatime", false, MS_NOATIME},
    {"atime", true, MS_NOATIME},       {"nodiratime", false, MS_NODIRATIME},
    {"diratime", true, MS_NODIRATIME}, {"relatime", false, MS_RELATIME},
    {"norelatime", true, MS_RELATIME}, {"strictatime", false, MS_STRICTATIME},
};

static const struct mount_flag propagation_flags[] = {
    {"private", false, MS_PRIVATE},       {"rprivate", false, MS_PRIVATE | MS_REC},
    {"shared", false, MS_SHARED},         {"rshared", false, MS_SHARED | MS_REC},
    {"slave", false, MS_SLAVE},           {"rslave", false, MS_SLAVE | MS_REC},
    {"unbindable", false, MS_UNBINDABLE}, {"runbindable", false, MS_UNBINDABLE | MS_REC},
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static bool parse_flag(const struct mount_flag *table, size_t n, const char *opt,
                       unsigned long *flags)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(table[i].name, opt))
            continue;
        if (table[i].clear)
            *flags &= ~table[i].flag;
        else
            *flags |= table[i].flag;
        return true;
    }
    return false;
}

static void add_op(struct mount_plan *plan, const char *rootfs, const char *dest,
                   const char *source, const char *fstype, char **options, size_t n_options)
{
    plan->ops = xrealloc(plan->ops, (plan->n + 1) * sizeof(*plan->ops));
    struct mount_op *op = &plan->ops[plan->n++];
    memset(op, 0, sizeof(*op));
    op->target = xasprintf("%s%s%s", rootfs, dest[0] == '/' ? "" : "/", dest);
    op->source = xstrdup(source && *source ? source : "none");
    op->fstype = xstrdup(fstype && *fstype ? fstype : "none");
    op->bind = !strcmp(op->fstype, "bind");
    size_t data_len = 0;
    op->data = xstrdup("");
    for (size_t i = 0; i < n_options; i++) {
        const char *o = options[i];
        if (!strcmp(o, "bind") || !strcmp(o, "rbind")) {
            op->bind = true;
            if (o[0] == 'r')
                op->flags |= MS_REC;
        } else if (!parse_flag(mount_flags, N_OF(mount_flags), o, &op->flags) &&
                   !parse_flag(propagation_flags, N_OF(propagation_flags), o, &op->propagation)) {
            size_t l = strlen(o);
            op->data = xrealloc(op->data, data_len + l + 2);
            if (data_len)
                op->data[data_len++] = ',';
            memcpy(op->data + data_len, o, l + 1);
            data_len += l;
        }
    }
    op->populate_dev = !strcmp(dest, "/dev") && !op->bind;
}

static bool spec_mounts(const Grpc__Spec *spec, const char *dest)
{
    for (size_t i = 0; spec && i < spec->n_mounts; i++)
        if (spec->mounts[i]->destination && !strcmp(spec->mounts[i]->destination, dest))
            return true;
    return false;
}

/* kata-agent canonicalizes the source of a bind mount (rustjail mount_from), so a source that
 * does not exist fails the container with ENOENT. (It fails on any mount that fails, too; here
 * other failures are warnings, see rootfs_enter.) */
static int check_spec_mount(const Grpc__Mount *m, const struct mount_op *op, struct error *err)
{
    char resolved[PATH_MAX];
    if (op->bind && !realpath(op->source, resolved))
        return error_set_errno(err, errno, "mount %s: bind source %s", m->destination, op->source);
    return 0;
}

int mount_plan_build(struct mount_plan *plan, const char *rootfs, const Grpc__Spec *spec,
                     struct error *err)
{
    plan->ops = NULL;
    plan->n = 0;
    char *proc_opts[] = {"nosuid", "nodev", "noexec"};
    char *dev_opts[] = {"rbind"};
    char *sys_opts[] = {"ro", "nosuid", "nodev", "noexec"};
    if (!spec_mounts(spec, "/proc"))
        add_op(plan, rootfs, "/proc", "proc", "proc", proc_opts, N_OF(proc_opts));
    if (!spec_mounts(spec, "/dev"))
        add_op(plan, rootfs, "/dev", "/dev", "bind", dev_opts, N_OF(dev_opts));
    if (!spec_mounts(spec, "/sys"))
        add_op(plan, rootfs, "/sys", "sysfs", "sysfs", sys_opts, N_OF(sys_opts));
    for (size_t i = 0; spec && i < spec->n_mounts; i++) {
        const Grpc__Mount *m = spec->mounts[i];
        const char *dest = m->destination ? m->destination : "";
        if (dest[0] != '/' || strstr(dest, "..")) {
            mount_plan_free(plan);
            return error_set(err, GRPC_INVALID_ARGUMENT, "the mount destination %s is invalid",
                             dest);
        }
        add_op(plan, rootfs, dest, m->source, m->type, m->options, m->n_options);
        if (check_spec_mount(m, &plan->ops[plan->n - 1], err) < 0) {
            mount_plan_free(plan);
            return -1;
        }
    }
    return 0;
}

void mount_plan_free(struct mount_plan *plan)
{
    for (size_t i = 0; i < plan->n; i++) {
        free(plan->ops[i].source);
        free(plan->ops[i].target);
        free(plan->ops[i].fstype);
        free(plan->ops[i].data);
    }
    free(plan->ops);
    plan->ops = NULL;
    plan->n = 0;
}

/* --- entering (in the child: system calls and stack buffers only) --- */

static void warn(const char *fmt, ...)
{
    char buf[768];
    int n = snprintf(buf, sizeof(buf), "cocoon-test-agent: warning: ");
    va_list ap;
    va_start(ap, fmt);
    n += vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(buf) - 2)
        n = (int)sizeof(buf) - 2;
    buf[n++] = '\n';
    (void)!write(2, buf, (size_t)n);
}

static int mkdirs(const char *path)
{
    char p[4096];
    if (snprintf(p, sizeof(p), "%s", path) >= (int)sizeof(p))
        return -1;
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0755) < 0 && errno != EEXIST)
            return -1;
        *s = c;
        if (c == '\0')
            return 0;
    }
}

/* Creates what op->target must be: a file when a file is bound, else a directory. */
static int make_target(const struct mount_op *op)
{
    struct stat st;
    if (op->bind && stat(op->source, &st) == 0 && !S_ISDIR(st.st_mode)) {
        char dir[4096];
        snprintf(dir, sizeof(dir), "%s", op->target);
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
            *slash = '\0';
            mkdirs(dir);
        }
        int fd = open(op->target, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0 && errno != EISDIR)
            return -1;
        if (fd >= 0)
            close(fd);
        return 0;
    }
    return mkdirs(op->target);
}

static void populate_dev(const char *dev)
{
    static const char *const nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
    static const char *const links[][2] = {{"fd", "/proc/self/fd"},
                                           {"stdin", "/proc/self/fd/0"},
                                           {"stdout", "/proc/self/fd/1"},
                                           {"stderr", "/proc/self/fd/2"},
                                           {"ptmx", "pts/ptmx"}};
    char path[4096], src[64];
    for (size_t i = 0; i < N_OF(nodes); i++) {
        snprintf(path, sizeof(path), "%s/%s", dev, nodes[i]);
        snprintf(src, sizeof(src), "/dev/%s", nodes[i]);
        int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
        if (fd >= 0)
            close(fd);
        if (mount(src, path, NULL, MS_BIND, NULL) < 0)
            warn("bind %s: %s", src, strerror(errno));
    }
    for (size_t i = 0; i < N_OF(links); i++) {
        snprintf(path, sizeof(path), "%s/%s", dev, links[i][0]);
        (void)!symlink(links[i][1], path);
    }
}

static void apply(const struct mount_op *op)
{
    if (make_target(op) < 0) {
        warn("mount %s: create the mount point: %s", op->target, strerror(errno));
        return;
    }
    int r;
    if (op->bind) {
        r = mount(op->source, op->target, NULL, MS_BIND | (op->flags & MS_REC), NULL);
        unsigned long extra = op->flags & ~MS_REC;
        if (r == 0 && extra)
            r = mount(NULL, op->target, NULL, MS_REMOUNT | MS_BIND | extra, NULL);
    } else {
        r = mount(op->source, op->target, op->fstype, op->flags, op->data[0] ? op->data : NULL);
    }
    if (r < 0) {
        warn("mount %s (%s) on %s: %s", op->source, op->fstype, op->target, strerror(errno));
        return;
    }
    if (op->propagation && mount(NULL, op->target, NULL, op->propagation, NULL) < 0)
        warn("mount propagation of %s: %s", op->target, strerror(errno));
    if (op->populate_dev)
        populate_dev(op->target);
}

static int fail(char *msg, size_t msg_len, const char *what, const char *path)
{
    snprintf(msg, msg_len, "%s %s: %s", what, path, strerror(errno));
    return -1;
}

int rootfs_enter(const char *rootfs, bool readonly, const struct mount_plan *plan, char *msg,
                 size_t msg_len)
{
    /* Nothing done from here on may reach the agent's mount namespace. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return fail(msg, msg_len, "make mounts private under", "/");
    if (mount(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
        return fail(msg, msg_len, "bind rootfs", rootfs);
    for (size_t i = 0; i < plan->n; i++)
        apply(&plan->ops[i]);
    if (readonly && mount(NULL, rootfs, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0)
        return fail(msg, msg_len, "make read-only", rootfs);
    if (chdir(rootfs) < 0)
        return fail(msg, msg_len, "chdir", rootfs);
    /* switch_root's way: works on an initramfs, where pivot_root does not. */
    if (mount(rootfs, "/", NULL, MS_MOVE, NULL) < 0)
        warn("move %s to /: %s; using a plain chroot", rootfs, strerror(errno));
    if (chroot(".") < 0)
        return fail(msg, msg_len, "chroot", rootfs);
    if (chdir("/") < 0)
        return fail(msg, msg_len, "chdir", "/");
    return 0;
}
