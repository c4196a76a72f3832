#include "channel.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/xalloc.h"
#include "util.h"

#define PORTS_DIR "/sys/class/virtio-ports"

DEFINE_CLEANUP_FUNC(DIR *, closedir)

/* The /dev name of the port called `name`, or NULL. */
static char *find_port(const char *name)
{
    _cleanup_(closedirp) DIR *d = opendir(PORTS_DIR);
    if (!d)
        return NULL;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        _cleanup_free_ char *path = xasprintf(PORTS_DIR "/%s/name", e->d_name);
        _cleanup_free_ char *s = read_small_file(path, 256, NULL, NULL);
        if (!s)
            continue;
        s[strcspn(s, "\n")] = '\0';
        if (!strcmp(s, name))
            return xasprintf("/dev/%s", e->d_name);
    }
    return NULL;
}

int channel_open_serial(const char *name, struct error *err)
{
    for (int i = 0; i < 300; i++) {
        _cleanup_free_ char *dev = find_port(name);
        if (dev) {
            int fd = open(dev, O_RDWR | O_CLOEXEC | O_NOCTTY);
            if (fd < 0)
                return error_set_errno(err, errno, "open %s (virtio port %s)", dev, name);
            return fd;
        }
        sleep_ms(100);
    }
    return error_set(err, GRPC_NOT_FOUND,
                     "no virtio-serial port named %s under " PORTS_DIR " after 30 s; is "
                     "virtio_console loaded and the channel in the domain XML?",
                     name);
}

int channel_listen_vsock(unsigned port, struct error *err)
{
    _cleanup_close_ int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return error_set_errno(err, errno, "vsock socket (is vmw_vsock_virtio_transport loaded?)");
    struct sockaddr_vm addr = {.svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = port};
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
        return error_set_errno(err, errno, "bind vsock port %u", port);
    if (listen(fd, 16) < 0)
        return error_set_errno(err, errno, "listen on vsock port %u", port);
    return TAKE_FD(fd);
}
