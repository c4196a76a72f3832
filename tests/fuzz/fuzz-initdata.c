/* Fuzz target: init-data as the host meets it (annotations/initdata.h, initdata-ref.h). The first
 * byte says which entry point gets the rest:
 *   'a'  the annotation value as written in the pod spec (base64 text);
 *   't'  the TOML document (initdata_from_toml);
 *   'd'  an init-data disk image (initdata_disk_parse, then the TOML it holds);
 *   'f'  a TEE field as `cocoonctl initdata verify` reads it (base64 of 32 or 48 bytes);
 *   else the whole input as the bytes inside the base64, gzip or plain TOML (encoded here, so
 *        the gzip and TOML layers are mutated directly).
 * Every decoded document must digest, fit and survive the round trips through the disk image
 * and the annotation unchanged. Nothing is printed: init-data contents never reach a log. */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "annotations/initdata-ref.h"
#include "annotations/initdata.h"
#include "lib/base64.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"
#include "tests/fuzz/fuzz.h"

static void check(bool ok)
{
    if (!ok)
        abort();
}

/* A failure: no result, an INVALID_ARGUMENT message starting "init-data: ". */
static void check_refused(const struct error *err)
{
    check(err->code == GRPC_INVALID_ARGUMENT && err->msg &&
          strncmp(err->msg, "init-data: ", 11) == 0);
}

/* The digest against OpenSSL's, an independent implementation. */
static void check_digest(const struct initdata *d)
{
    const EVP_MD *md = d->alg == INITDATA_SHA256   ? EVP_sha256()
                       : d->alg == INITDATA_SHA384 ? EVP_sha384()
                                                   : EVP_sha512();
    uint8_t want[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    check(EVP_Digest(d->raw, d->raw_len, want, &n, md, NULL) == 1);
    check(n == d->digest_len && memcmp(want, d->digest, n) == 0);
}

/* What is computed from a decoded document, and the round trips back to one. */
static void exercise(const struct initdata *d)
{
    check(d->raw && d->raw[d->raw_len] == '\0');
    check_digest(d);

    _cleanup_free_ char *hex = initdata_digest_hex(d);
    check(strlen(hex) == d->digest_len * 2);
    _cleanup_free_ char *snp = initdata_fit_base64(d, INITDATA_SNP_HOST_DATA_LEN);
    _cleanup_free_ char *tdx = initdata_fit_base64(d, INITDATA_TDX_MRCONFIGID_LEN);
    uint8_t pcr8[32];
    check(initdata_pcr8(d, pcr8) == 0);

    /* What `cocoonctl initdata digest` prints and `verify` compares. */
    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    struct initdata_ref ref;
    check(initdata_ref_compute(d, &ref, &err) == 0);
    check(strcmp(ref.snp_host_data_b64, snp) == 0 && strcmp(ref.tdx_mrconfigid_b64, tdx) == 0);
    uint8_t field[INITDATA_TDX_MRCONFIGID_LEN];
    check(initdata_ref_parse_field(tdx, sizeof(field), "MRCONFIGID", field, &err) == 0);
    check(initdata_ref_matches(d, field, sizeof(field)));

    /* The disk the guest reads gives back the same bytes. */
    _cleanup_free_ uint8_t *img = NULL;
    size_t img_len = 0;
    check(initdata_disk_image(d, &img, &img_len, &err) == 0);
    check(img_len % INITDATA_DISK_BLOCK == 0);
    _cleanup_free_ char *raw = NULL;
    size_t raw_len = 0;
    check(initdata_disk_parse(img, img_len, NULL, &raw, &raw_len, &err) == 0);
    check(raw_len == d->raw_len && memcmp(raw, d->raw, raw_len) == 0);

    /* So does the annotation `cocoonctl initdata annotate` writes, unless it is too long. */
    _cleanup_free_ char *b64 = NULL;
    check(initdata_annotation_encode(d->raw, d->raw_len, &b64, &err) == 0);
    _cleanup_(initdata_freep) struct initdata *again = NULL;
    if (initdata_from_annotation(b64, NULL, &again, &err) == 0) {
        check(again->raw_len == d->raw_len && memcmp(again->raw, d->raw, d->raw_len) == 0);
        check(again->alg == d->alg && memcmp(again->digest, d->digest, d->digest_len) == 0);
    } else {
        check(strlen(b64) > INITDATA_DEFAULT_MAX_ANNOTATION);
    }
}

static void from_annotation(const char *value)
{
    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    _cleanup_(initdata_freep) struct initdata *d = (struct initdata *)1;
    if (initdata_from_annotation(value, NULL, &d, &err) == 0) {
        check(d != NULL && !error_is_set(&err));
        exercise(d);
    } else {
        check(d == NULL);
        check_refused(&err);
    }
}

static void from_toml(const uint8_t *p, size_t n)
{
    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    _cleanup_(initdata_freep) struct initdata *d = NULL;
    if (initdata_from_toml((const char *)p, n, &d, &err) == 0) {
        check(d->raw_len == n && memcmp(d->raw, p, n) == 0);
        exercise(d);
    } else {
        check(d == NULL);
        check_refused(&err);
    }
}

static void from_disk(const uint8_t *p, size_t n)
{
    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    _cleanup_free_ char *raw = NULL;
    size_t raw_len = 0;
    if (initdata_disk_parse(p, n, NULL, &raw, &raw_len, &err) == 0) {
        check(raw && raw[raw_len] == '\0' && raw_len <= INITDATA_DEFAULT_MAX_DECOMPRESSED);
        from_toml((const uint8_t *)raw, raw_len);
    } else {
        check(raw == NULL);
        check_refused(&err);
    }
}

static void from_field(const char *b64)
{
    static const size_t lens[] = {INITDATA_SNP_HOST_DATA_LEN, INITDATA_TDX_MRCONFIGID_LEN};
    for (size_t i = 0; i < 2; i++) {
        _cleanup_(error_clearp) struct error err = ERROR_INIT;
        uint8_t out[INITDATA_TDX_MRCONFIGID_LEN];
        if (initdata_ref_parse_field(b64, lens[i], "HOST_DATA", out, &err) == 0) {
            _cleanup_free_ char *again = base64_encode(out, lens[i]);
            check(strlen(again) <= strlen(b64));
        } else {
            check(err.code == GRPC_INVALID_ARGUMENT && err.msg &&
                  strncmp(err.msg, "HOST_DATA", 9) == 0);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char mode = size > 0 ? (char)data[0] : '\0';
    const uint8_t *rest = size > 0 ? data + 1 : data;
    size_t n = size > 0 ? size - 1 : 0;
    _cleanup_free_ char *text = xstrndup((const char *)rest, n);
    switch (mode) {
    case 'a':
        from_annotation(text);
        break;
    case 't':
        from_toml(rest, n);
        break;
    case 'd':
        from_disk(rest, n);
        break;
    case 'f':
        from_field(text);
        break;
    default: {
        _cleanup_free_ char *b64 = base64_encode(data, size);
        from_annotation(b64);
    }
    }
    return 0;
}
