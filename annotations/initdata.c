#include "annotations/initdata.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "lib/base64.h"
#include "lib/sha256.h"
#include "lib/sha512.h"
#include "lib/toml.h"
#include "lib/xalloc.h"

#define PREFIX "init-data: "
#define SHOWN_MAX 64 /* bytes of a user string quoted in a message */

static const struct {
    const char *name;
} algs[] = {
    [INITDATA_SHA256] = {"sha256"},
    [INITDATA_SHA384] = {"sha384"},
    [INITDATA_SHA512] = {"sha512"},
};

const char *initdata_alg_name(enum initdata_alg alg)
{
    return (unsigned)alg < sizeof(algs) / sizeof(algs[0]) ? algs[alg].name : "unknown";
}

void initdata_free(struct initdata *d)
{
    if (!d)
        return;
    free(d->raw);
    free(d);
}

static struct initdata_limits limits_or_defaults(const struct initdata_limits *lim)
{
    struct initdata_limits l = {.max_annotation = INITDATA_DEFAULT_MAX_ANNOTATION,
                                .max_decompressed = INITDATA_DEFAULT_MAX_DECOMPRESSED};
    if (lim && lim->max_annotation) {
        l.max_annotation = lim->max_annotation;
        l.max_annotation_name = lim->max_annotation_name;
    }
    if (lim && lim->max_decompressed) {
        l.max_decompressed = lim->max_decompressed;
        l.max_decompressed_name = lim->max_decompressed_name;
    }
    return l;
}

/* The format arguments for "%s%s" after "the N-byte limit": " set by <name>", or nothing. */
#define SET_BY(name) (name) ? " set by " : "", (name) ? (name) : ""

/* Every input problem: GRPC_INVALID_ARGUMENT, message prefixed "init-data: ". */
#define invalid(err, ...) error_set(err, GRPC_INVALID_ARGUMENT, PREFIX __VA_ARGS__)

/* A string from the document made safe to quote in a message: printable ASCII kept, the rest
 * escaped, cut after SHOWN_MAX bytes (a hostile document must not make a huge message). */
static char *shown(const char *s, size_t len)
{
    size_t n = len < SHOWN_MAX ? len : SHOWN_MAX;
    char *out = xmalloc(n * 4 + 4), *p = out;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            *p++ = '\\';
            *p++ = (char)c;
        } else if (c >= 0x20 && c < 0x7f) {
            *p++ = (char)c;
        } else {
            p += sprintf(p, "\\x%02x", c);
        }
    }
    if (n < len)
        p = stpcpy(p, "...");
    *p = '\0';
    return out;
}

/* ---- gzip ---- */

static bool is_gzip(const uint8_t *p, size_t len)
{
    return len >= 2 && p[0] == 0x1f && p[1] == 0x8b;
}

static void inflate_endp(z_stream *zs)
{
    inflateEnd(zs);
}

/* Hands zlib the next piece of input: avail_in is 32-bit, the input need not be. */
static void feed(z_stream *zs, const uint8_t **in, size_t *left)
{
    if (zs->avail_in > 0 || *left == 0)
        return;
    uInt n = *left > UINT_MAX ? UINT_MAX : (uInt)*left;
    zs->next_in = (Bytef *)*in;
    zs->avail_in = n;
    *in += n;
    *left -= n;
}

/* Inflates one or more gzip members. The output buffer never grows past max_out + 1 bytes, so a
 * gzip bomb is refused after inflating just over the limit, not all of it. */
