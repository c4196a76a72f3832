#include "lib/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/xalloc.h"

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

int fs_remove_tree(const char *path, struct error *err)
{
    if (nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) == 0 || errno == ENOENT)
        return 0;
    return error_set_errno(err, errno, "remove %s", path);
}

int fs_read_fd(int fd, size_t max, const char *what, char **out, size_t *len, struct error *err)
{
    size_t cap = 4096, n = 0;
    _cleanup_free_ char *buf = xmalloc(cap);
    for (;;) {
        if (cap - n < 2)
            buf = xrealloc(buf, cap *= 2);
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno == EBADF && n == 0)
            break;
        if (r < 0)
            return error_set_errno(err, errno, "read %s", what);
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > max)
            return error_set(err, GRPC_INVALID_ARGUMENT, "%s is larger than %zu bytes", what, max);
    }
    buf[n] = '\0';
    *out = TAKE_PTR(buf);
    *len = n;
    return 0;
}

int fs_read_file(const char *path, size_t max, char **out, size_t *len, struct error *err)
{
    /* O_NONBLOCK: a FIFO in the file's place must not hang us before fstat refuses it. */
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return error_set_errno(err, errno, "open %s", path);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return error_set_errno(err, errno, "stat %s", path);
    if (!S_ISREG(st.st_mode))
        return error_set(err, GRPC_INVALID_ARGUMENT, "%s is not a regular file", path);
    return fs_read_fd(fd, max, path, out, len, err);
}

int fs_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int fs_mkdir_p(const char *path, mode_t mode, mode_t parent_mode, struct error *err)
{
    _cleanup_free_ char *p = xstrdup(path);
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        p[--n] = '\0';
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, c ? parent_mode : mode) < 0 && errno != EEXIST)
            return error_set_errno(err, errno, "create directory %s", p);
        *s = c;
        if (!c)
            return 0;
    }
}

int fs_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                         struct error *err)
{
    _cleanup_free_ char *tmp = xasprintf("%s.XXXXXX", path);
    _cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return error_set_errno(err, errno, "create %s", tmp);
    int r = 0;
    if (fs_write_all(fd, data, len) < 0)
        r = error_set_errno(err, errno, "write %s", tmp);
    else if (fchmod(fd, mode) < 0) /* mkostemp made it 0600 */
        r = error_set_errno(err, errno, "chmod %s", tmp);
    else if (close(TAKE_FD(fd)) < 0)
        r = error_set_errno(err, errno, "write %s", tmp);
    else if (rename(tmp, path) < 0)
        r = error_set_errno(err, errno, "rename %s to %s", tmp, path);
    if (r < 0)
        unlink(tmp);
    return r;
}
