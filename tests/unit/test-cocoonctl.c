/* cocoonctl initdata digest / annotate / verify, run as the built binary: kata.md §2.8's vectors
 * bit-exact through all three, --json parsed with jansson, malformed documents refused with the
 * annotation's own messages, and the command-line errors. Expected values are the upstream
 * vectors or computed here with OpenSSL and zlib, never with the module under test. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "cmd/cocoonctl-path.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"
#include "tests/common/run-tap.h"

#define HV_PREFIX "io.katacontainers.config.hypervisor."

/* kata.md §2.8 vector 3: Kata's default-initdata.toml, 47 bytes */
#define DEFAULT_TOML "version = \"0.1.0\"\nalgorithm = \"sha256\"\n\n[data]\n"
#define DEFAULT_SHA256 "5fbba2d190b4c600dc48b80802559460ecae499f76f079e9ad2ebd4e3c7eb65f"
#define DEFAULT_SNP "X7ui0ZC0xgDcSLgIAlWUYOyuSZ928HnprS69Tjx+tl8="
#define DEFAULT_TDX "X7ui0ZC0xgDcSLgIAlWUYOyuSZ928HnprS69Tjx+tl8AAAAAAAAAAAAAAAAAAAAA"
/* vector 4: the same document with sha384 */
#define SHA384_TOML "version = \"0.1.0\"\nalgorithm = \"sha384\"\n\n[data]\n"
#define SHA384_HEX                                                                                 \
    "e2a3a5e0a842c539638ff1d392937c6d00b2ddfdf1d8a72b449e337ba4e7104a7b8788b61042c2c865a6017d8472" \
    "bf2b"
#define SHA384_SNP "4qOl4KhCxTljj/HTkpN8bQCy3f3x2KcrRJ4ze6TnEEo="
#define SHA384_TDX "4qOl4KhCxTljj/HTkpN8bQCy3f3x2KcrRJ4ze6TnEEp7h4i2EELCyGWmAX2Ecr8r"
/* vector 5: the annotation in Kata's how-to-use-the-kata-agent-policy.md (GNU gzip) */
#define POLICY_ANNOTATION                                                                          \
    "H4sIAAAAAAAAA42UTW/TQBCG7/4Vq/QQOCQKQXCo1ENIAkRqiGWnpBJCaGKP7RXrXTM7DnV/PRMiVUh07R582J3H"     \
    "8/XO7AnJa2fVjRrNpm+ms1EEpnSkuarPd76C+bv3oyj6lgPD92jUOKOzbkpYupEA4/E4ulJL13Sky4rVq+y1ms/m"     \
    "b9VWZ+S8K1iM1DgClijRlcBpvLqf3OoMrcfJJkfLutBI12rRQFbhZD6dCRfJ4SeUqOSz/OMSNopyLKA1rBZ5vkji"     \
    "LyhBj458gr9a9KyubxRTi/9i6W9oQualcR5TzrUNElLZR20waCcExqWzDNoi9WMp2PzoHkLQSi7JdQPUJ+QtMuks"     \
    "WLQQu912fZK+BZHz7QolaRN0c6s9bywjFZBhL5W4lsPEFuvPjhvTlh+6mNwx2MudNdLDZXwnf4SYGFo/3O64NWZT"     \
    "y+SEgAQhT1lECQZKsHan4UgXLGUw+FWTzHjh0woIt661HGxJgh4xT0RoV6/w1IO19XAOKfJFTxmxva6DRQsX/12j"     \
    "IKBLC0Y0Er2DuUutxMM5nak9QaZt2cOwf4En1ww42nN3OK+w14/B4u+a/CWLesHWTYU1Eph+GS/w0470Y/1LcgDN"     \
    "A40/yKOMzw/tE7N+wOx/NwUYj9H5qf4DsX93tO4FAAA="
#define POLICY_LEN 1518
#define POLICY_SHA256 "2385c5da0959d063638b2ab4ac252ae18e825f6ecb69815e4206b38077d0bcdd"
#define POLICY_SNP "I4XF2glZ0GNjiyq0rCUq4Y6CX27LaYFeQgazgHfQvN0="

/* --- running cocoonctl --- */

struct run {
    int status; /* exit status, or -1 if it did not exit */
    char *out, *err;
};

static void run_free(struct run *r)
{
    free(r->out);
    free(r->err);
}