static int gunzip(const uint8_t *in, size_t in_len, size_t max_out, const char *max_name,
                  char **out, size_t *out_len, struct error *err)
{
    _cleanup_(inflate_endp) z_stream zs = {0};
    if (inflateInit2(&zs, 15 + 16) != Z_OK)
        return error_set(err, GRPC_INTERNAL, PREFIX "gzip: cannot initialise zlib");

    if (max_out > SIZE_MAX / 2)
        max_out = SIZE_MAX / 2;
    size_t cap_max = max_out + 1; /* one byte more than allowed tells "too big" */
    size_t cap = in_len < cap_max / 4 ? in_len * 4 + 256 : cap_max;
    if (cap > cap_max)
        cap = cap_max;
    _cleanup_free_ char *buf = xmalloc(cap + 1);
    size_t len = 0;
    const uint8_t *next = in;
    size_t left = in_len;

    for (;;) {
        feed(&zs, &next, &left);
        if (len == cap) {
            if (cap == cap_max)
                return invalid(err, "decompressed size exceeds the %zu-byte limit%s%s", max_out,
                               SET_BY(max_name));
            cap = cap > cap_max / 2 ? cap_max : cap * 2;
            buf = xrealloc(buf, cap + 1);
        }
        zs.next_out = (Bytef *)buf + len;
        zs.avail_out = cap - len > UINT_MAX ? UINT_MAX : (uInt)(cap - len);
        uInt before = zs.avail_out;
        int rc = inflate(&zs, Z_NO_FLUSH);
        len += before - zs.avail_out;

        if (rc == Z_STREAM_END) {
            if (len > max_out)
                return invalid(err, "decompressed size exceeds the %zu-byte limit%s%s", max_out,
                               SET_BY(max_name));
            feed(&zs, &next, &left);
            size_t rest = zs.avail_in + left;
            if (rest == 0)
                break;
            /* Only another member may follow (concatenated gzip files are one gzip file). */
            if (!is_gzip(zs.next_in, zs.avail_in))
                return invalid(err,
                               "gzip: %zu bytes of trailing data after the end of the "
                               "gzip stream",
                               rest);
            inflateReset(&zs);
        } else if (rc == Z_BUF_ERROR && zs.avail_in == 0 && left == 0) {
            return invalid(err, "gzip: truncated stream (the input ends before the gzip "
                                "trailer)");
        } else if (rc == Z_DATA_ERROR) {
            return invalid(err, "gzip: %s", zs.msg ? zs.msg : "invalid compressed data");
        } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
            return error_set(err, GRPC_INTERNAL, PREFIX "gzip: zlib error %d", rc);
        }
    }
    buf[len] = '\0';
    *out = TAKE_PTR(buf);
    *out_len = len;
    return 0;
}

static void deflate_endp(z_stream *zs)
{
    deflateEnd(zs);
}

/* One gzip member: best compression as runtime-rs writes it; a minimal header (no file name,
 * mtime 0) as Go writes it. Neither matters to the reader or the digest. */
static int gzip_compress(const char *raw, size_t len, uint8_t **out, size_t *out_len,
                         struct error *err)
{
    if (len > UINT_MAX / 2)
        return invalid(err, "document is %zu bytes, too big to compress", len);
    _cleanup_(deflate_endp) z_stream zs = {0};
    if (deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return error_set(err, GRPC_INTERNAL, PREFIX "gzip: cannot initialise zlib");
    uLong bound = deflateBound(&zs, (uLong)len) + 32; /* + the gzip header and trailer */
    _cleanup_free_ uint8_t *buf = xmalloc(bound);
    zs.next_in = (Bytef *)raw;
    zs.avail_in = (uInt)len;
    zs.next_out = buf;
    zs.avail_out = (uInt)bound;
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END)
        return error_set(err, GRPC_INTERNAL, PREFIX "gzip: compression did not finish");
    *out_len = zs.total_out;
    *out = TAKE_PTR(buf);
    return 0;
}

/* ---- the document ---- */

static int digest(enum initdata_alg alg, const void *p, size_t len, uint8_t *md, size_t *md_len)
{
    if (alg == INITDATA_SHA256) {
        struct sha256 c;
        sha256_init(&c);
        sha256_update(&c, p, len);
        sha256_final(&c, md);
        *md_len = SHA256_LEN;
        return 0;
    }
    struct sha512 c;
    if (alg == INITDATA_SHA384)
        sha384_init(&c);
    else
        sha512_init(&c);
    *md_len = alg == INITDATA_SHA384 ? SHA384_LEN : SHA512_LEN;
    sha512_update(&c, p, len);
    sha512_final(&c, md, *md_len);
    return 0;
}

/* A top-level string that must be present. */
static int get_string(const struct toml_value *root, const char *key, const char *want,
                      const struct toml_value **out, struct error *err)
{
    const struct toml_value *v = toml_table_get(root, key);
    if (!v)
        return invalid(err, "%s is missing (want %s)", key, want);
    if (v->type != TOML_STRING)
        return invalid(err, "%s must be a string, got %s", key, toml_type_name(v->type));
    *out = v;
    return 0;
}

static int check_version(const struct toml_value *root, struct error *err)
{
    const struct toml_value *v;
    if (get_string(root, "version", "\"" INITDATA_VERSION "\"", &v, err) < 0)
        return -1;
    if (strlen(INITDATA_VERSION) == v->u.string.len &&
        memcmp(v->u.string.ptr, INITDATA_VERSION, v->u.string.len) == 0)
        return 0;
    _cleanup_free_ char *s = shown(v->u.string.ptr, v->u.string.len);
    return invalid(err, "version \"%s\" is not supported (want \"" INITDATA_VERSION "\")", s);
}

