#include "shim/guest-copy.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "lib/thread.h"

#define WATCH_DEBOUNCE_MS 500
#define WATCH_STACK (128 * 1024)

/* --- one copy --- */

struct walk {
    struct agent *agent; /* NULL: only check what would be copied */
    const struct guest_copy *c;
    const struct guest_copy_limits *lim;
    uint64_t bytes;
    size_t entries;
    uint8_t *chunk; /* AGENT_COPY_CHUNK bytes */
    struct error *err;
};

/* The relative path below the mount, for messages ("" for the root). */
static char *host_name(const struct walk *w, const char *rel)
{
    return *rel ? xasprintf("%s/%s", w->c->host_path, rel) : xstrdup(w->c->host_path);
}

/* "mount <destination>: <host file> <what>" */
static int fail(struct walk *w, const char *rel, const char *what)
{
    _cleanup_free_ char *name = host_name(w, rel);
    return error_set(w->err, GRPC_INVALID_ARGUMENT, "mount %s: %s %s", w->c->destination, name,
                     what);
}

static int count_entry(struct walk *w, const char *rel, uint64_t bytes)
{
    w->entries++;
    w->bytes += bytes;
    if (w->entries > w->lim->max_entries || w->bytes > w->lim->max_bytes) {
        _cleanup_free_ char *name = host_name(w, rel);
        return error_set(w->err, GRPC_INVALID_ARGUMENT,
                         "mount %s: %s: the volume holds more than %zu entries or %llu bytes, "
                         "the most cocoon copies into a guest without a shared filesystem (see "
                         "[runtime] copy_volume_limit_mib)",
                         w->c->destination, name, w->lim->max_entries,
                         (unsigned long long)w->lim->max_bytes);
    }
    return 0;
}

static struct agent_file entry(const char *guest, const struct stat *st, uint64_t size)
{
    return (struct agent_file){
        .path = guest,
        .mode = (uint32_t)st->st_mode,
        .uid = (uint32_t)st->st_uid,
        .gid = (uint32_t)st->st_gid,
        .size = size,
    };
}

/* A regular file, open as fd, in chunks (one empty chunk for an empty file). */
static int copy_regular(struct walk *w, int fd, const struct stat *st, const char *guest,
                        const char *rel)
{
    if (count_entry(w, rel, (uint64_t)st->st_size) < 0)
        return -1;
    if (!w->agent)
        return 0;
    struct agent_file f = entry(guest, st, (uint64_t)st->st_size);
    uint64_t off = 0;
    do {
        size_t want = f.size - off < AGENT_COPY_CHUNK ? (size_t)(f.size - off) : AGENT_COPY_CHUNK;
        size_t got = 0;
        while (got < want) {
            ssize_t n = pread(fd, w->chunk + got, want - got, (off_t)(off + got));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                _cleanup_free_ char *name = host_name(w, rel);
                return n < 0 ? error_set_errno(w->err, errno, "mount %s: read %s",
                                               w->c->destination, name)
                             : error_set(w->err, GRPC_ABORTED,
                                         "mount %s: %s shrank while it was copied",
                                         w->c->destination, name);
            }
            got += (size_t)n;
        }
        if (agent_copy_file_chunk(w->agent, &f, off, w->chunk, want, w->err) < 0)
            return error_wrap(w->err, "mount %s", w->c->destination);
        off += want;
    } while (off < f.size);
    return 0;
}

/* A symlink below the root: relative, without a ".." component, so that it stays inside the
 * volume in the guest (and genpolicy's rules take it). */
