/* cocoonctl check [--config FILE] [--containerd-config PATH] [--json]: is this node ready to run
 * pods with that configuration (node/check.h)? Exit status 0 when every check passed, 1 when
 * one failed, each failure with what to do. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cmd/cocoonctl-node.h"
#include "node/check.h"
#include "node/containerd-install.h"
#include "shim/config.h"

#define EXIT_USAGE 2

static int usage(const char *msg, const char *arg)
{
    fprintf(stderr, "cocoonctl: check: %s %s (see cocoonctl --help)\n", msg, arg);
    return EXIT_USAGE;
}

static void print_json(const struct check_report *r)
{
    json_t *checks = json_array();
    for (size_t i = 0; i < r->len; i++) {
        const struct check_result *c = &r->items[i];
        json_array_append_new(checks, json_pack("{s:s, s:b, s:s, s:o}", "name", c->name, "ok",
                                                c->ok, "detail", c->detail, "remedy",
                                                c->remedy ? json_string(c->remedy) : json_null()));
    }
    json_t *o = json_pack("{s:b, s:o}", "ok", check_report_ok(r), "checks", checks);
    if (!o)
        abort(); /* only out of memory: the xalloc convention */
    json_dumpf(o, stdout, JSON_INDENT(2));
    fputc('\n', stdout);
    json_decref(o);
}

static void print_text(const struct check_report *r)
{
    size_t failed = 0;
    for (size_t i = 0; i < r->len; i++) {
        const struct check_result *c = &r->items[i];
        printf("%-4s  %-12s %s\n", c->ok ? "ok" : "FAIL", c->name, c->detail);
        if (!c->ok) {
            printf("      %-12s do: %s\n", "", c->remedy ? c->remedy : "?");
            failed++;
        }
    }
    if (failed)
        printf("%zu of %zu checks failed: this node cannot run cocoon pods with this "
               "configuration yet\n",
               failed, r->len);
    else
        printf("all %zu checks passed\n", r->len);
}

int cocoonctl_check(int argc, char *argv[])
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"containerd-config", required_argument, NULL, 'C'},
        {"json", no_argument, NULL, 'j'},
        {0},
    };
    struct check_opts o = {
        .config_path = config_default_path(),
        .containerd_config = CTD_DEFAULT_CONFIG,
    };
    bool json = false;
    int c;
    while ((c = getopt_long(argc, argv, ":c:C:j", options, NULL)) != -1) {
        switch (c) {
        case 'c':
            o.config_path = optarg;
            break;
        case 'C':
            o.containerd_config = optarg;
            break;
        case 'j':
            json = true;
            break;
        case ':':
            return usage("this option needs a value:", argv[optind - 1]);
        default:
            return usage("unknown option", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage("unexpected argument", argv[optind]);
    struct check_report r;
    node_check(&o, &r);
    if (json)
        print_json(&r);
    else
        print_text(&r);
    bool ok = check_report_ok(&r);
    check_report_free(&r);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        perror("cocoonctl: write to stdout");
        return EXIT_FAILURE;
    }
    return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
