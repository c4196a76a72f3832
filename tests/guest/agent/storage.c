#include "storage.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "util.h"

/* "key=value" among options (Kata's parse_options: an option with exactly one '='). */
static const char *option_value(const Grpc__Storage *st, const char *key)
{
    size_t kl = strlen(key);
    for (size_t i = 0; i < st->n_options; i++) {
        const char *o = st->options[i];
        if (!strncmp(o, key, kl) && o[kl] == '=' && !strchr(o + kl + 1, '='))
            return o + kl + 1;
    }
    return NULL;
}

static int parse_uint(const char *s, int base, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, base);
    if (!*s || *end || errno || *s == '-')
        return -1;
    *out = v;
    return 0;
}

/* fsgid=<gid>: the mount point's group, with the setgid bit (Kata's ephemeral and local
 * handlers). Returns 1 when it was applied, 0 without one. */
static int apply_fsgid(const Grpc__Storage *st, struct error *err)
{
    const char *v = option_value(st, "fsgid");
    unsigned long gid;
    if (!v)
        return 0;
    if (parse_uint(v, 10, &gid) < 0 || gid > 0xffffffffUL)
        return error_set(err, GRPC_INVALID_ARGUMENT, "storage %s: fsgid=%s is not a group id",
                         st->mount_point, v);
    if (chown(st->mount_point, (uid_t)-1, (gid_t)gid) < 0)
        return error_set_errno(err, errno, "storage %s: chown to group %lu", st->mount_point, gid);
    return 1;
}

/* "ephemeral": a tmpfs at mount_point. Like kata-agent, the options are read for fsgid= only
 * and the tmpfs is mounted without them (no size=, mode=, noexec...). */
static int mount_ephemeral(const Grpc__Storage *st, struct error *err)
{
    if (st->fstype && !strcmp(st->fstype, "hugetlbfs"))
        return error_set(err, GRPC_UNIMPLEMENTED,
                         "storage %s: hugetlbfs ephemeral storage is not supported by the test "
                         "agent",
                         st->mount_point);
    if (mkdir_p(st->mount_point, 0755, err) < 0)
        return error_wrap(err, "storage %s", st->mount_point);
    const char *source = st->source && *st->source ? st->source : "none";
    if (mount(source, st->mount_point, st->fstype, 0, NULL) < 0)
        return error_set_errno(err, errno, "storage %s: mount %s (%s)", st->mount_point, source,
                               st->fstype);
    int r = apply_fsgid(st, err);
    if (r < 0)
        return -1;
    struct stat sb;
    if (r == 1 && (stat(st->mount_point, &sb) < 0 ||
                   chmod(st->mount_point, (sb.st_mode & 07777) | S_ISGID) < 0))
        return error_set_errno(err, errno, "storage %s: set the setgid bit", st->mount_point);
    return 0;
}

/* "local": a directory at mount_point; mode= (octal) and fsgid= applied; nothing mounted. */
static int make_local(const Grpc__Storage *st, struct error *err)
{
    if (mkdir_p(st->mount_point, 0755, err) < 0)
        return error_wrap(err, "storage %s", st->mount_point);
    int fsgid = apply_fsgid(st, err);
    if (fsgid < 0)
        return -1;
    const char *mode = option_value(st, "mode");
    unsigned long m;
    if (!mode)
        return 0;
    if (parse_uint(mode, 8, &m) < 0 || m > 07777)
        return error_set(err, GRPC_INVALID_ARGUMENT, "storage %s: mode=%s is not an octal mode",
                         st->mount_point, mode);
    if (fsgid == 1)
        m |= S_ISGID;
    if (chmod(st->mount_point, (mode_t)m) < 0)
        return error_set_errno(err, errno, "storage %s: chmod %lo", st->mount_point, m);
    return 0;
}

static struct storage_ref *find_ref_locked(const char *mount_point)
{
    for (struct storage_ref *s = agent.storages; s; s = s->next)
        if (!strcmp(s->mount_point, mount_point))
            return s;
    return NULL;
}

/* One storage: a reference when its mount point is already set up, else the handler. */
static int add_one(const Grpc__Storage *st, char ***refs, size_t *n_refs, struct error *err)
{
    bool ephemeral = !strcmp(st->driver, "ephemeral");
    if (!st->mount_point || st->mount_point[0] != '/')
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "storage (driver %s): mount_point \"%s\" is not an absolute path",
                         st->driver, st->mount_point ? st->mount_point : "");
    pthread_mutex_lock(&agent.lock);
    struct storage_ref *s = find_ref_locked(st->mount_point);
    bool present = s && s->refs > 0;
    if (present)
        s->refs++;
    pthread_mutex_unlock(&agent.lock);
    if (!present) {
        if ((ephemeral ? mount_ephemeral(st, err) : make_local(st, err)) < 0)
            return -1;
        pthread_mutex_lock(&agent.lock);
        s = find_ref_locked(st->mount_point);
        if (!s) {
            s = xcalloc(1, sizeof(*s));
            s->mount_point = xstrdup(st->mount_point);
            s->next = agent.storages;
            agent.storages = s;
        }
        s->refs++;
        s->mounts += ephemeral;
        pthread_mutex_unlock(&agent.lock);
        log_info("storage %s (%s) set up", st->mount_point, st->driver);
    }
    *refs = xrealloc(*refs, (*n_refs + 1) * sizeof(**refs));
    (*refs)[(*n_refs)++] = xstrdup(st->mount_point);
    return 0;
}

int storage_add(Grpc__Storage *const *st, size_t n, bool for_container, char ***refs,
                size_t *n_refs, struct error *err)
{
    size_t first = *n_refs;
    for (size_t i = 0; i < n; i++) {
        const char *driver = st[i]->driver ? st[i]->driver : "";
        int r = 0;
        if (!strcmp(driver, "image_guest_pull")) {
            if (!for_container)
                r = error_set(err, GRPC_INVALID_ARGUMENT,
                              "storage %s: image_guest_pull is a container's storage, not the "
                              "sandbox's",
                              st[i]->mount_point);
        } else if (!strcmp(driver, "ephemeral") || !strcmp(driver, "local")) {
            r = add_one(st[i], refs, n_refs, err);
        } else {
            r = error_set(err, GRPC_INVALID_ARGUMENT,
                          "Failed to find the storage handler %s (the test agent, like "
                          "kata-agent, knows ephemeral, local and image_guest_pull)",
                          driver);
        }
        if (r < 0) {
            storage_release(*refs + first, *n_refs - first);
            while (*n_refs > first)
                free((*refs)[--*n_refs]);
            return -1;
        }
    }
    return 0;
}

void storage_release(char *const *refs, size_t n)
{
    pthread_mutex_lock(&agent.lock);
    for (size_t i = 0; i < n; i++) {
        struct storage_ref *s = find_ref_locked(refs[i]);
        if (s && s->refs > 0)
            s->refs--;
    }
    pthread_mutex_unlock(&agent.lock);
}

void storage_reset(void)
{
    pthread_mutex_lock(&agent.lock);
    struct storage_ref *list = agent.storages;
    agent.storages = NULL;
    pthread_mutex_unlock(&agent.lock);
    for (struct storage_ref *s = list, *next; s; s = next) {
        next = s->next;
        for (unsigned i = 0; i < s->mounts; i++)
            if (umount2(s->mount_point, MNT_DETACH) < 0)
                log_warn("storage %s: unmount: %s", s->mount_point, strerror(errno));
        free(s->mount_point);
        free(s);
    }
}