static char *read_all(int fd, size_t *len_out)
{
    size_t cap = 4096, len = 0;
    char *buf = xmalloc(cap);
    ssize_t n;
    while ((n = pread(fd, buf + len, cap - len - 1, (off_t)len)) > 0) {
        len += (size_t)n;
        if (cap - len < 2)
            buf = xrealloc(buf, cap *= 2);
    }
    buf[len] = '\0';
    if (len_out)
        *len_out = len;
    return buf;
}

static int scratch_fd(void)
{
    char path[] = "/tmp/cocoon-ctl-out-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    return fd;
}

/* Runs cocoonctl with argv (NULL-terminated, without argv[0]); stdin from the string in, if any. */
static struct run run_with_stdin(const char *in, const char *const *args)
{
    const char *argv[32] = {"cocoonctl"};
    size_t n = 1;
    for (; args[n - 1]; n++) {
        ck_assert_uint_lt(n, 31);
        argv[n] = args[n - 1];
    }
    argv[n] = NULL;
    int out = scratch_fd(), err = scratch_fd(), input = scratch_fd();
    if (in)
        ck_assert_int_eq(pwrite(input, in, strlen(in), 0), (ssize_t)strlen(in));
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(input, 0);
        dup2(out, 1);
        dup2(err, 2);
        execv(COCOONCTL_PATH, (char *const *)argv);
        _exit(127);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    struct run r = {WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_all(out, NULL),
                    read_all(err, NULL)};
    close(out);
    close(err);
    close(input);
    return r;
}

#define RUN(...) run_with_stdin(NULL, (const char *const[]){__VA_ARGS__, NULL})
#define RUN_STDIN(in, ...) run_with_stdin(in, (const char *const[]){__VA_ARGS__, NULL})

static void assert_exit(const struct run *r, int want)
{
    ck_assert_msg(r->status == want, "exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r->status, want,
                  r->out, r->err);
}

static void assert_contains(const char *text, const char *want)
{
    ck_assert_msg(strstr(text, want) != NULL, "missing %s in:\n%s", want, text);
}

/* --- scratch files --- */

struct tmpfile {
    char path[64];
};

