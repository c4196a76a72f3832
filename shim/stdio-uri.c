/* containerd's stdio paths (containerd.md §4): FIFOs, file://, binary:// and binary-v2://. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/xalloc.h"
#include "shim/stdio-parts.h"

void stdio_target_clear(struct stdio_target *t)
{
    free(t->path);
    for (char **a = t->args; a && *a; a++)
        free(*a);
    free(t->args);
    *t = (struct stdio_target){0};
}

static int unhex(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Percent-decodes s[0..n) as Go's net/url does (in a query, '+' is a space). NULL for a bad
 * escape or an escaped NUL, which no path or argument can hold. */
static char *url_decode(const char *s, size_t n, bool query)
{
    char *out = xmalloc(n + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int hi = i + 2 < n ? unhex(s[i + 1]) : -1;
            int lo = i + 2 < n ? unhex(s[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                free(out);
                return NULL;
            }
            *o++ = (char)(hi << 4 | lo);
            i += 2;
        } else {
            *o++ = query && s[i] == '+' ? ' ' : s[i];
        }
    }
    *o = '\0';
    return out;
}

/* binary://path?k=v&k2=v2 -> {k, v, k2, v2}: as containerd, a key given twice counts once (its
 * first value) and a key without '=' has the value "". */
static int parse_query(const char *stream, const char *uri, const char *q, size_t n, char ***out,
                       struct error *err)
{
    size_t cap = 8, len = 0;
    char **args = xcalloc(cap, sizeof(*args));
    const char *end = q + n;
    int r = 0;
    while (q < end && r == 0) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *pe = amp ? amp : end;
        if (pe > q) {
            const char *eq = memchr(q, '=', (size_t)(pe - q));
            char *k = url_decode(q, (size_t)((eq ? eq : pe) - q), true);
            char *v = eq ? url_decode(eq + 1, (size_t)(pe - eq - 1), true) : xstrdup("");
            bool dup = false;
            for (size_t i = 0; k && i < len; i += 2)
                dup = dup || strcmp(args[i], k) == 0;
            if (!k || !v) {
                r = error_set(err, GRPC_INVALID_ARGUMENT,
                              "%s: %s: bad %%-escape in the logger's arguments", stream, uri);
                free(k);
                free(v);
            } else if (dup) {
                free(k);
                free(v);
            } else {
                if (len + 3 > cap) {
                    cap *= 2;
                    args = xrealloc(args, cap * sizeof(*args));
                }
                args[len++] = k;
                args[len++] = v;
                args[len] = NULL;
            }
        }
        q = amp ? amp + 1 : end;
    }
    *out = args;
    return r;
}

int stdio_target_parse(const char *stream, const char *uri, struct stdio_target *t,
                       struct error *err)
{
    *t = (struct stdio_target){.kind = KIND_NONE};
    if (!uri[0])
        return 0;
    if (uri[0] == '/') { /* a plain path, taken as it is (no URL decoding) */
        t->kind = KIND_FIFO;
        t->path = xstrdup(uri);
        return 0;
    }
    const char *sep = strstr(uri, "://");
    static const struct {
        const char *name;
        enum stdio_kind kind;
    } schemes[] = {{"fifo", KIND_FIFO},
                   {"file", KIND_FILE},
                   {"binary", KIND_BINARY},
                   {"binary-v2", KIND_BINARY_V2}};
    for (size_t i = 0; sep && i < sizeof(schemes) / sizeof(schemes[0]); i++)
        if ((size_t)(sep - uri) == strlen(schemes[i].name) &&
            strncasecmp(uri, schemes[i].name, (size_t)(sep - uri)) == 0)
            t->kind = schemes[i].kind;
    if (t->kind == KIND_NONE)
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "%s: %s is neither an absolute path nor a fifo://, file://, binary:// or "
                         "binary-v2:// URI",
                         stream, uri);
    const char *p = sep + 3;
    if (*p != '/')
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "%s: %s: want %.*s:///absolute/path (a host part is not supported)",
                         stream, uri, (int)(sep - uri), uri);
    size_t n = strcspn(p, "?#");
    t->path = url_decode(p, n, false);
    if (!t->path)
        return error_set(err, GRPC_INVALID_ARGUMENT, "%s: %s: bad %%-escape in the path", stream,
                         uri);
    if (p[n] == '?' && (t->kind == KIND_BINARY || t->kind == KIND_BINARY_V2))
        return parse_query(stream, uri, p + n + 1, strcspn(p + n + 1, "#"), &t->args, err);
    if (t->kind == KIND_BINARY || t->kind == KIND_BINARY_V2)
        t->args = xcalloc(1, sizeof(*t->args));
    return 0;
}
