#include "tar.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <zlib.h>

#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "util.h"

#define BLOCK 512

struct entry {
    char *path;
    char *link;
    char type;
    mode_t mode;
    uid_t uid;
    gid_t gid;
    unsigned long long size;
    unsigned major, minor;
};

static void entry_clear(struct entry *e)
{
    free(e->path);
    free(e->link);
    memset(e, 0, sizeof(*e));
}

static int gz_full(gzFile gz, void *buf, size_t len, struct error *err)
{
    size_t n = 0;
    while (n < len) {
        int r = gzread(gz, (char *)buf + n, (unsigned)(len - n > (1u << 30) ? 1u << 30 : len - n));
        if (r <= 0)
            return error_set(err, GRPC_DATA_LOSS, "layer: truncated or corrupt");
        n += (size_t)r;
    }
    return 0;
}

static int gz_skip(gzFile gz, unsigned long long len, struct error *err)
{
    char buf[8192];
    while (len) {
        size_t n = len > sizeof(buf) ? sizeof(buf) : (size_t)len;
        if (gz_full(gz, buf, n, err) < 0)
            return -1;
        len -= n;
    }
    return 0;
}

static unsigned long long padded(unsigned long long n)
{
    return (n + BLOCK - 1) / BLOCK * BLOCK;
}

/* Octal, or base-256 when the high bit of the first byte is set. */
static unsigned long long number(const char *f, size_t len)
{
    unsigned long long v = 0;
    if ((unsigned char)f[0] & 0x80) {
        v = (unsigned char)f[0] & 0x7f;
        for (size_t i = 1; i < len; i++)
            v = (v << 8) | (unsigned char)f[i];
        return v;
    }
    for (size_t i = 0; i < len && f[i]; i++)
        if (f[i] >= '0' && f[i] <= '7')
            v = v * 8 + (unsigned long long)(f[i] - '0');
    return v;
}

static char *field(const char *f, size_t len)
{
    return xstrndup(f, strnlen(f, len));
}

/* pax records "LEN key=value\n": path, linkpath and size override the header. */
static void pax_apply(char *data, size_t len, struct entry *next)
{
    size_t off = 0;
    while (off < len) {
        char *end;
        unsigned long rl = strtoul(data + off, &end, 10);
        if (rl == 0 || off + rl > len || *end != ' ')
            return;
        char *kv = end + 1;
        char *eq = memchr(kv, '=', data + off + rl - kv);
        if (eq) {
            size_t vl = (size_t)(data + off + rl - 1 - (eq + 1));
            if (!strncmp(kv, "path=", 5)) {
                free(next->path);
                next->path = xstrndup(eq + 1, vl);
            } else if (!strncmp(kv, "linkpath=", 9)) {
                free(next->link);
                next->link = xstrndup(eq + 1, vl);
            } else if (!strncmp(kv, "size=", 5)) {
                next->size = strtoull(eq + 1, NULL, 10);
            }
        }
        off += rl;
    }
}

/* "./a/b/" -> "a/b"; NULL for the root itself or a path with "..". */
static char *clean_path(const char *p)
{
    while (*p == '/' || (p[0] == '.' && p[1] == '/'))
        p += *p == '/' ? 1 : 2;
    char *s = xstrdup(p);
    size_t l = strlen(s);
    while (l && s[l - 1] == '/')
        s[--l] = '\0';
    bool bad = !l || !strcmp(s, ".");
    for (char *c = s; !bad && (c = strstr(c, "..")); c += 2)
        bad = (c == s || c[-1] == '/') && (c[2] == '/' || c[2] == '\0');
    if (bad) {
        free(s);
        return NULL;
    }
    return s;
}

