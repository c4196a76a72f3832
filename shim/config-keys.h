/* Private to shim/config*.c, the loading of the configuration (shim/config.h is the API): the
 * keys table and what the files that apply, check and dump its values share. config.c holds the
 * table, the defaults, the files and the checks across keys; config-values.c checks and sets one
 * key's value by its kind; config-extensions.c the guest_extension_images array; config-dump.c
 * writes the configuration back as TOML. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lib/error.h"
#include "lib/toml.h"
#include "shim/config.h"

#define HV "hypervisor.libvirt"

/* --- the keys --- */

enum kind {
    KIND_STRING,     /* char *, any text */
    KIND_PATH,       /* char *, "" or an absolute path */
    KIND_CHOICE,     /* char *, one of choices */
    KIND_ENUM,       /* an enum field: the index into choices */
    KIND_BOOL,       /* bool */
    KIND_UINT,       /* unsigned, min..max */
    KIND_U64,        /* uint64_t, min..max, then check */
    KIND_BASE64,     /* char *, "" or the base64 of `bytes` bytes */
    KIND_VERITY,     /* char *, "" or dm-verity fields (annotations/verity.h) */
    KIND_REGEXES,    /* struct config_list of POSIX EREs */
    KIND_GLOBS,      /* struct config_list of fnmatch globs on absolute paths */
    KIND_INT,        /* int, min..max (CONFIG_UNSET is -1) */
    KIND_MILLI,      /* int, thousandths of a number written as an integer or a float; min..max
                      * in thousandths, or -1 for CONFIG_UNSET */
    KIND_EXTENSIONS, /* struct config_extensions, an array of tables */
};

struct key {
    const char *section;
    const char *name;
    enum kind kind;
    size_t offset; /* into struct config */
    int64_t min, max;
    const char *const *choices;
    bool required;                    /* KIND_STRING, KIND_PATH: must not be empty */
    const char *(*check)(uint64_t v); /* KIND_U64: NULL or why v is wrong */
    size_t bytes;                     /* KIND_BASE64: decoded length */
    const char *want;                 /* KIND_INT, KIND_MILLI: what a wrong value is told */
};

/* The keys (config.c), grouped by section, in the order config_dump writes them. */
extern const struct key config_keys[];
extern const size_t config_n_keys;

static inline void *field(struct config *cfg, const struct key *k)
{
    return (char *)cfg + k->offset;
}

static inline const void *cfield(const struct config *cfg, const struct key *k)
{
    return (const char *)cfg + k->offset;
}

/* A string with no NUL inside: the only strings a key accepts. */
static inline bool is_plain_string(const struct toml_value *v)
{
    return v->type == TOML_STRING && strlen(v->u.string.ptr) == v->u.string.len;
}

static inline bool is_absolute(const char *s)
{
    return s[0] == '/' && s[1] != '\0';
}

/* --- applying one file --- */

struct origin; /* config.c's: where a key was last set */

struct loader {
    struct config *cfg;
    const char *file;       /* the file being applied */
    struct origin *origins; /* one per config_keys[i] */
};

/* config.c: the owned strings and lists of a struct config */
void config_set_string(char **slot, const char *value);
void config_list_clear(struct config_list *l);
void config_list_add(struct config_list *l, const char *s);

/* config-values.c: the messages that refuse a value, each `file:line:col: ...` */
int config_fail_at(const char *file, struct toml_pos pos, struct error *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* "got ..." text for a value of the wrong type or out of range. Caller frees. */
char *config_describe(const struct toml_value *v);
int config_bad_value(const struct loader *ld, const struct toml_keyval *kv, const char *name,
                     const char *want, struct error *err);

/* config-values.c: s (kv's value, NULL if not a plain string) is "" or dm-verity fields
 * (annotations/verity.h); 0, or -1 with err set. */
int config_check_verity(const struct loader *ld, const struct toml_keyval *kv, const char *name,
                        const char *s, struct error *err);

/* config-values.c: checks kv's value against k's kind and sets it in ld->cfg; name is the key's
 * full name, for the messages. */
int config_apply_value(struct loader *ld, const struct key *k, const struct toml_keyval *kv,
                       const char *name, struct error *err);

/* config-extensions.c: [[hypervisor.libvirt.guest_extension_images]], a KIND_EXTENSIONS key */
int config_apply_extensions(struct loader *ld, const struct key *k, const struct toml_keyval *kv,
                            const char *name, struct error *err);
void config_extensions_clear(struct config_extensions *l);
