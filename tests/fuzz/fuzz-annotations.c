/* Fuzz target: a pod's annotations as the shim meets them. The input is a config.json; its
 * "annotations" go through pod_annotations_from_json and then everything that reads them:
 *   - the pod decisions of annotations/pod.h (role, sandbox id, image key, sizing, policy);
 *   - the VM plan `cocoonctl render` shows (sandbox_vm_spec: enable_annotations, valid_*_paths,
 *     the overrides, init-data, static sizing) with the shipped SNP and TDX configurations and
 *     one that enables every annotation and path, then the domain XML, which must parse and
 *     carry each value exactly as planned (no markup injected, nothing lost);
 *   - guest pull (annotations/guest-pull.h): the force annotation, and the image_guest_pull
 *     Storage with the rootfs options described by the input's "fuzz" member (ignored by the
 *     shim's own reading of a config.json):
 *       "fuzz": {"id": "pod-1",                         sandbox and container id
 *                "rootfs": ["opt", ...],                rootfs mount options as they are
 *                "volume": {...},                       a KataVirtualVolume, serialised and
 *                                                       base64-encoded into an
 *                                                       io.katacontainers.volume option
 *                "volume_text": "..."}                  the same with this text as the JSON
 * Log lines (ignored annotations) go to /dev/null; policies and init-data are never logged. */
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "annotations/guest-pull.h"
#include "annotations/pod.h"
#include "lib/base64.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "shim/config.h"
#include "shim/sandbox-vm.h"
#include "tests/fuzz/fuzz.h"
#include "vmm/domain-xml.h"

#define DEFAULT_ID "fuzz-pod-1"
#define MAX_ROOTFS_OPTIONS 8

static void check(bool ok)
{
    if (!ok)
        abort();
}

static void check_refused(const struct error *err, const char *prefix)
{
    check(err->code == GRPC_INVALID_ARGUMENT && err->msg &&
          (!prefix || strncmp(err->msg, prefix, strlen(prefix)) == 0));
}

/* --- configurations --- */

static void set_list(struct config_list *l, const char *const *items, size_t n)
{
    for (size_t i = 0; i < l->len; i++)
        free(l->items[i]);
    free(l->items);
    l->items = xcalloc(n + 1, sizeof(*l->items));
    for (size_t i = 0; i < n; i++)
        l->items[i] = xstrdup(items[i]);
    l->len = n;
}

static struct config *load(const char *name)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", COCOON_CONFIGS_DIR, name);
    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    struct config *cfg = NULL;
    if (config_load(path, &cfg, &err) < 0) {
        fprintf(stderr, "fuzz-annotations: %s\n", err.msg); /* a harness error, not a finding */
        abort();
    }
    return cfg;
}

/* The shipped SNP and TDX configurations, and the development one opened wide: every
 * annotation enabled, path overrides allowed under /opt/ and /usr/share/, static sizing on. */
static struct config *configs[3];

static void init(void)
{
    static const char *const all[] = {".*"};
    static const char *const globs[] = {"/opt/*/*", "/usr/share/*"};
    configs[0] = load("cocoon-snp.toml");
    configs[1] = load("cocoon-tdx.toml");
    struct config *wide = configs[2] = load("cocoon-dev.toml");
    set_list(&wide->hypervisor.enable_annotations, all, 1);
    set_list(&wide->hypervisor.valid_kernel_paths, globs, 2);
    set_list(&wide->hypervisor.valid_initrd_paths, globs, 2);
    set_list(&wide->hypervisor.valid_image_paths, globs, 2);
    set_list(&wide->hypervisor.valid_firmware_paths, globs, 2);
    wide->runtime.static_sandbox_resource_mgmt = true;
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null < 0)
        abort();
    log_set_fd(null);
    xmlInitParser();
}

/* --- the domain XML --- */

static void xml_freep(xmlDocPtr *doc)
{
    if (*doc)
        xmlFreeDoc(*doc);
}

