/* OCI JSON -> the agent's protobuf OCI types. The conversion walks the protobuf-c descriptors of
 * kata/oci.proto rather than naming every field: the proto keeps runtime-spec's Go names, so a
 * JSON member matches its field by name ignoring case (as Go's encoding/json matches them), and a
 * field added to the .proto is mapped without touching this file. The tree is allocated the way
 * protobuf-c's unpacker allocates (each message, string and array on its own), so
 * protobuf_c_message_free_unpacked frees it, also half-built on an error. */
#include "shim/oci.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

/* --- loading --- */

/* jansson keeps integers as long long, so an unsigned value above INT64_MAX (an rlimit of
 * RLIM_INFINITY, CRI-O's "memlock=-1:-1") would not parse. Such literals are rewritten before
 * parsing into strings of a NUL followed by the digits. No string of the document can look like
 * that: \u0000 is refused in every string. */
#define BIG_MARK '\0'

/* Digits only, no leading zero, above INT64_MAX and at most UINT64_MAX. */
static bool is_big_literal(const char *p, size_t n)
{
    if (n < 19 || n > 20 || p[0] == '0')
        return false;
    for (size_t i = 0; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return false;
    /* equal-length digit strings compare like their values */
    return n == 19 ? memcmp(p, "9223372036854775807", 19) > 0
                   : memcmp(p, "18446744073709551615", 20) <= 0;
}

static bool in_number(char ch)
{
    return (ch >= '0' && ch <= '9') || ch == '-' || ch == '+' || ch == '.' || ch == 'e' ||
           ch == 'E';
}

/* Appends to *out the text with big literals rewritten, if it has any (out stays empty if not).
 * Syntax errors are left to jansson; this only tracks strings well enough to skip them. */
static int rewrite_big_literals(const char *doc, const char *s, size_t len, struct buf *out,
                                struct error *err)
{
    size_t copied = 0, line = 1;
    bool in_string = false;
    for (size_t i = 0; i < len;) {
        char ch = s[i];
        if (ch == '\n')
            line++;
        if (in_string) {
            if (ch == '\\') {
                if (len - i >= 6 && memcmp(s + i + 1, "u0000", 5) == 0)
                    return error_set(err, GRPC_INVALID_ARGUMENT,
                                     "%s: line %zu: a string holds \\u0000, which is not allowed",
                                     doc, line);
                i += 2;
                continue;
            }
            in_string = ch != '"';
            i++;
        } else if (ch == '"') {
            in_string = true;
            i++;
        } else if (in_number(ch)) {
            size_t j = i;
            while (j < len && in_number(s[j]))
                j++;
            if (is_big_literal(s + i, j - i)) {
                buf_append(out, s + copied, i - copied);
                buf_append_str(out, "\"\\u0000");
                buf_append(out, s + i, j - i);
                buf_append(out, "\"", 1);
                copied = j;
            }
            i = j;
        } else {
            i++;
        }
    }
    if (out->ptr)
        buf_append(out, s + copied, len - copied);
    return 0;
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "?";
}

/* The document as a JSON object; NULL and err set if it is not one. */
static json_t *load(const char *doc, const char *text, size_t len, struct error *err)
{
    if (len > OCI_MAX_JSON_SIZE) {
        error_set(err, GRPC_INVALID_ARGUMENT, "%s: %zu bytes is more than the limit of %u MiB", doc,
                  len, OCI_MAX_JSON_SIZE >> 20);
        return NULL;
    }
    if (!text)
        text = "", len = 0;
    struct buf big = {0};
    if (rewrite_big_literals(doc, text, len, &big, err) < 0) {
        free(big.ptr);
        return NULL;
    }
    json_error_t je;
    json_t *root =
        big.ptr ? json_loadb(big.ptr, big.len, JSON_ALLOW_NUL, &je) : json_loadb(text, len, 0, &je);
    free(big.ptr);
    if (!root) {
        error_set(err, GRPC_INVALID_ARGUMENT, "%s: invalid JSON at line %d, column %d: %s", doc,
                  je.line, je.column, je.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        error_set(err, GRPC_INVALID_ARGUMENT, "%s: expected a JSON object, got %s", doc,
                  type_name(root));
        json_decref(root);
        return NULL;
    }
    return root;
}

static bool is_big(const json_t *v)
{
    return json_is_string(v) && json_string_length(v) > 1 && json_string_value(v)[0] == BIG_MARK;
}

/* The member of obj named `name` ignoring case (an exact match first); *key: its spelling. */
static json_t *member(json_t *obj, const char *name, const char **key)
{
    json_t *v = json_object_get(obj, name);
    if (v) {
        *key = name;
        return v;
    }
    for (void *it = json_object_iter(obj); it; it = json_object_iter_next(obj, it)) {
        if (strcasecmp(json_object_iter_key(it), name) == 0) {
            *key = json_object_iter_key(it);
            return json_object_iter_value(it);
        }
    }
    return NULL;
}

/* --- conversion --- */

struct conv {
    const char *doc; /* "config.json", "process", "resources" */
    struct buf path; /* of the member being converted: "process.args[1]" */
    struct error *err;
};

static size_t path_push_key(struct conv *c, const char *key)
{
    size_t mark = c->path.len;
    if (mark)
        buf_append(&c->path, ".", 1);
    buf_append_str(&c->path, key);
    return mark;
}

static size_t path_push_index(struct conv *c, size_t i)
{
    size_t mark = c->path.len;
    char tmp[32];
    snprintf(tmp, sizeof(tmp), "[%zu]", i);
    buf_append_str(&c->path, tmp);
    return mark;
}

static void path_pop(struct conv *c, size_t mark)
{
    c->path.len = mark;
    if (c->path.ptr)
        c->path.ptr[mark] = '\0';
}

/* "<doc>: <path>: expected <what>, got <v>". */
static int __attribute__((format(printf, 3, 4)))
bad_value(struct conv *c, const json_t *v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *what = xvasprintf(fmt, ap);
    va_end(ap);
    char got[32];
    if (json_is_integer(v))
        snprintf(got, sizeof(got), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (is_big(v))
        snprintf(got, sizeof(got), "%s", json_string_value(v) + 1);
    else if (json_is_boolean(v))
        snprintf(got, sizeof(got), "%s", json_is_true(v) ? "true" : "false");
    else
        snprintf(got, sizeof(got), "%s", type_name(v));
    return error_set(c->err, GRPC_INVALID_ARGUMENT, "%s: %s: expected %s, got %s", c->doc,
                     c->path.ptr ? c->path.ptr : "", what, got);
}

/* v as an integer: *s when it fits int64_t, else *u (*big set). False if v is no integer. */
static bool integer_of(const json_t *v, bool *big, int64_t *s, uint64_t *u)
{
    if (json_is_integer(v)) {
        *big = false;
        *s = json_integer_value(v);
        return true;
    }
    if (is_big(v)) {
        *big = true;
        *u = strtoull(json_string_value(v) + 1, NULL, 10);
        return true;
    }
    return false;
}

static int get_signed(struct conv *c, const json_t *v, int64_t min, int64_t max, int64_t *out)
{
    bool big;
    int64_t s;
    uint64_t u;
    if (!integer_of(v, &big, &s, &u) || big || s < min || s > max)
        return bad_value(c, v, "an integer from %" PRId64 " to %" PRId64, min, max);
    *out = s;
    return 0;
}

static int get_unsigned(struct conv *c, const json_t *v, uint64_t max, uint64_t *out)
{
    bool big;
    int64_t s;
    uint64_t u;
    if (!integer_of(v, &big, &s, &u) || (big ? u > max : s < 0 || (uint64_t)s > max))
        return bad_value(c, v, "an integer from 0 to %" PRIu64, max);
    *out = big ? u : (uint64_t)s;
    return 0;
}

/* Size of one element of a repeated field. */
static size_t elem_size(ProtobufCType type)
{
    switch (type) {
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_ENUM:
    case PROTOBUF_C_TYPE_FLOAT:
        return 4;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    }
    return sizeof(void *);
}

/* protoc-c writes map<K, V> as a repeated message <Field>Entry {key = 1; value = 2}. */
static bool is_map_entry(const ProtobufCMessageDescriptor *d)
{
    size_t n = strlen(d->name);
    return d->n_fields == 2 && n > 5 && strcmp(d->name + n - 5, "Entry") == 0 &&
           strcmp(d->fields[0].name, "key") == 0 && strcmp(d->fields[1].name, "value") == 0 &&
           d->fields[0].type == PROTOBUF_C_TYPE_STRING;
}

/* The JSON name of a field whose proto name differs by more than case. */
static const char *json_name(const ProtobufCMessageDescriptor *d, const ProtobufCFieldDescriptor *f)
{
    if (d == &grpc__spec__descriptor && strcmp(f->name, "Version") == 0)
        return "ociVersion";
    return f->name;
}

static int fill_message(struct conv *c, const ProtobufCMessageDescriptor *d, json_t *obj,
                        ProtobufCMessage **out);

/* One value of field f into dst (the member, or an element of its array). */
static int set_value(struct conv *c, const ProtobufCFieldDescriptor *f, void *dst, json_t *v)
{
    int64_t s;
    uint64_t u;
    switch (f->type) {
    case PROTOBUF_C_TYPE_BOOL:
        if (!json_is_boolean(v))
            return bad_value(c, v, "true or false");
        *(protobuf_c_boolean *)dst = json_is_true(v);
        return 0;
    case PROTOBUF_C_TYPE_STRING:
        if (!json_is_string(v) || is_big(v))
            return bad_value(c, v, "a string");
        *(char **)dst = xstrdup(json_string_value(v));
        return 0;
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        if (get_signed(c, v, INT32_MIN, INT32_MAX, &s) < 0)
            return -1;
        *(int32_t *)dst = (int32_t)s;
        return 0;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if (get_unsigned(c, v, UINT32_MAX, &u) < 0)
            return -1;
        *(uint32_t *)dst = (uint32_t)u;
        return 0;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        if (get_signed(c, v, INT64_MIN, INT64_MAX, &s) < 0)
            return -1;
        *(int64_t *)dst = s;
        return 0;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        if (get_unsigned(c, v, UINT64_MAX, &u) < 0)
            return -1;
        *(uint64_t *)dst = u;
        return 0;
    case PROTOBUF_C_TYPE_MESSAGE:
        return fill_message(c, f->descriptor, v, (ProtobufCMessage **)dst);
    default: /* oci.proto has no floats, enums or bytes */
        return error_set(c->err, GRPC_INTERNAL, "%s: %s: proto field %s has a type not handled",
                         c->doc, c->path.ptr ? c->path.ptr : "", f->name);
    }
}

/* A JSON object of key -> value into a map field. */
static int set_map(struct conv *c, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
                   json_t *obj)
{
    if (!json_is_object(obj))
        return bad_value(c, obj, "an object");
    size_t n = json_object_size(obj);
    if (n == 0)
        return 0;
    const ProtobufCMessageDescriptor *ed = f->descriptor;
    size_t *count = (size_t *)((char *)m + f->quantifier_offset);
    ProtobufCMessage **entries = xcalloc(n, sizeof(*entries));
    *(ProtobufCMessage ***)((char *)m + f->offset) = entries;
    for (void *it = json_object_iter(obj); it; it = json_object_iter_next(obj, it)) {
        const char *key = json_object_iter_key(it);
        ProtobufCMessage *e = xcalloc(1, ed->sizeof_message);
        protobuf_c_message_init(ed, e);
        *(char **)((char *)e + ed->fields[0].offset) = xstrdup(key);
        entries[(*count)++] = e;
        size_t mark = path_push_key(c, key);
        int rc = set_value(c, &ed->fields[1], (char *)e + ed->fields[1].offset,
                           json_object_iter_value(it));
        path_pop(c, mark);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int set_field(struct conv *c, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
                     json_t *v)
{
    char *base = (char *)m;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        if (f->type == PROTOBUF_C_TYPE_MESSAGE && is_map_entry(f->descriptor))
            return set_map(c, m, f, v);
        if (!json_is_array(v))
            return bad_value(c, v, "an array");
        size_t n = json_array_size(v), size = elem_size(f->type);
        if (n == 0)
            return 0;
        size_t *count = (size_t *)(base + f->quantifier_offset);
        char *arr = xcalloc(n, size);
        *(void **)(base + f->offset) = arr;
        for (size_t i = 0; i < n; i++) {
            size_t mark = path_push_index(c, i);
            int rc = set_value(c, f, arr + i * size, json_array_get(v, i));
            path_pop(c, mark);
            if (rc < 0)
                return -1;
            (*count)++; /* counted once set, so a failed element is never freed */
        }
        return 0;
    }
    if (set_value(c, f, base + f->offset, v) < 0)
        return -1;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        *(uint32_t *)(base + f->quantifier_offset) = f->id; /* the oneof's case */
    else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
             f->type != PROTOBUF_C_TYPE_MESSAGE)
        *(protobuf_c_boolean *)(base + f->quantifier_offset) = 1; /* has_<field> */
    return 0;
}

static int fill_message(struct conv *c, const ProtobufCMessageDescriptor *d, json_t *obj,
                        ProtobufCMessage **out)
{
    if (!json_is_object(obj))
        return bad_value(c, obj, "an object");
    ProtobufCMessage *m = xcalloc(1, d->sizeof_message);
    protobuf_c_message_init(d, m);
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const char *key;
        json_t *v = member(obj, json_name(d, f), &key);
        if (!v || json_is_null(v))
            continue;
        size_t mark = path_push_key(c, key);
        int rc = set_field(c, m, f, v);
        path_pop(c, mark);
        if (rc < 0) {
            protobuf_c_message_free_unpacked(m, NULL);
            return -1;
        }
    }
    *out = m;
    return 0;
}

/* The document as a message of type d; NULL and err set on an error. */
static ProtobufCMessage *convert(const char *doc, const char *json, size_t len,
                                 const ProtobufCMessageDescriptor *d, struct error *err)
{
    _cleanup_(json_decrefp) json_t *root = load(doc, json, len, err);
    if (!root)
        return NULL;
    struct conv c = {.doc = doc, .err = err};
    ProtobufCMessage *m = NULL;
    if (fill_message(&c, d, root, &m) < 0)
        m = NULL;
    free(c.path.ptr);
    return m;
}

/* --- public --- */

int oci_spec_from_json(const char *json, size_t len, Grpc__Spec **out, struct oci_spec_facts *facts,
                       struct error *err)
{
    *out = (Grpc__Spec *)convert("config.json", json, len, &grpc__spec__descriptor, err);
    if (!*out)
        return -1;
    struct oci_spec_facts f = oci_strip_spec(*out);
    if (facts)
        *facts = f;
    else
        oci_spec_facts_clear(&f);
    return 0;
}

int oci_process_from_json(const char *json, size_t len, Grpc__Process **out, struct error *err)
{
    *out = (Grpc__Process *)convert("process", json, len, &grpc__process__descriptor, err);
    return *out ? 0 : -1;
}

int oci_resources_from_json(const char *json, size_t len, Grpc__LinuxResources **out,
                            struct error *err)
{
    *out = (Grpc__LinuxResources *)convert("resources", json, len,
                                           &grpc__linux_resources__descriptor, err);
    if (!*out)
        return -1;
    oci_strip_resources(*out);
    return 0;
}