static int check_algorithm(const struct toml_value *root, enum initdata_alg *alg, struct error *err)
{
    const struct toml_value *v;
    if (get_string(root, "algorithm", "one of sha256, sha384, sha512", &v, err) < 0)
        return -1;
    for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
        if (strlen(algs[i].name) == v->u.string.len &&
            memcmp(v->u.string.ptr, algs[i].name, v->u.string.len) == 0) {
            *alg = (enum initdata_alg)i;
            return 0;
        }
    }
    _cleanup_free_ char *s = shown(v->u.string.ptr, v->u.string.len);
    return invalid(err, "algorithm \"%s\" is not one of sha256, sha384, sha512", s);
}

/* Kata's agent reads [data] into a string-to-string map and refuses the document without it,
 * so the host refuses the same documents. */
static int check_data(const struct toml_value *root, struct error *err)
{
    const struct toml_value *data = toml_table_get(root, "data");
    if (!data)
        return invalid(err, "[data] is missing (the guest agent requires it; an empty [data] "
                            "table is fine)");
    if (data->type != TOML_TABLE)
        return invalid(err, "data must be a table, got %s", toml_type_name(data->type));
    for (size_t i = 0; i < data->u.table.len; i++) {
        const struct toml_keyval *kv = &data->u.table.items[i];
        if (kv->value->type == TOML_STRING)
            continue;
        _cleanup_free_ char *k = shown(kv->key, kv->key_len);
        return invalid(err, "data.%s must be a string, got %s", k, toml_type_name(kv->value->type));
    }
    return 0;
}

/* Takes ownership of raw (NUL-terminated, len bytes). */
static int from_raw(char *raw, size_t len, struct initdata **out, struct error *err)
{
    _cleanup_free_ char *owned = raw;
    _cleanup_(error_clearp) struct error perr = ERROR_INIT;
    struct toml_value *root = toml_parse(raw, len, &perr);
    if (!root)
        return invalid(err, "invalid TOML: %s", perr.msg ? perr.msg : "parse error");

    enum initdata_alg alg = INITDATA_SHA256;
    int rc = check_version(root, err);
    if (rc == 0)
        rc = check_algorithm(root, &alg, err);
    if (rc == 0)
        rc = check_data(root, err);
    toml_free(root);
    if (rc < 0)
        return -1;

    _cleanup_(initdata_freep) struct initdata *d = xcalloc(1, sizeof(*d));
    d->alg = alg;
    if (digest(alg, raw, len, d->digest, &d->digest_len) < 0)
        return error_set(err, GRPC_INTERNAL, PREFIX "%s failed", algs[alg].name);
    d->raw = TAKE_PTR(owned);
    d->raw_len = len;
    *out = TAKE_PTR(d);
    return 0;
}

static char *dup_bytes(const void *p, size_t len)
{
    char *s = xmalloc(len + 1);
    if (len)
        memcpy(s, p, len);
    s[len] = '\0';
    return s;
}

int initdata_from_toml(const char *bytes, size_t len, struct initdata **out, struct error *err)
{
    *out = NULL;
    return from_raw(dup_bytes(bytes, len), len, out, err);
}

int initdata_from_annotation(const char *value, const struct initdata_limits *lim,
                             struct initdata **out, struct error *err)
{
    *out = NULL;
    struct initdata_limits l = limits_or_defaults(lim);
    size_t n = value ? strlen(value) : 0;
    if (n == 0)
        return invalid(err, "annotation is empty");
    if (n > l.max_annotation)
        return invalid(err, "annotation is %zu bytes, over the %zu-byte limit%s%s", n,
                       l.max_annotation, SET_BY(l.max_annotation_name));

    _cleanup_free_ uint8_t *bin = NULL;
    size_t bin_len = 0;
    if (base64_decode(value, n, &bin, &bin_len, err) < 0)
        return error_wrap(err, "init-data");
    if (bin_len == 0)
        return invalid(err, "annotation decodes to nothing");

