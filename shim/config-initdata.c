/* The node's default init-data ([hypervisor.libvirt] initdata) and the init-data decoder's limits
 * from [runtime]. */
#include "shim/config.h"

#include <stdbool.h>
#include <string.h>

void config_initdata_limits(const struct config *cfg, struct initdata_limits *out)
{
    *out = (struct initdata_limits){
        .max_annotation = (size_t)cfg->runtime.initdata_annotation_limit_kib * 1024,
        .max_decompressed = (size_t)cfg->runtime.initdata_document_limit_kib * 1024,
        .max_annotation_name = "[runtime] initdata_annotation_limit_kib",
        .max_decompressed_name = "[runtime] initdata_document_limit_kib",
    };
}

/* The annotation's form is all base64 (and line breaks); a TOML document never is, since its
 * version = "0.1.0" needs quotes. */
static bool is_annotation_form(const char *s)
{
    for (; *s; s++)
        if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\r\n", *s))
            return false;
    return true;
}

int config_default_initdata(const struct config *cfg, struct initdata **out, struct error *err)
{
    const char *value = cfg->hypervisor.initdata;
    *out = NULL;
    if (!*value)
        return 0;
    struct initdata_limits lim;
    config_initdata_limits(cfg, &lim);
    if (is_annotation_form(value))
        return initdata_from_annotation(value, &lim, out, err);
    size_t len = strlen(value);
    if (len > lim.max_decompressed)
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "init-data: document is %zu bytes, over the %zu-byte limit set by %s", len,
                         lim.max_decompressed, lim.max_decompressed_name);
    return initdata_from_toml(value, len, out, err);
}
