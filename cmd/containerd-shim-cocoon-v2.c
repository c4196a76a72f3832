/* containerd-shim-cocoon-v2: the binary containerd runs for io.containerd.cocoon.v2, kept light
 * (no libvirt, no libcrypto) because containerd runs it for every container:
 *
 *   ... start    find or start the pod's shim daemon (cocoon-shimd), print its address
 *   ... delete   clean up after a dead shim (a sandbox's VM through cocoon-vm), print a
 *                DeleteResponse
 *   ... -info    print a RuntimeInfo;  -v  print the version
 *
 * Usage errors exit 2 (as Go's flag package does), other errors 1. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/error.h"
#include "shim/commands.h"

int main(int argc, char **argv)
{
    /* containerd may go away while we write to it; a failed write is an error, not a death. */
    signal(SIGPIPE, SIG_IGN);

    struct shim_flags f;
    struct error err = ERROR_INIT;
    if (shim_flags_parse(argc - 1, argv + 1, &f, &err) < 0) {
        fprintf(stderr, "%s: %s\n", SHIM_BINARY_NAME, err.msg);
        error_clear(&err);
        return 2;
    }
    if (f.version) {
        printf("%s version %s\n", SHIM_BINARY_NAME, COCOON_VERSION);
        return fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
    }
    if (f.info)
        return shim_cmd_info(&f);
    if (f.action && strcmp(f.action, "start") == 0)
        return shim_cmd_start(&f, argv[0]);
    if (f.action)
        return shim_cmd_delete(&f);
    fprintf(stderr, "%s: no action: the shim daemon is %s, which `start` runs\n", SHIM_BINARY_NAME,
            SHIM_DAEMON_NAME);
    return 2;
}
