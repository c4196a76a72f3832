/* annotations/guest-pull: the Storage for image_guest_pull, as Kata's Go runtime builds it
 * (kata.md §3): the KataVirtualVolume rootfs option, force mode, the pause container, CRI-O and
 * nerdctl names, every error. The base64 is made here with OpenSSL and the driver option's JSON
 * is read back with jansson, never with the module's own helpers. */
#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "annotations/guest-pull.h"
#include "lib/cleanup.h"
#include "lib/error.h"
#include "lib/xalloc.h"

#define CID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define IMAGE "registry.example.com/team/app@sha256:" CID

/* kata.md §3, the nydus-snapshotter (proxy mode) KataVirtualVolume, with a "source" that must
 * lose to the image-name annotation. */
#define VOLUME_JSON                                                                                \
    "{\"volume_type\":\"image_guest_pull\",\"source\":\"not-the-image\",\"fs_type\":\"ext4\","     \
    "\"options\":[\"ro\"],\"image_pull\":{\"metadata\":{"                                          \
    "\"containerd.io/snapshot/cri.layer-digest\":\"sha256:" CID "\","                              \
    "\"containerd.io/snapshot/nydus-proxy-mode\":\"true\"}}}"

static char *b64(const char *s)
{
    size_t len = strlen(s);
    char *out = xmalloc(4 * ((len + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)len);
    return out;
}

/* "io.katacontainers.volume=" + base64(json) */
static char *volume_option(const char *json)
{
    _cleanup_free_ char *enc = b64(json);
    return xasprintf("io.katacontainers.volume=%s", enc);
}

static const struct annotation containerd_container[] = {
    {"io.kubernetes.cri.container-type", "container"},
    {"io.kubernetes.cri.sandbox-id", "sb1"},
    {"io.kubernetes.cri.image-name", IMAGE},
    {"io.kubernetes.cri.container-name", "app"},
};

static const struct annotation containerd_sandbox[] = {
    {"io.kubernetes.cri.container-type", "sandbox"},
    {"io.kubernetes.cri.sandbox-id", "sb1"},
    {"io.kubernetes.cri.sandbox-name", "pod"},
    {"io.katacontainers.config.hypervisor.cc_init_data", "H4sI..."},
    {"io.katacontainers.config.agent.policy", "cGFja2FnZQ=="},
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* The JSON after "image_guest_pull=" in the one driver option, with the Storage's fixed fields
 * checked on the way. */
static json_t *check_storage(const Grpc__Storage *st, const char *cid, const char *source)
{
    ck_assert_ptr_nonnull(st);
    ck_assert_str_eq(st->driver, "image_guest_pull");
    ck_assert_str_eq(st->source, source);
    ck_assert_str_eq(st->fstype, "overlay");
    _cleanup_free_ char *mp = xasprintf("/run/kata-containers/%s/rootfs", cid);
    ck_assert_str_eq(st->mount_point, mp);
    ck_assert_uint_eq(st->n_options, 0);
    ck_assert_ptr_null(st->fs_group);
    ck_assert(!st->shared);
    ck_assert_uint_eq(st->n_driver_options, 1);
    const char *o = st->driver_options[0];
    ck_assert_msg(strncmp(o, "image_guest_pull=", 17) == 0, "driver option %s", o);
    json_error_t jerr;
    json_t *j = json_loads(o + 17, 0, &jerr);
    ck_assert_msg(j != NULL, "driver option JSON: %s", jerr.text);
    ck_assert(json_is_object(j));
    ck_assert_uint_eq(json_object_size(j), 1); /* ImagePullVolume has only "metadata" */
    ck_assert(json_is_object(json_object_get(j, "metadata")));
    return j;
}

static const char *md_get(json_t *j, const char *key)
{
    return json_string_value(json_object_get(json_object_get(j, "metadata"), key));
}

static size_t md_size(json_t *j)
{
    return json_object_size(json_object_get(j, "metadata"));
}

START_TEST(test_virtual_volume_example)
{
    _cleanup_free_ char *opt = volume_option(VOLUME_JSON);
    char *opts[] = {"rw", opt, "lowerdir=/x"};
    struct guest_pull_input in = {
        .container_id = CID,
        .anns = containerd_container,
        .n_anns = N(containerd_container),
        .rootfs_options = opts,
        .n_rootfs_options = N(opts),
    };
    struct error err = ERROR_INIT;
    Grpc__Storage *st = NULL;
    ck_assert_int_eq(guest_pull_storage(&in, &st, &err), 1);
    ck_assert(!error_is_set(&err));
    json_t *j = check_storage(st, CID, IMAGE);
    ck_assert_uint_eq(md_size(j), 2 + N(containerd_container));
    ck_assert_str_eq(md_get(j, "containerd.io/snapshot/cri.layer-digest"), "sha256:" CID);
    ck_assert_str_eq(md_get(j, "containerd.io/snapshot/nydus-proxy-mode"), "true");
    for (size_t i = 0; i < N(containerd_container); i++)
        ck_assert_str_eq(md_get(j, containerd_container[i].key), containerd_container[i].value);
    /* Compact, keys sorted (as Go's json.Marshal of a map). */
    ck_assert_ptr_null(strchr(st->driver_options[0], ' '));
    const char *a = strstr(st->driver_options[0], "\"containerd.io/snapshot/cri.layer-digest\"");
    const char *b = strstr(st->driver_options[0], "\"io.kubernetes.cri.container-name\"");
    ck_assert(a && b && a < b);
    json_decref(j);

    /* The tree packs as a valid protobuf message and unpacks to the same fields. */
    size_t len = grpc__storage__get_packed_size(st);
    _cleanup_free_ uint8_t *buf = xmalloc(len);
    ck_assert_uint_eq(grpc__storage__pack(st, buf), len);
    Grpc__Storage *back = grpc__storage__unpack(NULL, len, buf);
    ck_assert_ptr_nonnull(back);
    ck_assert_str_eq(back->driver_options[0], st->driver_options[0]);
    ck_assert_str_eq(back->mount_point, st->mount_point);
    grpc__storage__free_unpacked(back, NULL);
    guest_pull_storage_free(st);
}
END_TEST

/* Annotations win over the volume's metadata on the same key (Kata merges them last). */
START_TEST(test_annotations_override_volume_metadata)
{
    _cleanup_free_ char *opt =
        volume_option("{\"volume_type\":\"image_guest_pull\",\"image_pull\":{\"metadata\":{"
                      "\"io.kubernetes.cri.container-name\":\"from-volume\",\"only\":\"v\"}}}");
    char *opts[] = {opt};
    struct guest_pull_input in = {CID,  containerd_container, N(containerd_container), opts, 1,
                                  false};
    struct error err = ERROR_INIT;
    Grpc__Storage *st;
    ck_assert_int_eq(guest_pull_storage(&in, &st, &err), 1);
    json_t *j = check_storage(st, CID, IMAGE);
    ck_assert_str_eq(md_get(j, "io.kubernetes.cri.container-name"), "app");
    ck_assert_str_eq(md_get(j, "only"), "v");
    json_decref(j);
    /* Freed the way a whole request is freed: same layout. */
    protobuf_c_message_free_unpacked(&st->base, NULL);
}
END_TEST

START_TEST(test_not_guest_pull)
{
    char *opts[] = {"rw", "lowerdir=/a:/b", "upperdir=/u", "io.katacontainers.volumes=x",
                    "io.katacontainers.volume"};
    struct guest_pull_input in = {
        CID, containerd_container, N(containerd_container), opts, N(opts), false};
    struct error err = ERROR_INIT;
    Grpc__Storage *st = (Grpc__Storage *)&err; /* must be reset */
    ck_assert_int_eq(guest_pull_storage(&in, &st, &err), 0);
    ck_assert_ptr_null(st);
    ck_assert(!error_is_set(&err));
    in.n_rootfs_options = 0;
    in.rootfs_options = NULL;
    ck_assert_int_eq(guest_pull_storage(&in, &st, &err), 0);
    ck_assert_ptr_null(st);
}
END_TEST

/* Force: the same storage for every container, metadata = the annotations only, and the
 * snapshotter's option is not even read. */
START_TEST(test_force)
{
    char *opts[] = {"io.katacontainers.volume=!!not base64!!"};
    struct guest_pull_input in = {CID, containerd_container, N(containerd_container), opts, 1,
                                  true};
    struct error err = ERROR_INIT;
    Grpc__Storage *st;
    ck_assert_int_eq(guest_pull_storage(&in, &st, &err), 1);
    json_t *j = check_storage(st, CID, IMAGE);
    ck_assert_uint_eq(md_size(j), N(containerd_container));
    ck_assert_str_eq(md_get(j, "io.kubernetes.cri.container-type"), "container");
    json_decref(j);
    guest_pull_storage_free(st);

    /* No rootfs options at all. */
    in.rootfs_options = NULL;
    in.n_rootfs_options = 0;
    ck_assert_int_eq(guest_pull_storage(&in, &st, &err), 1);
    guest_pull_storage_free(st);

    /* No annotations: metadata {} and no image reference -> error. */
    in.anns = NULL;
    in.n_anns = 0;
    ck_assert_int_eq(guest_pull_storage(&in, &st, &err), -1);
    ck_assert_ptr_null(st);
    ck_assert_ptr_nonnull(strstr(err.msg, "io.kubernetes.cri.image-name is missing"));
    error_clear(&err);
}
END_TEST

/* The pause container: source "pause", the container type in the metadata (the agent looks for
 * it there), no image name needed, and the policy and init-data annotations left out. */
START_TEST(test_pause_containerd)
{
    struct guest_pull_input in = {"sb1", containerd_sandbox, N(containerd_sandbox), NULL, 0, true};
    struct error err = ERROR_INIT;
    Grpc__Storage *st;
    ck_assert_int_eq(guest_pull_storage(&in, &st, &err), 1);
    json_t *j = check_storage(st, "sb1", "pause");
    ck_assert_str_eq(md_get(j, "io.kubernetes.cri.container-type"), "sandbox");
    ck_assert_str_eq(md_get(j, "io.kubernetes.cri.sandbox-name"), "pod");
    ck_assert_ptr_null(md_get(j, "io.katacontainers.config.hypervisor.cc_init_data"));
    ck_assert_ptr_null(md_get(j, "io.katacontainers.config.agent.policy"));
    ck_assert_uint_eq(md_size(j), 3);
    json_decref(j);
    guest_pull_storage_free(st);

    /* Through the snapshotter's option as well. */
    _cleanup_free_ char *opt = volume_option(VOLUME_JSON);
    char *opts[] = {opt};
    in.force = false;
    in.rootfs_options = opts;
    in.n_rootfs_options = 1;
    ck_assert_int_eq(guest_pull_storage(&in, &st, &err), 1);
    j = check_storage(st, "sb1", "pause");
    ck_assert_uint_eq(md_size(j), 5);
    json_decref(j);
    guest_pull_storage_free(st);
}
END_TEST

START_TEST(test_pause_other_forms)
{
    static const struct annotation crio[] = {{"io.kubernetes.cri-o.ContainerType", "sandbox"}};
    static const struct annotation pod[] = {{"io.kubernetes.cri.container-type", "podsandbox"}};
    /* containerd's key is looked at first (kata getContainerTypeforCRI). */
    static const struct annotation both[] = {{"io.kubernetes.cri-o.ContainerType", "sandbox"},
                                             {"io.kubernetes.cri.container-type", "container"},
                                             {"io.kubernetes.cri.image-name", "busybox"}};
    /* dockershim's pod sandbox is the pause container too: one answer for the whole shim
     * (annotations/pod.h pod_role), where Kata's guest-pull path looked at two keys only. */
    static const struct annotation docker[] = {{"io.kubernetes.docker.type", "podsandbox"}};
    struct error err = ERROR_INIT;
    Grpc__Storage *st;
    struct guest_pull_input in = {CID, crio, 1, NULL, 0, true};
    ck_assert_int_eq(guest_pull_storage(&in, &st, &err), 1);
    ck_assert_str_eq(st->source, "pause");
    guest_pull_storage_free(st);
    in.anns = pod;
    ck_assert_int_eq(guest_pull_storage(&in, &st, &err), 1);
    ck_assert_str_eq(st->source, "pause");
    guest_pull_storage_free(st);
    in.anns = both;
    in.n_anns = N(both);
    ck_assert_int_eq(guest_pull_storage(&in, &st, &err), 1);
    ck_assert_str_eq(st->source, "busybox");
    guest_pull_storage_free(st);
    in.anns = docker;
    in.n_anns = 1;
    ck_assert_int_eq(guest_pull_storage(&in, &st, &err), 1);
    ck_assert_str_eq(st->source, "pause");
    guest_pull_storage_free(st);
    /* an unknown container type is refused, not pulled as a container */
    static const struct annotation odd[] = {{"io.kubernetes.cri.container-type", "pod"},
                                            {"io.kubernetes.cri.image-name", "busybox"}};
    in.anns = odd;
    in.n_anns = N(odd);
    ck_assert_int_eq(guest_pull_storage(&in, &st, &err), -1);
    ck_assert_str_eq(err.msg, "guest pull: container " CID ": annotation "
                              "io.kubernetes.cri.container-type: unknown container type \"pod\" "
                              "(expected sandbox or container)");
    error_clear(&err);
}
END_TEST

START_TEST(test_crio_and_nerdctl_names)
{
    static const struct annotation crio[] = {
        {"io.kubernetes.cri-o.ContainerType", "container"},
        {"io.kubernetes.cri-o.ImageName", "quay.io/crio/app:1"},
        {"io.kubernetes.cri.image-name", "wrong"},
    };
    static const struct annotation crio_no_name[] = {
        {"io.kubernetes.cri-o.ContainerType", "container"},
        {"io.kubernetes.cri.image-name", "docker.io/library/busybox:latest"},
    };
    static const struct annotation nerdctl[] = {
        {"nerdctl/name", "x"},
        {"io.kubernetes.cri.image-name", "127.0.0.1:5000/busybox:latest"},
        {"io.kubernetes.cri-o.ImageName", "wrong"},
    };
    struct error err = ERROR_INIT;
    Grpc__Storage *st;
    struct guest_pull_input in = {CID, crio, N(crio), NULL, 0, true};
    ck_assert_int_eq(guest_pull_storage(&in, &st, &err), 1);
    ck_assert_str_eq(st->source, "quay.io/crio/app:1");
    guest_pull_storage_free(st);

    in.anns = crio_no_name;
    in.n_anns = N(crio_no_name);
    ck_assert_int_eq(guest_pull_storage(&in, &st, &err), -1);
    ck_assert_int_eq(err.code, GRPC_INVALID_ARGUMENT);
    ck_assert_msg(strstr(err.msg, "guest pull: container " CID
                                  ": no image reference: annotation io.kubernetes.cri-o.ImageName "
                                  "is missing or empty") == err.msg,
                  "%s", err.msg);
    error_clear(&err);

    in.anns = nerdctl;
    in.n_anns = N(nerdctl);
    ck_assert_int_eq(guest_pull_storage(&in, &st, &err), 1);
    ck_assert_str_eq(st->source, "127.0.0.1:5000/busybox:latest");
    guest_pull_storage_free(st);
}
END_TEST

START_TEST(test_missing_image_name)
{
    static const struct annotation empty_name[] = {
        {"io.kubernetes.cri.container-type", "container"},
        {"io.kubernetes.cri.image-name", ""},
    };
    _cleanup_free_ char *opt = volume_option(VOLUME_JSON);
    char *opts[] = {opt};
    struct guest_pull_input in = {CID, empty_name, N(empty_name), opts, 1, false};
    struct error err = ERROR_INIT;
    Grpc__Storage *st;
    ck_assert_int_eq(guest_pull_storage(&in, &st, &err), -1);
    ck_assert_ptr_null(st);
    ck_assert_int_eq(err.code, GRPC_INVALID_ARGUMENT);
    ck_assert_msg(strstr(err.msg, "annotation io.kubernetes.cri.image-name is missing or empty"),
                  "%s", err.msg);
    /* The message names every place an image name can come from. */
    ck_assert_ptr_nonnull(strstr(err.msg, "io.kubernetes.cri-o.ImageName"));
    error_clear(&err);
}
END_TEST

static void expect_volume_error(const char *option, const char *want)
{
    char *opts[] = {(char *)option};
    struct guest_pull_input in = {CID,  containerd_container, N(containerd_container), opts, 1,
                                  false};
    struct error err = ERROR_INIT;
    Grpc__Storage *st = NULL;
    ck_assert_int_eq(guest_pull_storage(&in, &st, &err), -1);
    ck_assert_ptr_null(st);
    ck_assert_int_eq(err.code, GRPC_INVALID_ARGUMENT);
    ck_assert_msg(strcmp(err.msg, want) == 0, "option %.60s:\n got  %s\n want %s", option, err.msg,
                  want);
    error_clear(&err);
}

static void expect_json_error(const char *json, const char *want)
{
    _cleanup_free_ char *opt = volume_option(json);
    expect_volume_error(opt, want);
}

#define P "guest pull: io.katacontainers.volume: "

START_TEST(test_base64_errors)
{
    expect_volume_error("io.katacontainers.volume=eyJ*",
                        P "base64: invalid character '*' at offset 3");
    expect_volume_error("io.katacontainers.volume=eyJ",
                        P "base64: length 3 is not a multiple of 4 (is the '=' padding missing?)");
    expect_volume_error("io.katacontainers.volume=e===",
                        P "base64: unexpected '=' at offset 1 (padding is only allowed at the "
                          "end)");
    expect_volume_error("io.katacontainers.volume=eyA=eyA=",
                        P "base64: unexpected 'e' at offset 4 after the '=' padding");
    expect_volume_error("io.katacontainers.volume=eyA=A",
                        P "base64: unexpected 'A' at offset 4 after the '=' padding");
    expect_volume_error("io.katacontainers.volume=ey=A",
                        P "base64: unexpected 'A' at offset 3 after the '=' padding");
    /* URL-safe alphabet is not the standard one. */
    expect_volume_error("io.katacontainers.volume=ey-_",
                        P "base64: invalid character '-' at offset 2");
    expect_volume_error("io.katacontainers.volume=", P "not JSON: '[' or '{' expected near end of "
                                                       "file (line 1, column 0)");
}
END_TEST

START_TEST(test_base64_line_breaks)
{
    /* Go's StdEncoding skips CR and LF. */
    _cleanup_free_ char *enc = b64(VOLUME_JSON);
    size_t len = strlen(enc);
    _cleanup_free_ char *opt = xasprintf("io.katacontainers.volume=%.8s\r\n%.*s\n%s", enc,
                                         (int)(len - 12), enc + 8, enc + len - 4);
    char *opts[] = {opt};
    struct guest_pull_input in = {CID,  containerd_container, N(containerd_container), opts, 1,
                                  false};
    struct error err = ERROR_INIT;
    Grpc__Storage *st;
    ck_assert_int_eq(guest_pull_storage(&in, &st, &err), 1);
    json_t *j = check_storage(st, CID, IMAGE);
    ck_assert_str_eq(md_get(j, "containerd.io/snapshot/nydus-proxy-mode"), "true");
    json_decref(j);
    guest_pull_storage_free(st);
}
END_TEST

START_TEST(test_json_errors)
{
    expect_json_error("{\"volume_type\":", P "not JSON: unexpected token near end of file "
                                             "(line 1, column 15)");
    expect_json_error("[1]", P "not a JSON object (a KataVirtualVolume)");
    expect_json_error("{}", P "volume_type is missing, empty or not a string");
    expect_json_error("{\"volume_type\":\"\"}", P "volume_type is missing, empty or not a string");
    expect_json_error("{\"volume_type\":7}", P "volume_type is missing, empty or not a string");
    expect_json_error("{\"volume_type\":\"direct_block\",\"source\":\"/dev/sda\"}",
                      P "volume_type is not supported by cocoon: direct_block (only "
                        "image_guest_pull is)");
    expect_json_error("{\"volume_type\":\"image_nydus_fs\"}",
                      P "volume_type is not supported by cocoon: image_nydus_fs (only "
                        "image_guest_pull is)");
    expect_json_error("{\"volume_type\":\"image_guest_pull\",\"source\":1}",
                      P "source is not a string");
    expect_json_error("{\"volume_type\":\"image_guest_pull\",\"fs_type\":[]}",
                      P "fs_type is not a string");
    expect_json_error("{\"volume_type\":\"image_guest_pull\",\"options\":\"ro\"}",
                      P "options is not an array");
    expect_json_error("{\"volume_type\":\"image_guest_pull\",\"options\":[\"ro\",3]}",
                      P "options[1] is not a string");
    expect_json_error("{\"volume_type\":\"image_guest_pull\",\"image_pull\":[]}",
                      P "image_pull is not an object");
    expect_json_error("{\"volume_type\":\"image_guest_pull\",\"image_pull\":{}}",
                      P "image_pull.metadata is missing");
    expect_json_error("{\"volume_type\":\"image_guest_pull\",\"image_pull\":{\"metadata\":null}}",
                      P "image_pull.metadata is missing");
    expect_json_error("{\"volume_type\":\"image_guest_pull\",\"image_pull\":{\"metadata\":\"a\"}}",
                      P "image_pull.metadata is not an object");
    expect_json_error(
        "{\"volume_type\":\"image_guest_pull\",\"image_pull\":{\"metadata\":{\"k\":true}}}",
        P "image_pull.metadata[\"k\"] is not a string");
    /* A NUL inside the decoded bytes. */
    expect_volume_error("io.katacontainers.volume=ewB9", P "not JSON: string or '}' expected "
                                                           "near end of file (line 1, column 2)");
}
END_TEST

START_TEST(test_volume_forms_accepted)
{
    /* Nulls and unknown members are fine (Go's json.Unmarshal ignores them); a missing
     * image_pull means no metadata of its own. */
    static const char *const ok[] = {
        "{\"volume_type\":\"image_guest_pull\"}",
        "{\"volume_type\":\"image_guest_pull\",\"image_pull\":null,\"source\":null,"
        "\"options\":null,\"dm_verity\":{\"x\":1},\"future\":[1,2]}",
        "{\"volume_type\":\"image_guest_pull\",\"image_pull\":{\"metadata\":{}}}",
    };
    for (size_t i = 0; i < N(ok); i++) {
        _cleanup_free_ char *opt = volume_option(ok[i]);
        char *opts[] = {opt};
        struct guest_pull_input in = {CID,  containerd_container, N(containerd_container), opts, 1,
                                      false};
        struct error err = ERROR_INIT;
        Grpc__Storage *st;
        ck_assert_msg(guest_pull_storage(&in, &st, &err) == 1, "%s: %s", ok[i],
                      err.msg ? err.msg : "");
        json_t *j = check_storage(st, CID, IMAGE);
        ck_assert_uint_eq(md_size(j), N(containerd_container));
        json_decref(j);
        guest_pull_storage_free(st);
    }
}
END_TEST

START_TEST(test_other_errors)
{
    _cleanup_free_ char *opt = volume_option(VOLUME_JSON);
    char *two[] = {opt, "rw", opt};
    struct guest_pull_input in = {CID,  containerd_container, N(containerd_container), two, 3,
                                  false};
    struct error err = ERROR_INIT;
    Grpc__Storage *st;
    ck_assert_int_eq(guest_pull_storage(&in, &st, &err), -1);
    ck_assert_str_eq(err.msg, "guest pull: the rootfs has more than one io.katacontainers.volume "
                              "option");
    error_clear(&err);

    static const char *const bad_ids[] = {"", "a/b", "..", "."};
    in.n_rootfs_options = 1;
    for (size_t i = 0; i < N(bad_ids); i++) {
        in.container_id = bad_ids[i];
        ck_assert_int_eq(guest_pull_storage(&in, &st, &err), -1);
        _cleanup_free_ char *want =
            xasprintf("guest pull: invalid container id \"%s\"", bad_ids[i]);
        ck_assert_str_eq(err.msg, want);
        error_clear(&err);
    }
    in.container_id = NULL;
    ck_assert_int_eq(guest_pull_storage(&in, &st, &err), -1);
    ck_assert_str_eq(err.msg, "guest pull: invalid container id \"\"");
    error_clear(&err);

    /* An annotation that is not UTF-8 cannot go into JSON. */
    static const struct annotation bad_utf8[] = {
        {"io.kubernetes.cri.image-name", "busybox"},
        {"x", "\xff\xfe"},
    };
    in.container_id = CID;
    in.anns = bad_utf8;
    in.n_anns = N(bad_utf8);
    ck_assert_int_eq(guest_pull_storage(&in, &st, &err), -1);
    ck_assert_str_eq(err.msg, "guest pull: container " CID ": annotation 1 is not valid UTF-8");
    error_clear(&err);
}
END_TEST

START_TEST(test_size_limit)
{
    /* A document just over the limit once decoded, and one whose base64 is far too long. */
    size_t pad = GUEST_PULL_MAX_VOLUME;
    _cleanup_free_ char *big = xmalloc(pad + 64);
    int n = snprintf(big, 64, "{\"volume_type\":\"image_guest_pull\",\"x\":\"");
    memset(big + n, 'a', pad);
    strcpy(big + n + pad, "\"}");
    expect_json_error(big, "guest pull: io.katacontainers.volume: over 65536 bytes once decoded");

    _cleanup_free_ char *huge = xmalloc(3 * pad + 32);
    strcpy(huge, "io.katacontainers.volume=");
    memset(huge + strlen(huge), 'A', 2 * pad + 4);
    huge[25 + 2 * pad + 4] = '\0';
    expect_volume_error(huge, "guest pull: io.katacontainers.volume: longer than 131072 bytes");

    /* Just under the limit decodes. */
    big[n + pad - 100] = '\0';
    strcat(big, "\"}");
    _cleanup_free_ char *opt = volume_option(big);
    char *opts[] = {opt};
    struct guest_pull_input in = {CID,  containerd_container, N(containerd_container), opts, 1,
                                  false};
    struct error err = ERROR_INIT;
    Grpc__Storage *st;
    ck_assert_int_eq(guest_pull_storage(&in, &st, &err), 1);
    guest_pull_storage_free(st);
}
END_TEST

START_TEST(test_forced)
{
    struct error err = ERROR_INIT;
    bool f;
    ck_assert_int_eq(guest_pull_forced(false, NULL, 0, &f, &err), 0);
    ck_assert(!f);
    ck_assert_int_eq(guest_pull_forced(true, containerd_sandbox, N(containerd_sandbox), &f, &err),
                     0);
    ck_assert(f);

    static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
    for (size_t i = 0; i < N(yes); i++) {
        struct annotation a[] = {{"x", "y"}, {ANNOTATION_FORCE_GUEST_PULL, yes[i]}};
        ck_assert_int_eq(guest_pull_forced(false, a, 2, &f, &err), 0);
        ck_assert_msg(f, "%s", yes[i]);
        a[1].value = no[i];
        ck_assert_int_eq(guest_pull_forced(true, a, 2, &f, &err), 0);
        ck_assert_msg(!f, "%s", no[i]);
    }
    static const char *const bad[] = {"", "yes", "on", "tRUE", " true", "2"};
    for (size_t i = 0; i < N(bad); i++) {
        struct annotation a[] = {{ANNOTATION_FORCE_GUEST_PULL, bad[i]}};
        f = true;
        ck_assert_int_eq(guest_pull_forced(false, a, 1, &f, &err), -1);
        ck_assert_int_eq(err.code, GRPC_INVALID_ARGUMENT);
        _cleanup_free_ char *want = xasprintf(
            "guest pull: annotation io.katacontainers.config.runtime.experimental_force_guest_pull"
            ": \"%s\" is not a boolean (use \"true\" or \"false\")",
            bad[i]);
        ck_assert_str_eq(err.msg, want);
        error_clear(&err);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("guest-pull");
    TCase *tc = tcase_create("storage");
    tcase_add_test(tc, test_virtual_volume_example);
    tcase_add_test(tc, test_annotations_override_volume_metadata);
    tcase_add_test(tc, test_not_guest_pull);
    tcase_add_test(tc, test_force);
    tcase_add_test(tc, test_pause_containerd);
    tcase_add_test(tc, test_pause_other_forms);
    tcase_add_test(tc, test_crio_and_nerdctl_names);
    tcase_add_test(tc, test_missing_image_name);
    suite_add_tcase(s, tc);
    tc = tcase_create("volume");
    tcase_add_test(tc, test_base64_errors);
    tcase_add_test(tc, test_base64_line_breaks);
    tcase_add_test(tc, test_json_errors);
    tcase_add_test(tc, test_volume_forms_accepted);
    tcase_add_test(tc, test_other_errors);
    tcase_add_test(tc, test_size_limit);
    suite_add_tcase(s, tc);
    tc = tcase_create("force");
    tcase_add_test(tc, test_forced);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_tap(sr, "-");
    srunner_run_all(sr, CK_SILENT);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
