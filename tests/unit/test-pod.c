/* annotations/pod: the one home of what a pod's annotations mean: the lookup and its rule for a
 * key given twice, config.json's annotations, the task's role, its sandbox and image, the
 * sandbox's size and the agent policy. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "annotations/pod.h"
#include "lib/base64.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"
#include "tests/common/run-tap.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Fixtures are written with ' for " to stay readable; q() turns them into JSON. */
static char *q(const char *s)
{
    char *r = xstrdup(s);
    for (char *p = r; *p; p++)
        if (*p == '\'')
            *p = '"';
    return r;
}

/* The annotations containerd's CRI writes into a container's config.json, and Kata's. */
static const char CRI_CONTAINER[] =
    "{'ociVersion':'1.0.2-dev','process':{'args':['sh'],"
    "  'rlimits':[{'type':'RLIMIT_MEMLOCK','hard':18446744073709551615,'soft':1}]},"
    " 'annotations':{'io.kubernetes.cri.container-type':'container',"
    "  'io.kubernetes.cri.container-name':'web',"
    "  'io.kubernetes.cri.image-name':'registry.example.com/web:1.0',"
    "  'io.kubernetes.cri.sandbox-id':'5c0d2f7a',"
    "  'io.kubernetes.cri.sandbox-name':'web-0','io.kubernetes.cri.sandbox-namespace':'default',"
    "  'io.katacontainers.config.agent.policy':'cGFja2FnZSBhZ2VudF9wb2xpY3k=',"
    "  'io.katacontainers.config.hypervisor.cc_init_data':'H4sIAAAAAAAAA0s=',"
    "  'io.katacontainers.config.hypervisor.default_vcpus':'2'}}";

static void anns(const char *fixture, struct pod_annotations *a)
{
    _cleanup_free_ char *json = q(fixture);
    struct error err = ERROR_INIT;
    ck_assert_msg(pod_annotations_from_json(json, strlen(json), a, &err) == 0, "%s", err.msg);
}

static enum pod_role role_of(const char *fixture)
{
    struct pod_annotations a;
    anns(fixture, &a);
    enum pod_role role;
    struct error err = ERROR_INIT;
    ck_assert_msg(pod_role(a.items, a.len, &role, &err) == 0, "%s", err.msg);
    pod_annotations_free(&a);
    return role;
}

static void role_fails(const char *fixture, const char *msg)
{
    struct pod_annotations a;
    anns(fixture, &a);
    enum pod_role role;
    struct error err = ERROR_INIT;
    ck_assert_int_eq(pod_role(a.items, a.len, &role, &err), -1);
    ck_assert_int_eq(err.code, GRPC_INVALID_ARGUMENT);
    ck_assert_str_eq(err.msg, msg);
    error_clear(&err);
    pod_annotations_free(&a);
}

START_TEST(test_lookup)
{
    static const struct annotation a[] = {
        {"k", "first"}, {"other", "x"}, {"k", "last"}, {"empty", ""}, {"nullv", NULL}};
    ck_assert_str_eq(annotation_get(a, N(a), "k"), "last"); /* a later value overrides */
    ck_assert_str_eq(annotation_get(a, N(a), "empty"), "");
    ck_assert_str_eq(annotation_get(a, N(a), "nullv"), "");
    ck_assert_ptr_null(annotation_get(a, N(a), "K")); /* keys are case-sensitive */
    ck_assert_ptr_null(annotation_get(a, N(a), "absent"));
    ck_assert_ptr_null(annotation_get(NULL, 0, "k"));
    ck_assert_ptr_null(annotation_get(a, 2, "nullv")); /* only the first n count */

    ck_assert(annotation_is_private("io.katacontainers.config.agent.policy"));
    ck_assert(annotation_is_private("io.katacontainers.config.hypervisor.cc_init_data"));
    ck_assert(!annotation_is_private("io.katacontainers.config.hypervisor.default_vcpus"));
    ck_assert(!annotation_is_private("io.kubernetes.cri.image-name"));
}
END_TEST

