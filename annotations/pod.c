#include "annotations/pod.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base64.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

#define MIB (UINT64_C(1) << 20)

const char *annotation_get(const struct annotation *anns, size_t n, const char *key)
{
    const char *value = NULL;
    for (size_t i = 0; anns && i < n; i++)
        if (anns[i].key && strcmp(anns[i].key, key) == 0)
            value = anns[i].value ? anns[i].value : "";
    return value;
}

bool annotation_is_private(const char *key)
{
    return strcmp(key, ANNOTATION_POLICY) == 0 || strcmp(key, ANNOTATION_INITDATA) == 0;
}

/* --- config.json --- */

void pod_annotations_free(struct pod_annotations *a)
{
    for (size_t i = 0; i < a->len; i++) {
        free((char *)a->items[i].key);
        free((char *)a->items[i].value);
    }
    free(a->items);
    a->items = NULL;
    a->len = 0;
}

/* "5", "true", "an object": what a value that should have been a string was. */
static void describe(const json_t *v, char *buf, size_t size)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        snprintf(buf, size, "an object");
        break;
    case JSON_ARRAY:
        snprintf(buf, size, "an array");
        break;
    case JSON_REAL:
        snprintf(buf, size, "%.17g", json_real_value(v));
        break;
    case JSON_INTEGER:
        snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        snprintf(buf, size, "%s", json_is_true(v) ? "true" : "false");
        break;
    case JSON_NULL:
        snprintf(buf, size, "null");
        break;
    default:
        snprintf(buf, size, "a string");
    }
}

int pod_annotations_from_json(const char *json, size_t len, struct pod_annotations *out,
                              struct error *err)
{
    *out = (struct pod_annotations){0};
    json_error_t je;
    /* Integers as reals: a number the rest of the spec may hold beyond int64 (an rlimit of
     * RLIM_INFINITY) must not fail this read, which looks at the annotations only. */
    _cleanup_(json_decrefp) json_t *root =
        json_loadb(json ? json : "", json ? len : 0, JSON_DECODE_INT_AS_REAL, &je);
    if (!root)
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "config.json: invalid JSON at line %d, column %d: %s", je.line, je.column,
                         je.text);
    char got[64];
    if (!json_is_object(root)) {
        describe(root, got, sizeof(got));
        return error_set(err, GRPC_INVALID_ARGUMENT, "config.json: expected a JSON object, got %s",
                         got);
    }
    json_t *anns = json_object_get(root, "annotations");
    if (!anns || json_is_null(anns))
        return 0;
    if (!json_is_object(anns)) {
        describe(anns, got, sizeof(got));
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "config.json: annotations: expected an object, got %s", got);
    }
    out->items = xcalloc(json_object_size(anns) + 1, sizeof(*out->items));
    const char *key;
    json_t *v;
    json_object_foreach(anns, key, v)
    {
        if (!json_is_string(v)) {
            describe(v, got, sizeof(got));
            error_set(err, GRPC_INVALID_ARGUMENT,
                      "config.json: annotations.%s: expected a string, got %s", key, got);
            pod_annotations_free(out);
            return -1;
        }
        out->items[out->len++] = (struct annotation){xstrdup(key), xstrdup(json_string_value(v))};
    }
    return 0;
}

/* --- the task's place in its pod --- */

static const char *const container_type_keys[] = {
    ANNOTATION_CRI_CONTAINER_TYPE,
    ANNOTATION_CRIO_CONTAINER_TYPE,
    ANNOTATION_DOCKER_TYPE,
};

int pod_role(const struct annotation *anns, size_t n, enum pod_role *role, struct error *err)
{
    *role = POD_ROLE_LONE;
    for (size_t i = 0; i < sizeof(container_type_keys) / sizeof(*container_type_keys); i++) {
        const char *v = annotation_get(anns, n, container_type_keys[i]);
        if (!v)
            continue;
        if (strcmp(v, "sandbox") == 0 || strcmp(v, "podsandbox") == 0) {
            *role = POD_ROLE_SANDBOX;
            return 0;
        }
        if (strcmp(v, "container") == 0) {
            *role = POD_ROLE_CONTAINER;
            return 0;
        }
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "annotation %s: unknown container type \"%.64s\" (expected sandbox or "
                         "container)",
                         container_type_keys[i], v);
    }
    return 0;
}

const char *pod_sandbox_id(const struct annotation *anns, size_t n)
{
    static const char *const keys[] = {ANNOTATION_CRI_SANDBOX_ID, ANNOTATION_CRIO_SANDBOX_ID,
                                       ANNOTATION_DOCKER_SANDBOX_ID};
    for (size_t i = 0; i < sizeof(keys) / sizeof(*keys); i++) {
        const char *v = annotation_get(anns, n, keys[i]);
        if (v && *v)
            return v;
    }
    return NULL;
}

const char *pod_image_name_key(const struct annotation *anns, size_t n)
{
    bool crio = !annotation_get(anns, n, ANNOTATION_CRI_CONTAINER_TYPE) &&
                annotation_get(anns, n, ANNOTATION_CRIO_CONTAINER_TYPE);
    return crio ? ANNOTATION_CRIO_IMAGE_NAME : ANNOTATION_CRI_IMAGE_NAME;
}

/* --- the sandbox's size --- */

/* A decimal integer as containerd writes it (strconv.FormatInt). Zero or negative (a quota of
 * -1 is "no limit") leaves *out 0: nothing to add. */
