#include "annotations/guest-pull.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base64.h"
#include "lib/cleanup.h"
#include "lib/parse.h"
#include "lib/xalloc.h"

#define PREFIX "guest pull: "
#define OPT GUEST_PULL_VOLUME_OPTION

/* ---- guest_pull_forced ---- */

int guest_pull_forced(bool configured, const struct annotation *anns, size_t n_anns, bool *force,
                      struct error *err)
{
    *force = configured;
    const char *v = annotation_get(anns, n_anns, ANNOTATION_FORCE_GUEST_PULL);
    if (v && parse_go_bool(v, force) < 0)
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         PREFIX "annotation " ANNOTATION_FORCE_GUEST_PULL
                                ": \"%s\" is not a boolean (use \"true\" or \"false\")",
                         v);
    return 0;
}

/* ---- the KataVirtualVolume option ---- */

/* A member that Go's json.Unmarshal would reject for its type; null is always fine there. */
static int check_string_member(json_t *vol, const char *name, struct error *err)
{
    json_t *m = json_object_get(vol, name);
    if (m && !json_is_string(m) && !json_is_null(m))
        return error_set(err, GRPC_INVALID_ARGUMENT, PREFIX OPT ": %s is not a string", name);
    return 0;
}

/* Decodes one option value and returns its image_pull.metadata (a new, possibly empty object). */
static int parse_volume(const char *b64, json_t **metadata, struct error *err)
{
    _cleanup_free_ uint8_t *text = NULL;
    size_t len = 0;
    if (strlen(b64) > (size_t)GUEST_PULL_MAX_VOLUME * 2)
        return error_set(err, GRPC_INVALID_ARGUMENT, PREFIX OPT ": longer than %u bytes",
                         GUEST_PULL_MAX_VOLUME * 2);
    if (base64_decode(b64, strlen(b64), &text, &len, err) < 0)
        return error_wrap(err, PREFIX OPT);
    if (len > GUEST_PULL_MAX_VOLUME)
        return error_set(err, GRPC_INVALID_ARGUMENT, PREFIX OPT ": over %u bytes once decoded",
                         GUEST_PULL_MAX_VOLUME);
    json_error_t jerr;
    _cleanup_(json_decrefp) json_t *vol = json_loadb((const char *)text, len, 0, &jerr);
    if (!vol)
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         PREFIX OPT ": not JSON: %s (line %d, column %d)", jerr.text, jerr.line,
                         jerr.column);
    if (!json_is_object(vol))
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         PREFIX OPT ": not a JSON object (a KataVirtualVolume)");

    json_t *type = json_object_get(vol, "volume_type");
    if (!json_is_string(type) || json_string_length(type) == 0)
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         PREFIX OPT ": volume_type is missing, empty or not a string");
    if (strcmp(json_string_value(type), GUEST_PULL_DRIVER) != 0)
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         PREFIX OPT
                         ": volume_type is not supported by cocoon: %s (only " GUEST_PULL_DRIVER
                         " is)",
                         json_string_value(type));
    if (check_string_member(vol, "source", err) < 0 || check_string_member(vol, "fs_type", err) < 0)
        return -1;
    json_t *opts = json_object_get(vol, "options");
    if (opts && !json_is_null(opts)) {
        size_t i;
        json_t *o;
        if (!json_is_array(opts))
            return error_set(err, GRPC_INVALID_ARGUMENT, PREFIX OPT ": options is not an array");
        json_array_foreach(opts, i, o)
        {
            if (!json_is_string(o))
                return error_set(err, GRPC_INVALID_ARGUMENT,
                                 PREFIX OPT ": options[%zu] is not a string", i);
        }
    }

    /* Kata dereferences a missing image_pull (a crash); an empty metadata is what it means. */
    json_t *pull = json_object_get(vol, "image_pull");
    if (!pull || json_is_null(pull)) {
        *metadata = json_object();
        return 0;
    }
    if (!json_is_object(pull))
        return error_set(err, GRPC_INVALID_ARGUMENT, PREFIX OPT ": image_pull is not an object");
    json_t *md = json_object_get(pull, "metadata");
    /* Kata's ImagePullVolume.IsValid: a present image_pull needs a metadata map. */
    if (!md || json_is_null(md))
        return error_set(err, GRPC_INVALID_ARGUMENT, PREFIX OPT ": image_pull.metadata is missing");
    if (!json_is_object(md))
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         PREFIX OPT ": image_pull.metadata is not an object");
    const char *k;
    json_t *v;
    json_object_foreach(md, k, v)
    {
        if (!json_is_string(v))
            return error_set(err, GRPC_INVALID_ARGUMENT,
                             PREFIX OPT ": image_pull.metadata[\"%s\"] is not a string", k);
    }
    *metadata = json_deep_copy(md);
    return 0;
}