/* The text XPath expression expr selects is want (NULL: the element is absent). */
static void check_text(xmlXPathContextPtr ctx, const char *expr, const char *want)
{
    xmlXPathObjectPtr o = xmlXPathEvalExpression((const xmlChar *)expr, ctx);
    check(o && o->type == XPATH_NODESET);
    int n = o->nodesetval ? o->nodesetval->nodeNr : 0;
    if (!want) {
        check(n == 0);
    } else {
        check(n == 1);
        xmlChar *got = xmlNodeGetContent(o->nodesetval->nodeTab[0]);
        check(got && strcmp((const char *)got, want) == 0);
        xmlFree(got);
    }
    xmlXPathFreeObject(o);
}

/* The XML is well-formed and says what the plan says, byte for byte. */
static void check_xml(const char *xml, const struct vm_spec *spec)
{
    _cleanup_(xml_freep) xmlDocPtr doc =
        xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL,
                      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    check(doc != NULL);
    xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    check(ctx != NULL);
    check(xmlXPathRegisterNs(ctx, (const xmlChar *)DOMAIN_XML_METADATA_PREFIX,
                             (const xmlChar *)DOMAIN_XML_METADATA_NS) == 0);
    check_text(ctx, "/domain/name", spec->name);
    check_text(ctx, "/domain/metadata/cocoon:sandbox", spec->sandbox_id);
    check_text(ctx, "/domain/os/kernel", spec->kernel);
    check_text(ctx, "/domain/os/initrd", spec->initrd);
    check_text(ctx, "/domain/os/cmdline", spec->kernel_params);
    xmlXPathFreeContext(ctx);
}

static void render(const struct config *cfg, const char *id, const struct pod_annotations *pa)
{
    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    _cleanup_(vm_spec_free) struct vm_spec spec = {0};
    _cleanup_(initdata_freep) struct initdata *d = NULL;
    if (sandbox_vm_spec(cfg, id, pa->items, pa->len, &spec, &d, &err) < 0) {
        check(d == NULL);
        check_refused(&err, NULL);
        return;
    }
    if (d) {
        _cleanup_free_ uint8_t *img = NULL;
        size_t len = 0;
        check(initdata_disk_image(d, &img, &len, &err) == 0 && len % INITDATA_DISK_BLOCK == 0);
    }
    _cleanup_free_ char *xml = NULL;
    if (domain_xml_build(&spec, &xml, &err) < 0) {
        check(xml == NULL);
        check_refused(&err, NULL);
        return;
    }
    check_xml(xml, &spec);
}

/* --- guest pull --- */

struct rootfs {
    char *opts[MAX_ROOTFS_OPTIONS];
    size_t n;
};

static void rootfs_clear(struct rootfs *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->opts[i]);
    r->n = 0;
}

static void add_volume(struct rootfs *r, const char *json, size_t len)
{
    if (r->n == MAX_ROOTFS_OPTIONS)
        return;
    _cleanup_free_ char *b64 = base64_encode((const uint8_t *)json, len);
    r->opts[r->n++] = xasprintf(GUEST_PULL_VOLUME_OPTION "=%s", b64);
}

/* The harness's own member: see the top of the file. */
static const char *read_fuzz_member(json_t *root, struct rootfs *r)
{
    json_t *fz = json_object_get(root, "fuzz");
    json_t *id = json_object_get(fz, "id"), *opts = json_object_get(fz, "rootfs");
    json_t *vol = json_object_get(fz, "volume"), *text = json_object_get(fz, "volume_text");
    size_t i;
    json_t *o;
    json_array_foreach(opts, i, o)
    {
        if (json_is_string(o) && r->n < MAX_ROOTFS_OPTIONS)
            r->opts[r->n++] = xstrndup(json_string_value(o), json_string_length(o));
    }
    if (vol) {
        _cleanup_free_ char *s = json_dumps(vol, JSON_COMPACT | JSON_ENCODE_ANY);
        if (s)
            add_volume(r, s, strlen(s));
    }
    if (json_is_string(text))
        add_volume(r, json_string_value(text), json_string_length(text));
    return json_is_string(id) ? json_string_value(id) : DEFAULT_ID;
}

