/* The TOML lexer's core: positions and error messages, the UTF-8 check, character classes,
 * whitespace, comments and newlines. Strings and keys are read in toml-lex-string.c; numbers,
 * booleans, dates and times (and the toml_lex_scalar() dispatch) in toml-lex-scalar.c.
 *
 * Every function reads at lx->cur and leaves it after what it consumed. Newlines are consumed only
 * through toml_lex_take_newline(), which keeps lx->line and lx->line_start right, so positions are
 * cheap to compute for every key and value. */
#include "lib/toml-lex.h"

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/xalloc.h"

/* ---- buffers, positions and messages ---------------------------------------------------- */

void toml_lex_init(struct toml_lexer *lx, const char *data, size_t len, struct error *err)
{
    static const char bom[] = "\xEF\xBB\xBF";
    *lx = (struct toml_lexer){.begin = data, .end = data + len, .line = 1, .err = err};
    if (len >= 3 && memcmp(data, bom, 3) == 0)
        lx->begin += 3;
    lx->cur = lx->line_start = lx->begin;
}

static int clamp_int(ptrdiff_t n)
{
    return n > INT_MAX ? INT_MAX : (int)n;
}

struct toml_pos toml_lex_pos(const struct toml_lexer *lx, const char *at)
{
    if (at > lx->end)
        at = lx->end;
    if (at >= lx->line_start)
        return (struct toml_pos){lx->line, clamp_int(at - lx->line_start + 1)};

    /* An earlier line: only error messages about something already read get here. */
    int line = 1;
    const char *line_start = lx->begin;
    for (const char *p = lx->begin; p < at; p++) {
        if (*p == '\n') {
            line += line < INT_MAX;
            line_start = p + 1;
        }
    }
    return (struct toml_pos){line, clamp_int(at - line_start + 1)};
}

static int fail_at_pos(struct toml_lexer *lx, struct toml_pos pos, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
static int fail_at_pos(struct toml_lexer *lx, struct toml_pos pos, const char *fmt, va_list ap)
{
    _cleanup_free_ char *msg = xvasprintf(fmt, ap);
    return error_set(lx->err, GRPC_INVALID_ARGUMENT, "line %d, column %d: %s", pos.line, pos.col,
                     msg);
}

int toml_lex_fail(struct toml_lexer *lx, const char *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fail_at_pos(lx, toml_lex_pos(lx, at), fmt, ap);
    va_end(ap);
    return -1;
}

static size_t utf8_seq_len(unsigned char c)
{
    if (c < 0x80)
        return 1;
    if ((c & 0xE0) == 0xC0)
        return 2;
    if ((c & 0xF0) == 0xE0)
        return 3;
    return 4;
}

/* Names the character at `at` for "unexpected ..." messages. */
const char *toml_lex_describe(const struct toml_lexer *lx, const char *at, char buf[static 32])
{
    if (at >= lx->end)
        return "end of input";
    unsigned char c = (unsigned char)*at;
    if (c == '\n' || (c == '\r' && at + 1 < lx->end && at[1] == '\n'))
        return "newline";
    if (c == '\r')
        return "carriage return";
    if (c == '\t')
        return "tab";
    if (c == ' ')
        return "space";
    if (c == '\'')
        return "\"'\"";
    if (c < 0x20 || c == 0x7F) {
        snprintf(buf, 32, "control character U+%04X", c);
        return buf;
    }
    if (c < 0x80) {
        snprintf(buf, 32, "'%c'", c);
        return buf;
    }
    /* The input was checked to be UTF-8; the code point also names invisible characters. */
    size_t n = utf8_seq_len(c);
    if (n > (size_t)(lx->end - at))
        n = (size_t)(lx->end - at);
    uint32_t cp = c & (0x7F >> n);
    for (size_t i = 1; i < n; i++)
        cp = cp << 6 | ((unsigned char)at[i] & 0x3F);
    snprintf(buf, 32, "'%.*s' (U+%04X)", (int)n, at, cp);
    return buf;
}

int toml_lex_unexpected(struct toml_lexer *lx, const char *at, const char *fmt, ...)
{
    char what[32];
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *expected = xvasprintf(fmt, ap);
    va_end(ap);
    return toml_lex_fail(lx, at, "unexpected %s, expected %s", toml_lex_describe(lx, at, what),
                         expected);
}

char *toml_lex_quote(const char *s, size_t len)
{
    static const char special[] = "\"\\\b\t\n\f\r";
    static const char letter[] = "\"\\btnfr";
    struct buf b = {0};
    buf_append(&b, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *sp = c ? strchr(special, c) : NULL;
        char esc[8];
        if (sp) {
            esc[0] = '\\', esc[1] = letter[sp - special];
            buf_append(&b, esc, 2);
        } else if (c < 0x20 || c == 0x7F) {
            snprintf(esc, sizeof(esc), "\\u%04X", c);
            buf_append(&b, esc, 6);
        } else {
            buf_append(&b, s + i, 1);
        }
    }
    buf_append(&b, "\"", 1);
    return b.ptr;
}

/* ---- UTF-8 -------------------------------------------------------------------------------- */

static int fail_utf8(struct toml_lexer *lx, int line, const char *line_start, const char *at,
                     unsigned char byte, const char *why, ...)
    __attribute__((format(printf, 6, 7)));
static int fail_utf8(struct toml_lexer *lx, int line, const char *line_start, const char *at,
                     unsigned char byte, const char *why, ...)
{
    struct toml_pos pos = {line, clamp_int(at - line_start + 1)};
    va_list ap;
    va_start(ap, why);
    _cleanup_free_ char *reason = xvasprintf(why, ap);
    va_end(ap);
    return error_set(lx->err, GRPC_INVALID_ARGUMENT,
                     "line %d, column %d: invalid UTF-8 at byte 0x%02X (%s); TOML documents must "
                     "be UTF-8",
                     pos.line, pos.col, byte, reason);
}

int toml_lex_check_utf8(struct toml_lexer *lx)
{
    const unsigned char *p = (const unsigned char *)lx->begin;
    const unsigned char *end = (const unsigned char *)lx->end;
    int line = 1;
    const char *line_start = lx->begin;

    while (p < end) {
        unsigned char c = *p;
        if (c < 0x80) {
            if (c == '\n') {
                line += line < INT_MAX;
                line_start = (const char *)p + 1;
            }
            p++;
            continue;
        }
        size_t n;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0)
            n = 2, cp = c & 0x1F, min = 0x80;
        else if ((c & 0xF0) == 0xE0)
            n = 3, cp = c & 0x0F, min = 0x800;
        else if ((c & 0xF8) == 0xF0)
            n = 4, cp = c & 0x07, min = 0x10000;
        else
            return fail_utf8(lx, line, line_start, (const char *)p, c, "not a lead byte");
        if ((size_t)(end - p) < n)
            return fail_utf8(lx, line, line_start, (const char *)p, c, "truncated sequence");
        for (size_t i = 1; i < n; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return fail_utf8(lx, line, line_start, (const char *)p, c,
                                 "byte %zu of the sequence is 0x%02X, not a continuation byte",
                                 i + 1, p[i]);
            cp = cp << 6 | (p[i] & 0x3F);
        }
        if (cp < min)
            return fail_utf8(lx, line, line_start, (const char *)p, c, "overlong encoding");
        if (cp >= 0xD800 && cp <= 0xDFFF)
            return fail_utf8(lx, line, line_start, (const char *)p, c, "surrogate U+%04X", cp);
        if (cp > 0x10FFFF)
            return fail_utf8(lx, line, line_start, (const char *)p, c, "beyond U+10FFFF");
        p += n;
    }
    return 0;
}

