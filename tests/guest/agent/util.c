#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/xalloc.h"

int mkdir_p(const char *path, mode_t mode, struct error *err)
{
    _cleanup_free_ char *p = xstrdup(path);
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, mode) < 0 && errno != EEXIST)
            return error_set_errno(err, errno, "mkdir %s", p);
        *s = c;
        if (c == '\0')
            break;
    }
    return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    if (flag == FTW_DP)
        return rmdir(path) < 0 && errno != ENOENT ? -1 : 0;
    return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
}

int rm_rf(const char *path, struct error *err)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : error_set_errno(err, errno, "remove %s", path);
    if (nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) != 0)
        return error_set_errno(err, errno, "remove %s", path);
    return 0;
}

int write_string(const char *path, const char *s, struct error *err)
{
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return error_set_errno(err, errno, "open %s", path);
    size_t len = strlen(s);
    if (write(fd, s, len) != (ssize_t)len)
        return error_set_errno(err, errno, "write \"%s\" to %s", s, path);
    return 0;
}

char *read_small_file(const char *path, size_t max, size_t *len, struct error *err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        error_set_errno(err, errno, "open %s", path);
        return NULL;
    }
    _cleanup_free_ char *buf = xmalloc(max + 1);
    size_t n = 0;
    while (n < max) {
        ssize_t r = read(fd, buf + n, max - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            error_set_errno(err, errno, "read %s", path);
            return NULL;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    if (len)
        *len = n;
    return TAKE_PTR(buf);
}

void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* --- paths inside a root --- */

int openat2_in_root(int root, const char *path, int flags)
{
    struct open_how how = {.flags = (uint64_t)flags,
                           .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
    return (int)syscall(SYS_openat2, root, path, &how, sizeof(how));
}

int mkdirs_in_root(int root, const char *path, mode_t mode, int open_flags)
{
    _cleanup_free_ char *p = xstrdup(path);
    open_flags |= O_DIRECTORY | O_CLOEXEC;
    for (char *s = p;;) {
        while (*s == '/')
            s++;
        char *next = strchr(s, '/');
        if (next)
            *next = '\0';
        if (*s) {
            int d = openat2_in_root(root, p, O_PATH | O_DIRECTORY | O_CLOEXEC);
            if (d < 0 && errno != ENOENT)
                return -1;
            if (d < 0) {
                /* the parent resolved in the root, then the one missing name made in it */
                bool top = strspn(p, "/") >= (size_t)(s - p);
                char saved = top ? '\0' : s[-1];
                if (!top)
                    s[-1] = '\0';
                int pd = top ? fcntl(root, F_DUPFD_CLOEXEC, 3)
                             : openat2_in_root(root, p, O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (!top)
                    s[-1] = saved;
                if (pd < 0)
                    return -1;
                int r = mkdirat(pd, s, mode);
                int e = errno;
                close(pd);
                if (r < 0 && e != EEXIST) {
                    errno = e;
                    return -1;
                }
            } else {
                close(d);
            }
        }
        if (!next)
            break;
        *next = '/';
        s = next + 1;
    }
    return *p ? openat2_in_root(root, p, open_flags) : openat2_in_root(root, ".", open_flags);
}

int clear_dir(int dir_fd)
{
    int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -1;
    }
    int r = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && remove_at(dir_fd, e->d_name) < 0)
            r = -1;
    closedir(d);
    return r;
}

int remove_at(int dir_fd, const char *name)
{
    if (unlinkat(dir_fd, name, 0) == 0 || errno == ENOENT)
        return 0;
    if (errno != EISDIR && errno != EPERM)
        return -1;
    _cleanup_close_ int sub = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub < 0 || clear_dir(sub) < 0)
        return -1;
    return unlinkat(dir_fd, name, AT_REMOVEDIR) == 0 || errno == ENOENT ? 0 : -1;
}

bool has_dotdot(const char *path)
{
    for (const char *s = path; (s = strstr(s, "..")); s += 2)
        if ((s == path || s[-1] == '/') && (s[2] == '/' || s[2] == '\0'))
            return true;
    return false;
}

/* The length of the UTF-8 sequence at s (left bytes remain). An invalid one has *valid false
 * and the length of its maximal valid prefix (at least 1), which one U+FFFD replaces. */
static size_t utf8_seq(const uint8_t *s, size_t left, bool *valid)
{
    uint8_t c = s[0], lo = 0x80, hi = 0xbf;
    size_t n;
    *valid = c < 0x80;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        lo = c == 0xe0 ? 0xa0 : lo; /* no overlong forms */
        hi = c == 0xed ? 0x9f : hi; /* no surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        lo = c == 0xf0 ? 0x90 : lo;
        hi = c == 0xf4 ? 0x8f : hi; /* nothing above U+10FFFF */
    } else {
        return 1;
    }
    for (size_t i = 1; i < n; i++) {
        if (i >= left || s[i] < (i == 1 ? lo : 0x80) || s[i] > (i == 1 ? hi : 0xbf))
            return i;
    }
    *valid = true;
    return n;
}

char *utf8_lossy(const uint8_t *s, size_t len)
{
    char *out = xmalloc(len * 3 + 1);
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        bool valid;
        size_t n = utf8_seq(s + i, len - i, &valid);
        if (valid) {
            memcpy(out + o, s + i, n);
            o += n;
        } else {
            memcpy(out + o, "\xef\xbf\xbd", 3); /* U+FFFD */
            o += 3;
        }
        i += n;
    }
    out[o] = '\0';
    return out;
}