    char *raw;
    size_t raw_len;
    if (is_gzip(bin, bin_len)) {
        const char *name = l.max_decompressed_name;
        if (gunzip(bin, bin_len, l.max_decompressed, name, &raw, &raw_len, err) < 0)
            return -1;
    } else {
        /* A TOML document cannot start with 0x1f, so plain TOML is never mistaken for gzip. */
        if (bin_len > l.max_decompressed)
            return invalid(err, "document is %zu bytes, over the %zu-byte limit%s%s", bin_len,
                           l.max_decompressed, SET_BY(l.max_decompressed_name));
        raw = dup_bytes(bin, bin_len);
        raw_len = bin_len;
    }
    return from_raw(raw, raw_len, out, err);
}

/* ---- what the TEE and the verifier see ---- */

void initdata_fit(const struct initdata *d, uint8_t *out, size_t field_len)
{
    size_t n = d->digest_len < field_len ? d->digest_len : field_len;
    memcpy(out, d->digest, n);
    memset(out + n, 0, field_len - n);
}

char *initdata_fit_base64(const struct initdata *d, size_t field_len)
{
    _cleanup_free_ uint8_t *buf = xmalloc(field_len ? field_len : 1);
    initdata_fit(d, buf, field_len);
    return base64_encode(buf, field_len);
}

char *initdata_digest_hex(const struct initdata *d)
{
    char *hex = xmalloc(d->digest_len * 2 + 1);
    for (size_t i = 0; i < d->digest_len; i++)
        sprintf(hex + 2 * i, "%02x", d->digest[i]);
    hex[d->digest_len * 2] = '\0';
    return hex;
}

int initdata_pcr8(const struct initdata *d, uint8_t out[32])
{
    uint8_t buf[64] = {0}; /* zero PCR || the extended value */
    initdata_fit(d, buf + 32, 32);
    size_t n;
    return digest(INITDATA_SHA256, buf, sizeof(buf), out, &n);
}

/* ---- the init-data disk and the annotation, built ---- */

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

int initdata_disk_image(const struct initdata *d, uint8_t **img, size_t *len, struct error *err)
{
    _cleanup_free_ uint8_t *gz = NULL;
    size_t gz_len;
    if (gzip_compress(d->raw, d->raw_len, &gz, &gz_len, err) < 0)
        return -1;
    size_t used = INITDATA_DISK_HEADER_LEN + gz_len;
    size_t total = (used + INITDATA_DISK_BLOCK - 1) / INITDATA_DISK_BLOCK * INITDATA_DISK_BLOCK;
    uint8_t *p = xcalloc(1, total); /* the padding is zeros */
    memcpy(p, INITDATA_DISK_MAGIC, 8);
    put_le64(p + 8, gz_len);
    memcpy(p + INITDATA_DISK_HEADER_LEN, gz, gz_len);
    *img = p;
    *len = total;
    return 0;
}

int initdata_disk_parse(const uint8_t *img, size_t len, const struct initdata_limits *lim,
                        char **raw, size_t *raw_len, struct error *err)
{
    *raw = NULL;
    *raw_len = 0;
    struct initdata_limits l = limits_or_defaults(lim);
    if (len < INITDATA_DISK_HEADER_LEN)
        return invalid(err, "disk image: %zu bytes, too short for the %d-byte header", len,
                       INITDATA_DISK_HEADER_LEN);
    if (memcmp(img, INITDATA_DISK_MAGIC, 8) != 0)
        return invalid(err, "disk image: no \"" INITDATA_DISK_MAGIC "\" magic at offset 0");
    uint64_t gz_len = get_le64(img + 8);
    size_t avail = len - INITDATA_DISK_HEADER_LEN;
    if (gz_len > avail)
        return invalid(err,
                       "disk image: gzip length %llu exceeds the %zu bytes after the "
                       "header",
                       (unsigned long long)gz_len, avail);
    if (gz_len == 0)
        return invalid(err, "disk image: gzip length is 0");
    if (!is_gzip(img + INITDATA_DISK_HEADER_LEN, (size_t)gz_len))
        return invalid(err, "disk image: the data after the header is not gzip");
    return gunzip(img + INITDATA_DISK_HEADER_LEN, (size_t)gz_len, l.max_decompressed,
                  l.max_decompressed_name, raw, raw_len, err);
}

int initdata_annotation_encode(const char *raw, size_t len, char **b64, struct error *err)
{
    *b64 = NULL;
    _cleanup_free_ uint8_t *gz = NULL;
    size_t gz_len;
    if (gzip_compress(raw, len, &gz, &gz_len, err) < 0)
        return -1;
    *b64 = base64_encode(gz, gz_len);
    return 0;
}
