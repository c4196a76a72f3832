#include "shim/guest-files.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "lib/cleanup.h"
#include "lib/path.h"
#include "lib/xalloc.h"

#define TMPFS_MAGIC 0x01021994
#define EMPTY_DIR_PLUGIN "kubernetes.io~empty-dir"

enum action {
    KEEP,
    SHM,       /* /dev/shm: the pod's guest tmpfs, or one of its own */
    EPHEMERAL, /* a memory emptyDir: a guest tmpfs of the pod */
    LOCAL,     /* a disk emptyDir: a guest directory of the pod */
    COPY,      /* a file or a tree, copied */
};

struct decision {
    enum action action;
    char *name;   /* EPHEMERAL, LOCAL: the emptyDir's name */
    gid_t gid;    /* EPHEMERAL, LOCAL: the host directory's group */
    bool tree;    /* COPY */
    bool watch;   /* COPY of a tree */
    char *guest;  /* EPHEMERAL, LOCAL, COPY: the guest path that becomes the source */
    char *source; /* the cleaned host source */
};

static void decision_clear(struct decision *d)
{
    free(d->name);
    free(d->guest);
    free(d->source);
    *d = (struct decision){0};
}

/* A path made absolute (a relative destination is relative to the container's root) and
 * cleaned. */
static char *clean_absolute(const char *p)
{
    _cleanup_free_ char *abs = p[0] == '/' ? xstrdup(p) : xasprintf("/%s", p);
    return path_clean(abs);
}

static bool is_or_under(const char *clean, const char *dir)
{
    size_t l = strlen(dir);
    return strncmp(clean, dir, l) == 0 && (clean[l] == '\0' || clean[l] == '/');
}

/* pkg/oci newMount: the options make a bind whatever the type says. */
static bool is_bind(const Grpc__Mount *m)
{
    if (m->type && strcmp(m->type, "bind") == 0)
        return true;
    for (size_t i = 0; i < m->n_options; i++)
        if (m->options[i] && (!strcmp(m->options[i], "bind") || !strcmp(m->options[i], "rbind")))
            return true;
    return false;
}

/* The last element of a cleaned path, or NULL for "/", "." or "..". */
static const char *last_element(const char *clean)
{
    const char *slash = strrchr(clean, '/');
    const char *base = slash ? slash + 1 : clean;
    return *base && strcmp(base, ".") && strcmp(base, "..") ? base : NULL;
}

/* The emptyDir's name when source is the kubelet's directory of one:
 * <kubelet root>/pods/<uid>/volumes/kubernetes.io~empty-dir/<name>. */
static const char *empty_dir_name(const char *source)
{
    const char *base = last_element(source);
    if (!base || base - source < (ptrdiff_t)sizeof(EMPTY_DIR_PLUGIN) + 1)
        return NULL;
    const char *plugin = base - 1 - (sizeof(EMPTY_DIR_PLUGIN) - 1);
    return plugin[-1] == '/' && strncmp(plugin, EMPTY_DIR_PLUGIN, sizeof(EMPTY_DIR_PLUGIN) - 1) == 0
               ? base
               : NULL;
}

static int random_hex(char hex[17], struct error *err)
{
    uint8_t b[8];
    ssize_t r;
    do
        r = getrandom(b, sizeof(b), 0);
    while (r < 0 && errno == EINTR);
    if (r != (ssize_t)sizeof(b))
        return error_set(err, GRPC_INTERNAL, "getrandom: %s", r < 0 ? strerror(errno) : "short");
    for (size_t i = 0; i < sizeof(b); i++)
        snprintf(hex + 2 * i, 3, "%02x", b[i]);
    return 0;
}

/* The kubelet's atomic-writer layout: a `..data` symlink at the root of the volume. */
static bool atomic_writer_dir(const char *dir)
{
    _cleanup_free_ char *data = xasprintf("%s/..data", dir);
    struct stat st;
    return lstat(data, &st) == 0 && S_ISLNK(st.st_mode);
}

const char *guest_file_kind(mode_t mode)
{
    return S_ISSOCK(mode)   ? "a socket"
           : S_ISFIFO(mode) ? "a FIFO"
           : S_ISCHR(mode)  ? "a character device"
           : S_ISBLK(mode)  ? "a block device"
                            : "not a regular file, a directory or a symlink";
}

static int decide_emptydir(const char *dest, const char *name, const char *sandbox_id,
                           struct decision *d, struct error *err)
{
    struct stat st;
    struct statfs fs;
    if (stat(d->source, &st) < 0 || statfs(d->source, &fs) < 0)
        return error_set_errno(err, errno, "mount %s: emptyDir %s", dest, d->source);
    d->name = xstrdup(name);
    d->gid = st.st_gid;
    if ((unsigned long)fs.f_type == TMPFS_MAGIC) {
        d->action = EPHEMERAL;
        d->guest = xasprintf(GUEST_EPHEMERAL_DIR "/%s", name);
    } else {
        d->action = LOCAL;
        d->guest = xasprintf(GUEST_FILES_DIR "/%s/rootfs/local/%s", sandbox_id, name);
    }
    return 0;
}

