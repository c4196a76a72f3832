#include "shim/guest-files.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "lib/cleanup.h"
#include "lib/xalloc.h"

enum action {
    KEEP,
    COPY,
    DROP,
};

/* Lexically cleaned absolute path (Go's filepath.Clean): no "//", "." or "..", no trailing '/'. */
static char *clean_path(const char *p)
{
    size_t len = strlen(p);
    char *out = xmalloc(len + 2);
    size_t n = 0;
    for (const char *s = p; *s;) {
        while (*s == '/')
            s++;
        const char *e = strchrnul(s, '/');
        size_t l = (size_t)(e - s);
        if (l == 0 || (l == 1 && s[0] == '.')) {
            /* nothing */
        } else if (l == 2 && s[0] == '.' && s[1] == '.') {
            while (n > 0 && out[n - 1] != '/')
                n--;
            if (n > 0)
                n--; /* the '/' before the dropped element */
        } else {
            out[n++] = '/';
            memcpy(out + n, s, l);
            n += l;
        }
        s = e;
    }
    if (n == 0)
        out[n++] = '/';
    out[n] = '\0';
    return out;
}

static bool is_or_under(const char *clean, const char *dir)
{
    size_t l = strlen(dir);
    return strncmp(clean, dir, l) == 0 && (clean[l] == '\0' || clean[l] == '/');
}

/* pkg/oci newMount: the options make a bind whatever the type says. */
static bool is_bind(const Grpc__Mount *m)
{
    if (m->type && strcmp(m->type, "bind") == 0)
        return true;
    for (size_t i = 0; i < m->n_options; i++)
        if (m->options[i] && (!strcmp(m->options[i], "bind") || !strcmp(m->options[i], "rbind")))
            return true;
    return false;
}

/* The last element of the destination (Go's filepath.Base), for the guest file's name. */
static int dest_base(const char *dest, char **out, struct error *err)
{
    size_t end = strlen(dest);
    while (end > 0 && dest[end - 1] == '/')
        end--;
    size_t start = end;
    while (start > 0 && dest[start - 1] != '/')
        start--;
    size_t l = end - start;
    if (l == 0 || (l == 1 && dest[start] == '.') ||
        (l == 2 && dest[start] == '.' && dest[start + 1] == '.'))
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "mount destination \"%s\": a file bind mount needs a destination that "
                         "names a file",
                         dest);
    *out = xstrndup(dest + start, l);
    return 0;
}

static int random_hex(char hex[17], struct error *err)
{
    uint8_t b[8];
    ssize_t r;
    do
        r = getrandom(b, sizeof(b), 0);
    while (r < 0 && errno == EINTR);
    if (r != (ssize_t)sizeof(b))
        return error_set(err, GRPC_INTERNAL, "getrandom: %s", r < 0 ? strerror(errno) : "short");
    for (size_t i = 0; i < sizeof(b); i++)
        snprintf(hex + 2 * i, 3, "%02x", b[i]);
    return 0;
}

/* What to do with one mount of the spec (see the header for the rule). */
static int decide(const Grpc__Mount *m, enum action *act, struct error *err)
{
    *act = KEEP;
    if (!m || !m->source || m->source[0] != '/' || !m->destination || !*m->destination ||
        !is_bind(m))
        return 0;
    _cleanup_free_ char *src = clean_path(m->source);
    _cleanup_free_ char *dst = clean_path(m->destination);
    if (is_or_under(src, "/proc") || is_or_under(src, "/sys") || strcmp(dst, "/dev/shm") == 0)
        return 0;
    struct stat st;
    if (is_or_under(src, "/dev")) {
        /* isHostDevice: only regular files below /dev are the host's own. */
        if (strcmp(src, "/dev") == 0 || stat(src, &st) < 0 || !S_ISREG(st.st_mode))
            return 0;
    } else if (stat(src, &st) < 0) {
        return error_set_errno(err, errno, "mount %s: source %s", m->destination, m->source);
    }
    *act = S_ISREG(st.st_mode) ? COPY : S_ISDIR(st.st_mode) ? KEEP : DROP;
    return 0;
}

void guest_files_free(struct guest_file *files, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(files[i].host_path);
        free(files[i].guest_path);
    }
    free(files);
}

int guest_files_plan(Grpc__Spec *spec, const char *container_id, struct guest_file **files,
                     size_t *n, struct error *err)
{
    *files = NULL;
    *n = 0;
    if (!container_id || !*container_id || strchr(container_id, '/') ||
        !strcmp(container_id, ".") || !strcmp(container_id, ".."))
        return error_set(err, GRPC_INVALID_ARGUMENT, "guest files: invalid container id \"%s\"",
                         container_id ? container_id : "");
    size_t nm = spec->n_mounts;
    if (nm == 0)
        return 0;

    /* Decide everything first, so that a failure leaves the spec as it was. */
    _cleanup_free_ enum action *acts = xcalloc(nm, sizeof(*acts));
    struct guest_file *out = xcalloc(nm, sizeof(*out));
    size_t nout = 0;
    for (size_t i = 0; i < nm; i++) {
        const Grpc__Mount *m = spec->mounts[i];
        _cleanup_free_ char *base = NULL;
        char hex[17];
        if (decide(m, &acts[i], err) < 0 ||
            (acts[i] == COPY &&
             (dest_base(m->destination, &base, err) < 0 || random_hex(hex, err) < 0))) {
            guest_files_free(out, nout);
            return -1;
        }
        if (acts[i] != COPY)
            continue;
        out[nout].host_path = xstrdup(m->source);
        out[nout].guest_path = xasprintf(GUEST_FILES_DIR "/%s-%s-%s", container_id, hex, base);
        nout++;
    }

    size_t kept = 0, copied = 0;
    for (size_t i = 0; i < nm; i++) {
        Grpc__Mount *m = spec->mounts[i];
        if (acts[i] == DROP) {
            protobuf_c_message_free_unpacked(&m->base, NULL);
            continue;
        }
        if (acts[i] == COPY) {
            if (m->source != protobuf_c_empty_string)
                free(m->source);
            m->source = xstrdup(out[copied++].guest_path);
        }
        spec->mounts[kept++] = m;
    }
    spec->n_mounts = kept;
    if (nout == 0) {
        free(out);
        out = NULL;
    }
    *files = out;
    *n = nout;
    return 0;
}
