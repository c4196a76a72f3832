/* TOML 1.0.0 documents: tables, arrays, inline tables and the rules about defining each table
 * once. Scalars, keys, whitespace and messages come from the lexer (toml-lex.h).
 *
 * Each value is allocated inside a `struct node` that also records how its table was defined
 * (by a [header], by dotted keys, implicitly as the parent in a header, or inline); those flags
 * decide which later definitions are allowed. */
#include "lib/toml.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/toml-lex.h"
#include "lib/xalloc.h"

enum {
    NODE_IMPLICIT = 1u << 0,    /* table created as a parent in a [header]: may be defined later */
    NODE_HEADER = 1u << 1,      /* table defined by its own [header], or a [[header]] element */
    NODE_DOTTED = 1u << 2,      /* table defined (or extended) by dotted keys */
    NODE_FROZEN = 1u << 3,      /* inline table or array value: complete as written */
    NODE_TABLE_ARRAY = 1u << 4, /* array of tables made by [[header]]s */
};

/* Tables with this many keys get a hash index so big documents stay linear. */
#define INDEX_MIN_KEYS 16

struct node {
    struct toml_value v; /* first, so a toml_value pointer is a node pointer */
    unsigned flags;
    int depth;        /* the root is 0, anything inside a table or array one deeper */
    size_t cap;       /* allocated items of an array or table */
    size_t *index;    /* open addressing: slot holds item number + 1, 0 = free */
    size_t index_cap; /* power of two, 0 while there is no index */
};

/* One part of a dotted key, with where it was written. */
struct key_seg {
    char *name;
    size_t len;
    const char *at;
    struct toml_pos pos;
};

struct key {
    struct key_seg *segs;
    size_t n;
};

/* Where a value sits, for messages: key parts and array indexes, innermost last. */
struct path {
    const struct path *up;
    const struct key_seg *segs;
    size_t n;
    long index; /* >= 0: element of an array */
};

struct parser {
    struct toml_lexer lx;
    struct node *root;
    struct node *section;    /* table that key/value lines go to */
    struct key section_name; /* its [header], for messages */
};

static struct node *node_of(const struct toml_value *v)
{
    return (struct node *)v;
}

static struct node *node_new(enum toml_type type, struct toml_pos pos, int depth)
{
    struct node *n = xcalloc(1, sizeof(*n));
    n->v.type = type;
    n->v.pos = pos;
    n->depth = depth;
    return n;
}

static void node_free(struct node *n)
{
    toml_free(n ? &n->v : NULL);
}
DEFINE_CLEANUP_FUNC(struct node *, node_free)

void toml_free(struct toml_value *v)
{
    if (!v)
        return;
    struct node *n = node_of(v);
    switch (v->type) {
    case TOML_STRING:
        free(v->u.string.ptr);
        break;
    case TOML_ARRAY:
        for (size_t i = 0; i < v->u.array.len; i++)
            toml_free(v->u.array.items[i]); /* recursion bounded by TOML_MAX_DEPTH */
        free(v->u.array.items);
        break;
    case TOML_TABLE:
        for (size_t i = 0; i < v->u.table.len; i++) {
            free(v->u.table.items[i].key);
            toml_free(v->u.table.items[i].value);
        }
        free(v->u.table.items);
        free(n->index);
        break;
    default:
        break;
    }
    free(n);
}

const char *toml_type_name(enum toml_type t)
{
    switch (t) {
    case TOML_STRING:
        return "string";
    case TOML_INTEGER:
        return "integer";
    case TOML_FLOAT:
        return "float";
    case TOML_BOOL:
        return "boolean";
    case TOML_DATETIME:
        return "offset date-time";
    case TOML_DATETIME_LOCAL:
        return "local date-time";
    case TOML_DATE_LOCAL:
        return "local date";
    case TOML_TIME_LOCAL:
        return "local time";
    case TOML_ARRAY:
        return "array";
    case TOML_TABLE:
        return "table";
    }
    return "unknown";
}

/* "an integer", "a string": the type name with its article, for messages. */
static char *type_with_article(enum toml_type t)
{
    const char *name = toml_type_name(t);
    return xasprintf("%s %s", strchr("aeiou", name[0]) ? "an" : "a", name);
}

/* ---- tables and arrays ------------------------------------------------------------------- */

static size_t key_hash(const char *s, size_t len)
{
    uint64_t h = 14695981039346656037u; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211u;
    return (size_t)h;
}

