#include "initdata.h"

#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdbool.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/toml.h"
#include "lib/xalloc.h"
#include "util.h"

DEFINE_CLEANUP_FUNC(DIR *, closedir)

#define MAGIC "initdata"
#define GZ_MAX (16u << 20)  /* larger than any annotation Kubernetes lets through */
#define RAW_MAX (64u << 20) /* cap on the decompressed document */

static int read_exact(int fd, void *buf, size_t len, off_t off)
{
    size_t n = 0;
    while (n < len) {
        ssize_t r = pread(fd, (char *)buf + n, len - n, off + (off_t)n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        n += (size_t)r;
    }
    return 0;
}

static bool has_magic(int fd)
{
    char m[8];
    return read_exact(fd, m, 8, 0) == 0 && !memcmp(m, MAGIC, 8);
}

/* The first /dev/vd* or /dev/sd* block device that starts with the magic, opened. */
static int find_device(char *name, size_t name_len)
{
    _cleanup_(closedirp) DIR *d = opendir("/dev");
    if (!d)
        return -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (fnmatch("vd*", e->d_name, 0) && fnmatch("sd*", e->d_name, 0))
            continue;
        char path[300];
        snprintf(path, sizeof(path), "/dev/%s", e->d_name);
        struct stat st;
        if (stat(path, &st) < 0 || !S_ISBLK(st.st_mode))
            continue;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        if (has_magic(fd)) {
            snprintf(name, name_len, "%s", path);
            return fd;
        }
        close(fd);
    }
    return -1;
}

static uint8_t *gunzip(const uint8_t *in, size_t in_len, size_t *out_len, struct error *err)
{
    z_stream zs = {0};
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
        error_set(err, GRPC_INTERNAL, "inflateInit2 failed");
        return NULL;
    }
    size_t cap = 4096, len = 0;
    uint8_t *out = xmalloc(cap);
    zs.next_in = (uint8_t *)in;
    zs.avail_in = (uInt)in_len;
    int r;
    do {
        if (len == cap) {
            if (cap >= RAW_MAX) {
                r = Z_MEM_ERROR;
                break;
            }
            cap *= 2;
            out = xrealloc(out, cap);
        }
        zs.next_out = out + len;
        zs.avail_out = (uInt)(cap - len);
        r = inflate(&zs, Z_NO_FLUSH);
        len = cap - zs.avail_out;
    } while (r == Z_OK);
    inflateEnd(&zs);
    if (r != Z_STREAM_END) {
        free(out);
        error_set(err, GRPC_INVALID_ARGUMENT, "init-data: not a valid gzip stream (zlib %d)", r);
        return NULL;
    }
    *out_len = len;
    return out;
}

static int digest_hex(const char *algorithm, const uint8_t *data, size_t len, char *hex,
                      struct error *err)
{
    const EVP_MD *md = !strcmp(algorithm, "sha256")   ? EVP_sha256()
                       : !strcmp(algorithm, "sha384") ? EVP_sha384()
                       : !strcmp(algorithm, "sha512") ? EVP_sha512()
                                                      : NULL;
    if (!md)
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "init-data: algorithm \"%s\" is not one of sha256, sha384, sha512",
                         algorithm);
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dl = 0;
    if (!EVP_Digest(data, len, d, &dl, md, NULL))
        return error_set(err, GRPC_INTERNAL, "init-data: digest failed");
    for (unsigned i = 0; i < dl; i++)
        sprintf(hex + 2 * i, "%02x", d[i]);
    return 0;
}

/* data."policy.rego", which the host validated as a string (cocoon's init-data checks). */
static char *policy_of(const struct toml_value *doc)
{
    const struct toml_value *data = toml_table_get(doc, "data");
    const struct toml_value *rego = data ? toml_table_get(data, "policy.rego") : NULL;
    return rego && rego->type == TOML_STRING ? xstrdup(rego->u.string.ptr) : NULL;
}

static int process(int fd, const char *state_dir, char **policy, struct error *err)
{
    uint64_t le;
    if (!has_magic(fd) || read_exact(fd, &le, 8, 8) < 0)
        return error_set(err, GRPC_INVALID_ARGUMENT, "init-data: no \"initdata\" header");
    uint64_t gz_len = le64toh(le);
    if (gz_len == 0 || gz_len > GZ_MAX)
        return error_set(err, GRPC_INVALID_ARGUMENT, "init-data: length %llu out of range",
                         (unsigned long long)gz_len);
    _cleanup_free_ uint8_t *gz = xmalloc(gz_len);
    if (read_exact(fd, gz, gz_len, 16) < 0)
        return error_set(err, GRPC_INVALID_ARGUMENT, "init-data: shorter than its length %llu",
                         (unsigned long long)gz_len);
    size_t raw_len;
    _cleanup_free_ uint8_t *raw = gunzip(gz, gz_len, &raw_len, err);
    if (!raw)
        return -1;
    struct toml_value *doc = toml_parse((const char *)raw, raw_len, err);
    if (!doc)
        return error_wrap(err, "init-data");
    const struct toml_value *alg = toml_table_get(doc, "algorithm");
    char hex[2 * EVP_MAX_MD_SIZE + 1] = "";
    int r = 0;
    if (!alg || alg->type != TOML_STRING)
        r = error_set(err, GRPC_INVALID_ARGUMENT, "init-data: no string \"algorithm\"");
    else
        r = digest_hex(alg->u.string.ptr, raw, raw_len, hex, err);
    if (r == 0) {
        printf("cocoon-test-agent: initdata algorithm=%s digest=%s\n", alg->u.string.ptr, hex);
        fflush(stdout);
        _cleanup_free_ char *path = xasprintf("%s/initdata.digest", state_dir);
        _cleanup_free_ char *line = xasprintf("%s\n", hex);
        _cleanup_close_ int out = -1;
        if (mkdir_p(state_dir, 0755, err) == 0 &&
            (out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) >= 0)
            r = write(out, line, strlen(line)) == (ssize_t)strlen(line) ? 0 : -1;
        else
            r = -1;
        if (r < 0 && !error_is_set(err))
            error_set_errno(err, errno, "write %s", path);
    }
    if (r == 0)
        *policy = policy_of(doc);
    toml_free(doc);
    return r;
}

char *initdata_report(const char *dev, const char *state_dir)
{
    if (dev && !strcmp(dev, "none"))
        return NULL;
    char name[300] = "";
    int fd;
    if (dev) {
        snprintf(name, sizeof(name), "%s", dev);
        fd = open(dev, O_RDONLY | O_CLOEXEC);
    } else {
        fd = find_device(name, sizeof(name));
    }
    if (fd < 0) {
        printf("cocoon-test-agent: initdata: no init-data disk%s%s\n", dev ? " at " : "",
               dev ? dev : "");
        fflush(stdout);
        return NULL;
    }
    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    char *policy = NULL;
    if (process(fd, state_dir, &policy, &err) < 0) {
        printf("cocoon-test-agent: initdata: %s: %s\n", name, err.msg);
        fflush(stdout);
    } else if (policy) {
        printf("cocoon-test-agent: initdata: using policy from initdata\n"); /* never the text */
        fflush(stdout);
    }
    close(fd);
    return policy;
}