/* The metadata of the one io.katacontainers.volume option (0), or none (1). */
static int volume_metadata(const struct guest_pull_input *in, json_t **metadata, struct error *err)
{
    static const char prefix[] = OPT "=";
    const char *found = NULL;
    for (size_t i = 0; i < in->n_rootfs_options; i++) {
        const char *o = in->rootfs_options[i];
        if (!o || strncmp(o, prefix, sizeof(prefix) - 1) != 0)
            continue;
        if (found)
            return error_set(err, GRPC_INVALID_ARGUMENT,
                             PREFIX "the rootfs has more than one " OPT " option");
        found = o + sizeof(prefix) - 1;
    }
    if (!found)
        return 1;
    return parse_volume(found, metadata, err);
}

/* ---- image reference and metadata ---- */

/* kata_agent.go handleImageGuestPullBlockVolume: the pause container runs the pause bundle of
 * the guest image; every other container names its image. */
static int image_ref(const struct guest_pull_input *in, const char **ref, struct error *err)
{
    enum pod_role role;
    if (pod_role(in->anns, in->n_anns, &role, err) < 0)
        return error_wrap(err, PREFIX "container %s", in->container_id);
    if (role == POD_ROLE_SANDBOX) {
        *ref = "pause";
        return 0;
    }
    const char *name_key = pod_image_name_key(in->anns, in->n_anns);
    const char *name = annotation_get(in->anns, in->n_anns, name_key);
    if (!name || !*name)
        return error_set(
            err, GRPC_INVALID_ARGUMENT,
            PREFIX
            "container %s: no image reference: annotation %s is missing or "
            "empty (the image comes from " ANNOTATION_CRI_IMAGE_NAME
            " with containerd or nerdctl, " ANNOTATION_CRIO_IMAGE_NAME
            " with CRI-O; the pause container is the one whose " ANNOTATION_CRI_CONTAINER_TYPE
            " or " ANNOTATION_CRIO_CONTAINER_TYPE " is \"sandbox\")",
            in->container_id, name_key);
    *ref = name;
    return 0;
}

/* Container annotations overlaid on the volume's metadata; {"metadata":{...}} as a compact
 * JSON string with sorted keys (Go's json.Marshal of ImagePullVolume sorts map keys too). Kata's
 * map also holds its internal io.katacontainers.pkg.oci.bundle_path and .container_type, host
 * details no agent reads; cocoon sends the spec's annotations only. */
static char *metadata_json(const struct guest_pull_input *in, json_t *metadata, struct error *err)
{
    for (size_t i = 0; i < in->n_anns; i++) {
        const char *k = in->anns[i].key;
        if (!k || annotation_is_private(k))
            continue;
        json_t *v = json_string(in->anns[i].value ? in->anns[i].value : "");
        if (!v || json_object_set_new(metadata, k, v) < 0) {
            error_set(err, GRPC_INVALID_ARGUMENT,
                      PREFIX "container %s: annotation %zu is not valid UTF-8", in->container_id,
                      i);
            return NULL;
        }
    }
    _cleanup_(json_decrefp) json_t *doc = json_pack("{sO}", "metadata", metadata);
    char *s = doc ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (!s)
        error_set(err, GRPC_INTERNAL, PREFIX "cannot encode the metadata as JSON");
    return s;
}

static bool valid_container_id(const char *id)
{
    return id && *id && !strchr(id, '/') && strcmp(id, ".") != 0 && strcmp(id, "..") != 0;
}

int guest_pull_storage(const struct guest_pull_input *in, Grpc__Storage **out, struct error *err)
{
    *out = NULL;
    if (!valid_container_id(in->container_id))
        return error_set(err, GRPC_INVALID_ARGUMENT, PREFIX "invalid container id \"%s\"",
                         in->container_id ? in->container_id : "");

    /* fs_share_linux.go ShareRootFilesystem: force first (it ignores the snapshotter's option
     * and starts from an empty metadata), then the virtual volume, else no guest pull. */
    _cleanup_(json_decrefp) json_t *metadata = NULL;
    if (in->force) {
        metadata = json_object();
    } else {
        int r = volume_metadata(in, &metadata, err);
        if (r != 0)
            return r < 0 ? -1 : 0;
    }

    const char *ref = NULL;
    if (image_ref(in, &ref, err) < 0)
        return -1;
    _cleanup_free_ char *md = metadata_json(in, metadata, err);
    if (!md)
        return -1;

    Grpc__Storage *st = xmalloc(sizeof(*st));
    *st = (Grpc__Storage)GRPC__STORAGE__INIT;
    st->driver = xstrdup(GUEST_PULL_DRIVER);
    st->n_driver_options = 1;
    st->driver_options = xmalloc(sizeof(char *));
    st->driver_options[0] = xasprintf(GUEST_PULL_DRIVER "=%s", md);
    st->source = xstrdup(ref);
    st->fstype = xstrdup("overlay");
    st->mount_point = xasprintf("/run/kata-containers/%s/rootfs", in->container_id);
    *out = st;
    return 1;
}

void guest_pull_storage_free(Grpc__Storage *st)
{
    if (st)
        protobuf_c_message_free_unpacked(&st->base, NULL);
}
