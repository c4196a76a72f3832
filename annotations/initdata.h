/* Confidential Containers init-data: decode the pod annotation, validate the document, digest it,
 * fit the digest into the TEE's host-data field, and build the init-data disk the guest reads.
 *
 * The annotation (ANNOTATION_INITDATA, annotations/pod.h) is standard base64 of the
 * gzip-compressed init-data TOML (plain TOML inside the base64 is accepted too). The digest is
 * H(raw TOML bytes) with H named by the document's `algorithm`: byte-exact, so one byte of
 * whitespace changes HOST_DATA. It is truncated or zero-padded at the end to the TEE field:
 * SNP HOST_DATA 32 bytes, TDX MRCONFIGID 48 bytes.
 *
 * Validation matches what the guest (Kata's Rust agent) will insist on, so a document the guest
 * would refuse fails pod creation on the host with a message instead of a VM that never comes up:
 * `version = "0.1.0"`, `algorithm` one of sha256/sha384/sha512, a `[data]` table (may be empty)
 * whose values are all strings. Other top-level keys are accepted and ignored, as both Kata
 * runtimes and the agent do; they are still part of the digest.
 *
 * Pure: no I/O; the caller writes the disk image where it wants. Nothing here logs, so init-data
 * contents never reach a log. Every error is GRPC_INVALID_ARGUMENT (GRPC_INTERNAL only if zlib or
 * OpenSSL themselves fail), with a message starting "init-data: ". */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lib/cleanup.h"
#include "lib/error.h"

#define INITDATA_VERSION "0.1.0"

/* Defaults for struct initdata_limits. 256 KiB is Kubernetes' limit for all annotations of an
 * object together, so no real annotation is longer; 1 MiB of TOML is far more than any policy
 * and configuration need, and stops a gzip bomb early. (Kata has no limits.) */
#define INITDATA_DEFAULT_MAX_ANNOTATION (256u * 1024)
#define INITDATA_DEFAULT_MAX_DECOMPRESSED (1024u * 1024)

#define INITDATA_SNP_HOST_DATA_LEN 32
#define INITDATA_TDX_MRCONFIGID_LEN 48
#define INITDATA_MAX_DIGEST_LEN 64

/* The disk: "initdata" || u64 little-endian L || gzip(raw) (L bytes) || zeros to a multiple of
 * 512. The guest agent finds it by the magic and reads L bytes after the header. */
#define INITDATA_DISK_MAGIC "initdata"
#define INITDATA_DISK_HEADER_LEN 16
#define INITDATA_DISK_BLOCK 512

enum initdata_alg {
    INITDATA_SHA256,
    INITDATA_SHA384,
    INITDATA_SHA512,
};

/* A field of 0 means its default; a NULL pointer means all defaults. */
struct initdata_limits {
    size_t max_annotation;   /* bytes of annotation value (base64 text) */
    size_t max_decompressed; /* bytes of TOML after gunzip; a gzip bomb stops here */
    /* What set each limit (a configuration key), for the message that refuses a value over it:
     * "... over the 262144-byte limit set by <name>". NULL names nothing. */
    const char *max_annotation_name;
    const char *max_decompressed_name;
};

struct initdata {
    char *raw; /* the exact TOML bytes (NUL-terminated for convenience, not counted) */
    size_t raw_len;
    enum initdata_alg alg;
    uint8_t digest[INITDATA_MAX_DIGEST_LEN]; /* H(raw) */
    size_t digest_len;                       /* 32, 48 or 64 */
};

void initdata_free(struct initdata *d); /* NULL is fine */
DEFINE_CLEANUP_FUNC(struct initdata *, initdata_free)

/* "sha256", "sha384", "sha512" */
const char *initdata_alg_name(enum initdata_alg alg);

/* Decodes an annotation value: base64 (standard alphabet, '=' padding required; line breaks are
 * skipped, as Go's decoder does), then gunzip if the bytes start with the gzip magic (several
 * gzip members are concatenated, as gzip(1) and Go do; anything else after the stream is an
 * error), else the bytes are the TOML itself; then initdata_from_toml(). An absent or empty
 * annotation means "no init-data": callers check for that before calling; an empty value here is
 * an error. On success *out is set (free with initdata_free); on failure it is NULL. */
int initdata_from_annotation(const char *value, const struct initdata_limits *lim,
                             struct initdata **out, struct error *err);

/* Validates a TOML document (see the top of this file) and digests the exact bytes. */
int initdata_from_toml(const char *bytes, size_t len, struct initdata **out, struct error *err);

/* The digest truncated, or zero-padded at the end, to field_len bytes (32 for SNP HOST_DATA,
 * 48 for TDX MRCONFIGID): what the guest's attester and the verifier compare. */
void initdata_fit(const struct initdata *d, uint8_t *out, size_t field_len);

/* initdata_fit() as standard base64 (libvirt <hostData>, <mrConfigId>, QEMU host-data=).
 * Caller frees. */
char *initdata_fit_base64(const struct initdata *d, size_t field_len);

/* The whole digest as lowercase hex. Caller frees. */
char *initdata_digest_hex(const struct initdata *d);

/* The vTPM PCR 8 reference value: PCR 8 extended once from zero with the first 32 bytes of the
 * digest, SHA-256(32 zero bytes || fit(digest, 32)), the way the CoCo peer-pod image does
 * (`tpm2_pcrextend 8:sha256=$(head -c64 initdata.digest)`). For a sha256 document that is
 * SHA-256(zeros || SHA-256(raw)); for sha384/sha512 it is the truncated digest, not SHA-256(raw).
 * Returns 0, or -1 if OpenSSL fails. */
int initdata_pcr8(const struct initdata *d, uint8_t out[32]);

/* Kata's init-data disk for d->raw (see INITDATA_DISK_MAGIC). *img (caller frees) is *len bytes,
 * a multiple of 512. */
int initdata_disk_image(const struct initdata *d, uint8_t **img, size_t *len, struct error *err);

/* The reverse: checks the magic and the length, gunzips (bounded by lim->max_decompressed) and
 * hands back the raw TOML (NUL-terminated, caller frees); bytes after the L gzip bytes (the
 * padding) are not looked at. Does not validate the TOML: pass it to initdata_from_toml(). */
int initdata_disk_parse(const uint8_t *img, size_t len, const struct initdata_limits *lim,
                        char **raw, size_t *raw_len, struct error *err);

/* base64(gzip(raw)): the annotation value for a TOML document (`cocoonctl initdata annotate`).
 * Does not validate the TOML. *b64 is NUL-terminated; caller frees. */
int initdata_annotation_encode(const char *raw, size_t len, char **b64, struct error *err);