START_TEST(test_from_json)
{
    struct pod_annotations a;
    anns(CRI_CONTAINER, &a);
    ck_assert_uint_eq(a.len, 9); /* all of them: the policy and init-data are the sandbox's */
    ck_assert_str_eq(annotation_get(a.items, a.len, "io.kubernetes.cri.image-name"),
                     "registry.example.com/web:1.0");
    ck_assert_str_eq(annotation_get(a.items, a.len, ANNOTATION_INITDATA), "H4sIAAAAAAAAA0s=");
    ck_assert_ptr_null(annotation_get(a.items, a.len, "io.kubernetes.cri.image"));
    ck_assert_str_eq(pod_sandbox_id(a.items, a.len), "5c0d2f7a");
    pod_annotations_free(&a);
    ck_assert_ptr_null(a.items);
    ck_assert_uint_eq(a.len, 0);
    pod_annotations_free(&a); /* twice is harmless */

    anns("{'ociVersion':'1.0.2'}", &a);
    ck_assert_uint_eq(a.len, 0);
    pod_annotations_free(&a);
    anns("{'annotations':null}", &a);
    ck_assert_uint_eq(a.len, 0);
    pod_annotations_free(&a);

    struct error err = ERROR_INIT;
    static const struct {
        const char *json, *msg;
    } bad[] = {
        {"{'annotations':{'a':'b','n':5}}", "config.json: annotations.n: expected a string, got 5"},
        {"{'annotations':{'t':true}}", "config.json: annotations.t: expected a string, got true"},
        {"{'annotations':{'o':{}}}",
         "config.json: annotations.o: expected a string, got an object"},
        {"{'annotations':'a=b'}", "config.json: annotations: expected an object, got a string"},
        {"{'annotations':[]}", "config.json: annotations: expected an object, got an array"},
        {"[1]", "config.json: expected a JSON object, got an array"},
    };
    for (size_t i = 0; i < N(bad); i++) {
        _cleanup_free_ char *json = q(bad[i].json);
        a.items = (void *)1;
        ck_assert_int_eq(pod_annotations_from_json(json, strlen(json), &a, &err), -1);
        ck_assert_int_eq(err.code, GRPC_INVALID_ARGUMENT);
        ck_assert_str_eq(err.msg, bad[i].msg);
        ck_assert_ptr_null(a.items);
    }
    ck_assert_int_eq(pod_annotations_from_json("[", 1, &a, &err), -1);
    ck_assert_msg(strncmp(err.msg, "config.json: invalid JSON at line 1", 35) == 0, "%s", err.msg);
    ck_assert_int_eq(pod_annotations_from_json(NULL, 0, &a, &err), -1);
    ck_assert_int_eq(err.code, GRPC_INVALID_ARGUMENT);
    /* a string holding NUL cannot be a C string: refused */
    ck_assert_int_eq(
        pod_annotations_from_json("{\"annotations\":{\"k\":\"a\\u0000b\"}}", 33, &a, &err), -1);
    /* the rest of the document is not checked here, but must parse */
    anns("{'process':{'args':7},'annotations':{'k':'v'},'x':18446744073709551615}", &a);
    ck_assert_str_eq(annotation_get(a.items, a.len, "k"), "v");
    pod_annotations_free(&a);
    error_clear(&err);
}
END_TEST