static int resource(const struct annotation *anns, size_t n, const char *key, uint64_t *out,
                    struct error *err)
{
    *out = 0;
    const char *value = annotation_get(anns, n, key);
    if (!value)
        return 0;
    const char *p = value[0] == '-' ? value + 1 : value;
    bool digits = *p != '\0';
    for (const char *q = p; *q; q++)
        digits = digits && *q >= '0' && *q <= '9';
    errno = 0;
    unsigned long long v = digits ? strtoull(p, NULL, 10) : 0;
    if (!digits || errno == ERANGE || v > INT64_MAX)
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "annotation \"%s\": must be a decimal integer, got \"%s\"", key, value);
    *out = p == value ? v : 0;
    return 0;
}

/* One member of CRI-O's resources JSON: an integer (Go's json.Marshal of an int64), absent or
 * null is 0; zero or negative leaves *out 0, as for containerd's annotations. */
static int crio_member(const json_t *obj, const char *key, const char *member, uint64_t *out,
                       struct error *err)
{
    *out = 0;
    json_t *v = json_object_get(obj, member);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v)) {
        char got[64];
        describe(v, got, sizeof(got));
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "annotation \"%s\": %s must be an integer, got %s", key, member, got);
    }
    json_int_t i = json_integer_value(v);
    *out = i > 0 ? (uint64_t)i : 0;
    return 0;
}

static int crio_resources(const struct annotation *anns, size_t n, uint64_t *period,
                          uint64_t *quota, uint64_t *memory, struct error *err)
{
    *period = *quota = *memory = 0;
    const char *key = ANNOTATION_CRIO_POD_RESOURCES;
    const char *value = annotation_get(anns, n, key);
    if (!value) {
        key = ANNOTATION_CRIO_POD_RESOURCES_V1;
        value = annotation_get(anns, n, key);
    }
    if (!value)
        return 0;
    json_error_t je;
    _cleanup_(json_decrefp) json_t *root = json_loads(value, JSON_DECODE_ANY, &je);
    if (!root)
        return error_set(err, GRPC_INVALID_ARGUMENT, "annotation \"%s\": invalid JSON: %s", key,
                         je.text);
    if (json_is_null(root))
        return 0;
    if (!json_is_object(root)) {
        char got[64];
        describe(root, got, sizeof(got));
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "annotation \"%s\": expected a JSON object, got %s", key, got);
    }
    if (crio_member(root, key, "cpu_period", period, err) < 0 ||
        crio_member(root, key, "cpu_quota", quota, err) < 0 ||
        crio_member(root, key, "memory_limit_in_bytes", memory, err) < 0)
        return -1;
    return 0;
}

/* containerd's three annotations when any of them is there, else CRI-O's JSON. */
static int sandbox_sizing(const struct annotation *anns, size_t n, uint64_t *period,
                          uint64_t *quota, uint64_t *memory, struct error *err)
{
    *period = *quota = *memory = 0;
    bool containerd = annotation_get(anns, n, ANNOTATION_SANDBOX_CPU_PERIOD) ||
                      annotation_get(anns, n, ANNOTATION_SANDBOX_CPU_QUOTA) ||
                      annotation_get(anns, n, ANNOTATION_SANDBOX_MEMORY);
    if (!containerd)
        return crio_resources(anns, n, period, quota, memory, err);
    if (resource(anns, n, ANNOTATION_SANDBOX_CPU_PERIOD, period, err) < 0 ||
        resource(anns, n, ANNOTATION_SANDBOX_CPU_QUOTA, quota, err) < 0 ||
        resource(anns, n, ANNOTATION_SANDBOX_MEMORY, memory, err) < 0)
        return -1;
    return 0;
}

int pod_sandbox_resources(const struct annotation *anns, size_t n, uint64_t *vcpus,
                          uint64_t *memory_mib, struct error *err)
{
    uint64_t period, quota, memory;
    *vcpus = *memory_mib = 0;
    if (sandbox_sizing(anns, n, &period, &quota, &memory, err) < 0)
        return -1;
    *vcpus = period && quota ? quota / period + (quota % period != 0) : 0;
    *memory_mib = memory / MIB + (memory % MIB != 0);
    return 0;
}

int pod_sandbox_cpu(const struct annotation *anns, size_t n, uint64_t *quota, uint64_t *period,
                    struct error *err)
{
    uint64_t memory;
    if (sandbox_sizing(anns, n, period, quota, &memory, err) < 0) {
        *quota = *period = 0;
        return -1;
    }
    if (!*quota || !*period)
        *quota = *period = 0;
    return 0;
}

/* --- the agent policy --- */

int pod_policy(const struct annotation *anns, size_t n, char **rego, struct error *err)
{
    *rego = NULL;
    const char *b64 = annotation_get(anns, n, ANNOTATION_POLICY);
    if (!b64 || !*b64)
        return 0;
    _cleanup_free_ uint8_t *text = NULL;
    size_t len;
    if (base64_decode(b64, strlen(b64), &text, &len, err) < 0)
        return error_wrap(err, "annotation %s", ANNOTATION_POLICY);
    if (memchr(text, '\0', len))
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "annotation %s: the policy holds a NUL byte; want Rego text",
                         ANNOTATION_POLICY);
    *rego = xmalloc(len + 1);
    memcpy(*rego, text, len);
    (*rego)[len] = '\0';
    return 0;
}
