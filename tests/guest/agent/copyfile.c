#include "copyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/xalloc.h"
#include "util.h"

static int make_parent(const char *path, mode_t dir_mode, struct error *err)
{
    _cleanup_free_ char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = '\0';
    return mkdir_p(dir, dir_mode ? dir_mode : 0755, err);
}

static int copy_symlink(const Grpc__CopyFileRequest *r, struct error *err)
{
    _cleanup_free_ char *target = xstrndup((const char *)r->data.data, r->data.len);
    _cleanup_free_ char *tmp = xasprintf("%s.cocoon-tmp", r->path);
    unlink(tmp);
    if (symlink(target, tmp) < 0)
        return error_set_errno(err, errno, "symlink %s", tmp);
    if (rename(tmp, r->path) < 0)
        return error_set_errno(err, errno, "rename %s to %s", tmp, r->path);
    return 0;
}

static bool has_dotdot(const char *path)
{
    for (const char *s = path; (s = strstr(s, "..")); s += 2)
        if ((s == path || s[-1] == '/') && (s[2] == '/' || s[2] == '\0'))
            return true;
    return false;
}

int copy_file(const Grpc__CopyFileRequest *r, struct error *err)
{
    if (!r->path || r->path[0] != '/' || has_dotdot(r->path))
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "CopyFile wants an absolute path without "
                         "\"..\", got \"%s\"",
                         r->path ? r->path : "");
    if (r->offset < 0 || r->file_size < 0)
        return error_set(err, GRPC_INVALID_ARGUMENT, "CopyFile %s: negative offset or size",
                         r->path);
    if (make_parent(r->path, r->dir_mode & 07777, err) < 0)
        return -1;
    mode_t type = r->file_mode & S_IFMT;
    if (type == S_IFDIR) {
        if (mkdir_p(r->path, r->file_mode & 07777, err) < 0)
            return -1;
        if (lchown(r->path, (uid_t)r->uid, (gid_t)r->gid) < 0)
            return error_set_errno(err, errno, "chown %s", r->path);
        return 0;
    }
    if (type == S_IFLNK)
        return copy_symlink(r, err);

    _cleanup_free_ char *tmp = xasprintf("%s.cocoon-tmp", r->path);
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (r->offset == 0 ? O_TRUNC : 0);
    _cleanup_close_ int fd = open(tmp, flags, r->file_mode & 07777);
    if (fd < 0)
        return error_set_errno(err, errno, "open %s", tmp);
    size_t off = 0;
    while (off < r->data.len) {
        ssize_t n = pwrite(fd, r->data.data + off, r->data.len - off, r->offset + (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return error_set_errno(err, errno, "write %s", tmp);
        off += (size_t)n;
    }
    if (r->offset + (int64_t)r->data.len < r->file_size)
        return 0; /* more chunks to come */
    if (fchmod(fd, r->file_mode & 07777) < 0 || fchown(fd, (uid_t)r->uid, (gid_t)r->gid) < 0)
        return error_set_errno(err, errno, "set owner and mode of %s", tmp);
    if (rename(tmp, r->path) < 0)
        return error_set_errno(err, errno, "rename %s to %s", tmp, r->path);
    return 0;
}
