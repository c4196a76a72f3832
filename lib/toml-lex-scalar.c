/* The TOML lexer's scalar values other than strings: integers, floats, booleans, dates and times,
 * and toml_lex_scalar(), which dispatches on the first character (strings go to
 * toml-lex-string.c). Same rules as in toml-lex.c: every function reads at lx->cur and leaves it
 * after what it consumed. */
#include "lib/toml-lex.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/xalloc.h"

/* ---- numbers ------------------------------------------------------------------------------- */

static bool is_radix_digit(char c, int radix)
{
    if (radix == 16)
        return toml_lex_hex_value(c) >= 0;
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
    if (p < lx->end && (toml_lex_is_bare_key_char(*p) || *p == '.' || *p == '+' || *p == ':')) {
        char what[32];
        return toml_lex_fail(lx, p, "unexpected %s after the %s \"%.*s\"",
                             toml_lex_describe(lx, p, what), kind, (int)(p - start), start);
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
        uint64_t d = (uint64_t)toml_lex_hex_value(*p);
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
        if (!toml_lex_is_digit(p[i]))
            return false;
    return true;
}

/* Exactly two digits at *pp, at most `max`. */
static int lex_two_digits(struct toml_lexer *lx, const char **pp, int max, const char *what,
                          int *out)
{
    const char *p = *pp;
    if (!digits_at(lx, p, 2))
        return toml_lex_unexpected(lx, p < lx->end && toml_lex_is_digit(*p) ? p + 1 : p,
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
        for (; p < lx->end && toml_lex_is_digit(*p); p++) {
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
    while (p < lx->end && (toml_lex_is_bare_key_char(*p) || *p == '.' || *p == '+' || *p == ':'))
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
    return starts_with(lx, p, word) && (p + n >= lx->end || !toml_lex_is_bare_key_char(p[n]));
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
    if (p >= lx->end || toml_lex_at_newline(lx, p))
        return toml_lex_unexpected(lx, p, "a value");
    switch (*p) {
    case '"':
    case '\'': {
        struct buf b = {0};
        if (toml_lex_string(lx, &b) < 0) {
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
    if (!toml_lex_is_digit(*p))
        return fail_bare_word(lx);
    if (digits_at(lx, p, 4) && p + 4 < lx->end && p[4] == '-')
        return lex_date(lx, v);
    if (digits_at(lx, p, 2) && p + 2 < lx->end && p[2] == ':')
        return lex_local_time(lx, v);
    return lex_number(lx, v);
}