START_TEST(test_role)
{
    ck_assert_int_eq(role_of("{'annotations':{'io.kubernetes.cri.container-type':'sandbox'}}"),
                     POD_ROLE_SANDBOX);
    ck_assert_int_eq(role_of("{'annotations':{'io.kubernetes.cri.container-type':'container'}}"),
                     POD_ROLE_CONTAINER);
    ck_assert_int_eq(role_of("{'annotations':{'io.kubernetes.cri.container-type':'podsandbox'}}"),
                     POD_ROLE_SANDBOX);
    ck_assert_int_eq(role_of("{'annotations':{'io.kubernetes.cri-o.ContainerType':'sandbox'}}"),
                     POD_ROLE_SANDBOX);
    ck_assert_int_eq(role_of("{'annotations':{'io.kubernetes.cri-o.ContainerType':'container'}}"),
                     POD_ROLE_CONTAINER);
    ck_assert_int_eq(role_of("{'annotations':{'io.kubernetes.docker.type':'podsandbox'}}"),
                     POD_ROLE_SANDBOX);
    ck_assert_int_eq(role_of("{'annotations':{'io.kubernetes.docker.type':'container'}}"),
                     POD_ROLE_CONTAINER);
    /* no container type: a lone container, even with a sandbox id */
    ck_assert_int_eq(role_of("{'annotations':{'io.kubernetes.cri.sandbox-id':'x'}}"),
                     POD_ROLE_LONE);
    ck_assert_int_eq(role_of("{}"), POD_ROLE_LONE);
    /* containerd's key decides before CRI-O's, CRI-O's before dockershim's */
    ck_assert_int_eq(role_of("{'annotations':{'io.kubernetes.cri-o.ContainerType':'sandbox',"
                             "'io.kubernetes.cri.container-type':'container'}}"),
                     POD_ROLE_CONTAINER);
    ck_assert_int_eq(role_of("{'annotations':{'io.kubernetes.docker.type':'container',"
                             "'io.kubernetes.cri-o.ContainerType':'sandbox'}}"),
                     POD_ROLE_SANDBOX);
    role_fails("{'annotations':{'io.kubernetes.cri.container-type':'pod'}}",
               "annotation io.kubernetes.cri.container-type: unknown container type \"pod\" "
               "(expected sandbox or container)");
    role_fails("{'annotations':{'io.kubernetes.cri-o.ContainerType':''}}",
               "annotation io.kubernetes.cri-o.ContainerType: unknown container type \"\" "
               "(expected sandbox or container)");
    role_fails("{'annotations':{'io.kubernetes.docker.type':'Container'}}",
               "annotation io.kubernetes.docker.type: unknown container type \"Container\" "
               "(expected sandbox or container)");
}
END_TEST

START_TEST(test_sandbox_id_and_image)
{
    struct pod_annotations a;
    anns("{'annotations':{'io.kubernetes.cri-o.SandboxID':'crio-1'}}", &a);
    ck_assert_str_eq(pod_sandbox_id(a.items, a.len), "crio-1");
    pod_annotations_free(&a);
    anns("{'annotations':{'io.kubernetes.sandbox.id':'docker-1'}}", &a);
    ck_assert_str_eq(pod_sandbox_id(a.items, a.len), "docker-1");
    pod_annotations_free(&a);
    anns("{'annotations':{'io.kubernetes.sandbox.id':'docker-1',"
         "'io.kubernetes.cri.sandbox-id':'cri-1','io.kubernetes.cri-o.SandboxID':'crio-1'}}",
         &a);
    ck_assert_str_eq(pod_sandbox_id(a.items, a.len), "cri-1");
    pod_annotations_free(&a);
    anns("{'annotations':{'io.kubernetes.cri.sandbox-id':'','io.kubernetes.cri-o.SandboxID':'c'}}",
         &a);
    ck_assert_str_eq(pod_sandbox_id(a.items, a.len), "c");
    pod_annotations_free(&a);
    anns("{'annotations':{'io.kubernetes.cri.sandbox-id':''}}", &a);
    ck_assert_ptr_null(pod_sandbox_id(a.items, a.len));
    pod_annotations_free(&a);

    static const struct annotation crio[] = {{ANNOTATION_CRIO_CONTAINER_TYPE, "container"}};
    static const struct annotation both[] = {{ANNOTATION_CRIO_CONTAINER_TYPE, "container"},
                                             {ANNOTATION_CRI_CONTAINER_TYPE, "container"}};
    ck_assert_str_eq(pod_image_name_key(crio, N(crio)), ANNOTATION_CRIO_IMAGE_NAME);
    ck_assert_str_eq(pod_image_name_key(both, N(both)), ANNOTATION_CRI_IMAGE_NAME);
    ck_assert_str_eq(pod_image_name_key(NULL, 0), ANNOTATION_CRI_IMAGE_NAME); /* nerdctl */
}
END_TEST