static void index_insert(struct node *t, size_t item)
{
    const struct toml_keyval *kv = &t->v.u.table.items[item];
    size_t mask = t->index_cap - 1;
    size_t i = key_hash(kv->key, kv->key_len) & mask;
    while (t->index[i])
        i = (i + 1) & mask;
    t->index[i] = item + 1;
}

/* Keeps the index at most half full. */
static void index_rebuild(struct node *t)
{
    size_t cap = 64;
    while (cap < 2 * t->v.u.table.len)
        cap *= 2;
    free(t->index);
    t->index = xcalloc(cap, sizeof(*t->index));
    t->index_cap = cap;
    for (size_t i = 0; i < t->v.u.table.len; i++)
        index_insert(t, i);
}

static bool key_equals(const struct toml_keyval *kv, const char *key, size_t len)
{
    return kv->key_len == len && memcmp(kv->key, key, len) == 0;
}

static struct toml_keyval *table_find(const struct node *t, const char *key, size_t len)
{
    struct toml_keyval *items = t->v.u.table.items;
    if (!t->index) {
        for (size_t i = 0; i < t->v.u.table.len; i++)
            if (key_equals(&items[i], key, len))
                return &items[i];
        return NULL;
    }
    size_t mask = t->index_cap - 1;
    for (size_t i = key_hash(key, len) & mask; t->index[i]; i = (i + 1) & mask)
        if (key_equals(&items[t->index[i] - 1], key, len))
            return &items[t->index[i] - 1];
    return NULL;
}

/* Adds key (ownership taken) = value (ownership taken); the key must be new. */
static void table_add(struct node *t, char *key, size_t key_len, struct toml_pos key_pos,
                      struct node *value)
{
    size_t len = t->v.u.table.len;
    if (len == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 8;
        t->v.u.table.items = xrealloc(t->v.u.table.items, t->cap * sizeof(struct toml_keyval));
    }
    t->v.u.table.items[len] = (struct toml_keyval){key, key_len, key_pos, &value->v};
    t->v.u.table.len = ++len;
    if (t->index && 2 * len <= t->index_cap)
        index_insert(t, len - 1);
    else if (len >= INDEX_MIN_KEYS)
        index_rebuild(t);
}

static void array_add(struct node *a, struct node *item)
{
    if (a->v.u.array.len == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 8;
        a->v.u.array.items = xrealloc(a->v.u.array.items, a->cap * sizeof(struct toml_value *));
    }
    a->v.u.array.items[a->v.u.array.len++] = &item->v;
}

const struct toml_value *toml_table_getn(const struct toml_value *table, const char *key,
                                         size_t key_len)
{
    if (!table || table->type != TOML_TABLE || !key)
        return NULL;
    const struct toml_keyval *kv = table_find(node_of(table), key, key_len);
    return kv ? kv->value : NULL;
}

const struct toml_value *toml_table_get(const struct toml_value *table, const char *key)
{
    return toml_table_getn(table, key, key ? strlen(key) : 0);
}

/* ---- names for messages ------------------------------------------------------------------ */

static bool is_bare(const char *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

static void append_segs(struct buf *b, const struct key_seg *segs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (b->len)
            buf_append(b, ".", 1);
        if (is_bare(segs[i].name, segs[i].len)) {
            buf_append(b, segs[i].name, segs[i].len);
        } else {
            _cleanup_free_ char *quoted = toml_lex_quote(segs[i].name, segs[i].len);
            buf_append(b, quoted, strlen(quoted));
        }
    }
}

static void append_path(struct buf *b, const struct path *path)
{
    if (!path)
        return;
    append_path(b, path->up); /* bounded by the nesting depth */
    append_segs(b, path->segs, path->n);
    if (path->index >= 0) {
        char idx[32];
        int n = snprintf(idx, sizeof(idx), "[%ld]", path->index);
        buf_append(b, idx, (size_t)n);
    }
}

/* The full name of the first n parts of a key under `path`, ready for a message: "a.b", or
 * a."b c" when a part needs quotes. */
static char *key_name(const struct path *path, const struct key_seg *segs, size_t n)
{
    struct buf b = {0};
    append_path(&b, path);
    append_segs(&b, segs, n);
    if (!b.ptr)
        return xstrdup("\"\"");
    if (strchr(b.ptr, '"'))
        return b.ptr;
    char *quoted = xasprintf("\"%s\"", b.ptr);
    free(b.ptr);
    return quoted;
}