static void tmpfile_write(struct tmpfile *t, const void *data, size_t len)
{
    snprintf(t->path, sizeof(t->path), "/tmp/cocoon-ctl-XXXXXX");
    int fd = mkstemp(t->path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
    close(fd);
}

static void tmpfile_text(struct tmpfile *t, const char *text)
{
    tmpfile_write(t, text, strlen(text));
}

/* --- independent helpers --- */

static void hex(const uint8_t *p, size_t len, char *out)
{
    for (size_t i = 0; i < len; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
}

/* The hex of what base64 b64 decodes to (b64 of at most 48 bytes). */
static void b64_to_hex(const char *b64, char *out)
{
    uint8_t buf[64];
    size_t n = strlen(b64), pad = (n && b64[n - 1] == '=') + (n > 1 && b64[n - 2] == '=');
    ck_assert_int_eq(EVP_DecodeBlock(buf, (const unsigned char *)b64, (int)n), (int)(n / 4 * 3));
    hex(buf, n / 4 * 3 - pad, out);
}

/* sha256(32 zero bytes || the first 32 bytes of digest) as hex */
static void pcr8_hex(const uint8_t *digest, char out[65])
{
    uint8_t buf[64] = {0}, md[32];
    unsigned int n;
    memcpy(buf + 32, digest, 32);
    ck_assert_int_eq(EVP_Digest(buf, 64, md, &n, EVP_sha256(), NULL), 1);
    hex(md, 32, out);
}

/* gunzip(base64 decode(b64)), NUL-terminated; *len is its length. */
static char *decode_annotation(const char *b64, size_t *len)
{
    size_t n = strlen(b64);
    _cleanup_free_ uint8_t *gz = xmalloc(n / 4 * 3 + 1);
    int got = EVP_DecodeBlock(gz, (const unsigned char *)b64, (int)n);
    ck_assert_int_gt(got, 0);
    size_t gz_len = (size_t)got - (b64[n - 1] == '=') - (b64[n - 2] == '=');
    char *raw = xmalloc(1 << 20);
    z_stream zs = {0};
    ck_assert_int_eq(inflateInit2(&zs, 15 + 16), Z_OK);
    zs.next_in = gz;
    zs.avail_in = (uInt)gz_len;
    zs.next_out = (Bytef *)raw;
    zs.avail_out = (1 << 20) - 1;
    ck_assert_int_eq(inflate(&zs, Z_FINISH), Z_STREAM_END);
    ck_assert_uint_eq(zs.avail_in, 0); /* exactly one member, nothing after it */
    *len = zs.total_out;
    raw[*len] = '\0';
    inflateEnd(&zs);
    return raw;
}

/* --- digest --- */

START_TEST(test_digest_text)
{
    struct tmpfile t;
    tmpfile_text(&t, DEFAULT_TOML);
    uint8_t digest[32];
    unsigned int n;
    ck_assert_int_eq(EVP_Digest(DEFAULT_TOML, strlen(DEFAULT_TOML), digest, &n, EVP_sha256(), NULL),
                     1);
    char pcr8[65];
    pcr8_hex(digest, pcr8);
    _cleanup_free_ char *want =
        xasprintf("algorithm:             sha256\n"
                  "digest:                " DEFAULT_SHA256 "\n"
                  "snp_host_data:         " DEFAULT_SHA256 "\n"
                  "snp_host_data_base64:  " DEFAULT_SNP "\n"
                  "tdx_mrconfigid:        " DEFAULT_SHA256 "00000000000000000000000000000000\n"
                  "tdx_mrconfigid_base64: " DEFAULT_TDX "\n"
                  "pcr8:                  %s\n",
                  pcr8);
    struct run r = RUN("initdata", "digest", t.path);
    assert_exit(&r, 0);
    ck_assert_str_eq(r.out, want);
    ck_assert_str_eq(r.err, "");
    run_free(&r);

    /* "-" is stdin */
    r = RUN_STDIN(DEFAULT_TOML, "initdata", "digest", "-");
    assert_exit(&r, 0);
    ck_assert_str_eq(r.out, want);
    run_free(&r);

    unlink(t.path);

    tmpfile_text(&t, SHA384_TOML);
    r = RUN("initdata", "digest", t.path);
    assert_exit(&r, 0);
    assert_contains(r.out, "algorithm:             sha384\n");
    assert_contains(r.out, "\ndigest:                " SHA384_HEX "\n");
    /* a sha384 document has no PCR 8 reference value, and the text says why */
    assert_contains(r.out, "pcr8:                  none: the attestation agent extends the vTPM's "
                           "PCR 8 with sha256 digests only and refuses a sha384 one\n");
    assert_contains(r.out, "\nsnp_host_data_base64:  " SHA384_SNP "\n");
    assert_contains(r.out, "\ntdx_mrconfigid_base64: " SHA384_TDX "\n");
    run_free(&r);
    unlink(t.path);
}
END_TEST

/* Runs digest --json on the document and checks the one object against the vector. */
static void check_json(const char *toml, size_t len, const char *alg, const char *digest_hex,
                       const char *snp_b64, const char *tdx_b64)
{
    struct tmpfile t;
    tmpfile_write(&t, toml, len);
    struct run r = RUN("initdata", "digest", "--json", t.path);
    unlink(t.path);
    assert_exit(&r, 0);
    ck_assert_str_eq(r.err, "");
    json_error_t jerr;
    json_t *o = json_loads(r.out, 0, &jerr); /* one value, nothing after it */
    ck_assert_msg(o != NULL, "not JSON (%s):\n%s", jerr.text, r.out);
    ck_assert(json_is_object(o));
    ck_assert_uint_eq(json_object_size(o), 5);
    char snp_hex[65], tdx_hex[97], pcr8[65];
    b64_to_hex(snp_b64, snp_hex);
    b64_to_hex(tdx_b64, tdx_hex);
    uint8_t first32[32];
    for (size_t i = 0; i < 32; i++)
        sscanf(digest_hex + 2 * i, "%2hhx", &first32[i]);
    pcr8_hex(first32, pcr8);
    const char *keys[][2] = {{"algorithm", alg},
                             {"digest", digest_hex},
                             {"snp_host_data", snp_hex},
                             {"tdx_mrconfigid", tdx_hex},
                             {"pcr8", pcr8}};
    for (size_t i = 0; i < 5; i++) {
        json_t *v = json_object_get(o, keys[i][0]);
        /* PCR 8 takes sha256 digests only: no reference value for the others */
        if (strcmp(keys[i][0], "pcr8") == 0 && strcmp(alg, "sha256") != 0) {
            ck_assert_msg(json_is_null(v), "pcr8 of a %s document is not null:\n%s", alg, r.out);
            continue;
        }
        ck_assert_msg(json_is_string(v), "%s missing or not a string:\n%s", keys[i][0], r.out);
        ck_assert_str_eq(json_string_value(v), keys[i][1]);
    }
    json_decref(o);
    run_free(&r);
}

START_TEST(test_digest_json)
{
    check_json(DEFAULT_TOML, strlen(DEFAULT_TOML), "sha256", DEFAULT_SHA256, DEFAULT_SNP,
               DEFAULT_TDX);
    check_json(SHA384_TOML, strlen(SHA384_TOML), "sha384", SHA384_HEX, SHA384_SNP, SHA384_TDX);
    size_t len;
    _cleanup_free_ char *policy = decode_annotation(POLICY_ANNOTATION, &len);
    ck_assert_uint_eq(len, POLICY_LEN);
    check_json(policy, len, "sha256", POLICY_SHA256, POLICY_SNP,
               "I4XF2glZ0GNjiyq0rCUq4Y6CX27LaYFeQgazgHfQvN0AAAAAAAAAAAAAAAAAAAAA");

    /* sha512: the TDX field is the first 48 bytes, SNP's the first 32. */
    const char *doc = "version = \"0.1.0\"\nalgorithm = \"sha512\"\n[data]\n\"aa.toml\" = \"x\"\n";
    uint8_t md[64];
    unsigned int n;
    ck_assert_int_eq(EVP_Digest(doc, strlen(doc), md, &n, EVP_sha512(), NULL), 1);
    char digest_hex[129], snp_b64[45], tdx_b64[65];
    hex(md, 64, digest_hex);
    EVP_EncodeBlock((unsigned char *)snp_b64, md, 32);
    EVP_EncodeBlock((unsigned char *)tdx_b64, md, 48);
    check_json(doc, strlen(doc), "sha512", digest_hex, snp_b64, tdx_b64);
}
END_TEST

/* The document is refused with the messages the annotation gets from render. */
START_TEST(test_digest_malformed)
{
    static const struct {
        const char *doc, *msg;
    } cases[] = {
        {"version = \"0.1.0\"\nalgorithm = \"md5\"\n[data]\n",
         "init-data: algorithm \"md5\" is not one of sha256, sha384, sha512"},
        {"version = \"0.2.0\"\nalgorithm = \"sha256\"\n[data]\n",
         "init-data: version \"0.2.0\" is not supported (want \"0.1.0\")"},
        {"version = \"0.1.0\"\nalgorithm = \"sha256\"\n",
         "init-data: [data] is missing (the guest agent requires it; an empty [data] table is "
         "fine)"},
        {"version = \"0.1.0\"\nalgorithm = \"sha256\"\n[data]\n\"policy.rego\" = 1\n",
         "init-data: data.policy.rego must be a string, got integer"},
        {"version = \"0.1.0\nalgorithm = \"sha256\"\n", "init-data: invalid TOML: "},
        {"", "init-data: version is missing (want \"0.1.0\")"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tmpfile t;
        tmpfile_text(&t, cases[i].doc);
        _cleanup_free_ char *want = xasprintf("cocoonctl: %s: %s", t.path, cases[i].msg);
        const char *cmds[] = {"digest", "annotate"};
        for (size_t c = 0; c < 2; c++) {
            struct run r = RUN("initdata", cmds[c], t.path);
            assert_exit(&r, 1);
            ck_assert_str_eq(r.out, "");
            ck_assert_msg(strncmp(r.err, want, strlen(want)) == 0, "case %zu %s: %s", i, cmds[c],
                          r.err);
            run_free(&r);
        }
        unlink(t.path);
    }

    /* Over the limit the shim puts on a decompressed document (1 MiB). */
    struct tmpfile t;
    _cleanup_free_ char *big = xmalloc((1 << 20) + 2);
    memset(big, '#', (1 << 20) + 1);
    tmpfile_write(&t, big, (1 << 20) + 1);
    struct run r = RUN("initdata", "digest", t.path);
    assert_exit(&r, 1);
    _cleanup_free_ char *want =
        xasprintf("cocoonctl: %s: init-data: document is over the 1048576-byte limit\n", t.path);
    ck_assert_str_eq(r.err, want);
    run_free(&r);
    unlink(t.path);

    r = RUN("initdata", "digest", "/nonexistent/initdata.toml");
    assert_exit(&r, 1);
    ck_assert_str_eq(r.err,
                     "cocoonctl: open /nonexistent/initdata.toml: No such file or directory\n");
    run_free(&r);
}
END_TEST

/* --- annotate, and verify on its output --- */

/* --config: the node's init-data limits, as its shim applies them; without it the defaults. */
START_TEST(test_config_limits)
{
    struct tmpfile cfg, doc;
    tmpfile_text(&cfg, "[hypervisor.libvirt]\nkernel = \"/k\"\n[runtime]\n"
                       "initdata_document_limit_kib = 1\n");
    _cleanup_free_ char *text = xasprintf("%s#%1100s\n", DEFAULT_TOML, "");
    tmpfile_text(&doc, text);
    struct run r = RUN("initdata", "digest", doc.path);
    assert_exit(&r, 0);
    run_free(&r);
    const char *const cmds[] = {"digest", "annotate"};
    for (size_t i = 0; i < 2; i++) {
        r = RUN("initdata", cmds[i], "--config", cfg.path, doc.path);
        assert_exit(&r, 1);
        assert_contains(r.err, "over the 1024-byte limit set by [runtime] "
                               "initdata_document_limit_kib");
        run_free(&r);
    }
    r = RUN("initdata", "digest", "--config", "/nonexistent/cocoon.toml", doc.path);
    assert_exit(&r, 1);
    assert_contains(r.err, "/nonexistent/cocoon.toml");
    run_free(&r);
    unlink(cfg.path);
    unlink(doc.path);
}
END_TEST

START_TEST(test_annotate_round_trip)
{
    size_t policy_len;
    _cleanup_free_ char *policy = decode_annotation(POLICY_ANNOTATION, &policy_len);
    static const struct {
        const char *doc, *snp, *tdx;
    } cases[] = {
        {DEFAULT_TOML, DEFAULT_SNP, DEFAULT_TDX},
        {SHA384_TOML, SHA384_SNP, SHA384_TDX},
        {NULL, POLICY_SNP, NULL}, /* the policy document */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *doc = cases[i].doc ? cases[i].doc : policy;
        size_t len = cases[i].doc ? strlen(doc) : policy_len;
        struct tmpfile t;
        tmpfile_write(&t, doc, len);
        struct run r = RUN("initdata", "annotate", t.path);
        unlink(t.path);
        assert_exit(&r, 0);
        size_t n = strlen(r.out);
        ck_assert_msg(n > 1 && r.out[n - 1] == '\n' && !strchr(r.out, ' '), "%s", r.out);
        r.out[n - 1] = '\0';
        size_t got_len;
        _cleanup_free_ char *got = decode_annotation(r.out, &got_len);
        ck_assert_uint_eq(got_len, len);
        ck_assert_mem_eq(got, doc, len);

        struct run v = cases[i].tdx ? RUN("initdata", "verify", r.out, "--host-data", cases[i].snp,
                                          "--mrconfigid", cases[i].tdx)
                                    : RUN("initdata", "verify", r.out, "--host-data", cases[i].snp);
        assert_exit(&v, 0);
        assert_contains(v.out, "HOST_DATA matches the init-data");
        ck_assert_str_eq(v.err, "");
        run_free(&v);
        run_free(&r);
    }
}
END_TEST

/* --- verify --- */

START_TEST(test_verify_upstream_annotation)
{
    struct run r = RUN("initdata", "verify", POLICY_ANNOTATION, "--host-data", POLICY_SNP);
    assert_exit(&r, 0);
    ck_assert_str_eq(r.out, "HOST_DATA matches the init-data (sha256 " POLICY_SHA256 ")\n");
    ck_assert_str_eq(r.err, "");
    run_free(&r);

    r = RUN("initdata", "verify", POLICY_ANNOTATION, "--mrconfigid",
            "I4XF2glZ0GNjiyq0rCUq4Y6CX27LaYFeQgazgHfQvN0AAAAAAAAAAAAAAAAAAAAA");
    assert_exit(&r, 0);
    ck_assert_str_eq(r.out, "MRCONFIGID matches the init-data (sha256 " POLICY_SHA256 ")\n");
    run_free(&r);

    /* @FILE, with the newline an editor leaves; "@-" is stdin. */
    struct tmpfile t;
    tmpfile_text(&t, POLICY_ANNOTATION "\n");
    _cleanup_free_ char *at = xasprintf("@%s", t.path);
    r = RUN("initdata", "verify", "--host-data", POLICY_SNP, at);
    assert_exit(&r, 0);
    run_free(&r);
    unlink(t.path);
    r = RUN_STDIN(POLICY_ANNOTATION "\r\n", "initdata", "verify", "@-", "--host-data", POLICY_SNP);
    assert_exit(&r, 0);
    run_free(&r);
}
END_TEST

START_TEST(test_verify_mismatch)
{
    /* Another document's HOST_DATA. */
    struct run r = RUN("initdata", "verify", POLICY_ANNOTATION, "--host-data", DEFAULT_SNP);
    assert_exit(&r, 1);
    ck_assert_str_eq(r.out, "");
    ck_assert_str_eq(
        r.err, "cocoonctl: HOST_DATA does not match the init-data: --host-data is " DEFAULT_SNP
               ", the init-data's is " POLICY_SNP " (sha256 " POLICY_SHA256 ")\n");
    run_free(&r);

    /* sha384: the SNP field is the digest cut to 32 bytes; the 48-byte form does not match as a
     * TDX field once one byte differs. */
    struct tmpfile t;
    tmpfile_text(&t, SHA384_TOML);
    struct run a = RUN("initdata", "annotate", t.path);
    unlink(t.path);
    assert_exit(&a, 0);
    a.out[strlen(a.out) - 1] = '\0';
    r = RUN("initdata", "verify", a.out, "--host-data", SHA384_SNP, "--mrconfigid",
            "4qOl4KhCxTljj/HTkpN8bQCy3f3x2KcrRJ4ze6TnEEp7h4i2EELCyGWmAX2Ecr8s");
    assert_exit(&r, 1);
    ck_assert_str_eq(r.out, "HOST_DATA matches the init-data (sha384 " SHA384_HEX ")\n");
    assert_contains(r.err, "cocoonctl: MRCONFIGID does not match the init-data: --mrconfigid is "
                           "4qOl4KhCxTljj/HTkpN8bQCy3f3x2KcrRJ4ze6TnEEp7h4i2EELCyGWmAX2Ecr8s, "
                           "the init-data's is " SHA384_TDX);
    run_free(&r);
    run_free(&a);

    /* One byte of whitespace changes the digest (kata.md §2.8, vector 2's lesson). */
    tmpfile_text(&t, DEFAULT_TOML "\n");
    a = RUN("initdata", "annotate", t.path);
    unlink(t.path);
    assert_exit(&a, 0);
    a.out[strlen(a.out) - 1] = '\0';
    r = RUN("initdata", "verify", a.out, "--host-data", DEFAULT_SNP);
    assert_exit(&r, 1);
    assert_contains(r.err, "HOST_DATA does not match");
    run_free(&r);
    run_free(&a);
}
END_TEST

START_TEST(test_verify_bad_annotation)
{
    /* The annotation's messages, exit 1. */
    struct run r = RUN("initdata", "verify", "H4sIAAAAAAAA", "--host-data", DEFAULT_SNP);
    assert_exit(&r, 1);
    ck_assert_str_eq(r.err, "cocoonctl: init-data: gzip: truncated stream (the input ends before "
                            "the gzip trailer)\n");
    run_free(&r);

    r = RUN("initdata", "verify",
            "dmVyc2lvbiA9ICIwLjEuMCIKYWxnb3JpdGhtID0gIm1kNSIKCltkYXRhXQo=", "--host-data",
            DEFAULT_SNP);
    assert_exit(&r, 1);
    ck_assert_str_eq(r.err, "cocoonctl: init-data: algorithm \"md5\" is not one of sha256, "
                            "sha384, sha512\n");
    run_free(&r);

    r = RUN("initdata", "verify", "@/nonexistent/annotation", "--host-data", DEFAULT_SNP);
    assert_exit(&r, 1);
    ck_assert_str_eq(r.err, "cocoonctl: open /nonexistent/annotation: No such file or directory\n");
    run_free(&r);

    struct tmpfile t;
    tmpfile_write(&t, "H4sI\0AAAA", 9);
    _cleanup_free_ char *at = xasprintf("@%s", t.path);
    r = RUN("initdata", "verify", at, "--host-data", DEFAULT_SNP);
    assert_exit(&r, 1);
    assert_contains(r.err, "holds a NUL byte");
    run_free(&r);
    unlink(t.path);

    tmpfile_text(&t, "\n\n");
    free(at);
    at = xasprintf("@%s", t.path);
    r = RUN("initdata", "verify", at, "--host-data", DEFAULT_SNP);
    assert_exit(&r, 1);
    _cleanup_free_ char *want =
        xasprintf("cocoonctl: %s: init-data: annotation is empty\n", t.path);
    ck_assert_str_eq(r.err, want);
    run_free(&r);
    unlink(t.path);
}
END_TEST

/* --- the command line --- */

START_TEST(test_usage_errors)
{
    static const struct {
        const char *args[8];
        const char *msg;
    } cases[] = {
        {{"initdata", NULL}, "initdata: want"},
        {{"initdata", "hash", NULL}, "initdata: unknown command \"hash\""},
        {{"initdata", "digest", NULL}, "initdata digest: FILE is required"},
        {{"initdata", "digest", "a", "b", NULL}, "initdata digest: unexpected argument \"b\""},
        {{"initdata", "digest", "--yaml", "a", NULL}, "initdata digest: unknown option --yaml"},
        {{"initdata", "annotate", NULL}, "initdata annotate: FILE is required"},
        {{"initdata", "annotate", "--json", "a", NULL}, "unknown option --json"},
        {{"initdata", "verify", "--host-data", DEFAULT_SNP, NULL},
         "initdata verify: the annotation VALUE (or @FILE) is required"},
        {{"initdata", "verify", "x", NULL}, "give --host-data or --mrconfigid"},
        {{"initdata", "verify", "x", "--host-data", NULL}, "option --host-data needs a value"},
        {{"initdata", "verify", "x", "--host-data", "not base64", NULL},
         "initdata verify: --host-data: not base64 (standard alphabet, with '=' padding)"},
        {{"initdata", "verify", "x", "--host-data", DEFAULT_TDX, NULL},
         "initdata verify: --host-data: base64 of 48 bytes, want 32"},
        {{"initdata", "verify", "x", "--mrconfigid", DEFAULT_SNP, NULL},
         "initdata verify: --mrconfigid: base64 of 32 bytes, want 48"},
        {{"initdata", "verify", "x", "--mrconfigid", "X7ui0ZC0xgDcSLgIAlWUYOyuSZ928HnprS69Tjx+tl8",
          NULL},
         "--mrconfigid: not base64"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct run r = run_with_stdin(NULL, cases[i].args);
        assert_exit(&r, 2);
        ck_assert_msg(strncmp(r.err, "cocoonctl: ", 11) == 0, "case %zu: %s", i, r.err);
        assert_contains(r.err, cases[i].msg);
        assert_contains(r.err, "(see cocoonctl --help)");
        ck_assert_str_eq(r.out, "");
        run_free(&r);
    }
}
END_TEST

START_TEST(test_help)
{
    struct run r = RUN("--help");
    assert_exit(&r, 0);
    assert_contains(r.out, "initdata digest [--json] FILE");
    assert_contains(r.out, "digest, snp_host_data, tdx_mrconfigid and pcr8");
    assert_contains(r.out, "initdata annotate FILE");
    assert_contains(r.out, "initdata verify VALUE [--host-data BASE64] [--mrconfigid BASE64]");
    assert_contains(r.out, "@FILE");
    assert_contains(r.out, HV_PREFIX "cc_init_data");
    run_free(&r);
    const char *subs[] = {"digest", "annotate", "verify"};
    for (size_t i = 0; i < 3; i++) {
        r = RUN("initdata", subs[i], "--help");
        assert_exit(&r, 0);
        assert_contains(r.out, "Usage: cocoonctl");
        run_free(&r);
    }
}
END_TEST

static Suite *cocoonctl_suite(void)
{
    Suite *s = suite_create("cocoonctl");
    TCase *tc = tcase_create("initdata");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_digest_text);
    tcase_add_test(tc, test_digest_json);
    tcase_add_test(tc, test_digest_malformed);
    tcase_add_test(tc, test_config_limits);
    tcase_add_test(tc, test_annotate_round_trip);
    tcase_add_test(tc, test_verify_upstream_annotation);
    tcase_add_test(tc, test_verify_mismatch);
    tcase_add_test(tc, test_verify_bad_annotation);
    tcase_add_test(tc, test_usage_errors);
    tcase_add_test(tc, test_help);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_tap(cocoonctl_suite());
}