START_TEST(test_resources)
{
    struct error err = ERROR_INIT;
    uint64_t vcpus = 9, mib = 9;
    ck_assert_int_eq(pod_sandbox_resources(NULL, 0, &vcpus, &mib, &err), 0);
    ck_assert_uint_eq(vcpus, 0);
    ck_assert_uint_eq(mib, 0);
    static const struct annotation pod[] = {{ANNOTATION_SANDBOX_CPU_PERIOD, "100000"},
                                            {ANNOTATION_SANDBOX_CPU_QUOTA, "150000"},
                                            {ANNOTATION_SANDBOX_MEMORY, "268435457"}};
    ck_assert_int_eq(pod_sandbox_resources(pod, N(pod), &vcpus, &mib, &err), 0);
    ck_assert_uint_eq(vcpus, 2); /* 1.5 CPUs round up */
    ck_assert_uint_eq(mib, 257); /* 256 MiB and a byte */
    static const struct annotation unlimited[] = {{ANNOTATION_SANDBOX_CPU_PERIOD, "100000"},
                                                  {ANNOTATION_SANDBOX_CPU_QUOTA, "-1"},
                                                  {ANNOTATION_SANDBOX_MEMORY, "0"}};
    ck_assert_int_eq(pod_sandbox_resources(unlimited, N(unlimited), &vcpus, &mib, &err), 0);
    ck_assert_uint_eq(vcpus, 0);
    ck_assert_uint_eq(mib, 0);
    static const struct annotation bad[] = {{ANNOTATION_SANDBOX_MEMORY, "1e9"}};
    ck_assert_int_eq(pod_sandbox_resources(bad, N(bad), &vcpus, &mib, &err), -1);
    ck_assert_str_eq(err.msg, "annotation \"io.kubernetes.cri.sandbox-memory\": must be a decimal "
                              "integer, got \"1e9\"");
    error_clear(&err);
}
END_TEST

/* The annotations CRI-O (runtime_type = "vm") writes into the pause container's config.json
 * (server/sandbox_run_linux.go) and a container's, as a shim v2 runtime gets them. */
static const char CRIO_SANDBOX[] =
    "{'ociVersion':'1.2.1','annotations':{"
    "  'io.container.manager':'cri-o',"
    "  'io.kubernetes.cri-o.ContainerType':'sandbox',"
    "  'io.kubernetes.cri-o.SandboxID':'8f3e1c',"
    "  'io.kubernetes.cri-o.ContainerID':'8f3e1c',"
    "  'io.kubernetes.cri-o.ContainerName':'k8s_POD_web-0_default_1234_0',"
    "  'io.kubernetes.cri-o.Image':'registry.k8s.io/pause:3.10',"
    "  'io.kubernetes.cri-o.ImageName':'registry.k8s.io/pause:3.10',"
    "  'io.kubernetes.cri-o.RuntimeHandler':'cocoon-snp',"
    "  'io.kubernetes.cri-o.Annotations':'{\\'kubernetes.io/config.source\\':\\'api\\'}',"
    "  'pod-linux-overhead.crio.io':'{\\'cpu_shares\\':1024,"
    "\\'memory_limit_in_bytes\\':2315255808}',"
    "  'pod-linux-resources.crio.io':'{\\'cpu_period\\':100000,\\'cpu_quota\\':150000,"
    "\\'cpu_shares\\':1536,\\'memory_limit_in_bytes\\':268435456}',"
    "  'io.katacontainers.config.hypervisor.cc_init_data':'H4sIAAAAAAAAA0s='}}";