static int copy_symlink(struct walk *w, int dirfd, const char *name, const struct stat *st,
                        const char *guest, const char *rel)
{
    char target[4096];
    ssize_t n = readlinkat(dirfd, name, target, sizeof(target) - 1);
    if (n < 0)
        return fail(w, rel, "cannot be read as a symlink");
    target[n] = '\0';
    bool dotdot = false;
    for (const char *p = target; *p;) {
        size_t l = strcspn(p, "/");
        dotdot = dotdot || (l == 2 && p[0] == '.' && p[1] == '.');
        p += l + (p[l] == '/');
    }
    if (target[0] == '/' || dotdot || n == 0) {
        _cleanup_free_ char *what =
            xasprintf("is a symlink to \"%s\": only relative links without \"..\" stay inside "
                      "the volume in the guest",
                      target);
        return fail(w, rel, what);
    }
    if (count_entry(w, rel, (uint64_t)n) < 0)
        return -1;
    if (!w->agent)
        return 0;
    struct agent_file f = entry(guest, st, (uint64_t)n);
    if (agent_copy_file_chunk(w->agent, &f, 0, target, (size_t)n, w->err) < 0)
        return error_wrap(w->err, "mount %s", w->c->destination);
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static int copy_dir(struct walk *w, int fd, const struct stat *st, const char *guest,
                    const char *rel);

/* One entry of directory dirfd. */
static int copy_child(struct walk *w, int dirfd, const char *name, const char *guest_dir,
                      const char *rel_dir)
{
    _cleanup_free_ char *guest = xasprintf("%s/%s", guest_dir, name);
    _cleanup_free_ char *rel = *rel_dir ? xasprintf("%s/%s", rel_dir, name) : xstrdup(name);
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        _cleanup_free_ char *full = host_name(w, rel);
        return error_set_errno(w->err, errno, "mount %s: %s", w->c->destination, full);
    }
    if (S_ISLNK(st.st_mode))
        return copy_symlink(w, dirfd, name, &st, guest, rel);
    if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
        _cleanup_free_ char *what =
            xasprintf("is %s, which cannot be copied into the guest", guest_file_kind(st.st_mode));
        return fail(w, rel, what);
    }
    int flags =
        O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0);
    _cleanup_close_ int fd = openat(dirfd, name, flags | O_NONBLOCK);
    struct stat now;
    if (fd < 0 || fstat(fd, &now) < 0 || now.st_ino != st.st_ino || now.st_dev != st.st_dev) {
        _cleanup_free_ char *full = host_name(w, rel);
        return error_set_errno(w->err, fd < 0 ? errno : ESTALE, "mount %s: open %s",
                               w->c->destination, full);
    }
    return S_ISDIR(st.st_mode) ? copy_dir(w, fd, &st, guest, rel)
                               : copy_regular(w, fd, &st, guest, rel);
}

static int copy_dir(struct walk *w, int fd, const struct stat *st, const char *guest,
                    const char *rel)
{
    if (count_entry(w, rel, 0) < 0)
        return -1;
    struct agent_file f = entry(guest, st, 0);
    if (w->agent && agent_copy_file_chunk(w->agent, &f, 0, NULL, 0, w->err) < 0)
        return error_wrap(w->err, "mount %s", w->c->destination);
    int dup_fd = dup(fd);
    DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
    if (!d) {
        if (dup_fd >= 0)
            close(dup_fd);
        _cleanup_free_ char *name = host_name(w, rel);
        return error_set_errno(w->err, errno, "mount %s: list %s", w->c->destination, name);
    }
    size_t n = 0, cap = 16;
    char **names = xcalloc(cap, sizeof(*names));
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (n == cap)
            names = xrealloc(names, (cap *= 2) * sizeof(*names));
        names[n++] = xstrdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof(*names), by_name);
    int r = 0;
    for (size_t i = 0; i < n && r == 0; i++)
        r = copy_child(w, fd, names[i], guest, rel);
    strv_free(names, n);
    return r;
}

int guest_copy_check(const struct guest_copy *c, const struct guest_copy_limits *lim,
                     struct error *err)
{
    return guest_copy(NULL, c, lim, err);
}

int guest_copy(struct agent *a, const struct guest_copy *c, const struct guest_copy_limits *lim,
               struct error *err)
{
    struct walk w = {.agent = a, .c = c, .lim = lim, .err = err};
    /* The root is followed, as the bind mount would; nothing below it is. */
    _cleanup_close_ int fd = open(c->host_path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return error_set_errno(err, errno, "mount %s: open %s", c->destination, c->host_path);
    if (c->tree != S_ISDIR(st.st_mode) || (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)))
        return error_set(err, GRPC_ABORTED, "mount %s: %s changed its type while it was planned",
                         c->destination, c->host_path);
    _cleanup_free_ uint8_t *chunk = xmalloc(AGENT_COPY_CHUNK);
    w.chunk = chunk;
    return c->tree ? copy_dir(&w, fd, &st, c->guest_path, "")
                   : copy_regular(&w, fd, &st, c->guest_path, "");
}

/* --- watching atomic-writer volumes --- */

struct watched {
    char *owner; /* container id */
    struct guest_copy copy;
    int wd;
    int64_t due_ms; /* a copy is due at this time; 0: none */
    struct watched *next;
};

struct guest_watch {
    struct agent *agent;
    struct guest_copy_limits lim;
    int inotify_fd;
    int stop_fd;
    bool started;
    pthread_t thread;
    pthread_mutex_t lock; /* the list; held while a copy runs, so removal waits for it */
    struct watched *list;
};

static void watched_free(struct watched *x)
{
    free(x->owner);
    free(x->copy.host_path);
    free(x->copy.guest_path);
    free(x->copy.destination);
    free(x);
}

/* Marks the volumes of wd due for a copy once the kubelet has finished its update. */
static void note_event(struct guest_watch *w, const struct inotify_event *ev)
{
    if (!(ev->mask & IN_MOVED_TO) || ev->len == 0 || strcmp(ev->name, "..data") != 0)
        return;
    for (struct watched *x = w->list; x; x = x->next)
        if (x->wd == ev->wd)
            x->due_ms = now_ms() + WATCH_DEBOUNCE_MS;
}

/* Copies what is due (under the lock: a removal waits for a copy under way); returns how long
 * until the next one is due, or -1. */
