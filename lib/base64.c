/* Standard base64 (RFC 4648 alphabet, '=' padding). */
#include "lib/base64.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "lib/cleanup.h"
#include "lib/xalloc.h"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

static int b64_bad_char(unsigned char c, size_t at, struct error *err)
{
    if (c >= 0x20 && c < 0x7f)
        return error_set(err, GRPC_INVALID_ARGUMENT, "base64: invalid character '%c' at offset %zu",
                         c, at);
    return error_set(err, GRPC_INVALID_ARGUMENT, "base64: invalid byte 0x%02x at offset %zu", c,
                     at);
}

/* Standard alphabet, padding required. '\r' and '\n' are skipped like Go's decoder does, so a
 * value wrapped by base64(1) or a YAML block scalar still works. Non-zero bits left over before
 * the padding are ignored (Go does the same); they cannot change the gzip inside. */
int base64_decode(const char *s, size_t len, uint8_t **out, size_t *out_len, struct error *err)
{
    _cleanup_free_ uint8_t *buf = xmalloc(len / 4 * 3 + 3);
    size_t n = 0, chars = 0;
    uint32_t acc = 0;
    int quad = 0, pad = 0;
    bool done = false;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\r' || c == '\n')
            continue;
        if (done)
            return error_set(err, GRPC_INVALID_ARGUMENT,
                             "base64: unexpected '%c' at offset %zu after the '=' padding",
                             c >= 0x20 && c < 0x7f ? c : '?', i);
        chars++;
        int v = 0;
        if (c == '=') {
            if (quad < 2)
                return error_set(err, GRPC_INVALID_ARGUMENT,
                                 "base64: unexpected '=' at offset %zu (padding is only "
                                 "allowed at the end)",
                                 i);
            pad++;
        } else {
            v = b64_value(c);
            if (v < 0)
                return b64_bad_char(c, i, err);
            if (pad)
                return error_set(err, GRPC_INVALID_ARGUMENT,
                                 "base64: unexpected '%c' at offset %zu after the '=' "
                                 "padding",
                                 c, i);
        }
        acc = acc << 6 | (uint32_t)v;
        if (++quad < 4)
            continue;
        buf[n++] = (uint8_t)(acc >> 16);
        if (pad < 2)
            buf[n++] = (uint8_t)(acc >> 8);
        if (pad < 1)
            buf[n++] = (uint8_t)acc;
        done = pad > 0;
        quad = 0;
        acc = 0;
    }
    if (quad != 0)
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "base64: length %zu is not a multiple of 4 (is the '=' padding "
                         "missing?)",
                         chars);
    *out = TAKE_PTR(buf);
    *out_len = n;
    return 0;
}

char *base64_encode(const uint8_t *p, size_t len)
{
    char *out = xmalloc((len + 2) / 3 * 4 + 1), *o = out;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < len)
            v |= p[i + 2];
        *o++ = b64_alphabet[v >> 18 & 63];
        *o++ = b64_alphabet[v >> 12 & 63];
        *o++ = i + 1 < len ? b64_alphabet[v >> 6 & 63] : '=';
        *o++ = i + 2 < len ? b64_alphabet[v & 63] : '=';
    }
    *o = '\0';
    return out;
}