/* ---- keys ---------------------------------------------------------------------------------- */

static void key_free(struct key *k)
{
    for (size_t i = 0; i < k->n; i++)
        free(k->segs[i].name);
    free(k->segs);
    *k = (struct key){0};
}

/* A dotted key (one part or more) and the whitespace after it. */
static int parse_key(struct parser *p, struct key *k)
{
    struct toml_lexer *lx = &p->lx;
    for (;;) {
        if (k->n == TOML_MAX_DEPTH)
            return toml_lex_fail(lx, lx->cur, "key has more than %d parts", TOML_MAX_DEPTH);
        k->segs = xrealloc(k->segs, (k->n + 1) * sizeof(*k->segs));
        struct key_seg *seg = &k->segs[k->n];
        *seg = (struct key_seg){.at = lx->cur, .pos = toml_lex_pos(lx, lx->cur)};
        if (toml_lex_key(lx, &seg->name, &seg->len) < 0)
            return -1;
        k->n++;
        toml_lex_skip_ws(lx);
        if (lx->cur >= lx->end || *lx->cur != '.')
            return 0;
        lx->cur++;
        toml_lex_skip_ws(lx);
    }
}

static int peek(const struct parser *p)
{
    return p->lx.cur < p->lx.end ? (unsigned char)*p->lx.cur : -1;
}

static int fail_too_deep(struct parser *p, const char *at)
{
    return toml_lex_fail(&p->lx, at, "tables and arrays are nested deeper than %d levels",
                         TOML_MAX_DEPTH);
}

/* ---- values ------------------------------------------------------------------------------ */

static int parse_value(struct parser *p, int depth, const struct path *path, struct node **out);
static int parse_keyval(struct parser *p, struct node *table, const struct path *path);

/* [ value, value, ... ] possibly over several lines, with comments and a trailing comma. */
static int parse_array(struct parser *p, int depth, const struct path *path, struct node **out)
{
    struct toml_lexer *lx = &p->lx;
    const char *open = lx->cur;
    if (depth > TOML_MAX_DEPTH)
        return fail_too_deep(p, open);
    _cleanup_(node_freep) struct node *array = node_new(TOML_ARRAY, toml_lex_pos(lx, open), depth);
    lx->cur++;

    for (;;) {
        if (toml_lex_skip_blank(lx) < 0)
            return -1;
        if (peek(p) == ']')
            break;
        struct path elem = {.up = path, .index = (long)array->v.u.array.len};
        struct node *item = NULL;
        if (parse_value(p, depth + 1, &elem, &item) < 0)
            return -1;
        array_add(array, item);
        if (toml_lex_skip_blank(lx) < 0)
            return -1;
        if (peek(p) == ',') {
            lx->cur++;
            continue;
        }
        if (peek(p) == ']')
            break;
        return toml_lex_unexpected(lx, lx->cur,
                                   "',' or ']' in the array that starts at line %d, column %d",
                                   array->v.pos.line, array->v.pos.col);
    }
    lx->cur++; /* ']' */
    array->flags |= NODE_FROZEN;
    *out = TAKE_PTR(array);
    return 0;
}

static int fail_inline_line_end(struct parser *p, const char *what)
{
    return toml_lex_unexpected(&p->lx, p->lx.cur,
                               "%s (in TOML 1.0 an inline table must be on one line)", what);
}

/* { key = value, ... } on one line, no trailing comma; frozen once closed. */
static int parse_inline_table(struct parser *p, int depth, const struct path *path,
                              struct node **out)
{
    struct toml_lexer *lx = &p->lx;
    const char *open = lx->cur;
    if (depth > TOML_MAX_DEPTH)
        return fail_too_deep(p, open);
    _cleanup_(node_freep) struct node *table = node_new(TOML_TABLE, toml_lex_pos(lx, open), depth);
    lx->cur++;

