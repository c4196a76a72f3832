/* annotations/initdata: upstream test vectors (kata.md §2.8), round trips, every error message,
 * gzip bombs and hostile input. Expected values are computed independently here with OpenSSL
 * and zlib, never with the module's own helpers. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "annotations/initdata.h"
#include "lib/cleanup.h"
#include "lib/error.h"
#include "lib/xalloc.h"
#include "tests/common/run-tap.h"

/* tests/integration/kubernetes/runtimeclass_workloads/default-initdata.toml, 47 bytes */
#define DEFAULT_TOML "version = \"0.1.0\"\nalgorithm = \"sha256\"\n\n[data]\n"
#define DEFAULT_SHA384_TOML "version = \"0.1.0\"\nalgorithm = \"sha384\"\n\n[data]\n"

#define DEFAULT_SHA256 "5fbba2d190b4c600dc48b80802559460ecae499f76f079e9ad2ebd4e3c7eb65f"
#define DEFAULT_SNP "X7ui0ZC0xgDcSLgIAlWUYOyuSZ928HnprS69Tjx+tl8="
#define DEFAULT_TDX "X7ui0ZC0xgDcSLgIAlWUYOyuSZ928HnprS69Tjx+tl8AAAAAAAAAAAAAAAAAAAAA"
#define SHA384_HEX                                                                                 \
    "e2a3a5e0a842c539638ff1d392937c6d00b2ddfdf1d8a72b449e337ba4e7104a7b8788b61042c2c865a6017d8472" \
    "bf2b"
#define SHA384_SNP "4qOl4KhCxTljj/HTkpN8bQCy3f3x2KcrRJ4ze6TnEEo="
#define SHA384_TDX "4qOl4KhCxTljj/HTkpN8bQCy3f3x2KcrRJ4ze6TnEEp7h4i2EELCyGWmAX2Ecr8r"

/* docs/how-to/how-to-use-the-kata-agent-policy.md: `gzip -c | base64 -w0` of a 1518-byte sha256
 * document carrying allow-all-except-exec-process.rego (GNU gzip, not zlib in this test). */
#define POLICY_ANNOTATION                                                                          \
    "H4sIAAAAAAAAA42UTW/TQBCG7/4Vq/QQOCQKQXCo1ENIAkRqiGWnpBJCaGKP7RXrXTM7DnV/PRMiVUh07R582J3H"     \
    "8/XO7AnJa2fVjRrNpm+ms1EEpnSkuarPd76C+bv3oyj6lgPD92jUOKOzbkpYupEA4/E4ulJL13Sky4rVq+y1ms/m"     \
    "b9VWZ+S8K1iM1DgClijRlcBpvLqf3OoMrcfJJkfLutBI12rRQFbhZD6dCRfJ4SeUqOSz/OMSNopyLKA1rBZ5vkji"     \
    "LyhBj458gr9a9KyubxRTi/9i6W9oQualcR5TzrUNElLZR20waCcExqWzDNoi9WMp2PzoHkLQSi7JdQPUJ+QtMuks"     \
    "WLQQu912fZK+BZHz7QolaRN0c6s9bywjFZBhL5W4lsPEFuvPjhvTlh+6mNwx2MudNdLDZXwnf4SYGFo/3O64NWZT"     \
    "y+SEgAQhT1lECQZKsHan4UgXLGUw+FWTzHjh0woIt661HGxJgh4xT0RoV6/w1IO19XAOKfJFTxmxva6DRQsX/12j"     \
    "IKBLC0Y0Er2DuUutxMM5nak9QaZt2cOwf4En1ww42nN3OK+w14/B4u+a/CWLesHWTYU1Eph+GS/w0470Y/1LcgDN"     \
    "A40/yKOMzw/tE7N+wOx/NwUYj9H5qf4DsX93tO4FAAA="
#define POLICY_SHA256 "2385c5da0959d063638b2ab4ac252ae18e825f6ecb69815e4206b38077d0bcdd"
#define POLICY_SNP "I4XF2glZ0GNjiyq0rCUq4Y6CX27LaYFeQgazgHfQvN0="

/* ---- independent helpers ---- */

