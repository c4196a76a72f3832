/* The shim's configuration: /etc/cocoon/cocoon.toml and its config.d/ drop-ins (*.toml).
 *
 * Keys keep Kata's names where Kata has them, so a Kata CoCo configuration carries over. Every
 * mistake (unknown key, wrong type, bad value) is reported as `file:line:col: key: what`, and
 * nothing on the host is looked at: a config can be checked, dumped and rendered anywhere. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "annotations/initdata.h"
#include "lib/error.h"
#include "vmm/vm-spec.h"

#define CONFIG_DEFAULT_PATH "/etc/cocoon/cocoon.toml"
#define CONFIG_ENV "COCOON_CONFIG"

struct config_list {
    char **items;
    size_t len;
};

/* "Not set" for the overhead keys, which then keep the sizing of Kata's Go runtime. */
#define CONFIG_UNSET (-1)

/* One [[hypervisor.libvirt.guest_extension_images]] entry (Kata 4.x's composable images): a
 * read-only virtio-blk disk with serial "extension-<name>", and
 * kata.extension.<name>.verity_params=<verity_params> on the kernel command line. */
struct config_extension {
    char *name;          /* 1 to CONFIG_EXTENSION_NAME_MAX of [A-Za-z0-9_-] */
    char *path;          /* absolute */
    char *verity_params; /* "" or annotations/verity.h's fields */
};
#define CONFIG_EXTENSION_SERIAL_PREFIX "extension-"
#define CONFIG_EXTENSION_NAME_MAX 10 /* the virtio-blk serial holds 20 bytes */

struct config_extensions {
    struct config_extension *items;
    size_t len;
};

/* [hypervisor.libvirt] */
struct config_hypervisor {
    char *uri;
    char *domain_type; /* "kvm" or "qemu" (TCG) */
    char *emulator;    /* "" = libvirt's default; so are the other empty strings below */
    char *machine_type;
    char *kernel;
    char *initrd;
    char *image;
    char *firmware;
    char *kernel_params;
    char *kernel_verity_params; /* "" or annotations/verity.h's fields, for the root image */
    unsigned default_vcpus;
    int overhead_millivcpus; /* thousandths of a vCPU, or CONFIG_UNSET */
    unsigned default_memory; /* MiB */
    int overhead_memory;     /* MiB, or CONFIG_UNSET */
    struct config_extensions guest_extension_images;
    enum vm_tee tee;
    enum vm_agent_channel agent_channel;
    bool user_network;
    struct config_list enable_annotations; /* POSIX EREs on the annotation suffix */
    struct config_list valid_kernel_paths; /* fnmatch globs */
    struct config_list valid_initrd_paths;
    struct config_list valid_image_paths;
    struct config_list valid_firmware_paths;
    /* The node's init-data for pods without the annotation: "", the annotation's form (base64 of
     * gzip'd TOML) or the TOML document itself (runtime-rs's form); checked at load. */
    char *initdata;

    uint64_t snp_guest_policy;
    char *snp_id_block;             /* base64 */
    char *snp_id_auth;              /* base64 */
    unsigned snp_cbitpos;           /* 0: libvirt fills it in */
    unsigned snp_reduced_phys_bits; /* 0: libvirt fills it in */
    bool snp_kernel_hashes;

    uint64_t tdx_policy;
    bool tdx_quote_generation_service;
    char *tdx_quote_generation_service_socket;
    char *tdx_mr_owner;        /* base64 */
    char *tdx_mr_owner_config; /* base64 */
};

/* [agent], seconds */
struct config_agent {
    unsigned dial_timeout;
    unsigned request_timeout;
    unsigned health_check_timeout;
};

/* [runtime] */
struct config_runtime {
    bool debug;
    unsigned create_container_timeout; /* seconds */
    bool experimental_force_guest_pull;
    bool static_sandbox_resource_mgmt;
    unsigned copy_volume_limit_mib;         /* the most one mount copies into the guest */
    unsigned initdata_annotation_limit_kib; /* the init-data annotation, base64 text */
    unsigned initdata_document_limit_kib;   /* its TOML document, after gunzip */
    char *state_dir;                        /* per-sandbox files: <state_dir>/<sandbox id>/ */
};

struct config {
    struct config_hypervisor hypervisor;
    struct config_agent agent;
    struct config_runtime runtime;
    struct config_list files; /* the files read, main file first, then the drop-ins */
};

/* $COCOON_CONFIG if set and not empty, else CONFIG_DEFAULT_PATH. */
const char *config_default_path(void);

/* Reads path, then every *.toml in <dir of path>/config.d/ in lexical order; each drop-in
 * overrides the keys it sets (tables merge key by key, arrays replace). Returns 0, or -1 with
 * err set (GRPC_NOT_FOUND if path does not exist, else GRPC_INVALID_ARGUMENT). */
int config_load(const char *path, struct config **out, struct error *err);

/* A configuration holding only the defaults (no kernel: not usable as is). */
struct config *config_new_defaults(void);

void config_free(struct config *cfg);

/* Writes the effective configuration as TOML that config_load reads back to the same values. */
void config_dump(const struct config *cfg, FILE *f);

/* The init-data decoder's limits (annotations/initdata.h) from [runtime]
 * initdata_annotation_limit_kib and initdata_document_limit_kib, in bytes, each named by its key
 * for the message that refuses an init-data over it. */
void config_initdata_limits(const struct config *cfg, struct initdata_limits *out);

/* [hypervisor.libvirt] initdata decoded and validated within config_initdata_limits(): *out is
 * NULL when the key is empty, else the init-data (caller frees with initdata_free). A config
 * that config_load() accepted decodes; -1 with err set otherwise. */
int config_default_initdata(const struct config *cfg, struct initdata **out, struct error *err);
