/* TOML 1.0.0 parser.
 *
 * toml_parse() turns a whole document into a tree of toml_value nodes in one pass, checking every
 * rule of the 1.0.0 specification (syntax, UTF-8, redefinitions). Every key and value remembers
 * where it was written so that callers can report configuration mistakes as `file:line:col`.
 * The tree is read-only for callers and released with toml_free(). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"

/* Deepest nesting accepted (tables, arrays and inline tables all count); hostile input cannot
 * make the parser or toml_free() recurse deeper than this. */
#define TOML_MAX_DEPTH 128

enum toml_type {
    TOML_STRING,
    TOML_INTEGER,
    TOML_FLOAT,
    TOML_BOOL,
    TOML_DATETIME, /* offset date-time */
    TOML_DATETIME_LOCAL,
    TOML_DATE_LOCAL,
    TOML_TIME_LOCAL,
    TOML_ARRAY,
    TOML_TABLE,
};

/* 1-based; col counts bytes from the start of the line (a leading BOM is not counted). */
struct toml_pos {
    int line, col;
};

/* Fields not used by a kind are 0 (a local date has no time, a local time no date). */
struct toml_datetime {
    int year, month, day;
    int hour, minute, second, nanosecond;
    int offset_minutes; /* TOML_DATETIME only: east of UTC; Z = 0 */
    bool offset_z;      /* TOML_DATETIME only: the offset was written as Z */
};

struct toml_value;

struct toml_keyval {
    char *key; /* NUL-terminated; a quoted key may also contain NUL bytes, see key_len */
    size_t key_len;
    struct toml_pos key_pos; /* where the key (its segment of a dotted key or header) is written */
    struct toml_value *value;
};

struct toml_value {
    enum toml_type type;
    /* Where the value starts; for a table, its [header] (the '[') or the first key defining it;
     * for an array of tables, its first [[header]]. The root table is at 1:1. */
    struct toml_pos pos;
    union {
        struct {
            char *ptr; /* NUL-terminated too; may contain NUL bytes */
            size_t len;
        } string;
        int64_t integer;
        double flt;
        bool boolean;
        struct toml_datetime datetime; /* the four date/time types */
        struct {
            struct toml_value **items;
            size_t len;
        } array;
        struct {
            struct toml_keyval *items; /* keys in document order */
            size_t len;
        } table;
    } u;
};

/* Parses a whole document of `len` bytes (need not be NUL-terminated). Returns the root table, or
 * NULL with `err` set (GRPC_INVALID_ARGUMENT, "line L, column C: ..."). */
struct toml_value *toml_parse(const char *data, size_t len, struct error *err);

/* Releases a tree returned by toml_parse(); NULL is fine. */
void toml_free(struct toml_value *v);

/* The value of `key` in `table`, or NULL if absent (or if `table` is NULL or not a table).
 * Lookups are hashed for big tables. */
const struct toml_value *toml_table_get(const struct toml_value *table, const char *key);

/* Like toml_table_get for keys that may contain NUL bytes. */
const struct toml_value *toml_table_getn(const struct toml_value *table, const char *key,
                                         size_t key_len);

/* "string", "integer", "float", "boolean", "offset date-time", "local date-time", "local date",
 * "local time", "array", "table" */
const char *toml_type_name(enum toml_type t);
