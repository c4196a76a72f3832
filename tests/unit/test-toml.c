/* Unit tests of the TOML parser (lib/toml.c): the toml-test conformance suite for TOML 1.0.0,
 * positions, error messages, limits and the lookup API.
 *
 * TOML_TEST_DIR must name the suite's data folder (shared/reference/toml-test). */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/fs.h"
#include "lib/cleanup.h"
#include "lib/error.h"
#include "lib/toml.h"
#include "lib/xalloc.h"

DEFINE_CLEANUP_FUNC(struct toml_value *, toml_free)

/* ---- helpers ----------------------------------------------------------------------------- */

static char *read_file(const char *path, size_t *len)
{
    char *buf = NULL;
    return fs_read_file(path, 16u << 20, &buf, len, NULL) == 0 ? buf : NULL;
}

/* Parses a NUL-terminated document; on failure the message is left in *msg. */
static struct toml_value *parse(const char *doc, char **msg)
{
    struct error err = ERROR_INIT;
    struct toml_value *v = toml_parse(doc, strlen(doc), &err);
    if (msg)
        *msg = err.msg ? xstrdup(err.msg) : NULL;
    error_clear(&err);
    return v;
}

/* The parse must fail with a message containing both fragments (frag2 may be NULL). */
static void assert_error(const char *doc, const char *frag1, const char *frag2)
{
    _cleanup_free_ char *msg = NULL;
    _cleanup_(toml_freep) struct toml_value *v = parse(doc, &msg);
    ck_assert_msg(v == NULL, "accepted: %s", doc);
    ck_assert_ptr_nonnull(msg);
    ck_assert_msg(strstr(msg, frag1), "message \"%s\" lacks \"%s\"", msg, frag1);
    if (frag2)
        ck_assert_msg(strstr(msg, frag2), "message \"%s\" lacks \"%s\"", msg, frag2);
}

#define assert_pos(p, l, c)                                                                        \
    do {                                                                                           \
        struct toml_pos p_ = (p);                                                                  \
        ck_assert_msg(p_.line == (l) && p_.col == (c), "%s is %d:%d, expected %d:%d", #p, p_.line, \
                      p_.col, (l), (c));                                                           \
    } while (0)

/* ---- TOML to tagged JSON ----------------------------------------------------------------- */

/* jansson cannot hold NUL bytes in object keys, which the suite uses (key "\u0000"). Keys on
 * both sides are therefore stored escaped the same injective way: '\' as "\\", NUL as "\0". */
static char *escape_key(const char *key, size_t len, size_t *out_len)
{
    char *out = xmalloc(2 * len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (key[i] == '\\' || key[i] == '\0') {
            out[n++] = '\\';
            out[n++] = key[i] ? '\\' : '0';
        } else {
            out[n++] = key[i];
        }
    }
    out[n] = '\0';
    *out_len = n;
    return out;
}

static void format_datetime(const struct toml_value *v, char buf[static 64])
{
    const struct toml_datetime *dt = &v->u.datetime;
    size_t n = 0;
    if (v->type != TOML_TIME_LOCAL)
        n += (size_t)snprintf(buf + n, 64 - n, "%04d-%02d-%02d", dt->year, dt->month, dt->day);
    if (v->type == TOML_DATE_LOCAL)
        return;
    if (v->type != TOML_TIME_LOCAL)
        buf[n++] = 'T';
    n += (size_t)snprintf(buf + n, 64 - n, "%02d:%02d:%02d", dt->hour, dt->minute, dt->second);
    if (dt->nanosecond)
        n += (size_t)snprintf(buf + n, 64 - n, ".%09d", dt->nanosecond);
    if (v->type != TOML_DATETIME)
        return;
    if (dt->offset_z) {
        snprintf(buf + n, 64 - n, "Z");
    } else {
        int off = abs(dt->offset_minutes);
        snprintf(buf + n, 64 - n, "%c%02d:%02d", dt->offset_minutes < 0 ? '-' : '+', off / 60,
                 off % 60);
    }
}

static json_t *tagged(const char *type, const char *value)
{
    return json_pack("{s:s, s:s}", "type", type, "value", value);
}

