#include "annotations/initdata-ref.h"

#include <stdlib.h>
#include <string.h>

#include "lib/base64.h"
#include "lib/cleanup.h"

#define MAX_FIELD_LEN 64 /* the largest TEE field a document is fitted to here is 48 bytes */

static void to_hex(const uint8_t *p, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * len] = '\0';
}

/* out has room for INITDATA_BASE64_LEN(len) bytes. */
static void to_base64(const uint8_t *p, size_t len, char *out)
{
    _cleanup_free_ char *b64 = base64_encode(p, len);
    memcpy(out, b64, strlen(b64) + 1);
}

int initdata_ref_compute(const struct initdata *d, struct initdata_ref *out, struct error *err)
{
    uint8_t snp[INITDATA_SNP_HOST_DATA_LEN], tdx[INITDATA_TDX_MRCONFIGID_LEN];
    uint8_t pcr8[INITDATA_PCR8_LEN];
    memset(out, 0, sizeof(*out));
    out->has_pcr8 = d->alg == INITDATA_SHA256;
    if (out->has_pcr8 && initdata_pcr8(d, pcr8) < 0)
        return error_set(err, GRPC_INTERNAL, "init-data: PCR 8: sha256 failed");
    initdata_fit(d, snp, sizeof(snp));
    initdata_fit(d, tdx, sizeof(tdx));
    out->algorithm = initdata_alg_name(d->alg);
    to_hex(d->digest, d->digest_len, out->digest);
    to_hex(snp, sizeof(snp), out->snp_host_data);
    to_base64(snp, sizeof(snp), out->snp_host_data_b64);
    to_hex(tdx, sizeof(tdx), out->tdx_mrconfigid);
    to_base64(tdx, sizeof(tdx), out->tdx_mrconfigid_b64);
    if (out->has_pcr8)
        to_hex(pcr8, sizeof(pcr8), out->pcr8);
    return 0;
}

int initdata_ref_parse_field(const char *b64, size_t field_len, const char *name, uint8_t *out,
                             struct error *err)
{
    _cleanup_free_ uint8_t *buf = NULL;
    size_t len = 0;
    if (!*b64 || base64_decode(b64, strlen(b64), &buf, &len, NULL) < 0)
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "%s: not base64 (standard alphabet, with '=' padding)", name);
    if (len != field_len)
        return error_set(err, GRPC_INVALID_ARGUMENT, "%s: base64 of %zu bytes, want %zu", name, len,
                         field_len);
    memcpy(out, buf, field_len);
    return 0;
}

bool initdata_ref_matches(const struct initdata *d, const uint8_t *field, size_t field_len)
{
    uint8_t want[MAX_FIELD_LEN];
    if (field_len > MAX_FIELD_LEN)
        return false;
    initdata_fit(d, want, field_len);
    return memcmp(want, field, field_len) == 0;
}
