/* Where a pod's shim daemon listens (containerd.md §3.3): the socket's name, whether a shim
 * still answers there, and the lock that lets concurrent starts and deletes of one pod judge and
 * replace its socket one at a time. */
#include "shim/shim-socket.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/path.h"
#include "lib/sha256.h"
#include "lib/xalloc.h"
#include "ttrpc/dial.h"

#define LIVE_DIAL_TIMEOUT_MS 100 /* runc's CanConnect */

/* Go's filepath.Join: the non-empty elements joined by '/' and cleaned; "" if all are empty. */
static char *path_join3(const char *a, const char *b, const char *c)
{
    const char *parts[] = {a ? a : "", b ? b : "", c ? c : ""};
    _cleanup_free_ char *joined = xstrdup("");
    for (size_t i = 0; i < 3; i++) {
        if (!*parts[i])
            continue;
        char *next = *joined ? xasprintf("%s/%s", joined, parts[i]) : xstrdup(parts[i]);
        free(joined);
        joined = next;
    }
    return *joined ? path_clean(joined) : TAKE_PTR(joined);
}

const char *shim_socket_dir(void)
{
    const char *env = getenv(SHIM_SOCKET_DIR_ENV);
    return env && *env ? env : SHIM_SOCKET_DIR_DEFAULT;
}

char *shim_socket_address(const char *socket_dir, const char *grpc_address, const char *ns,
                          const char *group)
{
    _cleanup_free_ char *joined = path_join3(grpc_address, ns, group);
    char hex[2 * SHA256_LEN + 1];
    sha256_hex(joined, strlen(joined), hex);
    const char *dir = socket_dir ? socket_dir : SHIM_SOCKET_DIR_DEFAULT;
    size_t dlen = strlen(dir);
    while (dlen > 1 && dir[dlen - 1] == '/')
        dlen--;
    return xasprintf("unix://%.*s/%s", (int)dlen, dir, hex);
}

bool shim_socket_is_live(const char *address)
{
    int fd = ttrpc_dial(address, LIVE_DIAL_TIMEOUT_MS, NULL);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

int shim_socket_dir_lock(const char *dir, bool create, struct error *err)
{
    /* missing parents 0711, like containerd's /run/containerd */
    if (create && fs_mkdir_p(dir, 0700, 0711, err) < 0)
        return -1;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return error_set_errno(err, errno, "open %s", dir);
    while (flock(fd, LOCK_EX) < 0) {
        if (errno != EINTR) {
            int e = errno;
            close(fd);
            return error_set_errno(err, e, "lock %s", dir);
        }
    }
    return fd;
}
