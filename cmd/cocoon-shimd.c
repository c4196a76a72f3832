/* cocoon-shimd: the shim daemon of one pod, which containerd-shim-cocoon-v2 `start` spawns with
 * the listener on fd 3 (or run by hand with -socket). Takes the shim's flags (shim/flags.h).
 * Usage errors exit 2, other errors 1. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/error.h"
#include "shim/commands.h"
#include "shim/daemon.h"

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);

    struct shim_flags f;
    struct error err = ERROR_INIT;
    if (shim_flags_parse(argc - 1, argv + 1, &f, &err) < 0) {
        fprintf(stderr, "%s: %s\n", SHIM_DAEMON_NAME, err.msg);
        error_clear(&err);
        return 2;
    }
    if (f.version) {
        printf("%s version %s\n", SHIM_DAEMON_NAME, COCOON_VERSION);
        return fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
    }
    if (f.info)
        return shim_cmd_info(&f);
    if (!f.action)
        return shim_serve(&f);
    fprintf(stderr, "%s: `%s` is containerd-shim-cocoon-v2's\n", SHIM_DAEMON_NAME, f.action);
    return 2;
}
