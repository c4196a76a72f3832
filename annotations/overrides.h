/* Pod annotations -> VM overrides, the way Kata reads `io.katacontainers.config.hypervisor.*`.
 *
 * Every hypervisor annotation must be enabled by an enable_annotations regex (POSIX ERE, matched
 * unanchored against the part after the prefix, as Kata does); one that is not fails the pod.
 * Path annotations must also match a valid_*_paths glob. Pure: no I/O, nothing is looked up on
 * the host. Annotations outside the hypervisor prefix are left to other modules. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "annotations/pod.h"
#include "lib/error.h"

/* Bounds shared with the configuration's default_vcpus and default_memory. */
#define OVERRIDES_MAX_VCPUS 512
#define OVERRIDES_MIN_MEMORY_MIB 128
#define OVERRIDES_MAX_MEMORY_MIB (4u * 1024 * 1024) /* 4 TiB */

struct overrides_list {
    char *const *items;
    size_t len;
};

/* What the configuration allows ([hypervisor.libvirt]). */
struct overrides_allow {
    struct overrides_list enable_annotations; /* regexes on the suffix */
    struct overrides_list valid_kernel_paths; /* fnmatch globs; empty: no path override */
    struct overrides_list valid_initrd_paths;
    struct overrides_list valid_image_paths;
    struct overrides_list valid_firmware_paths;
};

/* What the annotations change; unset members are 0 / NULL. */
struct overrides {
    unsigned vcpus;      /* default_vcpus, or 0 */
    unsigned memory_mib; /* default_memory, or 0 */
    char *kernel_params; /* to append to the configured ones, or NULL */
    /* kernel_verity_params (annotations/verity.h) replacing the configured ones, or NULL; it
     * parses. */
    char *kernel_verity_params;
    char *kernel, *initrd, *image, *firmware;
    /* Enabled hypervisor annotations cocoon does nothing with (full keys), for the log. */
    char **ignored;
    size_t n_ignored;
};

/* Fills *out (which the caller frees with overrides_free, also on failure). Returns 0, or -1 with
 * GRPC_INVALID_ARGUMENT and a message naming the annotation and what would allow it. */
int overrides_compute(const struct overrides_allow *allow, const struct annotation *anns, size_t n,
                      struct overrides *out, struct error *err);

void overrides_free(struct overrides *o); /* frees the members, not o itself */

/* 0 if regex compiles the way enable_annotations entries are compiled; else -1 with regerror's
 * text in err. Lets the configuration reject a bad regex when it is loaded. */
int overrides_check_regex(const char *regex, struct error *err);