static int copy_due(struct guest_watch *w)
{
    int64_t next = -1, now = now_ms();
    for (struct watched *x = w->list; x; x = x->next) {
        if (!x->due_ms)
            continue;
        if (x->due_ms > now) {
            next = next < 0 || x->due_ms - now < next ? x->due_ms - now : next;
            continue;
        }
        x->due_ms = 0;
        struct error err = ERROR_INIT;
        if (guest_copy(w->agent, &x->copy, &w->lim, &err) < 0)
            log_msg(err.code == GRPC_UNAVAILABLE ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN,
                    "container %s: update of volume %s: %s", x->owner, x->copy.destination,
                    err.msg);
        else
            log_info("container %s: volume %s updated in the guest", x->owner, x->copy.destination);
        error_clear(&err);
    }
    return next < 0 ? -1 : (int)next;
}

static void *watch_main(void *arg)
{
    struct guest_watch *w = arg;
    pthread_setname_np(pthread_self(), "volume-watch");
    int timeout = -1;
    for (;;) {
        struct pollfd p[2] = {{.fd = w->inotify_fd, .events = POLLIN},
                              {.fd = w->stop_fd, .events = POLLIN}};
        int n = poll(p, 2, timeout);
        if (n < 0 && errno != EINTR)
            usleep(100 * 1000); /* cannot happen with valid fds; never spin */
        if (p[1].revents)
            return NULL;
        pthread_mutex_lock(&w->lock);
        if (p[0].revents) {
            _Alignas(struct inotify_event) char buf[4096];
            ssize_t len = read(w->inotify_fd, buf, sizeof(buf));
            for (char *q = buf; len > 0 && q < buf + len;) {
                const struct inotify_event *ev = (const struct inotify_event *)q;
                note_event(w, ev);
                q += sizeof(*ev) + ev->len;
            }
        }
        timeout = copy_due(w);
        pthread_mutex_unlock(&w->lock);
    }
}

struct guest_watch *guest_watch_new(struct agent *a, const struct guest_copy_limits *lim)
{
    struct guest_watch *w = xcalloc(1, sizeof(*w));
    w->agent = a;
    w->lim = *lim;
    w->inotify_fd = w->stop_fd = -1;
    pthread_mutex_init(&w->lock, NULL);
    return w;
}

static int start(struct guest_watch *w, struct error *err)
{
    w->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    w->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w->inotify_fd < 0 || w->stop_fd < 0)
        return error_set_errno(err, errno, "watch volumes");
    int e = thread_start(&w->thread, WATCH_STACK, watch_main, w);
    if (e != 0)
        return error_set_errno(err, e, "watch volumes: start a thread");
    w->started = true;
    return 0;
}

int guest_watch_add(struct guest_watch *w, const char *owner, const struct guest_copy *c,
                    struct error *err)
{
    pthread_mutex_lock(&w->lock);
    int r = w->started ? 0 : start(w, err);
    int wd = r < 0 ? -1 : inotify_add_watch(w->inotify_fd, c->host_path, IN_MOVED_TO | IN_ONLYDIR);
    if (r == 0 && wd < 0)
        r = error_set_errno(err, errno, "mount %s: watch %s for updates", c->destination,
                            c->host_path);
    if (r == 0) {
        struct watched *x = xcalloc(1, sizeof(*x));
        x->owner = xstrdup(owner);
        x->copy = (struct guest_copy){.host_path = xstrdup(c->host_path),
                                      .guest_path = xstrdup(c->guest_path),
                                      .destination = xstrdup(c->destination),
                                      .tree = true,
                                      .watch = true};
        x->wd = wd;
        x->next = w->list;
        w->list = x;
    }
    pthread_mutex_unlock(&w->lock);
    return r;
}

void guest_watch_remove(struct guest_watch *w, const char *owner)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    for (struct watched **px = &w->list; *px;) {
        struct watched *x = *px;
        if (strcmp(x->owner, owner) != 0) {
            px = &x->next;
            continue;
        }
        *px = x->next;
        bool shared = false; /* two mounts of one directory share the kernel's watch */
        for (struct watched *y = w->list; y; y = y->next)
            shared = shared || y->wd == x->wd;
        if (!shared)
            inotify_rm_watch(w->inotify_fd, x->wd);
        watched_free(x);
    }
    pthread_mutex_unlock(&w->lock);
}

void guest_watch_free(struct guest_watch *w)
{
    if (!w)
        return;
    if (w->started) {
        eventfd_write(w->stop_fd, 1);
        pthread_join(w->thread, NULL);
    }
    while (w->list) {
        struct watched *x = w->list;
        w->list = x->next;
        watched_free(x);
    }
    if (w->inotify_fd >= 0)
        close(w->inotify_fd);
    if (w->stop_fd >= 0)
        close(w->stop_fd);
    pthread_mutex_destroy(&w->lock);
    free(w);
}
