/* dm-verity parameters in Kata's form, for the guest's root image and its extension images.
 *
 * Kata (both runtimes, 4.x) takes `kernel_verity_params` as comma-separated key=value fields:
 * root_hash, salt, data_blocks, data_block_size, hash_block_size (kata-deploy writes them from
 * the image build). For the root image it turns them into a dm-verity table on the kernel command
 * line, data on /dev/vda1 and the hash tree on /dev/vda2:
 *
 *   dm-mod.create="dm-verity,,,ro,0 <sectors> verity 1 /dev/vda1 /dev/vda2 <data_block_size>
 *   <hash_block_size> <data_blocks> 0 sha256 <root_hash> <salt>" root=/dev/dm-0
 *   rootflags=<per file system> rootfstype=<type>
 *
 * (one line), sectors = data_block_size / 512 * data_blocks. An extension image instead carries
 * the fields as they are, `kata.extension.<name>.verity_params=<fields>`, for the guest's mount
 * helper. The command line is measured, so these values are what attestation vouches for.
 *
 * Pure: no I/O. Errors are GRPC_INVALID_ARGUMENT and name the field ("salt: ..."); callers
 * prepend where the text came from (a configuration key, an annotation). */
#pragma once

#include <stdint.h>

#include "lib/error.h"

#define VERITY_ROOT_HASH_HEX 64      /* sha256, the hash the table names */
#define VERITY_SALT_MAX_HEX 512      /* dm-verity takes up to 256 bytes of salt */
#define VERITY_BLOCK_MIN 512         /* a sector */
#define VERITY_BLOCK_MAX 4096        /* dm-verity's limit is the guest's page size (x86: 4 KiB) */
#define VERITY_ROOT_DATA "/dev/vda1" /* the root image's partitions, as Kata lays them out */
#define VERITY_ROOT_HASH "/dev/vda2"

struct verity_params {
    char root_hash[VERITY_ROOT_HASH_HEX + 1]; /* lowercase or uppercase hex, as given */
    char salt[VERITY_SALT_MAX_HEX + 1];       /* hex, or "-" for none */
    uint64_t data_blocks;
    uint64_t data_block_size; /* bytes */
    uint64_t hash_block_size; /* bytes */
};

/* Parses Kata's comma-separated fields. All five are required, each once; an unknown field is
 * an error (a typo would otherwise boot an unprotected root). Whitespace is refused: the text
 * lands on the kernel command line, which splits at spaces. Returns 0, or -1 naming the field. */
int verity_params_parse(const char *text, struct verity_params *out, struct error *err);

/* The root file system's kernel parameters for p (see the top of this file) after the other
 * parameters of kernel_params: those with the keys root, rootflags and rootfstype are dropped,
 * the rest kept in order (a double-quoted stretch counts as part of its parameter, as the kernel
 * reads it). The file system is the last rootfstype= of kernel_params, ext4 if none; ext4, xfs
 * and erofs are known (Kata's rootflags for each). Returns a new string (caller frees), or NULL
 * with err set for another file system. */
char *verity_root_kernel_params(const char *kernel_params, const struct verity_params *p,
                                struct error *err);