/* ---- character classes (also used by toml-lex-string.c and toml-lex-scalar.c) ------------- */

bool toml_lex_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

int toml_lex_hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool toml_lex_is_bare_key_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || toml_lex_is_digit(c) || c == '-' ||
           c == '_';
}

/* Control characters TOML forbids in comments and strings (tab is allowed). */
bool toml_lex_is_forbidden_control(char ch)
{
    unsigned char c = (unsigned char)ch;
    return (c < 0x20 && c != '\t') || c == 0x7F;
}

/* ---- whitespace, comments, newlines --------------------------------------------------------- */

bool toml_lex_eof(const struct toml_lexer *lx)
{
    return lx->cur >= lx->end;
}

void toml_lex_skip_ws(struct toml_lexer *lx)
{
    while (lx->cur < lx->end && (*lx->cur == ' ' || *lx->cur == '\t'))
        lx->cur++;
}

bool toml_lex_at_newline(const struct toml_lexer *lx, const char *p)
{
    return p < lx->end && (*p == '\n' || (*p == '\r' && p + 1 < lx->end && p[1] == '\n'));
}

bool toml_lex_at_line_end(const struct toml_lexer *lx)
{
    return lx->cur >= lx->end || toml_lex_at_newline(lx, lx->cur);
}

/* Consumes LF or CRLF and starts a new line; false if there is none at cur. */
bool toml_lex_take_newline(struct toml_lexer *lx)
{
    if (!toml_lex_at_newline(lx, lx->cur))
        return false;
    lx->cur += *lx->cur == '\r' ? 2 : 1;
    lx->line += lx->line < INT_MAX;
    lx->line_start = lx->cur;
    return true;
}

/* A comment runs to the end of the line; the newline itself is left for the caller. */
static int lex_skip_comment(struct toml_lexer *lx)
{
    lx->cur++; /* '#' */
    while (lx->cur < lx->end && !toml_lex_at_newline(lx, lx->cur)) {
        if (*lx->cur == '\r')
            return toml_lex_fail(lx, lx->cur,
                                 "carriage return not followed by a line feed in a comment");
        if (toml_lex_is_forbidden_control(*lx->cur))
            return toml_lex_fail(lx, lx->cur,
                                 "control character U+%04X is not allowed in a comment",
                                 (unsigned char)*lx->cur);
        lx->cur++;
    }
    return 0;
}

int toml_lex_end_of_line(struct toml_lexer *lx, const char *after)
{
    toml_lex_skip_ws(lx);
    if (lx->cur < lx->end && *lx->cur == '#' && lex_skip_comment(lx) < 0)
        return -1;
    if (lx->cur >= lx->end || toml_lex_take_newline(lx))
        return 0;
    return toml_lex_unexpected(lx, lx->cur, "a newline after %s", after);
}

int toml_lex_skip_blank(struct toml_lexer *lx)
{
    for (;;) {
        toml_lex_skip_ws(lx);
        if (lx->cur < lx->end && *lx->cur == '#' && lex_skip_comment(lx) < 0)
            return -1;
        if (!toml_lex_take_newline(lx))
            return 0;
    }
}
