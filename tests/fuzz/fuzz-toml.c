/* Fuzz target: arbitrary bytes as a TOML document. The parser must accept or reject them with a
 * positioned message, never crash, hang or leak. Built as a libFuzzer target with
 * -DCOCOON_LIBFUZZER, else main() replays the corpus files and folders given as arguments
 * (meson suite 'fuzz'), printing TAP. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/error.h"
#include "lib/toml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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

#ifndef COCOON_LIBFUZZER
static int run_file(const char *path, int *runs)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    size_t cap = 1 << 16, len = 0, got;
    uint8_t *buf = malloc(cap);
    while (buf && (got = fread(buf + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) {
            uint8_t *bigger = realloc(buf, cap *= 2);
            if (!bigger)
                free(buf);
            buf = bigger;
        }
    }
    fclose(f);
    if (!buf)
        abort();
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
    printf("ok %d - %s\n", ++*runs, path);
    return 0;
}

static int run_dir(const char *dir, int *runs)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    if (n < 0) {
        perror(dir);
        return -1;
    }
    int r = 0;
    for (int i = 0; i < n; i++) {
        if (r == 0 && names[i]->d_name[0] != '.') {
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
            r = run_file(path, runs);
        }
        free(names[i]);
    }
    free(names);
    return r;
}

int main(int argc, char **argv)
{
    int runs = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) < 0) {
            perror(argv[i]);
            return 1;
        }
        if ((S_ISDIR(st.st_mode) ? run_dir(argv[i], &runs) : run_file(argv[i], &runs)) < 0)
            return 1;
    }
    printf("1..%d\n", runs);
    return runs > 0 ? 0 : 1;
}
#endif