static int open_dir(int root, const char *path)
{
    return openat2_in_root(root, path, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

/* The directory holding `path` (created as needed), opened O_PATH; *base is its last part. */
static int open_parent(int root, char *path, const char **base, struct error *err)
{
    char *slash = strrchr(path, '/');
    if (!slash) {
        *base = path;
        return fcntl(root, F_DUPFD_CLOEXEC, 3);
    }
    *slash = '\0';
    *base = slash + 1;
    int fd = open_dir(root, path);
    if (fd < 0 && errno == ENOENT)
        fd = mkdirs_in_root(root, path, 0755, O_PATH);
    if (fd < 0)
        error_set_errno(err, errno, "layer: open directory %s", path);
    *slash = '/';
    return fd;
}

static int write_file(int pfd, const char *base, const struct entry *e, gzFile gz,
                      struct error *err)
{
    remove_at(pfd, base);
    _cleanup_close_ int fd =
        openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return error_set_errno(err, errno, "layer: create %s", e->path);
    char buf[65536];
    unsigned long long left = e->size;
    while (left) {
        size_t n = left > sizeof(buf) ? sizeof(buf) : (size_t)left;
        if (gz_full(gz, buf, n, err) < 0)
            return -1;
        if (write(fd, buf, n) != (ssize_t)n)
            return error_set_errno(err, errno, "layer: write %s", e->path);
        left -= n;
    }
    if (fchown(fd, e->uid, e->gid) < 0 || fchmod(fd, e->mode) < 0)
        return error_set_errno(err, errno, "layer: owner and mode of %s", e->path);
    return 0;
}

/* Makes e under root; *consumed = how much of e's data it read. */
static int make_entry(int root, struct entry *e, gzFile gz, unsigned long long *consumed,
                      struct error *err)
{
    *consumed = 0;
    const char *base;
    _cleanup_close_ int pfd = open_parent(root, e->path, &base, err);
    if (pfd < 0)
        return -1;
    if (!strcmp(base, ".wh..wh..opq")) {
        clear_dir(pfd);
        return 0;
    }
    if (!strncmp(base, ".wh.", 4)) {
        remove_at(pfd, base + 4);
        return 0;
    }
    switch (e->type) {
    case '0':
    case '7':
    case '\0':
        *consumed = e->size;
        return write_file(pfd, base, e, gz, err);
    case '5': {
        struct stat st;
        if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode))
            remove_at(pfd, base);
        if (mkdirat(pfd, base, e->mode) < 0 && errno != EEXIST)
            return error_set_errno(err, errno, "layer: mkdir %s", e->path);
        fchownat(pfd, base, e->uid, e->gid, AT_SYMLINK_NOFOLLOW);
        _cleanup_close_ int d = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (d >= 0)
            fchmod(d, e->mode);
        return 0;
    }
    case '2':
        remove_at(pfd, base);
        if (symlinkat(e->link ? e->link : "", pfd, base) < 0)
            return error_set_errno(err, errno, "layer: symlink %s", e->path);
        fchownat(pfd, base, e->uid, e->gid, AT_SYMLINK_NOFOLLOW);
        return 0;
    case '1': {
        _cleanup_free_ char *target = e->link ? clean_path(e->link) : NULL;
        const char *tbase;
        _cleanup_close_ int tfd = target ? open_parent(root, target, &tbase, err) : -1;
        if (tfd < 0)
            return error_set(err, GRPC_INVALID_ARGUMENT, "layer: bad hard link %s", e->path);
        remove_at(pfd, base);
        if (linkat(tfd, tbase, pfd, base, 0) < 0)
            return error_set_errno(err, errno, "layer: link %s", e->path);
        return 0;
    }
    case '3':
    case '4':
    case '6': {
        mode_t type = e->type == '3' ? S_IFCHR : e->type == '4' ? S_IFBLK : S_IFIFO;
        remove_at(pfd, base);
        if (mknodat(pfd, base, type | e->mode, makedev(e->major, e->minor)) < 0)
            log_warn("layer: mknod %s: %s", e->path, strerror(errno));
        return 0;
    }
    default:
        log_warn("layer: skipping %s of type '%c'", e->path, e->type);
        return 0;
    }
}

static int extract(int root, gzFile gz, struct error *err)
{
    struct entry next = {0}; /* what pax and GNU long-name entries say of the next one */
    int zero_blocks = 0;
    for (;;) {
        char h[BLOCK];
        if (gz_full(gz, h, BLOCK, err) < 0) {
            entry_clear(&next);
            return zero_blocks ? 0 : -1; /* some writers end after one zero block */
        }
        static const char zero[BLOCK];
        if (!memcmp(h, zero, BLOCK)) {
            if (++zero_blocks == 2)
                break;
            continue;
        }
        zero_blocks = 0;
        struct entry e = {0};
        e.type = h[156];
        e.size = next.size ? next.size : number(h + 124, 12);
        e.mode = (mode_t)number(h + 100, 8) & 07777;
        e.uid = (uid_t)number(h + 108, 8);
        e.gid = (gid_t)number(h + 116, 8);
        e.major = (unsigned)number(h + 329, 8);
        e.minor = (unsigned)number(h + 337, 8);
        if (e.type == 'x' || e.type == 'g' || e.type == 'L' || e.type == 'K') {
            unsigned long long sz = number(h + 124, 12);
            if (sz > (16u << 20)) {
                entry_clear(&next);
                return error_set(err, GRPC_INVALID_ARGUMENT, "layer: header entry too big");
            }
            _cleanup_free_ char *data = xmalloc(sz + 1);
            if (gz_full(gz, data, sz, err) < 0 || gz_skip(gz, padded(sz) - sz, err) < 0) {
                entry_clear(&next);
                return -1;
            }
            data[sz] = '\0';
            if (e.type == 'x')
                pax_apply(data, sz, &next);
            else if (e.type == 'L')
                free(next.path), next.path = xstrdup(data);
            else if (e.type == 'K')
                free(next.link), next.link = xstrdup(data);
            continue;
        }
        if (next.path) {
            e.path = TAKE_PTR(next.path);
        } else if (!memcmp(h + 257, "ustar", 5) && h[345]) {
            _cleanup_free_ char *prefix = field(h + 345, 155);
            _cleanup_free_ char *name = field(h, 100);
            e.path = xasprintf("%s/%s", prefix, name);
        } else {
            e.path = field(h, 100);
        }
        e.link = next.link ? TAKE_PTR(next.link) : field(h + 157, 100);
        entry_clear(&next);
        char *clean = clean_path(e.path);
        free(e.path);
        e.path = clean;
        unsigned long long consumed = 0;
        int r = e.path ? make_entry(root, &e, gz, &consumed, err) : 0;
        if (r == 0)
            r = gz_skip(gz, padded(e.size) - consumed, err);
        entry_clear(&e);
        if (r < 0)
            return -1;
    }
    entry_clear(&next);
    return 0;
}

int tar_extract(int root_fd, int layer_fd, struct error *err)
{
    int fd = fcntl(layer_fd, F_DUPFD_CLOEXEC, 3);
    gzFile gz = fd >= 0 ? gzdopen(fd, "rb") : NULL;
    if (!gz) {
        if (fd >= 0)
            close(fd);
        return error_set(err, GRPC_INTERNAL, "layer: cannot read");
    }
    gzbuffer(gz, 128 * 1024);
    int r = extract(root_fd, gz, err);
    gzclose(gz);
    return r;
}
