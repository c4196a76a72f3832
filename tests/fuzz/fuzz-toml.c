/* Fuzz target: arbitrary bytes as a TOML document. The parser must accept or reject them with a
 * positioned message, never crash, hang or leak. */
#include <stdlib.h>
#include <string.h>

#include "lib/error.h"
#include "lib/toml.h"
#include "tests/fuzz/fuzz.h"

/* Touches every node so a tree with dangling or uninitialised parts shows up under sanitizers. */
static size_t walk(const struct toml_value *v)
{
    size_t n = 1;
    if (v->type == TOML_TABLE) {
        for (size_t i = 0; i < v->u.table.len; i++) {
            const struct toml_keyval *kv = &v->u.table.items[i];
            if (kv->key[kv->key_len] != '\0' || kv->key_pos.line < 1 || kv->key_pos.col < 1)
                abort();
            if (toml_table_getn(v, kv->key, kv->key_len) != kv->value)
                abort();
            n += walk(kv->value); /* depth bounded by TOML_MAX_DEPTH */
        }
    } else if (v->type == TOML_ARRAY) {
        for (size_t i = 0; i < v->u.array.len; i++)
            n += walk(v->u.array.items[i]);
    } else if (v->type == TOML_STRING && v->u.string.ptr[v->u.string.len] != '\0') {
        abort();
    }
    if (v->pos.line < 1 || v->pos.col < 1)
        abort();
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct error err = ERROR_INIT;
    struct toml_value *root = toml_parse((const char *)data, size, &err);
    if (root) {
        if (root->type != TOML_TABLE || error_is_set(&err))
            abort();
        walk(root);
        toml_free(root);
    } else if (!err.msg || strncmp(err.msg, "line ", 5) != 0) {
        abort(); /* every rejection says where */
    }
    error_clear(&err);
    return 0;
}
