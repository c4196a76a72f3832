#include "annotations/initdata-ref.h"

#include <string.h>

#include <openssl/evp.h>

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

static void to_base64(const uint8_t *p, size_t len, char *out)
{
    EVP_EncodeBlock((unsigned char *)out, p, (int)len);
}

int initdata_ref_compute(const struct initdata *d, struct initdata_ref *out, struct error *err)
{
    uint8_t snp[INITDATA_SNP_HOST_DATA_LEN], tdx[INITDATA_TDX_MRCONFIGID_LEN];
    uint8_t pcr8[INITDATA_PCR8_LEN];
    memset(out, 0, sizeof(*out));
    if (initdata_pcr8(d, pcr8) < 0)
        return error_set(err, GRPC_INTERNAL, "init-data: PCR 8: sha256 failed");
    initdata_fit(d, snp, sizeof(snp));
    initdata_fit(d, tdx, sizeof(tdx));
    out->algorithm = initdata_alg_name(d->alg);
    to_hex(d->digest, d->digest_len, out->digest);
    to_hex(snp, sizeof(snp), out->snp_host_data);
    to_base64(snp, sizeof(snp), out->snp_host_data_b64);
    to_hex(tdx, sizeof(tdx), out->tdx_mrconfigid);
    to_base64(tdx, sizeof(tdx), out->tdx_mrconfigid_b64);
    to_hex(pcr8, sizeof(pcr8), out->pcr8);
    return 0;
}

static bool is_base64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

int initdata_ref_parse_field(const char *b64, size_t field_len, const char *name, uint8_t *out,
                             struct error *err)
{
    size_t n = strlen(b64), pad = 0;
    bool ok = n > 0 && n % 4 == 0;
    for (size_t i = 0; ok && i < n; i++) {
        if (b64[i] == '=' && i + 2 >= n)
            pad++;
        else
            ok = !pad && is_base64_char(b64[i]);
    }
    if (!ok)
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "%s: not base64 (standard alphabet, with '=' padding)", name);
    size_t len = n / 4 * 3 - pad;
    if (len != field_len)
        return error_set(err, GRPC_INVALID_ARGUMENT, "%s: base64 of %zu bytes, want %zu", name, len,
                         field_len);
    /* The checks above bound n: EVP_DecodeBlock writes n / 4 * 3 bytes, the padding included. */
    uint8_t buf[MAX_FIELD_LEN + 3];
    if (field_len > MAX_FIELD_LEN ||
        EVP_DecodeBlock(buf, (const unsigned char *)b64, (int)n) != (int)(n / 4 * 3))
        return error_set(err, GRPC_INVALID_ARGUMENT, "%s: cannot decode the base64", name);
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