static json_t *toml_to_json(const struct toml_value *v)
{
    char buf[64];
    switch (v->type) {
    case TOML_TABLE: {
        json_t *obj = json_object();
        for (size_t i = 0; i < v->u.table.len; i++) {
            const struct toml_keyval *kv = &v->u.table.items[i];
            size_t len;
            _cleanup_free_ char *key = escape_key(kv->key, kv->key_len, &len);
            json_object_setn_new(obj, key, len, toml_to_json(kv->value));
        }
        return obj;
    }
    case TOML_ARRAY: {
        json_t *arr = json_array();
        for (size_t i = 0; i < v->u.array.len; i++)
            json_array_append_new(arr, toml_to_json(v->u.array.items[i]));
        return arr;
    }
    case TOML_STRING:
        return json_pack("{s:s, s:s#}", "type", "string", "value", v->u.string.ptr,
                         (int)v->u.string.len);
    case TOML_INTEGER:
        snprintf(buf, sizeof(buf), "%" PRId64, v->u.integer);
        return tagged("integer", buf);
    case TOML_FLOAT:
        if (isnan(v->u.flt))
            snprintf(buf, sizeof(buf), "nan");
        else if (isinf(v->u.flt))
            snprintf(buf, sizeof(buf), "%sinf", v->u.flt < 0 ? "-" : "");
        else
            snprintf(buf, sizeof(buf), "%.17g", v->u.flt);
        return tagged("float", buf);
    case TOML_BOOL:
        return tagged("bool", v->u.boolean ? "true" : "false");
    case TOML_DATETIME:
        format_datetime(v, buf);
        return tagged("datetime", buf);
    case TOML_DATETIME_LOCAL:
        format_datetime(v, buf);
        return tagged("datetime-local", buf);
    case TOML_DATE_LOCAL:
        format_datetime(v, buf);
        return tagged("date-local", buf);
    case TOML_TIME_LOCAL:
        format_datetime(v, buf);
        return tagged("time-local", buf);
    }
    return json_null();
}

/* Copies the JSON string token text[i..end] (quotes included) to out, escaping a key's
 * contents like escape_key(): "\\" (or \u005c) becomes two backslashes, \u0000 becomes "\0". */
static size_t copy_key_token(const char *text, size_t i, size_t end, char *out)
{
    size_t n = 0;
    while (i <= end) {
        if (text[i] != '\\' || i == end) {
            out[n++] = text[i++];
        } else if (text[i + 1] == '\\' || strncasecmp(text + i, "\\u005c", 6) == 0) {
            memcpy(out + n, "\\\\\\\\", 4);
            n += 4;
            i += text[i + 1] == '\\' ? 2 : 6;
        } else if (strncmp(text + i, "\\u0000", 6) == 0) {
            memcpy(out + n, "\\\\0", 3);
            n += 3;
            i += 6;
        } else {
            out[n++] = text[i++];
            out[n++] = text[i++];
        }
    }
    return n;
}

/* Loads an expected .json file with its object keys escaped as escape_key() does. */
static json_t *load_expected(const char *path, char *why, size_t why_len)
{
    size_t len;
    _cleanup_free_ char *text = read_file(path, &len);
    if (!text) {
        snprintf(why, why_len, "cannot read %s", path);
        return NULL;
    }
    _cleanup_free_ char *out = xmalloc(2 * len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        if (text[i] != '"') {
            out[n++] = text[i++];
            continue;
        }
        size_t end = i + 1; /* the closing quote */
        while (end < len && text[end] != '"')
            end += text[end] == '\\' ? 2 : 1;
        if (end >= len) {
            snprintf(why, why_len, "%s: unterminated string", path);
            return NULL;
        }
        size_t after = end + 1;
        while (after < len && strchr(" \t\r\n", text[after]))
            after++;
        if (after < len && text[after] == ':') {
            n += copy_key_token(text, i, end, out + n);
        } else {
            memcpy(out + n, text + i, end + 1 - i);
            n += end + 1 - i;
        }
        i = end + 1;
    }
    json_error_t jerr;
    json_t *j = json_loadb(out, n, JSON_ALLOW_NUL, &jerr);
    if (!j)
        snprintf(why, why_len, "%s:%d: %s", path, jerr.line, jerr.text);
    return j;
}

/* ---- comparing tagged JSON by meaning ---------------------------------------------------- */

struct when {
    int year, month, day, hour, minute, second;
    long nanos;
    int offset_minutes;
    bool has_date, has_time, has_offset;
};

