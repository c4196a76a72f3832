/* Private to the TOML parser (lib/toml.c): the lexer that reads keys, scalar values, whitespace,
 * comments and newlines, keeps track of lines for positions, and formats error messages.
 * Structure (tables, arrays, inline tables, redefinition rules) lives in toml.c.
 *
 * The lexer is split in three: toml-lex.c (positions, messages, UTF-8 check, character classes,
 * whitespace, comments, newlines), toml-lex-string.c (strings and keys) and toml-lex-scalar.c
 * (numbers, booleans, dates and times). The last part of this header is shared between them. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "lib/buf.h"
#include "lib/error.h"
#include "lib/toml.h"

struct toml_lexer {
    const char *begin;      /* first byte of the document, after a BOM */
    const char *cur;        /* next byte to read */
    const char *end;        /* one past the last byte */
    int line;               /* line number of line_start */
    const char *line_start; /* first byte of the line holding `cur` */
    struct error *err;
};

void toml_lex_init(struct toml_lexer *lx, const char *data, size_t len, struct error *err);

/* Position of `at`, which must not lie after a newline the lexer has not consumed yet. */
struct toml_pos toml_lex_pos(const struct toml_lexer *lx, const char *at);

/* Sets the error "line L, column C: <message>" for `at`; returns -1. */
int toml_lex_fail(struct toml_lexer *lx, const char *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sets "line L, column C: unexpected <what is at `at`>, expected <message>"; returns -1. */
int toml_lex_unexpected(struct toml_lexer *lx, const char *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* `s` quoted for a message, with control characters, quotes and backslashes escaped. */
char *toml_lex_quote(const char *s, size_t len);

/* Rejects invalid UTF-8 anywhere in the document (overlong forms, surrogates, > U+10FFFF). */
int toml_lex_check_utf8(struct toml_lexer *lx);

bool toml_lex_eof(const struct toml_lexer *lx);
void toml_lex_skip_ws(struct toml_lexer *lx);

/* At a newline (LF or CRLF) or at the end of the input. */
bool toml_lex_at_line_end(const struct toml_lexer *lx);

/* Skips an optional comment, then requires the end of the line (consumed) or of the input.
 * `after` names what came before, for the message ("after the value"). */
int toml_lex_end_of_line(struct toml_lexer *lx, const char *after);

/* Skips whitespace, comments and newlines (between array elements, between lines). */
int toml_lex_skip_blank(struct toml_lexer *lx);

/* Reads one key segment (bare, "basic" or 'literal') into a new NUL-terminated string. */
int toml_lex_key(struct toml_lexer *lx, char **key, size_t *key_len);

/* Reads a string, number, boolean or date/time into `v` (type, pos and u filled); anything else
 * is an error ("expected a value"). Arrays and inline tables are the caller's. */
int toml_lex_scalar(struct toml_lexer *lx, struct toml_value *v);

/* ---- shared between the lexer's files (toml-lex*.c); the parser does not call these ---------- */

/* Names the character at `at` for messages ("end of input", "newline", "'x'", ...), using `buf`
 * when it needs formatting. */
const char *toml_lex_describe(const struct toml_lexer *lx, const char *at, char buf[static 32]);

bool toml_lex_is_digit(char c);

/* Value of a hexadecimal digit, or -1. */
int toml_lex_hex_value(char c);

bool toml_lex_is_bare_key_char(char c);

/* Control characters TOML forbids in comments and strings (tab is allowed). */
bool toml_lex_is_forbidden_control(char ch);

/* LF or CRLF at `p`. */
bool toml_lex_at_newline(const struct toml_lexer *lx, const char *p);

/* Consumes LF or CRLF and starts a new line; false if there is none at cur. */
bool toml_lex_take_newline(struct toml_lexer *lx);

/* Any string at cur (which is a quote), appended to `b`. */
int toml_lex_string(struct toml_lexer *lx, struct buf *b);
