/* The front binary's `delete`: a container of a pod is cleaned up here, without libvirt;
 * everything else goes to the daemon binary, which can destroy a VM. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "containerd/task/v2/shim.pb-c.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/xalloc.h"
#include "shim/bundle.h"
#include "shim/commands.h"

#define EXIT_STATUS_KILLED 137 /* 128 + SIGKILL, what runc and Kata report */

int shim_write_delete_response(pid_t pid)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    ts.seconds = now.tv_sec;
    ts.nanos = (int32_t)now.tv_nsec;
    Containerd__Task__V2__DeleteResponse resp = CONTAINERD__TASK__V2__DELETE_RESPONSE__INIT;
    resp.pid = (uint32_t)pid;
    resp.exit_status = EXIT_STATUS_KILLED;
    resp.exited_at = &ts;
    size_t len = containerd__task__v2__delete_response__get_packed_size(&resp);
    _cleanup_free_ uint8_t *buf = xmalloc(len);
    containerd__task__v2__delete_response__pack(&resp, buf);
    return fs_write_all(STDOUT_FILENO, buf, len);
}

int shim_cmd_delete_front(const struct shim_flags *f, char **argv)
{
    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    if (shim_flags_check_names(f, &err) < 0) {
        fprintf(stderr, "%s: delete: %s\n", SHIM_BINARY_NAME, err.msg);
        return EXIT_FAILURE;
    }
    _cleanup_free_ char *bundle = shim_flags_bundle(f);
    _cleanup_free_ char *group = NULL;
    enum pod_role role;
    if (bundle_group(bundle, f->id, &group, &role, &err) == 0 && role == POD_ROLE_CONTAINER) {
        pid_t pid = bundle_read_pid(bundle);
        bundle_remove_files(bundle);
        if (shim_write_delete_response(pid) < 0) {
            fprintf(stderr, "%s: delete: write the response to stdout: %s\n", SHIM_BINARY_NAME,
                    strerror(errno));
            return EXIT_FAILURE;
        }
        return EXIT_SUCCESS;
    }
    _cleanup_free_ char *daemon = shim_daemon_path();
    argv[0] = daemon;
    execv(daemon, argv);
    fprintf(stderr, "%s: delete: run %s: %s\n", SHIM_BINARY_NAME, daemon, strerror(errno));
    return EXIT_FAILURE;
}
