/* containerd's config.toml as cocoon sees it: which layout it has, which runtimes it registers,
 * and what it becomes with cocoon's runtimes added.
 *
 * Pure text in, text out (no file is read here), so every decision is testable. The user's file
 * is never rewritten: runtimes that are missing are appended as whole new tables, so comments,
 * order and formatting stay as they were. A cocoon runtime table that exists but holds other
 * values is refused, key by key, rather than edited: the user may have meant them.
 *
 * Layouts: config version 2 (containerd 1.6, 1.7) puts CRI runtimes under
 * plugins."io.containerd.grpc.v1.cri".containerd.runtimes; version 3 (2.x) under
 * plugins."io.containerd.cri.v1.runtime".containerd.runtimes. A file without `version` is version
 * 1 (the 1.0-era plugin names), which is refused with what to do. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "lib/error.h"
#include "lib/toml.h"

#define CTD_RUNTIME_TYPE "io.containerd.cocoon.v2"
#define CTD_POD_ANNOTATIONS "io.katacontainers.*"
#define CTD_CONTAINER_ANNOTATIONS "io.kubernetes.container.terminationMessage*"
#define CTD_N_RUNTIMES 6

/* The runtimes cocoon ships, as configs/containerd-cocoon.toml and containerd2-cocoon.toml
 * register them (the handlers of configs/runtimeclasses.yaml): handler name and the config file
 * ConfigPath names, relative to cocoon_dir. The -debug runtimes name debug-<tee>/cocoon.toml, a
 * link to ../cocoon-<tee>.toml beside the debug drop-in config.d/50-debug.toml (meson install
 * lays them out). */
struct ctd_runtime {
    const char *name;        /* "cocoon-snp", "cocoon-snp-debug" */
    const char *config_file; /* "cocoon-snp.toml", "debug-snp/cocoon.toml" */
};
extern const struct ctd_runtime ctd_runtimes[CTD_N_RUNTIMES];

/* The CRI plugin id whose table holds containerd.runtimes in config `version` (2 or 3), or NULL. */
const char *ctd_cri_runtime_plugin(int version);

/* What adding cocoon's runtimes to a config does. */
struct ctd_plan {
    int version;  /* 2 or 3 */
    char *text;   /* the file after: the input with tables appended, or the input unchanged */
    size_t len;   /* of text */
    bool changed; /* text differs from the input */
    bool created; /* there was no file, or one without a single key */
    const char *added[CTD_N_RUNTIMES]; /* names of the runtimes appended, n_added of them */
    size_t n_added;
    const char *present[CTD_N_RUNTIMES]; /* already registered as cocoon would */
    size_t n_present;
    char *notes; /* "" or lines ("note: ...\n") worth telling the user; never a refusal */
};

/* Plans the change to the containerd config named `path` (for messages only) whose content is
 * text[0..len) (text NULL: no such file). new_version (2 or 3) is the layout of a file written
 * from nothing (no file, or no key in it); an existing file keeps its own. cocoon_dir is where
 * the ConfigPath of each runtime points. Fails, with a message naming the line and what to do,
 * for: TOML that does not parse, version 1 or an unknown one, a cocoon runtime table that holds
 * other values, a CRI table that tables cannot be appended to; and, as a last guard, when the
 * result would not parse or not hold the runtimes. */
int ctd_config_plan(const char *path, const char *text, size_t len, int new_version,
                    const char *cocoon_dir, struct ctd_plan *plan, struct error *err);

void ctd_plan_free(struct ctd_plan *plan);

/* The config version of a parsed containerd config: 1 when there is no `version` key. Fails
 * (naming path and line) for a version that is not an integer. */
int ctd_config_version(const char *path, const struct toml_value *root, int *version,
                       struct error *err);

/* The runtimes table (containerd.runtimes of the CRI plugin) of a parsed config of `version`, or
 * NULL when there is none. */
const struct toml_value *ctd_config_runtimes(const struct toml_value *root, int version);

/* The string at a dotted path of plain keys under table ("options.ConfigPath"), or NULL. */
const char *ctd_toml_string(const struct toml_value *table, const char *dotted);
