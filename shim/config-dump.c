/* config_dump: the effective configuration as TOML, key by key in the keys table's order. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "shim/config-keys.h"

static void dump_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* CONFIG_UNSET as -1, else the shortest float: 400 -> 0.4, 2000 -> 2.0 */
static void dump_milli(FILE *f, int milli)
{
    if (milli == CONFIG_UNSET) {
        fputs("-1", f);
        return;
    }
    char frac[8];
    snprintf(frac, sizeof(frac), "%03u", (unsigned)milli % 1000);
    for (int i = 2; i > 0 && frac[i] == '0'; i--)
        frac[i] = '\0';
    fprintf(f, "%d.%s", milli / 1000, frac);
}

/* Inline tables, so that the array stays a key of [hypervisor.libvirt] like every other. */
static void dump_extensions(FILE *f, const struct config_extensions *l)
{
    fputc('[', f);
    for (size_t i = 0; i < l->len; i++) {
        fputs(i ? ", {name = " : "{name = ", f);
        dump_string(f, l->items[i].name);
        fputs(", path = ", f);
        dump_string(f, l->items[i].path);
        fputs(", verity_params = ", f);
        dump_string(f, l->items[i].verity_params);
        fputc('}', f);
    }
    fputc(']', f);
}

static void dump_value(const struct config *cfg, const struct key *k, FILE *f)
{
    const void *p = cfield(cfg, k);
    switch (k->kind) {
    case KIND_STRING:
    case KIND_PATH:
    case KIND_CHOICE:
    case KIND_BASE64:
    case KIND_VERITY:
        dump_string(f, *(char *const *)p);
        break;
    case KIND_ENUM:
        dump_string(f, k->choices[*(const int *)p]);
        break;
    case KIND_BOOL:
        fputs(*(const bool *)p ? "true" : "false", f);
        break;
    case KIND_UINT:
        fprintf(f, "%u", *(const unsigned *)p);
        break;
    case KIND_INT:
        fprintf(f, "%d", *(const int *)p);
        break;
    case KIND_MILLI:
        dump_milli(f, *(const int *)p);
        break;
    case KIND_EXTENSIONS:
        dump_extensions(f, p);
        break;
    case KIND_U64: /* policies are bit masks */
        fprintf(f, "0x%" PRIx64, *(const uint64_t *)p);
        break;
    case KIND_REGEXES:
    case KIND_GLOBS: {
        const struct config_list *l = p;
        fputc('[', f);
        for (size_t i = 0; i < l->len; i++) {
            if (i)
                fputs(", ", f);
            dump_string(f, l->items[i]);
        }
        fputc(']', f);
        break;
    }
    }
}

void config_dump(const struct config *cfg, FILE *f)
{
    fputs("# Effective cocoon configuration", f);
    for (size_t i = 0; i < cfg->files.len; i++)
        fprintf(f, "%s%s", i ? "\n#   + " : ", from\n#   ", cfg->files.items[i]);
    fputc('\n', f);
    const char *section = NULL;
    for (size_t i = 0; i < config_n_keys; i++) {
        if (!section || strcmp(section, config_keys[i].section) != 0) {
            section = config_keys[i].section;
            fprintf(f, "\n[%s]\n", section);
        }
        fprintf(f, "%s = ", config_keys[i].name);
        dump_value(cfg, &config_keys[i], f);
        fputc('\n', f);
    }
}
