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
#include "storage.h"
#include "util.h"

#define SHARE_PREFIX KATA_SHARED_DIR "/"

/* Rust's Path::set_extension("tmp") on a file name: "x.conf" -> "x.tmp", "hosts" ->
 * "hosts.tmp", ".hidden" -> ".hidden.tmp". */
static char *tmp_name(const char *base)
{
    const char *dot = strrchr(base, '.');
    if (!dot || dot == base)
        return xasprintf("%s.tmp", base);
    return xasprintf("%.*s.tmp", (int)(dot - base), base);
}

static int write_all_at(int fd, const uint8_t *data, size_t len, off_t offset)
{
    for (size_t off = 0; off < len;) {
        ssize_t n = pwrite(fd, data + off, len - off, offset + (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        off += (size_t)n;
    }
    return 0;
}

static int copy_dir(const Grpc__CopyFileRequest *r, int pfd, const char *base, struct error *err)
{
    /* an existing directory is kept; anything else there goes */
    if (unlinkat(pfd, base, 0) < 0 && errno != ENOENT && errno != EISDIR)
        return error_set_errno(err, errno, "CopyFile %s: remove what is there", r->path);
    if (mkdirat(pfd, base, r->file_mode & 0777) < 0 && errno != EEXIST)
        return error_set_errno(err, errno, "CopyFile %s: mkdir", r->path);
    _cleanup_close_ int fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return error_set_errno(err, errno, "CopyFile %s: open the directory", r->path);
    if (fchmod(fd, r->file_mode & 07777) < 0 || fchown(fd, (uid_t)r->uid, (gid_t)r->gid) < 0)
        return error_set_errno(err, errno, "CopyFile %s: mode and owner", r->path);
    return 0;
}

static int copy_symlink(const Grpc__CopyFileRequest *r, int pfd, const char *base,
                        struct error *err)
{
    if (memchr(r->data.data, '\0', r->data.len))
        return error_set(err, GRPC_INVALID_ARGUMENT, "CopyFile %s: the symlink target has a NUL",
                         r->path);
    _cleanup_free_ char *target = xstrndup((const char *)r->data.data, r->data.len);
    if (symlinkat(target, pfd, base) < 0)
        return error_set_errno(err, errno, "CopyFile %s: create symlink", r->path);
    if (fchownat(pfd, base, (uid_t)r->uid, (gid_t)r->gid, AT_SYMLINK_NOFOLLOW) < 0)
        return error_set_errno(err, errno, "CopyFile %s: fchownat", r->path);
    return 0;
}

static int copy_regular(const Grpc__CopyFileRequest *r, int pfd, const char *base,
                        struct error *err)
{
    _cleanup_free_ char *tmp = tmp_name(base);
    int flags = O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | (r->offset == 0 ? O_TRUNC : 0);
    _cleanup_close_ int fd = openat(pfd, tmp, flags, r->file_mode & 07777);
    if (fd < 0)
        return error_set_errno(err, errno, "CopyFile %s: create %s", r->path, tmp);
    if (write_all_at(fd, r->data.data, r->data.len, (off_t)r->offset) < 0)
        return error_set_errno(err, errno, "CopyFile %s: write", r->path);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return error_set_errno(err, errno, "CopyFile %s: fstat", r->path);
    if (st.st_size != r->file_size)
        return 0; /* more chunks to come */
    if (fchmod(fd, r->file_mode & 07777) < 0 || fchown(fd, (uid_t)r->uid, (gid_t)r->gid) < 0)
        return error_set_errno(err, errno, "CopyFile %s: mode and owner", r->path);
    if (renameat(pfd, tmp, pfd, base) < 0)
        return error_set_errno(err, errno, "CopyFile %s: rename %s", r->path, tmp);
    return 0;
}

int copy_file(const Grpc__CopyFileRequest *r, struct error *err)
{
    const char *path = r->path ? r->path : "";
    if (strncmp(path, SHARE_PREFIX, strlen(SHARE_PREFIX)))
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "removing \"%s\" prefix from %s: prefix not found", SHARE_PREFIX, path);
    _cleanup_free_ char *rel = xstrdup(path + strlen(SHARE_PREFIX));
    size_t l = strlen(rel);
    while (l && rel[l - 1] == '/')
        rel[--l] = '\0';
    const char *start = rel + strspn(rel, "/");
    if (!*start || has_dotdot(start))
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "CopyFile %s: the path must name something under %s, without \"..\"", path,
                         SHARE_PREFIX);
    if (r->offset < 0 || r->file_size < 0)
        return error_set(err, GRPC_INVALID_ARGUMENT, "CopyFile %s: negative offset or size", path);
    if (mkdir_p(KATA_SHARED_DIR, 0755, err) < 0)
        return -1;
    _cleanup_close_ int root = open(KATA_SHARED_DIR, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root < 0)
        return error_set_errno(err, errno, "open %s", KATA_SHARED_DIR);

    char *slash = strrchr(start, '/');
    const char *base = slash ? slash + 1 : start;
    if (slash)
        *slash = '\0';
    _cleanup_close_ int pfd =
        mkdirs_in_root(root, slash ? start : "", r->dir_mode & 0777, O_RDONLY);
    if (pfd < 0)
        return error_set_errno(err, errno, "CopyFile %s: make the parent directories", path);
    if (fchown(pfd, (uid_t)r->uid, (gid_t)r->gid) < 0)
        return error_set_errno(err, errno, "CopyFile %s: fchown the parent", path);

    /* Kata tests the type bits with "contains": S_IFDIR first, then S_IFLNK. */
    if ((r->file_mode & S_IFDIR) == S_IFDIR)
        return copy_dir(r, pfd, base, err);
    if (r->offset == 0 && remove_at(pfd, base) < 0)
        return error_set_errno(err, errno, "CopyFile %s: remove what is there", path);
    if ((r->file_mode & S_IFLNK) == S_IFLNK)
        return copy_symlink(r, pfd, base, err);
    return copy_regular(r, pfd, base, err);
}
