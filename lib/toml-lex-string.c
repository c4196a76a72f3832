/* The TOML lexer's strings: "basic", 'literal' and their multi-line forms with escapes, and keys
 * (bare or quoted). Same rules as in toml-lex.c: every function reads at lx->cur and leaves it
 * after what it consumed; newlines go through toml_lex_take_newline(). */
#include "lib/toml-lex.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"

/* ---- strings ------------------------------------------------------------------------------ */

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
                         toml_lex_describe(lx, lx->cur, what));
}

/* \uXXXX or \UXXXXXXXX at cur (the backslash): must be a Unicode scalar value. */
static int lex_unicode_escape(struct toml_lexer *lx, struct buf *b, int ndigits)
{
    const char *esc = lx->cur;
    const char *hex = esc + 2;
    uint32_t cp = 0;
    for (int i = 0; i < ndigits; i++) {
        int d = hex + i < lx->end ? toml_lex_hex_value(hex[i]) : -1;
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
    if (!toml_lex_take_newline(lx))
        return toml_lex_unexpected(lx, lx->cur,
                                   "only whitespace after a line-ending backslash (write \\\\ "
                                   "for a backslash)");
    do
        toml_lex_skip_ws(lx);
    while (toml_lex_take_newline(lx));
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
        toml_lex_describe(lx, esc + 1, what));
}

/* Appends the run of bytes at cur that need no special handling in a string delimited by
 * `quote` (also stopping at backslashes when `escapes`). */
static void lex_plain_run(struct toml_lexer *lx, struct buf *b, char quote, bool escapes)
{
    const char *run = lx->cur;
    while (lx->cur < lx->end) {
        char c = *lx->cur;
        if (c == quote || (escapes && c == '\\') || toml_lex_is_forbidden_control(c))
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
        if (toml_lex_at_newline(lx, lx->cur))
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
    toml_lex_take_newline(lx); /* a newline right after the opening delimiter is trimmed */
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
        if (toml_lex_take_newline(lx)) {
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
int toml_lex_string(struct toml_lexer *lx, struct buf *b)
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
    while (lx->cur < lx->end && toml_lex_is_bare_key_char(*lx->cur))
        lx->cur++;
    if (lx->cur == start)
        return toml_lex_unexpected(lx, start, "a key (letters, digits, '-', '_' or a quoted key)");
    *key_len = (size_t)(lx->cur - start);
    *key = xstrndup(start, *key_len);
    return 0;
}
