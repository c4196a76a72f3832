/* Guest pull from a plain-HTTP registry (OCI distribution API, no auth). */
#include "image.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "tar.h"
#include "util.h"

#define MANIFEST_MAX (4u << 20)
#define ACCEPT                                                                                     \
    "application/vnd.oci.image.manifest.v1+json, "                                                 \
    "application/vnd.docker.distribution.manifest.v2+json, "                                       \
    "application/vnd.oci.image.index.v1+json, "                                                    \
    "application/vnd.docker.distribution.manifest.list.v2+json"

struct ref {
    char *host; /* host[:port] as contacted */
    char *repo;
    char *reference; /* tag or digest */
};

static void ref_free(struct ref *r)
{
    free(r->host);
    free(r->repo);
    free(r->reference);
}

/* docker.io rules: a first part with '.' or ':' (or "localhost") is a registry host. */
static int ref_parse(const char *s, const char *loopback_host, struct ref *r, struct error *err)
{
    memset(r, 0, sizeof(*r));
    if (!s || !*s)
        return error_set(err, GRPC_INVALID_ARGUMENT, "empty image reference");
    const char *slash = strchr(s, '/');
    const char *rest = s;
    if (slash && (memchr(s, '.', (size_t)(slash - s)) || memchr(s, ':', (size_t)(slash - s)) ||
                  !strncmp(s, "localhost/", 10) || !strncmp(s, "localhost:", 10))) {
        r->host = xstrndup(s, (size_t)(slash - s));
        rest = slash + 1;
    } else {
        r->host = xstrdup("registry-1.docker.io");
    }
    const char *at = strchr(rest, '@');
    const char *colon = strrchr(rest, ':');
    const char *end = at ? at : colon && !strchr(colon, '/') ? colon : rest + strlen(rest);
    r->repo = xstrndup(rest, (size_t)(end - rest));
    r->reference = xstrdup(at ? at + 1 : *end == ':' ? end + 1 : "latest");
    if (!strcmp(r->host, "registry-1.docker.io") && !strchr(r->repo, '/')) {
        char *lib = xasprintf("library/%s", r->repo);
        free(r->repo);
        r->repo = lib;
    }
    /* The host's loopback is 10.0.2.2 for a guest on QEMU user networking. */
    const char *port = strchr(r->host, ':');
    size_t name_len = port ? (size_t)(port - r->host) : strlen(r->host);
    if (loopback_host && ((name_len == 9 && !strncmp(r->host, "127.0.0.1", 9)) ||
                          (name_len == 9 && !strncmp(r->host, "localhost", 9)))) {
        char *mapped = xasprintf("%s%s", loopback_host, port ? port : "");
        log_info("image %s: registry %s reached as %s", s, r->host, mapped);
        free(r->host);
        r->host = mapped;
    }
    return 0;
}

/* --- fetching --- */

struct membuf {
    uint8_t *data;
    size_t len;
};

static int to_memory(void *user, const uint8_t *data, size_t len, struct error *err)
{
    struct membuf *b = user;
    if (b->len + len > MANIFEST_MAX)
        return error_set(err, GRPC_RESOURCE_EXHAUSTED, "manifest over %u bytes", MANIFEST_MAX);
    b->data = xrealloc(b->data, b->len + len + 1);
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

static json_t *get_manifest(const struct ref *r, const char *reference, struct error *err)
{
    _cleanup_free_ char *url =
        xasprintf("http://%s/v2/%s/manifests/%s", r->host, r->repo, reference);
    struct membuf b = {0};
    if (http_get(url, ACCEPT, to_memory, &b, NULL, err) < 0) {
        free(b.data);
        return NULL;
    }
    json_error_t jerr;
    json_t *j = json_loadb((const char *)b.data, b.len, 0, &jerr);
    free(b.data);
    if (!j)
        error_set(err, GRPC_INVALID_ARGUMENT, "manifest %s: %s", url, jerr.text);
    return j;
}

/* An index or manifest list: the linux/amd64 manifest's digest. */
static const char *pick_platform(json_t *index)
{
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(index, "manifests"), i, m)
    {
        json_t *p = json_object_get(m, "platform");
        const char *os = json_string_value(json_object_get(p, "os"));
        const char *arch = json_string_value(json_object_get(p, "architecture"));
        if (os && arch && !strcmp(os, "linux") && !strcmp(arch, "amd64"))
            return json_string_value(json_object_get(m, "digest"));
    }
    return NULL;
}

struct blob_sink {
    int fd;
    EVP_MD_CTX *md;
};