    toml_lex_skip_ws(lx);
    if (peek(p) != '}') {
        for (;;) {
            if (toml_lex_at_line_end(lx))
                return fail_inline_line_end(p, "a key");
            if (parse_keyval(p, table, path) < 0)
                return -1;
            toml_lex_skip_ws(lx);
            if (peek(p) == '}')
                break;
            if (toml_lex_at_line_end(lx))
                return fail_inline_line_end(p, "',' or '}'");
            if (peek(p) != ',')
                return toml_lex_unexpected(lx, lx->cur,
                                           "',' or '}' in the inline table that starts at line "
                                           "%d, column %d",
                                           table->v.pos.line, table->v.pos.col);
            lx->cur++;
            toml_lex_skip_ws(lx);
            if (peek(p) == '}')
                return toml_lex_fail(lx, lx->cur - 1,
                                     "trailing comma in an inline table (not allowed in TOML "
                                     "1.0)");
        }
    }
    lx->cur++; /* '}' */
    table->flags |= NODE_FROZEN;
    *out = TAKE_PTR(table);
    return 0;
}

static int parse_value(struct parser *p, int depth, const struct path *path, struct node **out)
{
    if (peek(p) == '[')
        return parse_array(p, depth, path, out);
    if (peek(p) == '{')
        return parse_inline_table(p, depth, path, out);

    struct node *n = node_new(TOML_STRING, (struct toml_pos){0, 0}, depth);
    if (toml_lex_scalar(&p->lx, &n->v) < 0) {
        free(n); /* the lexer keeps nothing on failure */
        return -1;
    }
    *out = n;
    return 0;
}

/* ---- defining keys and tables ------------------------------------------------------------- */

/* A dotted key cannot pass through part i: say why. */
static int fail_dotted_through(struct parser *p, const struct path *path, const struct key *key,
                               size_t i, const struct node *child)
{
    _cleanup_free_ char *name = key_name(path, key->segs, i + 1);
    const char *at = key->segs[i].at;
    int line = child->v.pos.line;
    if (child->v.type != TOML_TABLE) {
        _cleanup_free_ char *type = type_with_article(child->v.type);
        return toml_lex_fail(&p->lx, at, "key %s is already %s (line %d), so it cannot hold keys",
                             name, type, line);
    }
    if (child->flags & NODE_FROZEN)
        return toml_lex_fail(&p->lx, at,
                             "inline table %s (line %d) cannot be extended with dotted keys", name,
                             line);
    return toml_lex_fail(&p->lx, at,
                         "table %s was defined by a [header] at line %d; dotted keys outside it "
                         "cannot extend it",
                         name, line);
}

/* The table in which a dotted key's last part goes, creating the tables before it. A dotted key
 * may pass through tables it defined itself (or that a header only implied), never through a
 * table defined by a [header], an inline table or an array. */
static int resolve_dotted(struct parser *p, struct node *base, const struct path *path,
                          const struct key *key, struct node **target)
{
    struct node *t = base;
    for (size_t i = 0; i + 1 < key->n; i++) {
        const struct key_seg *seg = &key->segs[i];
        struct toml_keyval *kv = table_find(t, seg->name, seg->len);
        if (!kv) {
            if (t->depth + 1 > TOML_MAX_DEPTH)
                return fail_too_deep(p, seg->at);
            struct node *child = node_new(TOML_TABLE, seg->pos, t->depth + 1);
            child->flags = NODE_DOTTED;
            table_add(t, xmemdup(seg->name, seg->len + 1), seg->len, seg->pos, child);
            t = child;
            continue;
        }
        struct node *child = node_of(kv->value);
        if (child->v.type != TOML_TABLE || (child->flags & (NODE_FROZEN | NODE_HEADER)))
            return fail_dotted_through(p, path, key, i, child);
        child->flags |= NODE_DOTTED;
        t = child;
    }
    *target = t;
    return 0;
}

/* key = value, into `table` whose name is `path`. */
static int parse_keyval(struct parser *p, struct node *table, const struct path *path)
{
    struct toml_lexer *lx = &p->lx;
    _cleanup_(key_free) struct key key = {0};
    if (parse_key(p, &key) < 0)
        return -1;
    if (peek(p) != '=') {
        _cleanup_free_ char *name = key_name(path, key.segs, key.n);
        return toml_lex_unexpected(lx, lx->cur, "'=' after key %s", name);
    }
    lx->cur++;
    toml_lex_skip_ws(lx);

    struct node *target = NULL;
    if (resolve_dotted(p, table, path, &key, &target) < 0)
        return -1;
    struct key_seg *last = &key.segs[key.n - 1];
    const struct toml_keyval *existing = table_find(target, last->name, last->len);
    if (existing) {
        _cleanup_free_ char *name = key_name(path, key.segs, key.n);
        return toml_lex_fail(lx, last->at, "key %s defined twice (first at line %d)", name,
                             existing->key_pos.line);
    }

    struct path value_path = {.up = path, .segs = key.segs, .n = key.n, .index = -1};
    struct node *value = NULL;
    if (parse_value(p, target->depth + 1, &value_path, &value) < 0)
        return -1;
    table_add(target, TAKE_PTR(last->name), last->len, last->pos, value);
    return 0;
}

