/* Reference values for a verifier, computed from an init-data document, and the check of a TEE
 * field (from an attestation report) against a document: what `cocoonctl initdata digest` prints
 * and `cocoonctl initdata verify` checks. Pure, like initdata.h: no I/O, nothing logged. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "annotations/initdata.h"
#include "lib/error.h"

#define INITDATA_PCR8_LEN 32

#define INITDATA_HEX_LEN(bytes) ((bytes)*2 + 1)                /* with the NUL */
#define INITDATA_BASE64_LEN(bytes) (((bytes) + 2) / 3 * 4 + 1) /* with the NUL */

/* Lower-case hex, and standard base64 where libvirt and QEMU take base64. */
struct initdata_ref {
    const char *algorithm; /* "sha256", "sha384" or "sha512"; static */
    char digest[INITDATA_HEX_LEN(INITDATA_MAX_DIGEST_LEN)]; /* the whole digest */
    char snp_host_data[INITDATA_HEX_LEN(INITDATA_SNP_HOST_DATA_LEN)];
    char snp_host_data_b64[INITDATA_BASE64_LEN(INITDATA_SNP_HOST_DATA_LEN)];
    char tdx_mrconfigid[INITDATA_HEX_LEN(INITDATA_TDX_MRCONFIGID_LEN)];
    char tdx_mrconfigid_b64[INITDATA_BASE64_LEN(INITDATA_TDX_MRCONFIGID_LEN)];
    /* initdata_pcr8(), for sha256 documents only: the attestation agent extends PCR 8's
     * SHA-256 bank with the init-data digest and refuses one that is not 32 bytes ("expected
     * sha256 digest", guest-components' az-snp-vtpm attester), so a sha384 or sha512 document
     * has no PCR 8 a verifier could ever see. "" then. */
    bool has_pcr8;
    char pcr8[INITDATA_HEX_LEN(INITDATA_PCR8_LEN)];
};

/* Returns 0, or -1 (GRPC_INTERNAL) if OpenSSL fails. */
int initdata_ref_compute(const struct initdata *d, struct initdata_ref *out, struct error *err);

/* Decodes a TEE field given as standard base64 with '=' padding, which must decode to exactly
 * field_len bytes (32 for HOST_DATA, 48 for MRCONFIGID). name ("HOST_DATA") starts the message
 * of a GRPC_INVALID_ARGUMENT error. */
int initdata_ref_parse_field(const char *b64, size_t field_len, const char *name, uint8_t *out,
                             struct error *err);

/* Whether field holds d's digest fitted to field_len bytes (initdata_fit()). */
bool initdata_ref_matches(const struct initdata *d, const uint8_t *field, size_t field_len);