static int to_file(void *user, const uint8_t *data, size_t len, struct error *err)
{
    struct blob_sink *s = user;
    EVP_DigestUpdate(s->md, data, len);
    for (size_t off = 0; off < len;) {
        ssize_t n = write(s->fd, data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return error_set_errno(err, errno, "write blob");
        off += (size_t)n;
    }
    return 0;
}

/* blob_dir/<hex>, downloaded and checked against its sha256 unless already there. */
static char *fetch_blob(const struct ref *r, const char *digest, const char *blob_dir,
                        struct error *err)
{
    if (!digest || strncmp(digest, "sha256:", 7) || strlen(digest) != 71 ||
        strspn(digest + 7, "0123456789abcdef") != 64) {
        error_set(err, GRPC_INVALID_ARGUMENT, "layer digest \"%s\" is not sha256:<64 hex>",
                  digest ? digest : "");
        return NULL;
    }
    char *path = xasprintf("%s/%s", blob_dir, digest + 7);
    if (access(path, F_OK) == 0)
        return path;
    /* a temporary name of its own: two containers may pull the same layer at once */
    _cleanup_free_ char *tmp = xasprintf("%s.part-XXXXXX", path);
    _cleanup_free_ char *url = xasprintf("http://%s/v2/%s/blobs/%s", r->host, r->repo, digest);
    struct blob_sink s = {mkostemp(tmp, O_CLOEXEC), EVP_MD_CTX_new()};
    int ret = s.fd < 0 ? error_set_errno(err, errno, "create %s", tmp) : 0;
    if (ret == 0)
        EVP_DigestInit_ex(s.md, EVP_sha256(), NULL);
    if (ret == 0)
        ret = http_get(url, NULL, to_file, &s, NULL, err);
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned dl = 0;
    char hex[2 * EVP_MAX_MD_SIZE + 1] = "";
    if (ret == 0) {
        EVP_DigestFinal_ex(s.md, d, &dl);
        for (unsigned i = 0; i < dl; i++)
            sprintf(hex + 2 * i, "%02x", d[i]);
        if (strcmp(hex, digest + 7))
            ret = error_set(err, GRPC_DATA_LOSS, "blob %s: got sha256:%s", digest, hex);
    }
    EVP_MD_CTX_free(s.md);
    if (s.fd >= 0)
        close(s.fd);
    if (ret == 0 && rename(tmp, path) < 0)
        ret = error_set_errno(err, errno, "rename %s", tmp);
    if (ret < 0) {
        unlink(tmp);
        free(path);
        return NULL;
    }
    return path;
}

static int unpack(const char *blob, const char *dir, struct error *err)
{
    _cleanup_close_ int root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    _cleanup_close_ int layer = open(blob, O_RDONLY | O_CLOEXEC);
    if (root < 0 || layer < 0)
        return error_set_errno(err, errno, "open %s", root < 0 ? dir : blob);
    return tar_extract(root, layer, err);
}

int image_pull(const char *ref, const char *dir, const char *blob_dir, const char *loopback_host,
               struct error *err)
{
    struct ref r;
    if (ref_parse(ref, loopback_host, &r, err) < 0)
        return -1;
    int ret = -1;
    _cleanup_(json_decrefp) json_t *m = get_manifest(&r, r.reference, err);
    if (m && json_object_get(m, "manifests")) {
        const char *digest = pick_platform(m);
        json_t *inner = digest ? get_manifest(&r, digest, err) : NULL;
        if (!digest)
            error_set(err, GRPC_NOT_FOUND, "image %s has no linux/amd64 manifest", ref);
        json_decref(m);
        m = inner;
    }
    json_t *layers = m ? json_object_get(m, "layers") : NULL;
    if (m && !json_is_array(layers))
        error_set(err, GRPC_INVALID_ARGUMENT, "image %s: the manifest has no layers", ref);
    if (!json_is_array(layers) || mkdir_p(blob_dir, 0700, err) < 0 || mkdir_p(dir, 0755, err) < 0)
        goto out;
    size_t i;
    json_t *l;
    json_array_foreach(layers, i, l)
    {
        const char *digest = json_string_value(json_object_get(l, "digest"));
        _cleanup_free_ char *blob = fetch_blob(&r, digest, blob_dir, err);
        if (!blob || unpack(blob, dir, err) < 0) {
            error_wrap(err, "layer %zu (%s)", i, digest ? digest : "?");
            goto out;
        }
    }
    log_info("image %s: %zu layers unpacked into %s", ref, json_array_size(layers), dir);
    ret = 0;
out:
    ref_free(&r);
    return ret;
}

static bool is_sandbox_type(const char *v)
{
    return v && !strcmp(v, "sandbox");
}

bool container_is_sandbox(const Grpc__Storage *st, const Grpc__Spec *spec)
{
    if (st && st->source && !strcmp(st->source, "pause"))
        return true;
    for (size_t i = 0; spec && i < spec->n_annotations; i++) {
        const char *k = spec->annotations[i]->key;
        if ((!strcmp(k, "io.kubernetes.cri.container-type") ||
             !strcmp(k, "io.kubernetes.cri-o.ContainerType")) &&
            is_sandbox_type(spec->annotations[i]->value))
            return true;
    }
    /* driver_options "image_guest_pull=<JSON>" carries the annotations as image_pull.metadata */
    for (size_t i = 0; st && i < st->n_driver_options; i++) {
        const char *o = st->driver_options[i];
        if (strncmp(o, "image_guest_pull=", 17))
            continue;
        _cleanup_(json_decrefp) json_t *j = json_loads(o + 17, 0, NULL);
        json_t *md = json_object_get(json_object_get(j, "image_pull"), "metadata");
        if (!md)
            md = json_object_get(j, "metadata");
        if (is_sandbox_type(
                json_string_value(json_object_get(md, "io.kubernetes.cri.container-type"))) ||
            is_sandbox_type(
                json_string_value(json_object_get(md, "io.kubernetes.cri-o.ContainerType"))))
            return true;
    }
    return false;
}
