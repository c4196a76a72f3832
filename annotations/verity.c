#include "annotations/verity.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/xalloc.h"

#define SECTOR 512

enum field {
    F_ROOT_HASH,
    F_SALT,
    F_DATA_BLOCKS,
    F_DATA_BLOCK_SIZE,
    F_HASH_BLOCK_SIZE,
    N_FIELDS,
};

static const char *const field_names[N_FIELDS] = {"root_hash", "salt", "data_blocks",
                                                  "data_block_size", "hash_block_size"};

static int bad(struct error *err, const char *field, const char *value, const char *want)
{
    return error_set(err, GRPC_INVALID_ARGUMENT, "%s \"%s\": %s", field, value, want);
}

static bool is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789abcdefABCDEF", s[i]) || s[i] == '\0')
            return false;
    return true;
}

/* A plain decimal number, as Kata reads it (Rust's u64 parse), but without a sign. */
static int parse_u64(const char *field, const char *value, uint64_t *out, struct error *err)
{
    bool digits = *value != '\0';
    for (const char *p = value; *p; p++)
        digits = digits && *p >= '0' && *p <= '9';
    errno = 0;
    unsigned long long v = digits ? strtoull(value, NULL, 10) : 0;
    if (!digits || errno == ERANGE)
        return bad(err, field, value, "want a decimal number");
    if (v == 0)
        return bad(err, field, value, "must not be 0");
    *out = v;
    return 0;
}

/* dm-verity refuses a block size that is not a power of two from a sector to a page; Kata
 * checks only the multiple of 512, which leaves the guest to fail at boot. */
static int parse_block_size(const char *field, const char *value, uint64_t *out, struct error *err)
{
    if (parse_u64(field, value, out, err) < 0)
        return -1;
    if (*out < VERITY_BLOCK_MIN || *out > VERITY_BLOCK_MAX || (*out & (*out - 1)))
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "%s \"%s\": want a power of two from %d to %d bytes", field, value,
                         VERITY_BLOCK_MIN, VERITY_BLOCK_MAX);
    return 0;
}

static int set_field(enum field f, const char *value, struct verity_params *out, struct error *err)
{
    const char *name = field_names[f];
    size_t n = strlen(value);
    switch (f) {
    case F_ROOT_HASH:
        if (n != VERITY_ROOT_HASH_HEX || !is_hex(value, n))
            return bad(err, name, value, "want the sha256 root hash, 64 hex digits");
        memcpy(out->root_hash, value, n + 1);
        return 0;
    case F_SALT:
        if (strcmp(value, "-") != 0 &&
            (n == 0 || n % 2 || n > VERITY_SALT_MAX_HEX || !is_hex(value, n)))
            return bad(err, name, value,
                       "want an even number of hex digits (at most 512), or \"-\" for none");
        memcpy(out->salt, value, n + 1);
        return 0;
    case F_DATA_BLOCKS:
        return parse_u64(name, value, &out->data_blocks, err);
    case F_DATA_BLOCK_SIZE:
        return parse_block_size(name, value, &out->data_block_size, err);
    case F_HASH_BLOCK_SIZE:
        return parse_block_size(name, value, &out->hash_block_size, err);
    case N_FIELDS:
        break;
    }
    abort();
}

static int find_field(const char *name, size_t n)
{
    for (int f = 0; f < N_FIELDS; f++)
        if (strlen(field_names[f]) == n && strncmp(field_names[f], name, n) == 0)
            return f;
    return -1;
}