/* Reads an RFC 3339 date, time or date-time as the suite writes it (also with ' ', 't', 'z'). */
static bool parse_when(const char *s, struct when *w)
{
    *w = (struct when){0};
    int n = 0;
    if (sscanf(s, "%4d-%2d-%2d%n", &w->year, &w->month, &w->day, &n) == 3 && n == 10) {
        w->has_date = true;
        s += n;
        if (!*s)
            return true;
        if (!strchr("Tt ", *s))
            return false;
        s++;
    }
    n = 0;
    if (sscanf(s, "%2d:%2d:%2d%n", &w->hour, &w->minute, &w->second, &n) != 3 || n != 8)
        return false;
    w->has_time = true;
    s += n;
    if (*s == '.') {
        long scale = 100000000;
        for (s++; *s >= '0' && *s <= '9'; s++, scale /= 10)
            w->nanos += (*s - '0') * scale;
    }
    if (!*s)
        return true;
    w->has_offset = true;
    if (*s == 'Z' || *s == 'z')
        return s[1] == '\0';
    int oh, om;
    n = 0;
    if ((*s != '+' && *s != '-') || sscanf(s + 1, "%2d:%2d%n", &oh, &om, &n) != 2 || s[1 + n])
        return false;
    w->offset_minutes = (*s == '-' ? -1 : 1) * (oh * 60 + om);
    return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static long days_from_civil(long y, long m, long d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static long epoch_seconds(const struct when *w)
{
    return days_from_civil(w->year, w->month, w->day) * 86400 + w->hour * 3600L + w->minute * 60L +
           w->second - w->offset_minutes * 60L;
}

/* Offset date-times are equal as instants, the local kinds field by field. */
static bool when_equal(const char *type, const char *got, const char *want)
{
    struct when g, w;
    if (!parse_when(got, &g) || !parse_when(want, &w))
        return false;
    if (g.has_date != w.has_date || g.has_time != w.has_time || g.has_offset != w.has_offset)
        return false;
    if (strcmp(type, "datetime") == 0)
        return epoch_seconds(&g) == epoch_seconds(&w) && g.nanos == w.nanos;
    return g.year == w.year && g.month == w.month && g.day == w.day && g.hour == w.hour &&
           g.minute == w.minute && g.second == w.second && g.nanos == w.nanos;
}

static bool parse_int64(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    *out = v;
    return errno == 0 && end != s && *end == '\0';
}

static bool scalar_equal(const char *type, const char *got, size_t got_len, const char *want,
                         size_t want_len)
{
    if (strcmp(type, "string") == 0)
        return got_len == want_len && memcmp(got, want, got_len) == 0;
    if (strcmp(type, "integer") == 0) {
        int64_t g, w;
        return parse_int64(got, &g) && parse_int64(want, &w) && g == w;
    }
    if (strcmp(type, "float") == 0) {
        double g = strtod(got, NULL), w = strtod(want, NULL);
        if (isnan(w) || isnan(g))
            return isnan(w) && isnan(g);
        return g == w && signbit(g) == signbit(w); /* stricter than upstream: -0 is not 0 */
    }
    if (strcmp(type, "bool") == 0)
        return strcmp(got, want) == 0;
    if (strcmp(type, "datetime") == 0 || strcmp(type, "datetime-local") == 0 ||
        strcmp(type, "date-local") == 0 || strcmp(type, "time-local") == 0)
        return when_equal(type, got, want);
    return false;
}

static bool is_tagged_value(json_t *j)
{
    return json_is_object(j) && json_object_size(j) == 2 &&
           json_is_string(json_object_get(j, "type")) &&
           json_is_string(json_object_get(j, "value"));
}

static bool value_same(json_t *got, json_t *want, const char *path, char *why, size_t why_len)
{
    const char *wt = json_string_value(json_object_get(want, "type"));
    if (!is_tagged_value(got)) {
        snprintf(why, why_len, "%s: expected a %s value", path, wt);
        return false;
    }
    const char *gt = json_string_value(json_object_get(got, "type"));
    json_t *gv = json_object_get(got, "value"), *wv = json_object_get(want, "value");
    if (strcmp(gt, wt) == 0 && scalar_equal(wt, json_string_value(gv), json_string_length(gv),
                                            json_string_value(wv), json_string_length(wv)))
        return true;
    snprintf(why, why_len, "%s: got %s \"%s\", expected %s \"%s\"", path, gt, json_string_value(gv),
             wt, json_string_value(wv));
    return false;
}

/* Equal as documents; on a difference `why` tells where. */
static bool json_same(json_t *got, json_t *want, const char *path, char *why, size_t why_len)
{
    if (is_tagged_value(want))
        return value_same(got, want, path, why, why_len);
    if (json_is_array(want)) {
        if (!json_is_array(got) || json_array_size(got) != json_array_size(want)) {
            snprintf(why, why_len, "%s: expected an array of %zu", path, json_array_size(want));
            return false;
        }
        for (size_t i = 0; i < json_array_size(want); i++) {
            _cleanup_free_ char *sub = xasprintf("%s[%zu]", path, i);
            if (!json_same(json_array_get(got, i), json_array_get(want, i), sub, why, why_len))
                return false;
        }
        return true;
    }
    if (!json_is_object(want) || !json_is_object(got) || is_tagged_value(got) ||
        json_object_size(got) != json_object_size(want)) {
        snprintf(why, why_len, "%s: expected a table of %zu keys, got %zu", path,
                 json_object_size(want), json_is_object(got) ? json_object_size(got) : 0);
        return false;
    }
    const char *key;
    size_t key_len;
    json_t *wv;
    json_object_keylen_foreach(want, key, key_len, wv)
    {
        _cleanup_free_ char *sub = xasprintf("%s.%s", path, key);
        json_t *gv = json_object_getn(got, key, key_len);
        if (!gv) {
            snprintf(why, why_len, "%s: missing", sub);
            return false;
        }
        if (!json_same(gv, wv, sub, why, why_len))
            return false;
    }
    return true;
}

/* ---- conformance ------------------------------------------------------------------------- */

static bool run_valid(const char *dir, const char *name, char *why, size_t why_len)
{
    _cleanup_free_ char *toml_path = xasprintf("%s/%s", dir, name);
    _cleanup_free_ char *json_path =
        xasprintf("%.*s.json", (int)(strlen(toml_path) - 5), toml_path);
    size_t len;
    _cleanup_free_ char *doc = read_file(toml_path, &len);
    if (!doc) {
        snprintf(why, why_len, "cannot read %s", toml_path);
        return false;
    }
    _cleanup_(json_decrefp) json_t *want = load_expected(json_path, why, why_len);
    if (!want)
        return false;
    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    _cleanup_(toml_freep) struct toml_value *v = toml_parse(doc, len, &err);
    if (!v) {
        snprintf(why, why_len, "rejected: %s", err.msg);
        return false;
    }
    _cleanup_(json_decrefp) json_t *got = toml_to_json(v);
    return json_same(got, want, "", why, why_len);
}

static bool run_invalid(const char *dir, const char *name, char *why, size_t why_len)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
    size_t len;
    _cleanup_free_ char *doc = read_file(path, &len);
    if (!doc) {
        snprintf(why, why_len, "cannot read %s", path);
        return false;
    }
    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    _cleanup_(toml_freep) struct toml_value *v = toml_parse(doc, len, &err);
    if (v) {
        snprintf(why, why_len, "accepted");
        return false;
    }
    if (!err.msg || strncmp(err.msg, "line ", 5) != 0 || err.code != GRPC_INVALID_ARGUMENT) {
        snprintf(why, why_len, "rejected without a positioned message: %s",
                 err.msg ? err.msg : "(none)");
        return false;
    }
    return true;
}

START_TEST(test_conformance_1_0_0)
{
    const char *dir = getenv("TOML_TEST_DIR");
    ck_assert_msg(dir && *dir, "TOML_TEST_DIR is not set; it must name shared/reference/toml-test");
    _cleanup_free_ char *list_path = xasprintf("%s/files-toml-1.0.0", dir);
    _cleanup_fclose_ FILE *list = fopen(list_path, "r");
    ck_assert_msg(list, "cannot open %s: %s", list_path, strerror(errno));

    int valid = 0, valid_ok = 0, invalid = 0, invalid_ok = 0;
    char line[1024], why[1024];
    while (fgets(line, sizeof(line), list)) {
        line[strcspn(line, "\r\n")] = '\0';
        size_t len = strlen(line);
        if (len < 5 || strcmp(line + len - 5, ".toml") != 0)
            continue; /* the .json of a valid test is read with its .toml */
        bool ok;
        why[0] = '\0';
        if (strncmp(line, "valid/", 6) == 0) {
            valid++;
            ok = run_valid(dir, line, why, sizeof(why));
            valid_ok += ok;
        } else {
            invalid++;
            ok = run_invalid(dir, line, why, sizeof(why));
            invalid_ok += ok;
        }
        if (!ok)
            printf("# FAIL %s: %s\n", line, why);
    }
    printf("# toml-test 1.0.0: valid %d/%d passed, invalid %d/%d rejected\n", valid_ok, valid,
           invalid_ok, invalid);
    fflush(stdout);
    ck_assert_int_eq(valid, 210);
    ck_assert_int_eq(invalid, 499);
    ck_assert_int_eq(valid_ok, valid);
    ck_assert_int_eq(invalid_ok, invalid);
}
END_TEST

/* ---- API --------------------------------------------------------------------------------- */

static const struct toml_keyval *find_kv(const struct toml_value *t, const char *key)
{
    ck_assert_int_eq(t->type, TOML_TABLE);
    for (size_t i = 0; i < t->u.table.len; i++)
        if (strcmp(t->u.table.items[i].key, key) == 0)
            return &t->u.table.items[i];
    ck_abort_msg("no key %s", key);
    return NULL;
}

START_TEST(test_positions)
{
    static const char doc[] = "# settings\n"              /* 1 */
                              "title = \"cocoon\"\n"      /* 2 */
                              "[server]\n"                /* 3 */
                              "port = 8080\n"             /* 4 */
                              "  tls.cert = '/etc/c'\n"   /* 5 */
                              "text = \"\"\"\n"           /* 6 */
                              "two\n"                     /* 7 */
                              "lines\"\"\"\n"             /* 8 */
                              "after = true\n"            /* 9 */
                              "[[vm]]\n"                  /* 10 */
                              "name = \"a\"\n"            /* 11 */
                              "list = [\n"                /* 12 */
                              "  1,\n"                    /* 13 */
                              "  { x = 2 },\n"            /* 14 */
                              "]\n"                       /* 15 */
                              "[[vm]]\r\n"                /* 16 */
                              "[a.b.c]\n"                 /* 17 */
                              "[ a ]\n"                   /* 18 */
                              "k=1979-05-27T07:32:00Z\n"; /* 19 */
    _cleanup_free_ char *msg = NULL;
    _cleanup_(toml_freep) struct toml_value *root = parse(doc, &msg);
    ck_assert_msg(root, "%s", msg);
    assert_pos(root->pos, 1, 1);

    const struct toml_keyval *title = find_kv(root, "title");
    assert_pos(title->key_pos, 2, 1);
    assert_pos(title->value->pos, 2, 9);

    const struct toml_keyval *server = find_kv(root, "server");
    assert_pos(server->key_pos, 3, 2);
    assert_pos(server->value->pos, 3, 1);
    const struct toml_keyval *port = find_kv(server->value, "port");
    assert_pos(port->key_pos, 4, 1);
    assert_pos(port->value->pos, 4, 8);
    const struct toml_keyval *tls = find_kv(server->value, "tls");
    assert_pos(tls->key_pos, 5, 3);
    assert_pos(tls->value->pos, 5, 3);
    const struct toml_keyval *cert = find_kv(tls->value, "cert");
    assert_pos(cert->key_pos, 5, 7);
    assert_pos(cert->value->pos, 5, 14);
    const struct toml_keyval *text = find_kv(server->value, "text");
    assert_pos(text->value->pos, 6, 8);
    ck_assert_str_eq(text->value->u.string.ptr, "two\nlines");
    const struct toml_keyval *after = find_kv(server->value, "after");
    assert_pos(after->key_pos, 9, 1);
    assert_pos(after->value->pos, 9, 9);

    const struct toml_keyval *vm = find_kv(root, "vm");
    assert_pos(vm->key_pos, 10, 3);
    assert_pos(vm->value->pos, 10, 1);
    ck_assert_uint_eq(vm->value->u.array.len, 2);
    const struct toml_value *vm0 = vm->value->u.array.items[0];
    assert_pos(vm0->pos, 10, 1);
    assert_pos(vm->value->u.array.items[1]->pos, 16, 1);
    const struct toml_keyval *list = find_kv(vm0, "list");
    assert_pos(list->value->pos, 12, 8);
    assert_pos(list->value->u.array.items[0]->pos, 13, 3);
    const struct toml_value *inl = list->value->u.array.items[1];
    assert_pos(inl->pos, 14, 3);
    assert_pos(find_kv(inl, "x")->key_pos, 14, 5);
    assert_pos(find_kv(inl, "x")->value->pos, 14, 9);

    /* [a.b.c] implies a; [ a ] defines it later: the definition is what is reported */
    const struct toml_keyval *a = find_kv(root, "a");
    assert_pos(a->key_pos, 18, 3);
    assert_pos(a->value->pos, 18, 1);
    const struct toml_keyval *b = find_kv(a->value, "b");
    assert_pos(b->key_pos, 17, 4);
    assert_pos(b->value->pos, 17, 4);
    assert_pos(find_kv(b->value, "c")->key_pos, 17, 6);
    assert_pos(find_kv(b->value, "c")->value->pos, 17, 1);
    const struct toml_keyval *k = find_kv(a->value, "k");
    assert_pos(k->key_pos, 19, 1);
    assert_pos(k->value->pos, 19, 3);
}
END_TEST

START_TEST(test_error_messages)
{
    assert_error("a = 1\n\nfoo : 1\n", "line 3, column 5: ", "expected '=' after key \"foo\"");
    assert_error("[a.b]\nx = 1\n[a.b]\n", "line 3, column 1: table \"a.b\" defined twice",
                 "(first at line 1)");
    assert_error("[srv]\nport = 1\nport = 2\n", "line 3, column 1: key \"srv.port\" defined twice",
                 "(first at line 2)");
    assert_error("a = \"x\ny\"\n", "line 1, column 7: unexpected newline", "expected '\"'");
    assert_error("a = [1, 2\n", "line 2, column 1: unexpected end of input", "expected ',' or ']'");
    assert_error("a = {b = 1,}\n", "line 1, column 11: trailing comma", NULL);
    assert_error("a = {b = 1\n}\n", "line 1, column 11: unexpected newline", "one line");
    assert_error("a = 1 b = 2\n", "line 1, column 7: unexpected 'b'", "expected a newline");
    assert_error("mode = snp\n", "line 1, column 8: invalid value \"snp\"", "in quotes");
    assert_error("a = \"\\e\"\n", "line 1, column 6: invalid escape sequence", NULL);
    assert_error("a = \"\\x41\"\n", "line 1, column 6: invalid escape sequence", NULL);
    assert_error("a = \"\\uD800\"\n", "line 1, column 6", "not a Unicode scalar value");
    assert_error("a = \"\\U00110000\"\n", "line 1, column 6", "not a Unicode scalar value");
    assert_error("a = 9223372036854775808\n", "line 1, column 5", "does not fit in 64 bits");
    assert_error("a = 0x8000000000000000\n", "line 1, column 5", "does not fit in 64 bits");
    assert_error("a = 012\n", "line 1, column 5: leading zeros", NULL);
    assert_error("a = 1__2\n", "line 1, column 6: '_'", "between two digits");
    assert_error("a = 1979-02-29\n", "line 1, column 13: day 29 is out of range", NULL);
    assert_error("a = 07:32\n", "line 1, column 10", "seconds");
    assert_error("a = 1e999\n", "line 1, column 5", "out of range");
    assert_error("# c\xff\n", "line 1, column 4: invalid UTF-8", NULL);
    assert_error("a = 1\n\"b\xc0\x80\" = 1\n", "line 2, column 3: invalid UTF-8", "overlong");
    assert_error("a = \"\xed\xa0\x80\"\n", "line 1, column 6: invalid UTF-8", "surrogate");
    assert_error("a = 1 # \x7f\n", "line 1, column 9: control character U+007F", NULL);
    assert_error("a = \"\x01\"\n", "line 1, column 6: control character U+0001", "escape");
    assert_error("a = 1\r\nb = 2\r", "line 2, column 6", "carriage return");
    assert_error("a = 1\n\xef\xbb\xbf", "line 2, column 1", NULL);
    assert_error("a = {x = 1}\na.y = 2\n", "line 2, column 1: inline table \"a\"", NULL);
    assert_error("a = {x = 1}\n[a.y]\n", "line 2, column 2: inline table \"a\"", NULL);
    assert_error("a = [1]\n[[a]]\n", "line 2, column 1: key \"a\" is already an array", NULL);
    assert_error("[[a]]\n[a]\n", "line 2, column 1", "array of tables");
    assert_error("[a.b]\n[a]\nb.c = 1\n",
                 "line 3, column 1: table \"a.b\" was defined by a [header]", NULL);
    assert_error("[t]\nx.y = 1\n[t.x]\n", "line 3, column 1: table \"t.x\" defined twice",
                 "dotted keys");
    assert_error("a = 1\n[a.b]\n", "line 2, column 2: key \"a\" is already an integer", NULL);
    assert_error("a = 1\na.b = 2\n", "line 2, column 1: key \"a\" is already an integer", NULL);
    assert_error("x = 1\n\"q\\tk\" = 1\n\"q\\tk\" = 2\n", "line 3, column 1: key \"q\\tk\"",
                 "defined twice");
    assert_error("t = {a = {b = 1, b = 2}}\n", "line 1, column 18: key \"t.a.b\" defined twice",
                 NULL);

    /* the error is set with the project's code */
    struct error err = ERROR_INIT;
    ck_assert_ptr_null(toml_parse("=", 1, &err));
    ck_assert_int_eq(err.code, GRPC_INVALID_ARGUMENT);
    error_clear(&err);
    ck_assert_ptr_null(toml_parse("=", 1, NULL)); /* no error wanted: fine too */
}
END_TEST

START_TEST(test_values_and_lookup)
{
    static const char doc[] = "s = 'lit\\n'\n"
                              "ml = '''\nraw ''line'''''\n"
                              "e = \"\\u00e9\\U0001F600\\t\"\n"
                              "hex = 0xDEAD_beef\n"
                              "zero = -0\n"
                              "min = -9223372036854775808\n"
                              "bin = 0b1010\n"
                              "oct = 0o777\n"
                              "f = 6.626e-34\n"
                              "ni = -inf\n"
                              "nn = +nan\n"
                              "odt = 1979-05-27 00:32:00.999999-07:00\n"
                              "ldt = 1979-05-27t07:32:00\n"
                              "ld = 2000-02-29\n"
                              "lt = 23:59:60.5\n"
                              "\"quoted key\" = true\n"
                              "nul = \"a\\u0000b\"\n"
                              "cont = \"\"\"a \\\n    b\"\"\"\n";
    _cleanup_free_ char *msg = NULL;
    _cleanup_(toml_freep) struct toml_value *root = parse(doc, &msg);
    ck_assert_msg(root, "%s", msg);

    ck_assert_str_eq(toml_table_get(root, "s")->u.string.ptr, "lit\\n");
    ck_assert_str_eq(toml_table_get(root, "ml")->u.string.ptr, "raw ''line''");
    ck_assert_str_eq(toml_table_get(root, "e")->u.string.ptr, "\xc3\xa9\xf0\x9f\x98\x80\t");
    ck_assert_int_eq(toml_table_get(root, "hex")->u.integer, 0xDEADBEEF);
    ck_assert_int_eq(toml_table_get(root, "zero")->u.integer, 0);
    ck_assert(toml_table_get(root, "min")->u.integer == INT64_MIN);
    ck_assert_int_eq(toml_table_get(root, "bin")->u.integer, 10);
    ck_assert_int_eq(toml_table_get(root, "oct")->u.integer, 0777);
    ck_assert(toml_table_get(root, "f")->u.flt == 6.626e-34);
    ck_assert(isinf(toml_table_get(root, "ni")->u.flt) && toml_table_get(root, "ni")->u.flt < 0);
    ck_assert(isnan(toml_table_get(root, "nn")->u.flt));

    const struct toml_value *odt = toml_table_get(root, "odt");
    ck_assert_int_eq(odt->type, TOML_DATETIME);
    ck_assert_int_eq(odt->u.datetime.offset_minutes, -420);
    ck_assert(!odt->u.datetime.offset_z);
    ck_assert_int_eq(odt->u.datetime.nanosecond, 999999000);
    ck_assert_int_eq(toml_table_get(root, "ldt")->type, TOML_DATETIME_LOCAL);
    ck_assert_int_eq(toml_table_get(root, "ld")->u.datetime.day, 29);
    const struct toml_value *lt = toml_table_get(root, "lt");
    ck_assert_int_eq(lt->type, TOML_TIME_LOCAL);
    ck_assert_int_eq(lt->u.datetime.second, 60);
    ck_assert_int_eq(lt->u.datetime.nanosecond, 500000000);

    ck_assert_int_eq(toml_table_get(root, "quoted key")->type, TOML_BOOL);
    const struct toml_value *nul = toml_table_get(root, "nul");
    ck_assert_uint_eq(nul->u.string.len, 3);
    ck_assert(memcmp(nul->u.string.ptr, "a\0b", 4) == 0);
    ck_assert_str_eq(toml_table_get(root, "cont")->u.string.ptr, "a b");

    ck_assert_ptr_null(toml_table_get(root, "absent"));
    ck_assert_ptr_null(toml_table_get(NULL, "s"));
    ck_assert_ptr_null(toml_table_get(toml_table_get(root, "s"), "x"));
    ck_assert_ptr_null(toml_table_get(root, NULL));
    ck_assert_ptr_eq(toml_table_getn(root, "nul", 3), nul);

    ck_assert_str_eq(toml_type_name(TOML_STRING), "string");
    ck_assert_str_eq(toml_type_name(TOML_INTEGER), "integer");
    ck_assert_str_eq(toml_type_name(TOML_FLOAT), "float");
    ck_assert_str_eq(toml_type_name(TOML_BOOL), "boolean");
    ck_assert_str_eq(toml_type_name(TOML_DATETIME), "offset date-time");
    ck_assert_str_eq(toml_type_name(TOML_DATETIME_LOCAL), "local date-time");
    ck_assert_str_eq(toml_type_name(TOML_DATE_LOCAL), "local date");
    ck_assert_str_eq(toml_type_name(TOML_TIME_LOCAL), "local time");
    ck_assert_str_eq(toml_type_name(TOML_ARRAY), "array");
    ck_assert_str_eq(toml_type_name(TOML_TABLE), "table");

    /* empty input, only a BOM, NULL data */
    struct error err = ERROR_INIT;
    struct toml_value *empty = toml_parse(NULL, 0, &err);
    ck_assert(empty && empty->type == TOML_TABLE && empty->u.table.len == 0);
    toml_free(empty);
    empty = toml_parse("\xef\xbb\xbf", 3, &err);
    ck_assert(empty && empty->u.table.len == 0);
    toml_free(empty);
    toml_free(NULL);
    ck_assert(!error_is_set(&err));
}
END_TEST

/* prefix, then `n` copies of `open`, `inner`, `n` copies of `close` and a newline. */
static char *nested(const char *prefix, const char *open, const char *inner, const char *close,
                    int n)
{
    size_t lo = strlen(open), lc = strlen(close), len = strlen(prefix);
    char *s = xmalloc(len + (size_t)n * (lo + lc) + strlen(inner) + 2);
    memcpy(s, prefix, len);
    for (int i = 0; i < n; i++, len += lo)
        memcpy(s + len, open, lo);
    memcpy(s + len, inner, strlen(inner));
    len += strlen(inner);
    for (int i = 0; i < n; i++, len += lc)
        memcpy(s + len, close, lc);
    memcpy(s + len, "\n", 2);
    return s;
}

START_TEST(test_depth_limit)
{
    static const struct {
        const char *prefix, *open, *inner, *close;
    } shapes[] = {
        {"a = ", "[", "1", "]"},       {"a = ", "{b = ", "1", "}"}, {"a = ", "[{b = ", "1", "}]"},
        {"", "a.", "b = 1", ""},       {"[", "a.", "b]", ""},       {"[[", "a.", "b]]", ""},
        {"x = ", "{a.b = ", "1", "}"},
    };
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        /* fine at a modest depth, refused with a positioned message when far too deep */
        _cleanup_free_ char *ok =
            nested(shapes[i].prefix, shapes[i].open, shapes[i].inner, shapes[i].close, 50);
        _cleanup_free_ char *msg = NULL;
        _cleanup_(toml_freep) struct toml_value *v = parse(ok, &msg);
        ck_assert_msg(v, "shape %zu at depth 50: %s", i, msg);

        _cleanup_free_ char *deep =
            nested(shapes[i].prefix, shapes[i].open, shapes[i].inner, shapes[i].close, 100000);
        _cleanup_free_ char *deep_msg = NULL;
        _cleanup_(toml_freep) struct toml_value *dv = parse(deep, &deep_msg);
        ck_assert_msg(!dv, "shape %zu accepted at depth 100000", i);
        ck_assert_msg(strstr(deep_msg, "deeper than 128") || strstr(deep_msg, "more than 128"),
                      "shape %zu: %s", i, deep_msg);
        ck_assert_msg(strncmp(deep_msg, "line 1, column ", 15) == 0, "%s", deep_msg);
    }
}
END_TEST