/* A table that exists where a [header] names it: fine only if headers merely implied it. */
static int fail_table_redefined(struct parser *p, const char *at, const struct key *key,
                                const struct node *n)
{
    _cleanup_free_ char *name = key_name(NULL, key->segs, key->n);
    int line = n->v.pos.line;

    if (n->v.type == TOML_ARRAY && (n->flags & NODE_TABLE_ARRAY))
        return toml_lex_fail(&p->lx, at,
                             "key %s is an array of tables (line %d); [[...]] adds a table to it",
                             name, line);
    if (n->v.type != TOML_TABLE) {
        _cleanup_free_ char *type = type_with_article(n->v.type);
        return toml_lex_fail(&p->lx, at, "key %s is already %s (line %d), not a table", name, type,
                             line);
    }
    const char *how = (n->flags & NODE_FROZEN)   ? " as an inline table"
                      : (n->flags & NODE_DOTTED) ? " by dotted keys"
                                                 : "";
    return toml_lex_fail(&p->lx, at, "table %s defined twice (first%s at line %d)", name, how,
                         line);
}

/* Walks to the table a header's last part goes in: missing tables are created as implied,
 * arrays of tables lead to their last element. */
static int resolve_header_parent(struct parser *p, const struct key *key, struct node **parent)
{
    struct node *t = p->root;
    for (size_t i = 0; i + 1 < key->n; i++) {
        const struct key_seg *seg = &key->segs[i];
        struct toml_keyval *kv = table_find(t, seg->name, seg->len);
        if (!kv) {
            if (t->depth + 1 > TOML_MAX_DEPTH)
                return fail_too_deep(p, seg->at);
            struct node *child = node_new(TOML_TABLE, seg->pos, t->depth + 1);
            child->flags = NODE_IMPLICIT;
            table_add(t, xmemdup(seg->name, seg->len + 1), seg->len, seg->pos, child);
            t = child;
            continue;
        }
        struct node *child = node_of(kv->value);
        if (child->v.type == TOML_ARRAY && (child->flags & NODE_TABLE_ARRAY)) {
            /* never empty: each [[header]] adds an element */
            t = node_of(child->v.u.array.items[child->v.u.array.len - 1]);
            continue;
        }
        if (child->v.type == TOML_TABLE && !(child->flags & NODE_FROZEN)) {
            t = child;
            continue;
        }
        _cleanup_free_ char *name = key_name(NULL, key->segs, i + 1);
        if (child->v.type == TOML_ARRAY)
            return toml_lex_fail(&p->lx, seg->at,
                                 "key %s is an array value (line %d); a header cannot add to "
                                 "it",
                                 name, child->v.pos.line);
        if (child->v.type != TOML_TABLE) {
            _cleanup_free_ char *type = type_with_article(child->v.type);
            return toml_lex_fail(&p->lx, seg->at,
                                 "key %s is already %s (line %d), so it cannot hold tables", name,
                                 type, child->v.pos.line);
        }
        return toml_lex_fail(&p->lx, seg->at, "inline table %s (line %d) cannot be extended", name,
                             child->v.pos.line);
    }
    *parent = t;
    return 0;
}

/* [a.b]: defines the table, or gives a table that headers only implied its own definition. */
static int define_table(struct parser *p, const struct key *key, const char *open,
                        struct toml_pos header_pos)
{
    struct node *parent = NULL;
    if (resolve_header_parent(p, key, &parent) < 0)
        return -1;
    const struct key_seg *last = &key->segs[key->n - 1];
    struct toml_keyval *kv = table_find(parent, last->name, last->len);
    if (!kv) {
        if (parent->depth + 1 > TOML_MAX_DEPTH)
            return fail_too_deep(p, last->at);
        struct node *table = node_new(TOML_TABLE, header_pos, parent->depth + 1);
        table->flags = NODE_HEADER;
        table_add(parent, xmemdup(last->name, last->len + 1), last->len, last->pos, table);
        p->section = table;
        return 0;
    }
    struct node *table = node_of(kv->value);
    if (table->v.type != TOML_TABLE || table->flags != NODE_IMPLICIT)
        return fail_table_redefined(p, open, key, table);
    table->flags = NODE_HEADER;
    table->v.pos = header_pos; /* the explicit definition is what users look for */
    kv->key_pos = last->pos;
    p->section = table;
    return 0;
}