/* What to do with one mount (see the header for the rule). */
static int decide(const Grpc__Mount *m, const char *container_id, const char *sandbox_id,
                  struct decision *d, struct error *err)
{
    *d = (struct decision){.action = KEEP};
    if (!m || !m->destination || !*m->destination)
        return 0;
    _cleanup_free_ char *dest = clean_absolute(m->destination);
    if (strcmp(dest, "/dev/shm") == 0) {
        if (!m->type || strcmp(m->type, "ephemeral") != 0)
            d->action = SHM;
        return 0;
    }
    if (!m->source || m->source[0] != '/' || !is_bind(m))
        return 0;
    d->source = path_clean(m->source);
    if (is_or_under(d->source, "/proc") || is_or_under(d->source, "/sys"))
        return 0;
    const char *empty_dir = empty_dir_name(d->source);
    if (empty_dir)
        return decide_emptydir(m->destination, empty_dir, sandbox_id, d, err);
    struct stat st;
    if (is_or_under(d->source, "/dev")) {
        /* isHostDevice: only regular files below /dev are the host's own. */
        if (strcmp(d->source, "/dev") == 0 || stat(d->source, &st) < 0 || !S_ISREG(st.st_mode))
            return 0;
    } else if (stat(d->source, &st) < 0) {
        return error_set_errno(err, errno, "mount %s: source %s", m->destination, m->source);
    }
    if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "mount %s: source %s is %s, which cannot be copied into the guest (the "
                         "host shares no filesystem with the VM)",
                         m->destination, m->source, guest_file_kind(st.st_mode));
    const char *base = last_element(dest);
    if (!base)
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "mount destination \"%s\": a copied mount needs a destination that "
                         "names a file or directory",
                         m->destination);
    char hex[17];
    if (random_hex(hex, err) < 0)
        return -1;
    d->action = COPY;
    d->tree = S_ISDIR(st.st_mode);
    d->watch = d->tree && atomic_writer_dir(d->source);
    d->guest = xasprintf(GUEST_FILES_DIR "/%s-%s-%s", container_id, hex, base);
    return 0;
}

/* --- building what the agent gets --- */

static char **strv_dup(const char *const *v, size_t n)
{
    char **out = xcalloc(n, sizeof(*out));
    for (size_t i = 0; i < n; i++)
        out[i] = xstrdup(v[i]);
    return out;
}

static Grpc__Storage *storage_new(const char *driver, const char *source, const char *fstype,
                                  const char *const *options, size_t n_options,
                                  const char *mount_point)
{
    Grpc__Storage *st = xmalloc(sizeof(*st));
    *st = (Grpc__Storage)GRPC__STORAGE__INIT;
    st->driver = xstrdup(driver);
    st->source = xstrdup(source);
    st->fstype = xstrdup(fstype);
    st->options = n_options ? strv_dup(options, n_options) : NULL;
    st->n_options = n_options;
    st->mount_point = xstrdup(mount_point);
    return st;
}

Grpc__Storage *guest_files_shm_storage(uint64_t size)
{
    _cleanup_free_ char *size_opt = xasprintf("size=%llu", (unsigned long long)size);
    const char *options[] = {"noexec", "nosuid", "nodev", "mode=1777", size_opt};
    return storage_new("ephemeral", "shm", "tmpfs", options, 5, GUEST_SHM_DIR);
}

/* kata_agent.go handleEphemeralStorage / handleLocalStorage. */
static Grpc__Storage *emptydir_storage(const struct decision *d)
{
    _cleanup_free_ char *fsgid = d->gid ? xasprintf("fsgid=%u", (unsigned)d->gid) : NULL;
    if (d->action == EPHEMERAL) {
        const char *options[] = {fsgid};
        return storage_new("ephemeral", "tmpfs", "tmpfs", options, fsgid ? 1 : 0, d->guest);
    }
    const char *options[] = {"mode=0777", fsgid};
    return storage_new("local", "local", "local", options, fsgid ? 2 : 1, d->guest);
}

static void set_string(char **field, const char *value)
{
    if (*field != protobuf_c_empty_string)
        free(*field);
    *field = xstrdup(value);
}

static void set_options(Grpc__Mount *m, const char *const *options, size_t n)
{
    for (size_t i = 0; i < m->n_options; i++)
        free(m->options[i]);
    free(m->options);
    m->options = n ? strv_dup(options, n) : NULL;
    m->n_options = n;
}

static void rewrite_shm(Grpc__Mount *m, uint64_t shm_size)
{
    if (shm_size > 0) {
        static const char *const rbind[] = {"rbind"};
        set_string(&m->type, "bind");
        set_string(&m->source, GUEST_SHM_DIR);
        set_options(m, rbind, 1);
        return;
    }
    _cleanup_free_ char *size_opt =
        xasprintf("size=%llu", (unsigned long long)GUEST_SHM_DEFAULT_SIZE);
    const char *options[] = {"noexec", "nosuid", "nodev", "mode=1777", size_opt};
    set_string(&m->type, "tmpfs");
    set_string(&m->source, "shm");
    set_options(m, options, 5);
}

