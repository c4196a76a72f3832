/* `cocoonctl install containerd`: cocoon's runtimes registered in containerd's config file.
 *
 * The plan (node/containerd-config.h) decides what the file becomes; this applies it: a backup
 * of the file first (<file>.cocoon-backup-<UTC time>, same mode), then the new content through a
 * temporary file in the same directory, fsync'd and renamed over it, with the old mode and owner,
 * so containerd never reads half a file. A dry run prints `diff -u` of the change instead. */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "lib/error.h"

#define CTD_DEFAULT_CONFIG "/etc/containerd/config.toml"

struct ctd_install_opts {
    const char *config_path; /* containerd's config file */
    const char *cocoon_dir;  /* where ConfigPath points: <cocoon_dir>/cocoon-<tee>.toml and, for
                              * the -debug runtimes, <cocoon_dir>/debug-<tee>/cocoon.toml */
    int config_version;      /* layout of a new file: 2, 3, or 0 to ask `containerd --version` */
    const char *containerd;  /* the binary asked when config_version is 0 (PATH is searched) */
    bool dry_run;
    FILE *out; /* what was done, or the diff; notes (warnings) go to stderr */
};

/* Returns 0 when the file registers the runtimes afterwards (or would, for a dry run), -1 with
 * err set otherwise; the file is then as it was. */
int ctd_install(const struct ctd_install_opts *opts, struct error *err);

/* The config version containerd `binary` reads by default: 3 for 2.x, 2 for 1.x, from its
 * `--version` line. */
int ctd_binary_config_version(const char *binary, int *version, struct error *err);
