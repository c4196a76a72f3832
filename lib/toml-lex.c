/* The TOML lexer: bytes to keys and scalar values, with positions and error messages.
 *
 * Every function reads at lx->cur and leaves it after what it consumed. Newlines are consumed only
 * through lex_take_newline(), which keeps lx->line and lx->line_start right, so positions are
 * cheap to compute for every key and value. */
#include "lib/toml-lex.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
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
static const char *describe(const struct toml_lexer *lx, const char *at, char buf[static 32])
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
    return toml_lex_fail(lx, at, "unexpected %s, expected %s", describe(lx, at, what), expected);
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

static size_t utf8_encode(uint32_t cp, char out[static 4])
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---- whitespace, comments, newlines --------------------------------------------------------- */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool is_bare_key_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_digit(c) || c == '-' || c == '_';
}

/* Control characters TOML forbids in comments and strings (tab is allowed). */
static bool is_forbidden_control(char ch)
{
    unsigned char c = (unsigned char)ch;
    return (c < 0x20 && c != '\t') || c == 0x7F;
}

bool toml_lex_eof(const struct toml_lexer *lx)
{
    return lx->cur >= lx->end;
}

void toml_lex_skip_ws(struct toml_lexer *lx)
{
    while (lx->cur < lx->end && (*lx->cur == ' ' || *lx->cur == '\t'))
        lx->cur++;
}

static bool at_newline(const struct toml_lexer *lx, const char *p)
{
    return p < lx->end && (*p == '\n' || (*p == '\r' && p + 1 < lx->end && p[1] == '\n'));
}

bool toml_lex_at_line_end(const struct toml_lexer *lx)
{
    return lx->cur >= lx->end || at_newline(lx, lx->cur);
}