struct text {
    char *p;
    size_t len, cap;
};

static void text_add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_add(struct text *t, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    while (t->len + (size_t)n + 1 > t->cap)
        t->p = xrealloc(t->p, t->cap = t->cap ? 2 * t->cap : 4096);
    memcpy(t->p + t->len, tmp, (size_t)n + 1);
    t->len += (size_t)n;
}

START_TEST(test_big_input)
{
    enum { KEYS = 200000 };
    struct text t = {0};
    text_add(&t, "[big]\n");
    for (int i = 0; i < KEYS; i++)
        text_add(&t, "key%d = %d\n", i, i);
    text_add(&t, "array = [");
    for (int i = 0; i < KEYS; i++)
        text_add(&t, "\"s%d\", ", i);
    text_add(&t, "]\n");
    for (int i = 0; i < 1000; i++)
        text_add(&t, "[[t]]\nx = %d\n", i);

    struct error err = ERROR_INIT;
    struct toml_value *root = toml_parse(t.p, t.len, &err);
    ck_assert_msg(root, "%s", err.msg);
    const struct toml_value *big = toml_table_get(root, "big");
    ck_assert_uint_eq(big->u.table.len, KEYS + 1);
    ck_assert_int_eq(toml_table_get(big, "key123456")->u.integer, 123456);
    ck_assert_uint_eq(toml_table_get(big, "array")->u.array.len, KEYS);
    const struct toml_keyval *last = &big->u.table.items[KEYS - 1];
    ck_assert_str_eq(last->key, "key199999");
    assert_pos(last->key_pos, KEYS + 1, 1);
    ck_assert_uint_eq(toml_table_get(root, "t")->u.array.len, 1000);
    toml_free(root);

    /* the same key again at the end is found through the hash index */
    text_add(&t, "[big]\n");
    ck_assert_ptr_null(toml_parse(t.p, t.len, &err));
    ck_assert_msg(strstr(err.msg, "table \"big\" defined twice"), "%s", err.msg);
    error_clear(&err);
    free(t.p);
}
END_TEST

static Suite *toml_suite(void)
{
    Suite *s = suite_create("toml");
    TCase *conformance = tcase_create("conformance");
    tcase_set_timeout(conformance, 120);
    tcase_add_test(conformance, test_conformance_1_0_0);
    suite_add_tcase(s, conformance);

    TCase *api = tcase_create("api");
    tcase_set_timeout(api, 120);
    tcase_add_test(api, test_positions);
    tcase_add_test(api, test_error_messages);
    tcase_add_test(api, test_values_and_lookup);
    tcase_add_test(api, test_depth_limit);
    tcase_add_test(api, test_big_input);
    suite_add_tcase(s, api);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(toml_suite());
    srunner_set_tap(sr, "-");
    srunner_run_all(sr, CK_SILENT);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