static const char CRIO_CONTAINER[] =
    "{'ociVersion':'1.2.1','annotations':{"
    "  'io.container.manager':'cri-o',"
    "  'io.kubernetes.cri-o.ContainerType':'container',"
    "  'io.kubernetes.cri-o.SandboxID':'8f3e1c',"
    "  'io.kubernetes.cri-o.ContainerID':'77aa01',"
    "  'io.kubernetes.cri-o.Image':'sha256:0123abcd',"
    "  'io.kubernetes.cri-o.ImageName':'quay.io/example/web:1.0',"
    "  'io.kubernetes.cri-o.ImageRef':'quay.io/example/web@sha256:0123abcd',"
    "  'io.kubernetes.cri-o.SandboxName':'k8s_POD_web-0_default_1234_0'}}";

/* A CRI-O pod: the pause container owns the VM and is sized from CRI-O's resources JSON; its
 * containers join it by io.kubernetes.cri-o.SandboxID and name their image with ImageName. */
START_TEST(test_crio_pod)
{
    ck_assert_int_eq(role_of(CRIO_SANDBOX), POD_ROLE_SANDBOX);
    ck_assert_int_eq(role_of(CRIO_CONTAINER), POD_ROLE_CONTAINER);

    struct pod_annotations a;
    struct error err = ERROR_INIT;
    anns(CRIO_SANDBOX, &a);
    ck_assert_str_eq(pod_sandbox_id(a.items, a.len), "8f3e1c");
    uint64_t vcpus, mib;
    ck_assert_msg(pod_sandbox_resources(a.items, a.len, &vcpus, &mib, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(vcpus, 2); /* 1.5 CPUs round up */
    ck_assert_uint_eq(mib, 256);
    pod_annotations_free(&a);

    anns(CRIO_CONTAINER, &a);
    ck_assert_str_eq(pod_sandbox_id(a.items, a.len), "8f3e1c");
    const char *key = pod_image_name_key(a.items, a.len);
    ck_assert_str_eq(key, ANNOTATION_CRIO_IMAGE_NAME);
    ck_assert_str_eq(annotation_get(a.items, a.len, key), "quay.io/example/web:1.0");
    pod_annotations_free(&a);
}
END_TEST

static void crio_sized(const char *key, const char *json, uint64_t want_vcpus, uint64_t want_mib)
{
    const struct annotation a[] = {{key, json}};
    struct error err = ERROR_INIT;
    uint64_t vcpus = 9, mib = 9;
    ck_assert_msg(pod_sandbox_resources(a, N(a), &vcpus, &mib, &err) == 0, "%s: %s", json, err.msg);
    ck_assert_uint_eq(vcpus, want_vcpus);
    ck_assert_uint_eq(mib, want_mib);
}

static void crio_fails(const char *json, const char *msg)
{
    const struct annotation a[] = {{ANNOTATION_CRIO_POD_RESOURCES, json}};
    struct error err = ERROR_INIT;
    uint64_t vcpus, mib;
    ck_assert_int_eq(pod_sandbox_resources(a, N(a), &vcpus, &mib, &err), -1);
    ck_assert_int_eq(err.code, GRPC_INVALID_ARGUMENT);
    ck_assert_msg(strncmp(err.msg, msg, strlen(msg)) == 0, "%s", err.msg);
    error_clear(&err);
}

START_TEST(test_crio_resources)
{
    crio_sized(ANNOTATION_CRIO_POD_RESOURCES,
               "{\"cpu_period\":100000,\"cpu_quota\":200001,\"memory_limit_in_bytes\":1}", 3, 1);
    /* CRI-O before 1.35 */
    crio_sized(ANNOTATION_CRIO_POD_RESOURCES_V1,
               "{\"cpu_period\":100000,\"cpu_quota\":100000,\"memory_limit_in_bytes\":1073741824}",
               1, 1024);
    /* no limits: a pod without resources (json.Marshal of nil, or every field omitted) */
    crio_sized(ANNOTATION_CRIO_POD_RESOURCES, "null", 0, 0);
    crio_sized(ANNOTATION_CRIO_POD_RESOURCES, "{}", 0, 0);
    crio_sized(ANNOTATION_CRIO_POD_RESOURCES, "{\"cpu_shares\":2,\"cpu_period\":100000}", 0, 0);
    crio_sized(ANNOTATION_CRIO_POD_RESOURCES,
               "{\"cpu_period\":100000,\"cpu_quota\":-1,\"memory_limit_in_bytes\":0}", 0, 0);

    /* the current name wins over the old one; containerd's annotations over both */
    struct error err = ERROR_INIT;
    uint64_t vcpus, mib;
    static const struct annotation both[] = {
        {ANNOTATION_CRIO_POD_RESOURCES_V1, "{\"memory_limit_in_bytes\":2097152}"},
        {ANNOTATION_CRIO_POD_RESOURCES, "{\"memory_limit_in_bytes\":1048576}"}};
    ck_assert_int_eq(pod_sandbox_resources(both, N(both), &vcpus, &mib, &err), 0);
    ck_assert_uint_eq(mib, 1);
    static const struct annotation mixed[] = {
        {ANNOTATION_CRIO_POD_RESOURCES, "{\"memory_limit_in_bytes\":1048576}"},
        {ANNOTATION_SANDBOX_MEMORY, "3145728"}};
    ck_assert_int_eq(pod_sandbox_resources(mixed, N(mixed), &vcpus, &mib, &err), 0);
    ck_assert_uint_eq(mib, 3);

    crio_fails("{\"cpu_quota\":\"150000\"}",
               "annotation \"pod-linux-resources.crio.io\": cpu_quota must be an integer, got a "
               "string");
    crio_fails("{\"memory_limit_in_bytes\":1.5}",
               "annotation \"pod-linux-resources.crio.io\": memory_limit_in_bytes must be an "
               "integer, got 1.5");
    crio_fails("[1]",
               "annotation \"pod-linux-resources.crio.io\": expected a JSON object, got an array");
    crio_fails("{\"cpu_quota\":", "annotation \"pod-linux-resources.crio.io\": invalid JSON: ");
}
END_TEST

START_TEST(test_policy)
{
    struct error err = ERROR_INIT;
    char *rego = (char *)1;
    ck_assert_int_eq(pod_policy(NULL, 0, &rego, &err), 0);
    ck_assert_ptr_null(rego);
    static const struct annotation empty[] = {{ANNOTATION_POLICY, ""}};
    ck_assert_int_eq(pod_policy(empty, 1, &rego, &err), 0);
    ck_assert_ptr_null(rego);

    _cleanup_free_ char *b64 = base64_encode((const uint8_t *)"package agent_policy\n", 21);
    struct annotation ok[] = {{ANNOTATION_POLICY, b64}};
    ck_assert_int_eq(pod_policy(ok, 1, &rego, &err), 0);
    ck_assert_str_eq(rego, "package agent_policy\n");
    free(rego);

    static const struct annotation not_b64[] = {{ANNOTATION_POLICY, "package agent_policy"}};
    ck_assert_int_eq(pod_policy(not_b64, 1, &rego, &err), -1);
    ck_assert_ptr_null(rego);
    ck_assert_int_eq(err.code, GRPC_INVALID_ARGUMENT);
    ck_assert_msg(
        strncmp(err.msg, "annotation io.katacontainers.config.agent.policy: base64: ", 58) == 0,
        "%s", err.msg);
    _cleanup_free_ char *nul = base64_encode((const uint8_t *)"a\0b", 3);
    struct annotation with_nul[] = {{ANNOTATION_POLICY, nul}};
    ck_assert_int_eq(pod_policy(with_nul, 1, &rego, &err), -1);
    ck_assert_str_eq(err.msg, "annotation io.katacontainers.config.agent.policy: the policy holds "
                              "a NUL byte; want Rego text");
    error_clear(&err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pod");
    TCase *tc = tcase_create("annotations");
    tcase_add_test(tc, test_lookup);
    tcase_add_test(tc, test_from_json);
    tcase_add_test(tc, test_role);
    tcase_add_test(tc, test_sandbox_id_and_image);
    tcase_add_test(tc, test_resources);
    tcase_add_test(tc, test_crio_pod);
    tcase_add_test(tc, test_crio_resources);
    tcase_add_test(tc, test_policy);
    suite_add_tcase(s, tc);
    return run_tap(s);
}