/* The metadata the agent gets holds every annotation but the private ones, with its value. */
static void check_storage(const Grpc__Storage *st, const char *id, const struct pod_annotations *pa,
                          bool force)
{
    check(protobuf_c_message_check(&st->base));
    check(strcmp(st->driver, GUEST_PULL_DRIVER) == 0 && st->n_driver_options == 1);
    _cleanup_free_ char *mp = xasprintf("/run/kata-containers/%s/rootfs", id);
    check(strcmp(st->mount_point, mp) == 0);
    static const char prefix[] = GUEST_PULL_DRIVER "=";
    const char *opt = st->driver_options[0];
    check(strncmp(opt, prefix, sizeof(prefix) - 1) == 0);
    _cleanup_(json_decrefp) json_t *doc = json_loads(opt + sizeof(prefix) - 1, 0, NULL);
    json_t *md = json_object_get(doc, "metadata");
    check(json_is_object(md));
    for (size_t i = 0; i < pa->len; i++) {
        json_t *v = json_object_get(md, pa->items[i].key);
        if (!annotation_is_private(pa->items[i].key))
            check(json_is_string(v) && strcmp(json_string_value(v), pa->items[i].value) == 0);
        else if (force) /* the metadata started empty: nothing private may be there */
            check(v == NULL);
    }
}

static void guest_pull(const char *id, const struct pod_annotations *pa, const struct rootfs *r)
{
    for (int configured = 0; configured < 2; configured++) {
        _cleanup_(error_clearp) struct error err = ERROR_INIT;
        bool force = false;
        if (guest_pull_forced(configured, pa->items, pa->len, &force, &err) < 0) {
            check_refused(&err, "guest pull: ");
            continue;
        }
        struct guest_pull_input in = {
            .container_id = id,
            .anns = pa->items,
            .n_anns = pa->len,
            .rootfs_options = r->opts,
            .n_rootfs_options = r->n,
            .force = force,
        };
        Grpc__Storage *st = (Grpc__Storage *)1;
        int rc = guest_pull_storage(&in, &st, &err);
        if (rc == 1)
            check_storage(st, id, pa, force);
        else if (rc == 0)
            check(st == NULL && !force);
        else
            check(st == NULL && err.msg && strncmp(err.msg, "guest pull: ", 12) == 0);
        if (rc == 1)
            guest_pull_storage_free(st);
    }
}

/* --- the pod's decisions --- */

static void decisions(const struct pod_annotations *pa)
{
    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    enum pod_role role;
    if (pod_role(pa->items, pa->len, &role, &err) < 0)
        check_refused(&err, "annotation ");
    const char *sid = pod_sandbox_id(pa->items, pa->len);
    check(!sid || *sid);
    const char *key = pod_image_name_key(pa->items, pa->len);
    check(strcmp(key, ANNOTATION_CRI_IMAGE_NAME) == 0 ||
          strcmp(key, ANNOTATION_CRIO_IMAGE_NAME) == 0);
    uint64_t vcpus, mib;
    error_clear(&err);
    if (pod_sandbox_resources(pa->items, pa->len, &vcpus, &mib, &err) < 0)
        check_refused(&err, "annotation ");
    _cleanup_free_ char *rego = NULL;
    error_clear(&err);
    if (pod_policy(pa->items, pa->len, &rego, &err) < 0)
        check(rego == NULL && err.code == GRPC_INVALID_ARGUMENT);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool initialised;
    if (!initialised) {
        init();
        initialised = true;
    }
    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    _cleanup_(pod_annotations_free) struct pod_annotations pa = {0};
    if (pod_annotations_from_json((const char *)data, size, &pa, &err) < 0) {
        check(pa.items == NULL && pa.len == 0);
        check_refused(&err, "config.json: ");
        return 0;
    }
    for (size_t i = 0; i < pa.len; i++)
        check(annotation_get(pa.items, pa.len, pa.items[i].key) != NULL);
    decisions(&pa);

    _cleanup_(json_decrefp) json_t *root = json_loadb((const char *)data, size, 0, NULL);
    _cleanup_(rootfs_clear) struct rootfs r = {0};
    const char *id = root ? read_fuzz_member(root, &r) : DEFAULT_ID;
    for (size_t i = 0; i < sizeof(configs) / sizeof(configs[0]); i++)
        render(configs[i], id, &pa);
    guest_pull(id, &pa, &r);
    return 0;
}