int verity_params_parse(const char *text, struct verity_params *out, struct error *err)
{
    memset(out, 0, sizeof(*out));
    if (strpbrk(text, " \t\n\r\v\f\""))
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "\"%s\": holds a space or a quote; want "
                         "root_hash=...,salt=...,data_blocks=...,data_block_size=...,"
                         "hash_block_size=...",
                         text);
    bool seen[N_FIELDS] = {false};
    _cleanup_free_ char *copy = xstrdup(text);
    char *rest = copy;
    for (char *item; (item = strsep(&rest, ","));) {
        if (!*item)
            continue; /* Kata skips empty items: "a=1,,b=2" */
        char *eq = strchr(item, '=');
        int f = eq ? find_field(item, (size_t)(eq - item)) : -1;
        if (f < 0)
            return error_set(err, GRPC_INVALID_ARGUMENT,
                             "\"%s\": not one of root_hash=, salt=, data_blocks=, "
                             "data_block_size=, hash_block_size=",
                             item);
        if (seen[f])
            return error_set(err, GRPC_INVALID_ARGUMENT, "%s: given twice", field_names[f]);
        seen[f] = true;
        if (set_field((enum field)f, eq + 1, out, err) < 0)
            return -1;
    }
    for (int f = 0; f < N_FIELDS; f++)
        if (!seen[f])
            return error_set(err, GRPC_INVALID_ARGUMENT, "%s: missing", field_names[f]);
    if (out->data_blocks > UINT64_MAX / (out->data_block_size / SECTOR))
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "data_blocks %llu of %llu bytes: more sectors than the table can hold",
                         (unsigned long long)out->data_blocks,
                         (unsigned long long)out->data_block_size);
    return 0;
}

/* --- the root's kernel parameters --- */

/* The next parameter of s at *pos, as the kernel splits them (spaces outside double quotes);
 * sets *start and *len, or returns false at the end. */
static bool next_param(const char *s, size_t *pos, size_t *start, size_t *len)
{
    size_t i = *pos;
    while (s[i] == ' ')
        i++;
    if (!s[i])
        return false;
    *start = i;
    bool quoted = false;
    for (; s[i] && (quoted || s[i] != ' '); i++)
        if (s[i] == '"')
            quoted = !quoted;
    *len = i - *start;
    *pos = i;
    return true;
}

static bool has_key(const char *param, size_t len, const char *key)
{
    size_t k = strlen(key);
    return len > k && strncmp(param, key, k) == 0 && param[k] == '=';
}

/* Kata's kernelVerityRootFlags / kernel_verity_root_flags. */
static const char *root_flags(const char *fstype)
{
    if (strcmp(fstype, "ext4") == 0)
        return "data=ordered,errors=remount-ro ro";
    if (strcmp(fstype, "xfs") == 0 || strcmp(fstype, "erofs") == 0)
        return "ro";
    return NULL;
}

char *verity_root_kernel_params(const char *kernel_params, const struct verity_params *p,
                                struct error *err)
{
    const char *s = kernel_params ? kernel_params : "";
    _cleanup_free_ char *kept = xstrdup("");
    _cleanup_free_ char *fstype = xstrdup("ext4");
    size_t pos = 0, start, len;
    while (next_param(s, &pos, &start, &len)) {
        const char *param = s + start;
        if (has_key(param, len, "rootfstype")) {
            free(fstype);
            fstype = xstrndup(param + 11, len - 11);
        }
        if (has_key(param, len, "root") || has_key(param, len, "rootflags") ||
            has_key(param, len, "rootfstype"))
            continue;
        char *next = xasprintf("%s%.*s ", kept, (int)len, param);
        free(kept);
        kept = next;
    }
    const char *flags = root_flags(fstype);
    if (!flags) {
        error_set(err, GRPC_INVALID_ARGUMENT,
                  "rootfstype \"%s\" in kernel_params: a dm-verity root is ext4, xfs or erofs",
                  fstype);
        return NULL;
    }
    unsigned long long sectors = p->data_block_size / SECTOR * p->data_blocks;
    return xasprintf("%sdm-mod.create=\"dm-verity,,,ro,0 %llu verity 1 " VERITY_ROOT_DATA
                     " " VERITY_ROOT_HASH " %llu %llu %llu 0 sha256 %s %s\" root=/dev/dm-0 "
                     "rootflags=%s rootfstype=%s",
                     kept, sectors, (unsigned long long)p->data_block_size,
                     (unsigned long long)p->hash_block_size, (unsigned long long)p->data_blocks,
                     p->root_hash, p->salt, flags, fstype);
}
