#include "shim/bundle.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#define MAX_SMALL_FILE 4096 /* shim.pid, cocoon-config */

int bundle_read_config(const char *bundle, char **json, size_t *len, struct error *err)
{
    *json = NULL;
    *len = 0;
    _cleanup_free_ char *path = xasprintf("%s/config.json", bundle);
    if (fs_read_file(path, BUNDLE_MAX_CONFIG_JSON, json, len, err) < 0)
        return error_wrap(err, "config.json");
    return 0;
}

static void pod_annotations_freep(struct pod_annotations *a)
{
    pod_annotations_free(a);
}

int bundle_group(const char *bundle, const char *id, char **group, enum pod_role *role,
                 struct error *err)
{
    _cleanup_free_ char *json = NULL;
    size_t len;
    _cleanup_(pod_annotations_freep) struct pod_annotations anns = {0};
    if (bundle_read_config(bundle, &json, &len, err) < 0 ||
        pod_annotations_from_json(json, len, &anns, err) < 0 ||
        pod_role(anns.items, anns.len, role, err) < 0)
        return -1;
    if (*role != POD_ROLE_CONTAINER) {
        *group = xstrdup(id);
        return 0;
    }
    const char *sid = pod_sandbox_id(anns.items, anns.len);
    if (!sid)
        return error_set(err, GRPC_INVALID_ARGUMENT,
                         "config.json: a container of a pod without a sandbox id (annotation %s)",
                         ANNOTATION_CRI_SANDBOX_ID);
    *group = xstrdup(sid);
    return 0;
}

int bundle_write_file(const char *bundle, const char *name, const char *text, struct error *err)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", bundle, name);
    return fs_write_file_atomic(path, text, strlen(text), 0644, err);
}

char *bundle_read_small_file(const char *bundle, const char *name)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", bundle, name);
    char *text = NULL;
    size_t len;
    if (fs_read_file(path, MAX_SMALL_FILE, &text, &len, NULL) < 0)
        return NULL;
    text[strcspn(text, "\r\n")] = '\0';
    return text;
}

pid_t bundle_read_pid(const char *bundle)
{
    _cleanup_free_ char *text = bundle_read_small_file(bundle, BUNDLE_PID_FILE);
    if (!text)
        return 0;
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    while (*end == ' ')
        end++;
    if (errno || end == text || *end || v <= 0 || v > INT32_MAX)
        return 0;
    return (pid_t)v;
}

void bundle_remove_files(const char *bundle)
{
    static const char *const files[] = {BUNDLE_ADDRESS_FILE, BUNDLE_PID_FILE, BUNDLE_CONFIG_FILE};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        _cleanup_free_ char *path = xasprintf("%s/%s", bundle, files[i]);
        if (unlink(path) < 0 && errno != ENOENT && errno != ENOTDIR)
            log_warn("delete: remove %s: %s", path, strerror(errno));
    }
}
