/* cocoonctl install containerd [--config PATH] [--dry-run] [--config-version 2|3]
 *                              [--cocoon-dir DIR]
 * registers cocoon's runtimes in containerd's config (node/containerd-install.h). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cocoonctl-node.h"
#include "lib/cleanup.h"
#include "lib/error.h"
#include "node/containerd-install.h"

#define EXIT_USAGE 2

static int usage(const char *msg, const char *arg)
{
    fprintf(stderr, "cocoonctl: install containerd: %s%s%s (see cocoonctl --help)\n", msg,
            arg ? " " : "", arg ? arg : "");
    return EXIT_USAGE;
}

int cocoonctl_install(int argc, char *argv[])
{
    if (argc < 2 || strcmp(argv[1], "containerd") != 0)
        return usage("want \"install containerd\"", NULL);
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"dry-run", no_argument, NULL, 'n'},
        {"config-version", required_argument, NULL, 'V'},
        {"cocoon-dir", required_argument, NULL, 'd'},
        {0},
    };
    struct ctd_install_opts o = {
        .config_path = CTD_DEFAULT_CONFIG,
        .cocoon_dir = COCOON_SYSCONF_DIR,
        .out = stdout,
    };
    int c;
    argc--;
    argv++;
    while ((c = getopt_long(argc, argv, ":c:nV:d:", options, NULL)) != -1) {
        switch (c) {
        case 'c':
            o.config_path = optarg;
            break;
        case 'n':
            o.dry_run = true;
            break;
        case 'V':
            if (strcmp(optarg, "2") != 0 && strcmp(optarg, "3") != 0)
                return usage("--config-version wants 2 (containerd 1.6/1.7) or 3 (2.x), got",
                             optarg);
            o.config_version = optarg[0] - '0';
            break;
        case 'd':
            o.cocoon_dir = optarg;
            break;
        case ':':
            return usage("this option needs a value:", argv[optind - 1]);
        default:
            return usage("unknown option", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage("unexpected argument", argv[optind]);
    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    int r = ctd_install(&o, &err);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        perror("cocoonctl: write to stdout");
        return EXIT_FAILURE;
    }
    if (r < 0) {
        fprintf(stderr, "cocoonctl: install containerd: %s\n", err.msg);
        return EXIT_FAILURE;
    }
    return EXIT_SUCCESS;
}