static char *b64(const void *p, size_t len)
{
    char *out = xmalloc(4 * ((len + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)out, p, (int)len);
    return out;
}

static void sha(const EVP_MD *md, const void *p, size_t len, uint8_t *out)
{
    unsigned int n;
    ck_assert_int_eq(EVP_Digest(p, len, out, &n, md, NULL), 1);
}

/* gzip of len bytes at p, or of len zero bytes streamed from a small buffer when p is NULL. */
static uint8_t *gz(const void *p, size_t len, size_t *out_len)
{
    static const uint8_t zero[1 << 16];
    z_stream zs = {0};
    ck_assert_int_eq(deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = 1 << 16, left = len;
    uint8_t *out = xmalloc(cap);
    int rc;
    do {
        if (zs.avail_in == 0 && left) {
            size_t chunk = p || left < sizeof(zero) ? left : sizeof(zero);
            zs.next_in = (Bytef *)(p ? (const uint8_t *)p + (len - left) : zero);
            zs.avail_in = (uInt)chunk;
            left -= chunk;
        }
        if (cap - zs.total_out < 4096)
            out = xrealloc(out, cap *= 2);
        zs.next_out = out + zs.total_out;
        zs.avail_out = (uInt)(cap - zs.total_out);
        rc = deflate(&zs, left ? Z_NO_FLUSH : Z_FINISH);
        ck_assert(rc == Z_OK || rc == Z_STREAM_END || rc == Z_BUF_ERROR);
    } while (rc != Z_STREAM_END);
    *out_len = zs.total_out;
    deflateEnd(&zs);
    return out;
}

static uint8_t *gunzip_all(const uint8_t *p, size_t len, size_t *out_len)
{
    z_stream zs = {0};
    ck_assert_int_eq(inflateInit2(&zs, 15 + 16), Z_OK);
    uint8_t *out = xmalloc(1 << 20);
    zs.next_in = (Bytef *)p;
    zs.avail_in = (uInt)len;
    zs.next_out = out;
    zs.avail_out = 1 << 20;
    ck_assert_int_eq(inflate(&zs, Z_FINISH), Z_STREAM_END);
    ck_assert_uint_eq(zs.avail_in, 0);
    *out_len = zs.total_out;
    inflateEnd(&zs);
    return out;
}

static char *annotation_of(const char *toml)
{
    size_t n;
    _cleanup_free_ uint8_t *g = gz(toml, strlen(toml), &n);
    return b64(g, n);
}

/* Runs from_annotation on value and checks it fails with exactly `msg`. */
static void expect_annotation_error(const char *value, const struct initdata_limits *lim,
                                    const char *msg)
{
    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    struct initdata *d = (struct initdata *)1;
    ck_assert_int_eq(initdata_from_annotation(value, lim, &d, &err), -1);
    ck_assert_ptr_null(d);
    ck_assert_int_eq(err.code, GRPC_INVALID_ARGUMENT);
    ck_assert_str_eq(err.msg, msg);
}

static void expect_toml_error(const char *toml, const char *msg)
{
    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    struct initdata *d = (struct initdata *)1;
    ck_assert_int_eq(initdata_from_toml(toml, strlen(toml), &d, &err), -1);
    ck_assert_ptr_null(d);
    ck_assert_int_eq(err.code, GRPC_INVALID_ARGUMENT);
    ck_assert_str_eq(err.msg, msg);
    /* The same document through the annotation path gives the same message. */
    _cleanup_free_ char *a = annotation_of(toml);
    expect_annotation_error(a, NULL, msg);
}

static struct initdata *parse_toml(const char *toml)
{
    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    struct initdata *d = NULL;
    int rc = initdata_from_toml(toml, strlen(toml), &d, &err);
    ck_assert_msg(rc == 0, "%s", err.msg);
    return d;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- upstream vectors ---- */

START_TEST(test_vector_default_sha256)
{
    ck_assert_uint_eq(strlen(DEFAULT_TOML), 47);
    _cleanup_(initdata_freep) struct initdata *d = parse_toml(DEFAULT_TOML);
    ck_assert_int_eq(d->alg, INITDATA_SHA256);
    ck_assert_str_eq(initdata_alg_name(d->alg), "sha256");
    ck_assert_uint_eq(d->digest_len, 32);
    ck_assert_uint_eq(d->raw_len, 47);
    ck_assert_mem_eq(d->raw, DEFAULT_TOML, 47);
    _cleanup_free_ char *hex = initdata_digest_hex(d);
    ck_assert_str_eq(hex, DEFAULT_SHA256);

    uint8_t snp[32], tdx[48];
    initdata_fit(d, snp, sizeof(snp));
    initdata_fit(d, tdx, sizeof(tdx));
    _cleanup_free_ char *snp64 = b64(snp, sizeof(snp)), *tdx64 = b64(tdx, sizeof(tdx));
    ck_assert_str_eq(snp64, DEFAULT_SNP);
    ck_assert_str_eq(tdx64, DEFAULT_TDX);
    _cleanup_free_ char *snp_own = initdata_fit_base64(d, INITDATA_SNP_HOST_DATA_LEN);
    _cleanup_free_ char *tdx_own = initdata_fit_base64(d, INITDATA_TDX_MRCONFIGID_LEN);
    ck_assert_str_eq(snp_own, DEFAULT_SNP);
    ck_assert_str_eq(tdx_own, DEFAULT_TDX);
}
END_TEST

START_TEST(test_vector_default_sha384)
{
    _cleanup_(initdata_freep) struct initdata *d = parse_toml(DEFAULT_SHA384_TOML);
    ck_assert_int_eq(d->alg, INITDATA_SHA384);
    ck_assert_uint_eq(d->digest_len, 48);
    _cleanup_free_ char *hex = initdata_digest_hex(d);
    ck_assert_str_eq(hex, SHA384_HEX);
    uint8_t snp[32], tdx[48];
    initdata_fit(d, snp, sizeof(snp));
    initdata_fit(d, tdx, sizeof(tdx));
    _cleanup_free_ char *snp64 = b64(snp, sizeof(snp)), *tdx64 = b64(tdx, sizeof(tdx));
    ck_assert_str_eq(snp64, SHA384_SNP);
    ck_assert_str_eq(tdx64, SHA384_TDX);
    _cleanup_free_ char *snp_own = initdata_fit_base64(d, 32),
                        *tdx_own = initdata_fit_base64(d, 48);
    ck_assert_str_eq(snp_own, SHA384_SNP);
    ck_assert_str_eq(tdx_own, SHA384_TDX);
}
END_TEST

START_TEST(test_vector_policy_annotation)
{
    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    _cleanup_(initdata_freep) struct initdata *d = NULL;
    ck_assert_int_eq(initdata_from_annotation(POLICY_ANNOTATION, NULL, &d, &err), 0);
    ck_assert_uint_eq(d->raw_len, 1518);
    ck_assert_int_eq(d->alg, INITDATA_SHA256);
    ck_assert_ptr_nonnull(strstr(d->raw, "[data]\n\"policy.rego\" = '''\n# Copyright"));
    ck_assert_ptr_nonnull(strstr(d->raw, "\npackage agent_policy\n"));
    _cleanup_free_ char *hex = initdata_digest_hex(d), *snp = initdata_fit_base64(d, 32);
    ck_assert_str_eq(hex, POLICY_SHA256);
    ck_assert_str_eq(snp, POLICY_SNP);
}
END_TEST

START_TEST(test_sha512_and_fit)
{
    const char *toml = "version = \"0.1.0\"\nalgorithm = \"sha512\"\n[data]\n"
                       "\"aa.toml\" = '''\n[token_configs]\n'''\n";
    _cleanup_(initdata_freep) struct initdata *d = parse_toml(toml);
    uint8_t want[64];
    sha(EVP_sha512(), toml, strlen(toml), want);
    ck_assert_int_eq(d->alg, INITDATA_SHA512);
    ck_assert_uint_eq(d->digest_len, 64);
    ck_assert_mem_eq(d->digest, want, 64);

    /* Longer digest: truncated; shorter field than any digest: prefix; bigger field: padded. */
    uint8_t tdx[48], cca[64], big[80];
    initdata_fit(d, tdx, sizeof(tdx));
    ck_assert_mem_eq(tdx, want, 48);
    initdata_fit(d, cca, sizeof(cca));
    ck_assert_mem_eq(cca, want, 64);
    memset(big, 0xaa, sizeof(big));
    initdata_fit(d, big, sizeof(big));
    ck_assert_mem_eq(big, want, 64);
    for (size_t i = 64; i < sizeof(big); i++)
        ck_assert_uint_eq(big[i], 0);

    _cleanup_free_ char *hex = initdata_digest_hex(d);
    ck_assert_uint_eq(strlen(hex), 128);
}
END_TEST

START_TEST(test_whitespace_changes_digest)
{
    /* The digest is over the exact bytes: one trailing newline less is another HOST_DATA. */
    const char *without = "version = \"0.1.0\"\nalgorithm = \"sha256\"\n\n[data]";
    _cleanup_(initdata_freep) struct initdata *a = parse_toml(DEFAULT_TOML);
    _cleanup_(initdata_freep) struct initdata *b = parse_toml(without);
    ck_assert_uint_eq(b->raw_len, 46);
    ck_assert_mem_ne(a->digest, b->digest, 32);
    uint8_t want[32];
    sha(EVP_sha256(), without, strlen(without), want);
    ck_assert_mem_eq(b->digest, want, 32);
    /* Reordering keys is a different document too. */
    _cleanup_(initdata_freep) struct initdata *c =
        parse_toml("algorithm = \"sha256\"\nversion = \"0.1.0\"\n\n[data]\n");
    ck_assert_mem_ne(a->digest, c->digest, 32);
}
END_TEST

START_TEST(test_pcr8)
{
    uint8_t zeros_and_digest[64] = {0}, want[32], got[32];
    _cleanup_(initdata_freep) struct initdata *d = parse_toml(DEFAULT_TOML);
    sha(EVP_sha256(), DEFAULT_TOML, strlen(DEFAULT_TOML), zeros_and_digest + 32);
    sha(EVP_sha256(), zeros_and_digest, 64, want);
    ck_assert_int_eq(initdata_pcr8(d, got), 0);
    ck_assert_mem_eq(got, want, 32);

    /* sha384: the peer-pod image extends with the first 32 bytes of the sha384 digest. */
    _cleanup_(initdata_freep) struct initdata *d384 = parse_toml(DEFAULT_SHA384_TOML);
    uint8_t full[48];
    sha(EVP_sha384(), DEFAULT_SHA384_TOML, strlen(DEFAULT_SHA384_TOML), full);
    memcpy(zeros_and_digest + 32, full, 32);
    sha(EVP_sha256(), zeros_and_digest, 64, want);
    ck_assert_int_eq(initdata_pcr8(d384, got), 0);
    ck_assert_mem_eq(got, want, 32);
}
END_TEST

/* ---- the init-data disk ---- */

START_TEST(test_disk_image_layout)
{
    /* The agent's testdata/initdata.img holds gzip("some content") in a 512-byte image. */
    struct initdata d = {.raw = (char *)"some content", .raw_len = 12};
    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    _cleanup_free_ uint8_t *img = NULL;
    size_t len = 0;
    ck_assert_int_eq(initdata_disk_image(&d, &img, &len, &err), 0);
    ck_assert_uint_eq(len, 512);
    ck_assert_mem_eq(img, "initdata", 8);
    uint64_t l = 0;
    for (int i = 7; i >= 0; i--)
        l = l << 8 | img[8 + i];
    ck_assert_uint_gt(l, 18);
    ck_assert_uint_lt(l, 512 - 16);
    ck_assert_uint_eq(img[16], 0x1f);
    ck_assert_uint_eq(img[17], 0x8b);
    size_t n;
    _cleanup_free_ uint8_t *plain = gunzip_all(img + 16, (size_t)l, &n);
    ck_assert_uint_eq(n, 12);
    ck_assert_mem_eq(plain, "some content", 12);
    for (size_t i = 16 + (size_t)l; i < len; i++)
        ck_assert_uint_eq(img[i], 0);

    _cleanup_free_ char *raw = NULL;
    size_t raw_len;
    ck_assert_int_eq(initdata_disk_parse(img, len, NULL, &raw, &raw_len, &err), 0);
    ck_assert_uint_eq(raw_len, 12);
    ck_assert_str_eq(raw, "some content");
}
END_TEST

START_TEST(test_disk_image_sizes)
{
    /* A body that does not compress: the image grows in whole 512-byte blocks. */
    size_t n = 5000;
    _cleanup_free_ char *body = xmalloc(n);
    uint32_t x = 1;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245 + 12345;
        body[i] = (char)(x >> 16);
    }
    struct initdata d = {.raw = body, .raw_len = n};
    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    _cleanup_free_ uint8_t *img = NULL;
    size_t len;
    ck_assert_int_eq(initdata_disk_image(&d, &img, &len, &err), 0);
    ck_assert_uint_eq(len % 512, 0);
    ck_assert_uint_ge(len, 16 + n);
    _cleanup_free_ char *raw = NULL;
    size_t raw_len;
    ck_assert_int_eq(initdata_disk_parse(img, len, NULL, &raw, &raw_len, &err), 0);
    ck_assert_uint_eq(raw_len, n);
    ck_assert_mem_eq(raw, body, n);
    /* The reader is bounded like the annotation path. */
    struct initdata_limits small = {.max_decompressed = 4096};
    _cleanup_free_ char *raw2 = NULL;
    ck_assert_int_eq(initdata_disk_parse(img, len, &small, &raw2, &raw_len, &err), -1);
    ck_assert_str_eq(err.msg, "init-data: decompressed size exceeds the 4096-byte limit");
}
END_TEST

/* An image with exactly the header bytes of upstream's testdata/initdata.img: L = 36, a gzip
 * member with Go's header (1f8b 0800 0000 0000 00ff) around an 18-byte deflate stream (a fixed
 * Huffman block and an empty final stored block, as Go's compress/flate writes it). */
START_TEST(test_disk_parse_upstream_header)
{
    static const uint8_t header[16] = {0x69, 0x6e, 0x69, 0x74, 0x64, 0x61, 0x74, 0x61,
                                       0x24, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
    static const uint8_t gz_header[10] = {0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0x00, 0xff};
    const char *text = "some content";

    z_stream zs = {0};
    ck_assert_int_eq(deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_FIXED), Z_OK);
    uint8_t deflated[64];
    zs.next_in = (Bytef *)text;
    zs.avail_in = 12;
    zs.next_out = deflated;
    zs.avail_out = sizeof(deflated);
    ck_assert_int_eq(deflate(&zs, Z_SYNC_FLUSH), Z_OK);
    size_t dn = sizeof(deflated) - zs.avail_out;
    deflateEnd(&zs);
    /* 106 bits of fixed block, then the flush's empty stored block: 3 header bits at bit 106,
     * aligned, 00 00 ff ff. Setting its BFINAL bit ends the stream the way Go does. */
    ck_assert_uint_eq(dn, 18);
    ck_assert_mem_eq(deflated + 14, "\x00\x00\xff\xff", 4);
    deflated[13] |= 1 << 2;

    uint8_t img[512] = {0};
    memcpy(img, header, 16);
    memcpy(img + 16, gz_header, 10);
    memcpy(img + 26, deflated, 18);
    uLong crc = crc32(0, (const Bytef *)text, 12);
    for (int i = 0; i < 4; i++) {
        img[44 + i] = (uint8_t)(crc >> (8 * i));
        img[48 + i] = (uint8_t)(12 >> (8 * i));
    }

    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    _cleanup_free_ char *raw = NULL;
    size_t raw_len = 0;
    int rc = initdata_disk_parse(img, sizeof(img), NULL, &raw, &raw_len, &err);
    ck_assert_msg(rc == 0, "%s", err.msg);
    ck_assert_uint_eq(raw_len, 12);
    ck_assert_str_eq(raw, "some content");
}
END_TEST

START_TEST(test_disk_parse_errors)
{
    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    char *raw = NULL;
    size_t raw_len;
    uint8_t img[512] = {0};

    ck_assert_int_eq(initdata_disk_parse(img, 10, NULL, &raw, &raw_len, &err), -1);
    ck_assert_str_eq(err.msg, "init-data: disk image: 10 bytes, too short for the 16-byte header");
    ck_assert_int_eq(initdata_disk_parse(img, sizeof(img), NULL, &raw, &raw_len, &err), -1);
    ck_assert_str_eq(err.msg, "init-data: disk image: no \"initdata\" magic at offset 0");
    memcpy(img, "initdata", 8);
    ck_assert_int_eq(initdata_disk_parse(img, sizeof(img), NULL, &raw, &raw_len, &err), -1);
    ck_assert_str_eq(err.msg, "init-data: disk image: gzip length is 0");
    memset(img + 8, 0xff, 8);
    ck_assert_int_eq(initdata_disk_parse(img, sizeof(img), NULL, &raw, &raw_len, &err), -1);
    ck_assert_str_eq(err.msg, "init-data: disk image: gzip length 18446744073709551615 exceeds "
                              "the 496 bytes after the header");
    memset(img + 8, 0, 8);
    img[8] = 20;
    memcpy(img + 16, "version = \"0.1.0\"\n", 18);
    ck_assert_int_eq(initdata_disk_parse(img, sizeof(img), NULL, &raw, &raw_len, &err), -1);
    ck_assert_str_eq(err.msg, "init-data: disk image: the data after the header is not gzip");
    /* A gzip cut short inside the stated length. */
    size_t n;
    _cleanup_free_ uint8_t *g = gz(DEFAULT_TOML, 47, &n);
    memcpy(img + 16, g, n - 4);
    img[8] = (uint8_t)(n - 4);
    ck_assert_int_eq(initdata_disk_parse(img, sizeof(img), NULL, &raw, &raw_len, &err), -1);
    ck_assert_str_eq(err.msg, "init-data: gzip: truncated stream (the input ends before the gzip "
                              "trailer)");
    ck_assert_ptr_null(raw);
}
END_TEST

/* ---- the annotation ---- */

START_TEST(test_annotation_round_trip)
{
    const char *toml =
        "version = \"0.1.0\"\nalgorithm = \"sha384\"\n\n[data]\n"
        "\"aa.toml\" = '''\n[token_configs.kbs]\nurl = 'http://kbs:8080'\n'''\n"
        "\"policy.rego\" = \"package agent_policy\\ndefault AllowRequestsFailingPolicy "
        ":= true\\n\"\n";
    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    _cleanup_free_ char *a = NULL;
    ck_assert_int_eq(initdata_annotation_encode(toml, strlen(toml), &a, &err), 0);
    /* It is base64 of a gzip member (zlib inflates it back to the document). */
    ck_assert_uint_eq(
        strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="), strlen(a));
    uint8_t bin[1024];
    int bl = EVP_DecodeBlock(bin, (const unsigned char *)a, (int)strlen(a));
    ck_assert_int_gt(bl, 0);
    bl -= (int)(strlen(a) - strcspn(a, "=")); /* EVP_DecodeBlock counts padding as zeros */
    size_t gl;
    _cleanup_free_ uint8_t *plain = gunzip_all(bin, (size_t)bl, &gl);
    ck_assert_uint_eq(gl, strlen(toml));
    ck_assert_mem_eq(plain, toml, gl);
    _cleanup_(initdata_freep) struct initdata *d = NULL;
    ck_assert_int_eq(initdata_from_annotation(a, NULL, &d, &err), 0);
    ck_assert_uint_eq(d->raw_len, strlen(toml));
    ck_assert_str_eq(d->raw, toml);
    _cleanup_(initdata_freep) struct initdata *direct = parse_toml(toml);
    ck_assert_mem_eq(d->digest, direct->digest, 48);

    /* Disk round trip from the decoded document. */
    _cleanup_free_ uint8_t *img = NULL;
    size_t len;
    ck_assert_int_eq(initdata_disk_image(d, &img, &len, &err), 0);
    _cleanup_free_ char *raw = NULL;
    size_t raw_len;
    ck_assert_int_eq(initdata_disk_parse(img, len, NULL, &raw, &raw_len, &err), 0);
    ck_assert_uint_eq(raw_len, d->raw_len);
    ck_assert_mem_eq(raw, d->raw, raw_len);
}
END_TEST

START_TEST(test_annotation_forms)
{
    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    /* gzip | base64 -w0, with zlib's own gzip (not the module's). */
    _cleanup_free_ char *a = annotation_of(DEFAULT_TOML);
    _cleanup_(initdata_freep) struct initdata *d1 = NULL;
    ck_assert_int_eq(initdata_from_annotation(a, NULL, &d1, &err), 0);
    _cleanup_free_ char *hex = initdata_digest_hex(d1);
    ck_assert_str_eq(hex, DEFAULT_SHA256);

    /* Plain TOML inside the base64. */
    _cleanup_free_ char *plain = b64(DEFAULT_TOML, 47);
    _cleanup_(initdata_freep) struct initdata *d2 = NULL;
    ck_assert_int_eq(initdata_from_annotation(plain, NULL, &d2, &err), 0);
    ck_assert_mem_eq(d2->digest, d1->digest, 32);
    ck_assert_str_eq(d2->raw, DEFAULT_TOML);

    /* Wrapped like base64(1) without -w0 (and a YAML block scalar's final newline). */
    size_t n = strlen(a);
    _cleanup_free_ char *wrapped = xmalloc(n + n / 10 * 2 + 3);
    char *w = wrapped;
    for (size_t i = 0; i < n; i++) {
        if (i && i % 20 == 0)
            w = stpcpy(w, "\r\n"); /* CRLF here, a bare LF at the next break */
        else if (i && i % 10 == 0)
            *w++ = '\n';
        *w++ = a[i];
    }
    strcpy(w, "\n");
    _cleanup_(initdata_freep) struct initdata *d3 = NULL;
    ck_assert_int_eq(initdata_from_annotation(wrapped, NULL, &d3, &err), 0);
    ck_assert_mem_eq(d3->digest, d1->digest, 32);

    /* Concatenated gzip members are one gzip file (gzip(1), Go). */
    const char *p1 = "version = \"0.1.0\"\n", *p2 = "algorithm = \"sha256\"\n\n[data]\n";
    size_t n1, n2;
    _cleanup_free_ uint8_t *g1 = gz(p1, strlen(p1), &n1), *g2 = gz(p2, strlen(p2), &n2);
    _cleanup_free_ uint8_t *cat = xmalloc(n1 + n2);
    memcpy(cat, g1, n1);
    memcpy(cat + n1, g2, n2);
    _cleanup_free_ char *multi = b64(cat, n1 + n2);
    _cleanup_(initdata_freep) struct initdata *d4 = NULL;
    ck_assert_int_eq(initdata_from_annotation(multi, NULL, &d4, &err), 0);
    ck_assert_str_eq(d4->raw, DEFAULT_TOML);
    ck_assert_mem_eq(d4->digest, d1->digest, 32);

    /* Unknown top-level keys are accepted (and digested); [data] may be empty or inline. */
    _cleanup_(initdata_freep) struct initdata *d5 =
        parse_toml("version = \"0.1.0\"\nalgorithm = \"sha256\"\nfuture = 1\ndata = {}\n");
    _cleanup_(initdata_freep) struct initdata *d6 =
        parse_toml("version = \"0.1.0\"\nalgorithm = \"sha256\"\ndata.\"cdh.toml\" = \"x\"\n");
    ck_assert_ptr_nonnull(d5);
    ck_assert_ptr_nonnull(d6);
}
END_TEST

START_TEST(test_document_errors)
{
    expect_toml_error("version = \"0.1.0\"\nalgorithm = \"md5\"\n[data]\n",
                      "init-data: algorithm \"md5\" is not one of sha256, sha384, sha512");
    expect_toml_error("version = \"0.1.0\"\nalgorithm = \"sha-256\"\n[data]\n",
                      "init-data: algorithm \"sha-256\" is not one of sha256, sha384, sha512");
    expect_toml_error("version = \"0.1.0\"\nalgorithm = \"SHA256\"\n[data]\n",
                      "init-data: algorithm \"SHA256\" is not one of sha256, sha384, sha512");
    expect_toml_error("version = \"0.2.0\"\nalgorithm = \"sha256\"\n[data]\n",
                      "init-data: version \"0.2.0\" is not supported (want \"0.1.0\")");
    expect_toml_error("version = \"0.1.0\"\nalgorithm = \"sha256\"\n[data]\n\"aa.toml\" = 5\n",
                      "init-data: data.aa.toml must be a string, got integer");
    expect_toml_error("version = \"0.1.0\"\nalgorithm = \"sha256\"\n[data.cdh]\nx = \"y\"\n",
                      "init-data: data.cdh must be a string, got table");
    expect_toml_error("version = \"0.1.0\"\nalgorithm = \"sha256\"\nfoo = bar\n",
                      "init-data: invalid TOML: line 3, column 7: invalid value \"bar\", expected "
                      "a string (in quotes), number, boolean, date/time, array or inline table");
    expect_toml_error("algorithm = \"sha256\"\n[data]\n",
                      "init-data: version is missing (want \"0.1.0\")");
    expect_toml_error("version = \"0.1.0\"\n[data]\n",
                      "init-data: algorithm is missing (want one of sha256, sha384, sha512)");
    expect_toml_error("version = \"0.1.0\"\nalgorithm = \"sha256\"\n",
                      "init-data: [data] is missing (the guest agent requires it; an empty "
                      "[data] table is fine)");
    expect_toml_error("version = 1\nalgorithm = \"sha256\"\n[data]\n",
                      "init-data: version must be a string, got integer");
    expect_toml_error("version = \"0.1.0\"\nalgorithm = [\"sha256\"]\n[data]\n",
                      "init-data: algorithm must be a string, got array");
    expect_toml_error("version = \"0.1.0\"\nalgorithm = \"sha256\"\ndata = \"x\"\n",
                      "init-data: data must be a table, got string");
    expect_toml_error("", "init-data: version is missing (want \"0.1.0\")");
    /* Hostile strings are escaped and cut in messages. */
    expect_toml_error("version = \"0.1.0\\u0001\\\"\"\nalgorithm = \"sha256\"\n[data]\n",
                      "init-data: version \"0.1.0\\x01\\\"\" is not supported (want \"0.1.0\")");
    char long_alg[400];
    strcpy(long_alg, "version = \"0.1.0\"\nalgorithm = \"");
    size_t at = strlen(long_alg);
    memset(long_alg + at, 'x', 100);
    strcpy(long_alg + at + 100, "\"\n[data]\n");
    expect_toml_error(long_alg,
                      "init-data: algorithm "
                      "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...\" "
                      "is not one of sha256, sha384, sha512");
}
END_TEST

START_TEST(test_base64_errors)
{
    expect_annotation_error("", NULL, "init-data: annotation is empty");
    expect_annotation_error(NULL, NULL, "init-data: annotation is empty");
    expect_annotation_error("\n", NULL, "init-data: annotation decodes to nothing");
    expect_annotation_error("AAAAAAAAAAAA%AAA", NULL,
                            "init-data: base64: invalid character '%' at offset 12");
    expect_annotation_error("AAAA AAA", NULL,
                            "init-data: base64: invalid character ' ' at offset 4");
    expect_annotation_error("AAAA\x01"
                            "AAA",
                            NULL, "init-data: base64: invalid byte 0x01 at offset 4");
    expect_annotation_error("AAAA-_AA", NULL, /* URL-safe alphabet is not standard base64 */
                            "init-data: base64: invalid character '-' at offset 4");
    expect_annotation_error("AAAAA", NULL,
                            "init-data: base64: length 5 is not a multiple of 4 (is the '=' "
                            "padding missing?)");
    expect_annotation_error("dmVyc2lvbg", NULL,
                            "init-data: base64: length 10 is not a multiple of 4 (is the '=' "
                            "padding missing?)");
    expect_annotation_error("A===", NULL,
                            "init-data: base64: unexpected '=' at offset 1 (padding is only "
                            "allowed at the end)");
    expect_annotation_error("AA=A", NULL,
                            "init-data: base64: unexpected 'A' at offset 3 after the '=' padding");
    expect_annotation_error("AA==AAAA", NULL,
                            "init-data: base64: unexpected 'A' at offset 4 after the '=' padding");
    expect_annotation_error("AA===", NULL,
                            "init-data: base64: unexpected '=' at offset 4 after the '=' padding");

    _cleanup_free_ char *big = xmalloc(300001);
    memset(big, 'A', 300000);
    big[300000] = '\0';
    expect_annotation_error(big, NULL,
                            "init-data: annotation is 300000 bytes, over the 262144-byte limit");
    struct initdata_limits lim = {.max_annotation = 100};
    big[101] = '\0';
    expect_annotation_error(big, &lim,
                            "init-data: annotation is 101 bytes, over the 100-byte limit");
}
END_TEST

START_TEST(test_gzip_errors)
{
    size_t n;
    _cleanup_free_ uint8_t *g = gz(DEFAULT_TOML, 47, &n);
    _cleanup_free_ uint8_t *buf = xmalloc(n + 16);

    /* Truncated: the trailer missing, and cut in the middle of the deflate data. */
    _cleanup_free_ char *t1 = b64(g, n - 8);
    expect_annotation_error(t1, NULL,
                            "init-data: gzip: truncated stream (the input ends before "
                            "the gzip trailer)");
    _cleanup_free_ char *t2 = b64(g, 14);
    expect_annotation_error(t2, NULL,
                            "init-data: gzip: truncated stream (the input ends before "
                            "the gzip trailer)");
    _cleanup_free_ char *t3 = b64(g, 2); /* the magic alone */
    expect_annotation_error(t3, NULL,
                            "init-data: gzip: truncated stream (the input ends before "
                            "the gzip trailer)");

    /* Corrupt CRC and length in the trailer. */
    memcpy(buf, g, n);
    buf[n - 8] ^= 1;
    _cleanup_free_ char *c1 = b64(buf, n);
    expect_annotation_error(c1, NULL, "init-data: gzip: incorrect data check");
    memcpy(buf, g, n);
    buf[n - 1] ^= 1;
    _cleanup_free_ char *c2 = b64(buf, n);
    expect_annotation_error(c2, NULL, "init-data: gzip: incorrect length check");
    /* Unknown compression method in the header. */
    memcpy(buf, g, n);
    buf[2] = 7;
    _cleanup_free_ char *c3 = b64(buf, n);
    expect_annotation_error(c3, NULL, "init-data: gzip: unknown compression method");

    /* Trailing garbage after the member. */
    memcpy(buf, g, n);
    memcpy(buf + n, "junk!", 5);
    _cleanup_free_ char *tr = b64(buf, n + 5);
    expect_annotation_error(tr, NULL,
                            "init-data: gzip: 5 bytes of trailing data after the end of "
                            "the gzip stream");
    /* Trailing zeros are garbage too (Go: invalid header). */
    memset(buf + n, 0, 3);
    _cleanup_free_ char *tz = b64(buf, n + 3);
    expect_annotation_error(tz, NULL,
                            "init-data: gzip: 3 bytes of trailing data after the end of "
                            "the gzip stream");

    /* Decompresses to something that is not UTF-8 TOML. */
    _cleanup_free_ uint8_t *gb = gz("\xff\xfe", 2, &n);
    _cleanup_free_ char *bin = b64(gb, n);
    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    struct initdata *d = NULL;
    ck_assert_int_eq(initdata_from_annotation(bin, NULL, &d, &err), -1);
    ck_assert_msg(strncmp(err.msg, "init-data: invalid TOML: line 1, column 1: ", 43) == 0, "%s",
                  err.msg);
}
END_TEST

START_TEST(test_size_limits)
{
    /* Exactly at the limit is accepted, one byte over is not; gzip and plain alike. */
    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    struct initdata_limits at = {.max_decompressed = 47}, under = {.max_decompressed = 46};
    _cleanup_free_ char *a = annotation_of(DEFAULT_TOML), *plain = b64(DEFAULT_TOML, 47);
    _cleanup_(initdata_freep) struct initdata *d1 = NULL, *d2 = NULL;
    ck_assert_int_eq(initdata_from_annotation(a, &at, &d1, &err), 0);
    ck_assert_int_eq(initdata_from_annotation(plain, &at, &d2, &err), 0);
    expect_annotation_error(a, &under, "init-data: decompressed size exceeds the 46-byte limit");
    expect_annotation_error(plain, &under,
                            "init-data: document is 47 bytes, over the 46-byte limit");
}
END_TEST

START_TEST(test_gzip_bomb)
{
    /* 100 MiB of zeros gzips to ~100 KiB: a valid-looking annotation under 256 KiB. */
    size_t n;
    _cleanup_free_ uint8_t *bomb = gz(NULL, 100u << 20, &n);
    _cleanup_free_ char *a = b64(bomb, n);
    ck_assert_uint_lt(strlen(a), INITDATA_DEFAULT_MAX_ANNOTATION);

    double t0 = now();
    expect_annotation_error(a, NULL, "init-data: decompressed size exceeds the 1048576-byte limit");
    double took = now() - t0;
    ck_assert_msg(took < 2.0, "took %.3f s", took);

    /* Cut to its first tenth (still ~10 MiB of zeros): were the whole input inflated before
     * the size was checked, this would be reported as truncated. It stops at the limit. */
    _cleanup_free_ char *cut = b64(bomb, n / 10);
    expect_annotation_error(cut, NULL,
                            "init-data: decompressed size exceeds the 1048576-byte "
                            "limit");
    /* And with a small limit, a tiny prefix is enough to refuse it. */
    struct initdata_limits lim = {.max_decompressed = 1000};
    _cleanup_free_ char *tiny = b64(bomb, 64);
    expect_annotation_error(tiny, &lim, "init-data: decompressed size exceeds the 1000-byte limit");
}
END_TEST

/* Never crash: mutated and random annotations all either parse or fail with a message. */
START_TEST(test_hostile_input)
{
    _cleanup_free_ char *good = annotation_of(DEFAULT_TOML);
    size_t glen = strlen(good);
    size_t n;
    _cleanup_free_ uint8_t *g = gz(DEFAULT_TOML, 47, &n);
    _cleanup_free_ uint8_t *m = xmalloc(n);
    uint32_t x = 12345;
    for (int i = 0; i < 3000; i++) {
        _cleanup_(error_clearp) struct error err = ERROR_INIT;
        struct initdata *d = NULL;
        char *val;
        x = x * 1103515245 + 12345;
        if (i % 3 == 0) {
            /* flip bytes of the gzip, then encode properly */
            memcpy(m, g, n);
            for (int k = 0; k < 1 + i % 4; k++) {
                x = x * 1103515245 + 12345;
                m[(x >> 8) % n] ^= (uint8_t)(x >> 20);
            }
            val = b64(m, n);
        } else if (i % 3 == 1) {
            /* flip characters of the base64 text */
            val = xstrdup(good);
            x = x * 1103515245 + 12345;
            val[(x >> 8) % glen] = (char)(1 + (x >> 20) % 255);
        } else {
            /* random bytes */
            size_t len = (x >> 8) % 200;
            uint8_t r[200];
            for (size_t k = 0; k < len; k++) {
                x = x * 1103515245 + 12345;
                r[k] = (uint8_t)(x >> 16);
            }
            if (len >= 2 && i % 2)
                r[0] = 0x1f, r[1] = 0x8b;
            val = b64(r, len);
        }
        int rc = initdata_from_annotation(val, NULL, &d, &err);
        if (rc == 0) {
            ck_assert_ptr_nonnull(d);
            initdata_free(d);
        } else {
            ck_assert_ptr_null(d);
            ck_assert_ptr_nonnull(err.msg);
            ck_assert_msg(strncmp(err.msg, "init-data: ", 11) == 0, "%s", err.msg);
        }
        free(val);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("initdata");
    TCase *tc = tcase_create("vectors");
    tcase_add_test(tc, test_vector_default_sha256);
    tcase_add_test(tc, test_vector_default_sha384);
    tcase_add_test(tc, test_vector_policy_annotation);
    tcase_add_test(tc, test_sha512_and_fit);
    tcase_add_test(tc, test_whitespace_changes_digest);
    tcase_add_test(tc, test_pcr8);
    suite_add_tcase(s, tc);
    tc = tcase_create("disk");
    tcase_add_test(tc, test_disk_image_layout);
    tcase_add_test(tc, test_disk_image_sizes);
    tcase_add_test(tc, test_disk_parse_upstream_header);
    tcase_add_test(tc, test_disk_parse_errors);
    suite_add_tcase(s, tc);
    tc = tcase_create("annotation");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_annotation_round_trip);
    tcase_add_test(tc, test_annotation_forms);
    tcase_add_test(tc, test_document_errors);
    tcase_add_test(tc, test_base64_errors);
    tcase_add_test(tc, test_gzip_errors);
    tcase_add_test(tc, test_size_limits);
    tcase_add_test(tc, test_gzip_bomb);
    tcase_add_test(tc, test_hostile_input);
    suite_add_tcase(s, tc);
    return run_tap(s);
}
