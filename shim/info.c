/* -info (containerd 2.x asks each runtime for its RuntimeInfo). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "containerd/types/introspection.pb-c.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/xalloc.h"
#include "shim/commands.h"

#define MAX_OPTIONS_SIZE (1 << 20)

int shim_cmd_info(const struct shim_flags *f)
{
    (void)f;
    /* containerd sends the runtime options; nothing in them changes the answer. */
    if (!isatty(STDIN_FILENO)) {
        _cleanup_free_ char *ignored = NULL;
        size_t len;
        (void)fs_read_fd(STDIN_FILENO, MAX_OPTIONS_SIZE, "stdin", &ignored, &len, NULL);
    }
    Containerd__Types__RuntimeVersion version = CONTAINERD__TYPES__RUNTIME_VERSION__INIT;
    version.version = (char *)COCOON_VERSION;
    version.revision = (char *)"";
    Containerd__Types__RuntimeInfo info = CONTAINERD__TYPES__RUNTIME_INFO__INIT;
    info.name = (char *)SHIM_RUNTIME_NAME;
    info.version = &version;
    size_t len = containerd__types__runtime_info__get_packed_size(&info);
    _cleanup_free_ uint8_t *buf = xmalloc(len);
    containerd__types__runtime_info__pack(&info, buf);
    if (fs_write_all(STDOUT_FILENO, buf, len) < 0) {
        fprintf(stderr, "%s: -info: write to stdout: %s\n", SHIM_BINARY_NAME, strerror(errno));
        return EXIT_FAILURE;
    }
    return EXIT_SUCCESS;
}
