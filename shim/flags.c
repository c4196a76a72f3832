/* Go-style flags of the shim binary. */
#include "shim/flags.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/parse.h"
#include "lib/xalloc.h"

#define USAGE                                                                                      \
    "Usage: " SHIM_BINARY_NAME " -namespace NS -id ID -address ADDR [-publish-binary PATH] "       \
    "[-bundle DIR] [-socket ADDR] [-debug] [-v] [-info] [start|delete]"

/* --- flags --- */

enum flag_kind { FLAG_STRING, FLAG_BOOL };

struct flag_def {
    const char *name;
    enum flag_kind kind;
    size_t offset;
};

#define OFF(m) offsetof(struct shim_flags, m)
static const struct flag_def flag_defs[] = {
    {"namespace", FLAG_STRING, OFF(namespace_)},
    {"id", FLAG_STRING, OFF(id)},
    {"address", FLAG_STRING, OFF(address)},
    {"publish-binary", FLAG_STRING, OFF(publish_binary)},
    {"bundle", FLAG_STRING, OFF(bundle)},
    {"socket", FLAG_STRING, OFF(socket)},
    {"debug", FLAG_BOOL, OFF(debug)},
    {"v", FLAG_BOOL, OFF(version)},
    {"version", FLAG_BOOL, OFF(version)},
    {"info", FLAG_BOOL, OFF(info)},
};
#undef OFF

static int usage_error(struct error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int usage_error(struct error *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *msg = xvasprintf(fmt, ap);
    va_end(ap);
    return error_set(err, GRPC_INVALID_ARGUMENT, "%s\n%s", msg, USAGE);
}

static const struct flag_def *find_flag(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(flag_defs) / sizeof(flag_defs[0]); i++)
        if (strlen(flag_defs[i].name) == len && strncmp(flag_defs[i].name, name, len) == 0)
            return &flag_defs[i];
    return NULL;
}

int shim_flags_parse(int argc, char **argv, struct shim_flags *f, struct error *err)
{
    memset(f, 0, sizeof(*f));
    int i = 0;
    for (; i < argc; i++) {
        const char *arg = argv[i];
        if (arg[0] != '-' || arg[1] == '\0')
            break; /* the first non-flag argument ends the flags, as in Go */
        const char *name = arg + 1;
        if (name[0] == '-') {
            name++;
            if (name[0] == '\0') { /* "--" ends the flags */
                i++;
                break;
            }
        }
        if (name[0] == '-' || name[0] == '=')
            return usage_error(err, "bad flag syntax: %s", arg);
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const struct flag_def *def = find_flag(name, len);
        if (!def)
            return usage_error(err, "flag provided but not defined: -%.*s", (int)len, name);
        char *field = (char *)f + def->offset;
        if (def->kind == FLAG_BOOL) {
            bool v = true;
            if (eq && parse_go_bool(eq + 1, &v) < 0)
                return usage_error(err, "invalid boolean value \"%s\" for -%s", eq + 1, def->name);
            *(bool *)field = v;
        } else {
            const char *v;
            if (eq)
                v = eq + 1;
            else if (i + 1 < argc)
                v = argv[++i]; /* Go takes the next argument whatever it looks like */
            else
                return usage_error(err, "flag needs an argument: -%s", def->name);
            *(const char **)field = v;
        }
    }
    if (i < argc) {
        const char *action = argv[i];
        if (strcmp(action, "start") != 0 && strcmp(action, "delete") != 0)
            return usage_error(err, "unknown action \"%s\" (expected start or delete)", action);
        if (i + 1 < argc)
            return usage_error(err, "unexpected argument \"%s\" after %s", argv[i + 1], action);
        f->action = action;
    }
    return 0;
}

/* containerd never sends such names. */
static int check_name(const char *flag, const char *v, struct error *err)
{
    if (!v || !*v)
        return error_set(err, GRPC_INVALID_ARGUMENT, "-%s is required", flag);
    if (strchr(v, '/') || strcmp(v, ".") == 0 || strcmp(v, "..") == 0)
        return error_set(err, GRPC_INVALID_ARGUMENT, "-%s \"%s\": not a valid name", flag, v);
    return 0;
}

int shim_flags_check_names(const struct shim_flags *f, struct error *err)
{
    return check_name("namespace", f->namespace_, err) < 0 || check_name("id", f->id, err) < 0 ? -1
                                                                                               : 0;
}

char *shim_flags_bundle(const struct shim_flags *f)
{
    if (f->bundle && *f->bundle)
        return xstrdup(f->bundle);
    char *cwd = getcwd(NULL, 0);
    return cwd ? cwd : xstrdup(".");
}