uint64_t guest_files_shm_size(const Grpc__Spec *spec)
{
    for (size_t i = 0; spec && i < spec->n_mounts; i++) {
        const Grpc__Mount *m = spec->mounts[i];
        if (!m->destination)
            continue;
        _cleanup_free_ char *dest = clean_absolute(m->destination);
        if (strcmp(dest, "/dev/shm") != 0)
            continue;
        struct statfs fs;
        if (m->type && strcmp(m->type, "bind") == 0 && m->source && *m->source &&
            strcmp(m->source, "/dev/shm") != 0 && statfs(m->source, &fs) == 0)
            return (uint64_t)fs.f_bsize * fs.f_blocks;
        return GUEST_SHM_DEFAULT_SIZE;
    }
    return 0;
}

void guest_files_free(struct guest_files *f)
{
    for (size_t i = 0; i < f->n_copies; i++) {
        free(f->copies[i].host_path);
        free(f->copies[i].guest_path);
        free(f->copies[i].destination);
    }
    free(f->copies);
    for (size_t i = 0; i < f->n_storages; i++)
        protobuf_c_message_free_unpacked(&f->storages[i]->base, NULL);
    free(f->storages);
    free(f->termination_log);
    *f = (struct guest_files){0};
}

static bool valid_id(const char *id)
{
    return id && *id && !strchr(id, '/') && strcmp(id, ".") && strcmp(id, "..");
}

/* The termination message mount's destination, when the container's annotations name one. The
 * kubelet reads the file with either policy (FallbackToLogsOnError reads the logs only when the
 * file is empty); Kata copies it back for "File" only. */
static const char *termination_path(const struct annotation *anns, size_t n)
{
    const char *path = annotation_get(anns, n, ANNOTATION_TERMINATION_MESSAGE_PATH);
    const char *policy = annotation_get(anns, n, ANNOTATION_TERMINATION_MESSAGE_POLICY);
    bool read_by_kubelet =
        policy && (strcmp(policy, "File") == 0 || strcmp(policy, "FallbackToLogsOnError") == 0);
    return path && *path && read_by_kubelet ? path : NULL;
}

int guest_files_plan(Grpc__Spec *spec, const char *container_id, const char *sandbox_id,
                     uint64_t shm_size, const struct annotation *anns, size_t n_anns,
                     struct guest_files *out, struct error *err)
{
    *out = (struct guest_files){0};
    if (!valid_id(container_id) || !valid_id(sandbox_id))
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "guest files: invalid container id \"%s\" or sandbox id \"%s\"",
                         container_id ? container_id : "", sandbox_id ? sandbox_id : "");
    size_t nm = spec->n_mounts;
    if (nm == 0)
        return 0;

    /* Decide everything first, so that a failure leaves the spec as it was. */
    struct decision *ds = xcalloc(nm, sizeof(*ds));
    int r = 0;
    for (size_t i = 0; i < nm && r == 0; i++)
        r = decide(spec->mounts[i], container_id, sandbox_id, &ds[i], err);
    if (r < 0) {
        for (size_t i = 0; i < nm; i++)
            decision_clear(&ds[i]);
        free(ds);
        return -1;
    }

    _cleanup_free_ char *term = NULL;
    const char *term_dest = termination_path(anns, n_anns);
    if (term_dest)
        term = clean_absolute(term_dest);
    out->copies = xcalloc(nm, sizeof(*out->copies));
    out->storages = xcalloc(nm, sizeof(*out->storages));
    for (size_t i = 0; i < nm; i++) {
        Grpc__Mount *m = spec->mounts[i];
        struct decision *d = &ds[i];
        if (d->action == SHM) {
            rewrite_shm(m, shm_size);
        } else if (d->action == EPHEMERAL || d->action == LOCAL) {
            out->storages[out->n_storages++] = emptydir_storage(d);
            /* Kata leaves a disk emptyDir's type "local" (the agent binds it all the same) */
            set_string(&m->type, d->action == LOCAL ? "local" : "bind");
            set_string(&m->source, d->guest);
        } else if (d->action == COPY) {
            _cleanup_free_ char *dest = clean_absolute(m->destination);
            if (term && !d->tree && !out->termination_log && strcmp(dest, term) == 0)
                out->termination_log = xstrdup(d->source);
            out->copies[out->n_copies++] = (struct guest_copy){
                .host_path = xstrdup(d->source),
                .guest_path = xstrdup(d->guest),
                .destination = xstrdup(m->destination),
                .tree = d->tree,
                .watch = d->watch,
            };
            set_string(&m->source, d->guest);
        }
        decision_clear(d);
    }
    free(ds);
    return 0;
}
