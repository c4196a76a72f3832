#include "shim/runtime-options.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "containerd/runtime/bootstrap/v1/bootstrap.pb-c.h"
#include "containerd/runtimeoptions/v1/api.pb-c.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/xalloc.h"

#define MAX_OPTIONS_SIZE (1 << 20) /* runtime options are a few hundred bytes */

/* "runtimeoptions.v1.Options" after the last '/', or the name CRI used in containerd 1.x. */
static bool is_runtime_options(const char *type_url)
{
    const char *slash = strrchr(type_url, '/');
    const char *name = slash ? slash + 1 : type_url;
    return strcmp(name, "runtimeoptions.v1.Options") == 0 ||
           strcmp(name, "cri-containerd.runtimeoptions.v1.Options") == 0;
}

int shim_config_path_from_any(const Google__Protobuf__Any *any, char **config_path,
                              struct error *err)
{
    if (!any->type_url || !is_runtime_options(any->type_url))
        return 0; /* another runtime's options: nothing for us */
    Runtimeoptions__V1__Options *o =
        runtimeoptions__v1__options__unpack(NULL, any->value.len, any->value.data);
    if (!o)
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "runtime options: the %s value (%zu bytes) does not decode", any->type_url,
                         any->value.len);
    if (o->config_path && *o->config_path)
        *config_path = xstrdup(o->config_path);
    runtimeoptions__v1__options__free_unpacked(o, NULL);
    return 0;
}

static void bootstrap_params_free(Containerd__Runtime__Bootstrap__V1__BootstrapParams *p)
{
    containerd__runtime__bootstrap__v1__bootstrap_params__free_unpacked(p, NULL);
}
DEFINE_CLEANUP_FUNC(Containerd__Runtime__Bootstrap__V1__BootstrapParams *, bootstrap_params_free)

int shim_read_start_options(int fd, const struct shim_flags *f, char **config_path,
                            struct error *err)
{
    *config_path = NULL;
    if (isatty(fd))
        return 0; /* run by hand: containerd always gives a pipe or /dev/null */
    _cleanup_free_ char *buf = NULL;
    size_t len;
    if (fs_read_fd(fd, MAX_OPTIONS_SIZE, "runtime options on stdin", &buf, &len, err) < 0)
        return -1;
    if (len == 0)
        return 0;
    const uint8_t *data = (const uint8_t *)buf;

    /* Both formats start with field 1 as a string; containerd tells them apart the same way. */
    _cleanup_(bootstrap_params_freep) Containerd__Runtime__Bootstrap__V1__BootstrapParams *bp =
        containerd__runtime__bootstrap__v1__bootstrap_params__unpack(NULL, len, data);
    if (bp && f->id && *f->id && strcmp(bp->instance_id, f->id) == 0 &&
        strcmp(bp->namespace_, f->namespace_ ? f->namespace_ : "") == 0) {
        for (size_t i = 0; i < bp->n_extensions; i++) {
            const Google__Protobuf__Any *any = bp->extensions[i]->value;
            if (any && any->type_url && is_runtime_options(any->type_url))
                return shim_config_path_from_any(any, config_path, err);
        }
        return 0;
    }

    Google__Protobuf__Any *any = google__protobuf__any__unpack(NULL, len, data);
    if (!any)
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "runtime options on stdin (%zu bytes): neither a google.protobuf.Any nor "
                         "a BootstrapParams for this -id and -namespace",
                         len);
    int r = 0;
    if (!any->type_url || !*any->type_url)
        r = error_set(err, GRPC_INVALID_ARGUMENT,
                      "runtime options on stdin (%zu bytes): a google.protobuf.Any without a "
                      "type_url",
                      len);
    else
        r = shim_config_path_from_any(any, config_path, err);
    google__protobuf__any__free_unpacked(any, NULL);
    return r;
}