/* Consumes LF or CRLF and starts a new line; false if there is none at cur. */
static bool lex_take_newline(struct toml_lexer *lx)
{
    if (!at_newline(lx, lx->cur))
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
    while (lx->cur < lx->end && !at_newline(lx, lx->cur)) {
        if (*lx->cur == '\r')
            return toml_lex_fail(lx, lx->cur,
                                 "carriage return not followed by a line feed in a comment");
        if (is_forbidden_control(*lx->cur))
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
    if (lx->cur >= lx->end || lex_take_newline(lx))
        return 0;
    return toml_lex_unexpected(lx, lx->cur, "a newline after %s", after);
}

int toml_lex_skip_blank(struct toml_lexer *lx)
{
    for (;;) {
        toml_lex_skip_ws(lx);
        if (lx->cur < lx->end && *lx->cur == '#' && lex_skip_comment(lx) < 0)
            return -1;
        if (!lex_take_newline(lx))
            return 0;
    }
}

/* ---- strings ------------------------------------------------------------------------------ */

static int fail_unterminated(struct toml_lexer *lx, const char *open, const char *delim)
{
    struct toml_pos pos = toml_lex_pos(lx, open);
    return toml_lex_unexpected(lx, lx->cur,
                               "%s to close the string that starts at line %d, column %d", delim,
                               pos.line, pos.col);
}

static int fail_string_char(struct toml_lexer *lx)
{
    char what[32];
    if (*lx->cur == '\r')
        return toml_lex_fail(lx, lx->cur,
                             "carriage return not followed by a line feed in a string");
    return toml_lex_fail(lx, lx->cur, "%s is not allowed in a string; write it as an escape",
                         describe(lx, lx->cur, what));
}

/* \uXXXX or \UXXXXXXXX at cur (the backslash): must be a Unicode scalar value. */
static int lex_unicode_escape(struct toml_lexer *lx, struct buf *b, int ndigits)
{
    const char *esc = lx->cur;
    const char *hex = esc + 2;
    uint32_t cp = 0;
    for (int i = 0; i < ndigits; i++) {
        int d = hex + i < lx->end ? hex_value(hex[i]) : -1;
        if (d < 0)
            return toml_lex_unexpected(lx, hex + i, "%d hexadecimal digits after '\\%c'", ndigits,
                                       esc[1]);
        cp = cp << 4 | (uint32_t)d;
    }
    if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
        return toml_lex_fail(lx, esc,
                             "escape '%.*s' is not a Unicode scalar value (surrogates and values "
                             "above U+10FFFF are not allowed)",
                             ndigits + 2, esc);
    char utf8[4];
    buf_append(b, utf8, utf8_encode(cp, utf8));
    lx->cur = hex + ndigits;
    return 0;
}

/* A backslash that ends a line in a multi-line basic string swallows all whitespace and newlines
 * up to the next other character. cur is just after the backslash. */
static int lex_line_ending_backslash(struct toml_lexer *lx)
{
    toml_lex_skip_ws(lx);
    if (!lex_take_newline(lx))
        return toml_lex_unexpected(lx, lx->cur,
                                   "only whitespace after a line-ending backslash (write \\\\ "
                                   "for a backslash)");
    do
        toml_lex_skip_ws(lx);
    while (lex_take_newline(lx));
    return 0;
}

/* An escape sequence at cur (the backslash) of a basic string. */
static int lex_escape(struct toml_lexer *lx, struct buf *b, bool multiline)
{
    const char *esc = lx->cur;
    char c = esc + 1 < lx->end ? esc[1] : '\0';
    static const char simple_from[] = "btnfr\"\\";
    static const char simple_to[] = "\b\t\n\f\r\"\\";
    const char *simple = c ? strchr(simple_from, c) : NULL;

    if (simple) {
        buf_append(b, &simple_to[simple - simple_from], 1);
        lx->cur += 2;
        return 0;
    }
    if (c == 'u' || c == 'U')
        return lex_unicode_escape(lx, b, c == 'u' ? 4 : 8);
    if (multiline && (c == ' ' || c == '\t' || c == '\n' || c == '\r')) {
        lx->cur++;
        return lex_line_ending_backslash(lx);
    }
    if (esc + 1 >= lx->end)
        return toml_lex_unexpected(lx, esc + 1, "an escape sequence after '\\'");
    char what[32];
    return toml_lex_fail(
        lx, esc,
        "invalid escape sequence: '\\' followed by %s (TOML 1.0 allows \\b \\t \\n "
        "\\f \\r \\\" \\\\ \\uXXXX \\UXXXXXXXX)",
        describe(lx, esc + 1, what));
}

/* Appends the run of bytes at cur that need no special handling in a string delimited by
 * `quote` (also stopping at backslashes when `escapes`). */
static void lex_plain_run(struct toml_lexer *lx, struct buf *b, char quote, bool escapes)
{
    const char *run = lx->cur;
    while (lx->cur < lx->end) {
        char c = *lx->cur;
        if (c == quote || (escapes && c == '\\') || is_forbidden_control(c))
            break;
        lx->cur++;
    }
    buf_append(b, run, (size_t)(lx->cur - run));
}

/* "basic" (escapes = true) or 'literal' single-line string at cur. */
static int lex_single_line_string(struct toml_lexer *lx, struct buf *b, bool escapes)
{
    const char *open = lx->cur;
    char quote = *lx->cur++;
    const char *delim = quote == '"' ? "'\"'" : "\"'\"";

    for (;;) {
        lex_plain_run(lx, b, quote, escapes);
        if (lx->cur >= lx->end)
            return fail_unterminated(lx, open, delim);
        if (*lx->cur == quote) {
            lx->cur++;
            return 0;
        }
        if (*lx->cur == '\\') {
            if (lex_escape(lx, b, false) < 0)
                return -1;
            continue;
        }
        if (at_newline(lx, lx->cur))
            return toml_lex_unexpected(lx, lx->cur,
                                       "%s to close the string (use a multi-line string for "
                                       "newlines)",
                                       delim);
        return fail_string_char(lx);
    }
}

/* """basic""" (escapes = true) or '''literal''' multi-line string at cur. */
static int lex_multi_line_string(struct toml_lexer *lx, struct buf *b, bool escapes)
{
    const char *open = lx->cur;
    char quote = *lx->cur;
    const char *delim = quote == '"' ? "'\"\"\"'" : "\"'''\"";

    lx->cur += 3;
    lex_take_newline(lx); /* a newline right after the opening delimiter is trimmed */
    for (;;) {
        lex_plain_run(lx, b, quote, escapes);
        if (lx->cur >= lx->end)
            return fail_unterminated(lx, open, delim);
        if (*lx->cur == quote) {
            /* Up to two quotes may precede the closing three. */
            size_t n = 0;
            while (lx->cur + n < lx->end && lx->cur[n] == quote)
                n++;
            if (n > 5)
                return toml_lex_fail(lx, lx->cur + 5,
                                     "too many quotes: at most two may come before the closing "
                                     "%s",
                                     delim);
            buf_append(b, lx->cur, n < 3 ? n : n - 3);
            lx->cur += n;
            if (n >= 3)
                return 0;
            continue;
        }
        if (*lx->cur == '\\') {
            if (lex_escape(lx, b, true) < 0)
                return -1;
            continue;
        }
        if (lex_take_newline(lx)) {
            buf_append(b, "\n", 1); /* CRLF is stored as LF */
            continue;
        }
        return fail_string_char(lx);
    }
}

static bool at_triple_quote(const struct toml_lexer *lx)
{
    const char *p = lx->cur;
    return lx->end - p >= 3 && p[1] == p[0] && p[2] == p[0];
}

/* Any string at cur (which is a quote). */
static int lex_string(struct toml_lexer *lx, struct buf *b)
{
    bool escapes = *lx->cur == '"';
    if (at_triple_quote(lx))
        return lex_multi_line_string(lx, b, escapes);
    return lex_single_line_string(lx, b, escapes);
}

int toml_lex_key(struct toml_lexer *lx, char **key, size_t *key_len)
{
    const char *start = lx->cur;

    if (start < lx->end && (*start == '"' || *start == '\'')) {
        if (at_triple_quote(lx))
            return toml_lex_fail(lx, start, "a multi-line string cannot be a key");
        struct buf b = {0};
        if (lex_single_line_string(lx, &b, *start == '"') < 0) {
            free(b.ptr);
            return -1;
        }
        *key = b.ptr ? b.ptr : xstrdup("");
        *key_len = b.len;
        return 0;
    }
    while (lx->cur < lx->end && is_bare_key_char(*lx->cur))
        lx->cur++;
    if (lx->cur == start)
        return toml_lex_unexpected(lx, start, "a key (letters, digits, '-', '_' or a quoted key)");
    *key_len = (size_t)(lx->cur - start);
    *key = xstrndup(start, *key_len);
    return 0;
}

/* ---- numbers ------------------------------------------------------------------------------- */

static bool is_radix_digit(char c, int radix)
{
    if (radix == 16)
        return hex_value(c) >= 0;
    return c >= '0' && c < '0' + radix;
}

static const char *radix_name(int radix)
{
    switch (radix) {
    case 16:
        return "a hexadecimal";
    case 8:
        return "an octal";
    case 2:
        return "a binary";
    default:
        return "a decimal";
    }
}

/* One or more digits with single underscores between digits; *pp advances past them. */
static int lex_digits(struct toml_lexer *lx, const char **pp, int radix, const char *where)
{
    const char *p = *pp;
    if (p >= lx->end || !is_radix_digit(*p, radix))
        return toml_lex_unexpected(lx, p, "%s digit %s", radix_name(radix), where);
    while (p < lx->end) {
        if (is_radix_digit(*p, radix)) {
            p++;
        } else if (*p == '_') {
            if (p + 1 >= lx->end || !is_radix_digit(p[1], radix))
                return toml_lex_fail(lx, p, "'_' in a number must be between two digits");
            p++;
        } else {
            break;
        }
    }
    *pp = p;
    return 0;
}

/* A number or date/time must not run into letters, dots or signs ("1.2.3", "12abc", "0X1"). */
static int lex_check_value_end(struct toml_lexer *lx, const char *start, const char *p,
                               const char *kind)
{
    if (p < lx->end && (is_bare_key_char(*p) || *p == '.' || *p == '+' || *p == ':')) {
        char what[32];
        return toml_lex_fail(lx, p, "unexpected %s after the %s \"%.*s\"", describe(lx, p, what),
                             kind, (int)(p - start), start);
    }
    lx->cur = p;
    return 0;
}

/* Converts the digits of [p, end) (underscores skipped) to a magnitude of at most `limit`. */
static bool digits_to_u64(const char *p, const char *end, int radix, uint64_t limit, uint64_t *out)
{
    uint64_t v = 0;
    for (; p < end; p++) {
        if (*p == '_')
            continue;
        uint64_t d = (uint64_t)hex_value(*p);
        if (v > (limit - d) / (uint64_t)radix)
            return false;
        v = v * (uint64_t)radix + d;
    }
    *out = v;
    return true;
}

/* 0x, 0o or 0b integer at cur: non-negative and at most INT64_MAX. */
static int lex_radix_integer(struct toml_lexer *lx, struct toml_value *v)
{
    const char *start = lx->cur;
    int radix = start[1] == 'x' ? 16 : start[1] == 'o' ? 8 : 2;
    const char *digits = start + 2, *p = digits;
    char where[32];
    snprintf(where, sizeof(where), "after '%.2s'", start);
    if (lex_digits(lx, &p, radix, where) < 0)
        return -1;
    uint64_t mag;
    if (!digits_to_u64(digits, p, radix, INT64_MAX, &mag))
        return toml_lex_fail(lx, start, "integer %.*s does not fit in 64 bits", (int)(p - start),
                             start);
    v->type = TOML_INTEGER;
    v->u.integer = (int64_t)mag;
    return lex_check_value_end(lx, start, p, "integer");
}

static bool starts_with(const struct toml_lexer *lx, const char *p, const char *word)
{
    size_t n = strlen(word);
    return (size_t)(lx->end - p) >= n && memcmp(p, word, n) == 0;
}

static int lex_float_text(struct toml_lexer *lx, struct toml_value *v, const char *start,
                          const char *end)
{
    /* strtod on a copy without underscores; the decimal point is '.' as the shim never calls
     * setlocale. */
    _cleanup_free_ char *clean = xmalloc((size_t)(end - start) + 1);
    size_t n = 0;
    for (const char *p = start; p < end; p++)
        if (*p != '_')
            clean[n++] = *p;
    clean[n] = '\0';
    errno = 0;
    double d = strtod(clean, NULL);
    if (errno == ERANGE && isinf(d))
        return toml_lex_fail(lx, start, "float %s is out of range for a 64-bit float", clean);
    v->type = TOML_FLOAT;
    v->u.flt = d;
    return 0;
}

/* Decimal integer or float (also inf and nan), with an optional sign, at cur. */
static int lex_number(struct toml_lexer *lx, struct toml_value *v)
{
    const char *start = lx->cur, *p = start;
    bool negative = false;

    if (*p == '+' || *p == '-')
        negative = *p++ == '-';
    if (starts_with(lx, p, "inf") || starts_with(lx, p, "nan")) {
        v->type = TOML_FLOAT;
        v->u.flt = *p == 'i' ? INFINITY : NAN;
        if (negative)
            v->u.flt = -v->u.flt;
        return lex_check_value_end(lx, start, p + 3, "float");
    }
    if (p + 1 < lx->end && p[0] == '0' && (p[1] == 'x' || p[1] == 'o' || p[1] == 'b')) {
        if (p != start)
            return toml_lex_fail(lx, start,
                                 "a sign is not allowed on hexadecimal, octal or binary integers");
        return lex_radix_integer(lx, v);
    }

    const char *int_part = p;
    if (lex_digits(lx, &p, 10, "in the number") < 0)
        return -1;
    if (*int_part == '0' && p - int_part > 1)
        return toml_lex_fail(lx, int_part, "leading zeros are not allowed in \"%.*s\"",
                             (int)(p - start), start);
    bool is_float = false;
    if (p < lx->end && *p == '.') {
        is_float = true;
        p++;
        if (lex_digits(lx, &p, 10, "after the decimal point") < 0)
            return -1;
    }
    if (p < lx->end && (*p == 'e' || *p == 'E')) {
        is_float = true;
        p++;
        if (p < lx->end && (*p == '+' || *p == '-'))
            p++;
        if (lex_digits(lx, &p, 10, "in the exponent") < 0)
            return -1;
    }

    if (is_float) {
        if (lex_float_text(lx, v, start, p) < 0)
            return -1;
        return lex_check_value_end(lx, start, p, "float");
    }
    uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t mag;
    if (!digits_to_u64(int_part, p, 10, limit, &mag))
        return toml_lex_fail(lx, start,
                             "integer %.*s does not fit in 64 bits (-9223372036854775808 to "
                             "9223372036854775807)",
                             (int)(p - start), start);
    v->type = TOML_INTEGER;
    if (!negative)
        v->u.integer = (int64_t)mag;
    else /* INT64_MIN has no positive counterpart */
        v->u.integer = mag > (uint64_t)INT64_MAX ? INT64_MIN : -(int64_t)mag;
    return lex_check_value_end(lx, start, p, "integer");
}

/* ---- dates and times ---------------------------------------------------------------------- */

static bool digits_at(const struct toml_lexer *lx, const char *p, size_t n)
{
    if ((size_t)(lx->end - p) < n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_digit(p[i]))
            return false;
    return true;
}

/* Exactly two digits at *pp, at most `max`. */
static int lex_two_digits(struct toml_lexer *lx, const char **pp, int max, const char *what,
                          int *out)
{
    const char *p = *pp;
    if (!digits_at(lx, p, 2))
        return toml_lex_unexpected(lx, p < lx->end && is_digit(*p) ? p + 1 : p,
                                   "two digits for the %s", what);
    int n = (p[0] - '0') * 10 + (p[1] - '0');
    if (n > max)
        return toml_lex_fail(lx, p, "%s %02d is out of range (at most %02d)", what, n, max);
    *out = n;
    *pp = p + 2;
    return 0;
}

static int lex_expect_char(struct toml_lexer *lx, const char **pp, char c, const char *why)
{
    if (*pp >= lx->end || **pp != c)
        return toml_lex_unexpected(lx, *pp, "'%c' %s", c, why);
    (*pp)++;
    return 0;
}

static int days_in_month(int year, int month)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

/* HH:MM:SS[.fraction]; seconds are required in TOML 1.0. */
static int lex_time(struct toml_lexer *lx, const char **pp, struct toml_datetime *dt)
{
    if (lex_two_digits(lx, pp, 23, "hour", &dt->hour) < 0 ||
        lex_expect_char(lx, pp, ':', "between hour and minute") < 0 ||
        lex_two_digits(lx, pp, 59, "minute", &dt->minute) < 0 ||
        lex_expect_char(lx, pp, ':', "and seconds (TOML 1.0 requires seconds)") < 0 ||
        lex_two_digits(lx, pp, 60, "second", &dt->second) < 0) /* 60: RFC 3339 leap second */
        return -1;
    const char *p = *pp;
    if (p < lx->end && *p == '.') {
        p++;
        if (!digits_at(lx, p, 1))
            return toml_lex_unexpected(lx, p, "a digit after '.' in the seconds");
        int scale = 100000000;
        for (; p < lx->end && is_digit(*p); p++) {
            dt->nanosecond += (*p - '0') * scale; /* digits past nanoseconds are dropped */
            scale /= 10;
        }
    }
    *pp = p;
    return 0;
}

/* Z or +HH:MM / -HH:MM after the time of an offset date-time. */
static int lex_offset(struct toml_lexer *lx, const char **pp, struct toml_datetime *dt)
{
    const char *p = *pp;
    if (*p == 'Z' || *p == 'z') {
        dt->offset_z = true;
        *pp = p + 1;
        return 0;
    }
    int sign = *p++ == '-' ? -1 : 1, hours, minutes;
    if (lex_two_digits(lx, &p, 23, "offset hour", &hours) < 0 ||
        lex_expect_char(lx, &p, ':', "between offset hour and minute") < 0 ||
        lex_two_digits(lx, &p, 59, "offset minute", &minutes) < 0)
        return -1;
    dt->offset_minutes = sign * (hours * 60 + minutes);
    *pp = p;
    return 0;
}

/* Local date, local date-time or offset date-time at cur (which starts "YYYY-"). */
static int lex_date(struct toml_lexer *lx, struct toml_value *v)
{
    const char *start = lx->cur, *p = start + 5;
    struct toml_datetime *dt = &v->u.datetime;

    dt->year =
        (start[0] - '0') * 1000 + (start[1] - '0') * 100 + (start[2] - '0') * 10 + (start[3] - '0');
    if (lex_two_digits(lx, &p, 99, "month", &dt->month) < 0 ||
        lex_expect_char(lx, &p, '-', "between month and day") < 0 ||
        lex_two_digits(lx, &p, 99, "day", &dt->day) < 0)
        return -1;
    if (dt->month < 1 || dt->month > 12)
        return toml_lex_fail(lx, start + 5, "month %02d is out of range (01 to 12)", dt->month);
    if (dt->day < 1 || dt->day > days_in_month(dt->year, dt->month))
        return toml_lex_fail(lx, start + 8, "day %02d is out of range for %04d-%02d (01 to %02d)",
                             dt->day, dt->year, dt->month, days_in_month(dt->year, dt->month));

    /* The time follows a 'T' (any case) or a single space that is followed by digits. */
    bool has_time = p < lx->end && (*p == 'T' || *p == 't');
    if (!has_time && p < lx->end && *p == ' ' && digits_at(lx, p + 1, 2))
        has_time = true;
    if (!has_time) {
        v->type = TOML_DATE_LOCAL;
        return lex_check_value_end(lx, start, p, "date");
    }
    p++;
    if (lex_time(lx, &p, dt) < 0)
        return -1;
    v->type = TOML_DATETIME_LOCAL;
    if (p < lx->end && (*p == 'Z' || *p == 'z' || *p == '+' || *p == '-')) {
        v->type = TOML_DATETIME;
        if (lex_offset(lx, &p, dt) < 0)
            return -1;
    }
    return lex_check_value_end(lx, start, p, "date-time");
}

static int lex_local_time(struct toml_lexer *lx, struct toml_value *v)
{
    const char *start = lx->cur, *p = start;
    if (lex_time(lx, &p, &v->u.datetime) < 0)
        return -1;
    v->type = TOML_TIME_LOCAL;
    return lex_check_value_end(lx, start, p, "time");
}

/* ---- scalar values ------------------------------------------------------------------------ */

/* A bare word that is no value: quote it back to the user ("strings must be quoted"). */
static int fail_bare_word(struct toml_lexer *lx)
{
    const char *p = lx->cur;
    while (p < lx->end && (is_bare_key_char(*p) || *p == '.' || *p == '+' || *p == ':'))
        p++;
    if (p == lx->cur)
        return toml_lex_unexpected(lx, lx->cur,
                                   "a value (string, number, boolean, date/time, array or "
                                   "inline table)");
    return toml_lex_fail(lx, lx->cur,
                         "invalid value \"%.*s\", expected a string (in quotes), number, boolean, "
                         "date/time, array or inline table",
                         (int)(p - lx->cur), lx->cur);
}

/* `word` at p as a whole word ("true", not "trueish"). */
static bool word_at(const struct toml_lexer *lx, const char *p, const char *word)
{
    size_t n = strlen(word);
    return starts_with(lx, p, word) && (p + n >= lx->end || !is_bare_key_char(p[n]));
}

static int lex_bool(struct toml_lexer *lx, struct toml_value *v)
{
    bool value = *lx->cur == 't';
    const char *word = value ? "true" : "false";
    if (!word_at(lx, lx->cur, word))
        return fail_bare_word(lx);
    v->type = TOML_BOOL;
    v->u.boolean = value;
    return lex_check_value_end(lx, lx->cur, lx->cur + strlen(word), "boolean");
}

int toml_lex_scalar(struct toml_lexer *lx, struct toml_value *v)
{
    const char *p = lx->cur;

    v->pos = toml_lex_pos(lx, p);
    if (p >= lx->end || at_newline(lx, p))
        return toml_lex_unexpected(lx, p, "a value");
    switch (*p) {
    case '"':
    case '\'': {
        struct buf b = {0};
        if (lex_string(lx, &b) < 0) {
            free(b.ptr);
            return -1;
        }
        v->type = TOML_STRING;
        v->u.string.ptr = b.ptr ? b.ptr : xstrdup("");
        v->u.string.len = b.len;
        return 0;
    }
    case 't':
    case 'f':
        return lex_bool(lx, v);
    case 'i':
    case 'n':
        if (!word_at(lx, p, "inf") && !word_at(lx, p, "nan"))
            return fail_bare_word(lx);
        return lex_number(lx, v);
    case '+':
    case '-':
        return lex_number(lx, v);
    }
    if (!is_digit(*p))
        return fail_bare_word(lx);
    if (digits_at(lx, p, 4) && p + 4 < lx->end && p[4] == '-')
        return lex_date(lx, v);
    if (digits_at(lx, p, 2) && p + 2 < lx->end && p[2] == ':')
        return lex_local_time(lx, v);
    return lex_number(lx, v);
}