/* [[a.b]]: appends a table to the array of tables, creating the array the first time. */
static int define_table_array_element(struct parser *p, const struct key *key, const char *open,
                                      struct toml_pos header_pos)
{
    struct node *parent = NULL;
    if (resolve_header_parent(p, key, &parent) < 0)
        return -1;
    const struct key_seg *last = &key->segs[key->n - 1];
    struct toml_keyval *kv = table_find(parent, last->name, last->len);
    struct node *array;
    if (!kv) {
        if (parent->depth + 2 > TOML_MAX_DEPTH)
            return fail_too_deep(p, last->at);
        array = node_new(TOML_ARRAY, header_pos, parent->depth + 1);
        array->flags = NODE_TABLE_ARRAY;
        table_add(parent, xmemdup(last->name, last->len + 1), last->len, last->pos, array);
    } else {
        array = node_of(kv->value);
        if (array->v.type != TOML_ARRAY || !(array->flags & NODE_TABLE_ARRAY)) {
            _cleanup_free_ char *name = key_name(NULL, key->segs, key->n);
            _cleanup_free_ char *type = type_with_article(array->v.type);
            const char *kind = array->v.type == TOML_ARRAY ? " value" : "";
            return toml_lex_fail(&p->lx, open,
                                 "key %s is already %s%s (line %d); [[...]] can only add to an "
                                 "array of tables",
                                 name, type, kind, array->v.pos.line);
        }
    }
    struct node *table = node_new(TOML_TABLE, header_pos, array->depth + 1);
    table->flags = NODE_HEADER;
    array_add(array, table);
    p->section = table;
    return 0;
}

/* [table] or [[array of tables]] header line. */
static int parse_header(struct parser *p)
{
    struct toml_lexer *lx = &p->lx;
    const char *open = lx->cur;
    struct toml_pos pos = toml_lex_pos(lx, open);
    bool is_array = lx->end - open >= 2 && open[1] == '[';

    lx->cur += is_array ? 2 : 1;
    toml_lex_skip_ws(lx);
    key_free(&p->section_name);
    if (parse_key(p, &p->section_name) < 0)
        return -1;
    const char *close = is_array ? "']]'" : "']'";
    if (peek(p) != ']' || (is_array && (lx->cur + 1 >= lx->end || lx->cur[1] != ']')))
        return toml_lex_unexpected(lx, is_array && peek(p) == ']' ? lx->cur + 1 : lx->cur,
                                   "%s to close the header that starts at column %d", close,
                                   pos.col);
    lx->cur += is_array ? 2 : 1;

    if (is_array)
        return define_table_array_element(p, &p->section_name, open, pos);
    return define_table(p, &p->section_name, open, pos);
}

static int parse_document(struct parser *p)
{
    struct toml_lexer *lx = &p->lx;
    for (;;) {
        if (toml_lex_skip_blank(lx) < 0)
            return -1;
        if (toml_lex_eof(lx))
            return 0;
        if (peek(p) == '[') {
            if (parse_header(p) < 0 || toml_lex_end_of_line(lx, "the table header") < 0)
                return -1;
            continue;
        }
        struct path section = {.segs = p->section_name.segs, .n = p->section_name.n, .index = -1};
        if (parse_keyval(p, p->section, &section) < 0 || toml_lex_end_of_line(lx, "the value") < 0)
            return -1;
    }
}

struct toml_value *toml_parse(const char *data, size_t len, struct error *err)
{
    struct parser p = {0};
    toml_lex_init(&p.lx, data ? data : "", data ? len : 0, err);
    if (toml_lex_check_utf8(&p.lx) < 0)
        return NULL;
    p.root = p.section = node_new(TOML_TABLE, (struct toml_pos){1, 1}, 0);
    int r = parse_document(&p);
    key_free(&p.section_name);
    if (r < 0) {
        node_free(p.root);
        return NULL;
    }
    return &p.root->v;
}
