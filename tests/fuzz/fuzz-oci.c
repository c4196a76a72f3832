/* Fuzz target: OCI JSON into the agent's protobuf (shim/oci.h), as Create, Exec and Update use
 * it. The input is read as each of the three documents:
 *   - a bundle's config.json: oci_spec_from_json (converted and stripped), then what Create does
 *     with the spec before CreateContainer: the pod's /dev/shm size and guest_files_plan (the
 *     mounts rewritten for a guest that shares no filesystem; it only stats host paths);
 *   - an exec's Process: oci_process_from_json, then oci_strip_exec_process;
 *   - an update's LinuxResources: oci_resources_from_json.
 * Every tree must be one protobuf-c can check, pack and unpack to the same bytes, and what Kata
 * strips must be gone; a refusal is INVALID_ARGUMENT naming the document. */
#include <stdlib.h>
#include <string.h>

#include "annotations/pod.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"
#include "shim/guest-files.h"
#include "shim/oci.h"
#include "tests/fuzz/fuzz.h"

static void check(bool ok)
{
    if (!ok)
        abort();
}

static void check_refused(const struct error *err, const char *doc)
{
    check(err->msg && strncmp(err->msg, doc, strlen(doc)) == 0 &&
          strncmp(err->msg + strlen(doc), ": ", 2) == 0);
    check(err->code == GRPC_INVALID_ARGUMENT);
}

/* Checks, packs, unpacks and packs again: the same bytes. */
static void check_wire(const ProtobufCMessage *m)
{
    check(protobuf_c_message_check(m));
    size_t n = protobuf_c_message_get_packed_size(m);
    _cleanup_free_ uint8_t *a = xmalloc(n ? n : 1);
    check(protobuf_c_message_pack(m, a) == n);
    ProtobufCMessage *u = protobuf_c_message_unpack(m->descriptor, NULL, n, a);
    check(u != NULL);
    size_t n2 = protobuf_c_message_get_packed_size(u);
    _cleanup_free_ uint8_t *b = xmalloc(n2 ? n2 : 1);
    check(protobuf_c_message_pack(u, b) == n2 && n2 == n && memcmp(a, b, n) == 0);
    protobuf_c_message_free_unpacked(u, NULL);
}

static bool is_empty(const char *s)
{
    return !s || !*s;
}

/* What oci.h says is stripped from a spec. */
static void check_stripped(const Grpc__Spec *s, const struct oci_spec_facts *f)
{
    check(s->hooks == NULL);
    for (size_t i = 0; i < s->n_annotations; i++)
        check(!annotation_is_private(s->annotations[i]->key));
    if (s->process)
        check(is_empty(s->process->selinuxlabel));
    check(!f->net_ns || f->has_net_ns);
    if (!s->linux)
        return;
    check(s->linux->seccomp == NULL && is_empty(s->linux->mountlabel));
    for (size_t i = 0; i < s->linux->n_namespaces; i++) {
        const Grpc__LinuxNamespace *ns = s->linux->namespaces[i];
        check(is_empty(ns->path));
        check(strcmp(ns->type, "network") != 0 && strcmp(ns->type, "pid") != 0 &&
              strcmp(ns->type, "cgroup") != 0 && strcmp(ns->type, "time") != 0);
    }
    const Grpc__LinuxResources *r = s->linux->resources;
    if (r) {
        check(r->n_devices == 0 && !r->pids && !r->blockio && !r->network);
        check(!r->cpu || (is_empty(r->cpu->cpus) && is_empty(r->cpu->mems)));
    }
}

static void spec(const uint8_t *data, size_t size)
{
    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    Grpc__Spec *s = NULL;
    struct oci_spec_facts facts = {0};
    if (oci_spec_from_json((const char *)data, size, &s, &facts, &err) < 0) {
        check(s == NULL);
        check_refused(&err, "config.json");
        return;
    }
    check_wire(&s->base);
    check_stripped(s, &facts);

    /* Create reads the annotations on their own (and fails first when it cannot). */
    _cleanup_(pod_annotations_free) struct pod_annotations anns = {0};
    if (pod_annotations_from_json((const char *)data, size, &anns, &err) < 0)
        error_clear(&err);
    uint64_t shm = guest_files_shm_size(s);
    struct guest_files files = {0};
    if (guest_files_plan(s, "fuzz-ctr", "fuzz-pod", shm, anns.items, anns.len, &files, &err) == 0) {
        check_wire(&s->base);
        for (size_t i = 0; i < files.n_storages; i++)
            check_wire(&files.storages[i]->base);
        for (size_t i = 0; i < files.n_copies; i++)
            check(files.copies[i].guest_path &&
                  strncmp(files.copies[i].guest_path, GUEST_FILES_DIR "/fuzz-ctr-",
                          sizeof(GUEST_FILES_DIR "/fuzz-ctr-") - 1) == 0);
    } else {
        check(files.n_copies == 0 && files.n_storages == 0 && err.msg);
    }
    guest_files_free(&files);
    oci_spec_facts_clear(&facts);
    protobuf_c_message_free_unpacked(&s->base, NULL);
}

static void process(const uint8_t *data, size_t size)
{
    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    Grpc__Process *p = NULL;
    if (oci_process_from_json((const char *)data, size, &p, &err) < 0) {
        check(p == NULL);
        check_refused(&err, "process");
        return;
    }
    check_wire(&p->base);
    oci_strip_exec_process(p);
    check_wire(&p->base);
    check(!p->capabilities && !p->consolesize && p->n_rlimits == 0);
    protobuf_c_message_free_unpacked(&p->base, NULL);
}

static void resources(const uint8_t *data, size_t size)
{
    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    Grpc__LinuxResources *r = NULL;
    if (oci_resources_from_json((const char *)data, size, &r, &err) < 0) {
        check(r == NULL);
        check_refused(&err, "resources");
        return;
    }
    check_wire(&r->base);
    check(r->n_devices == 0 && !r->pids && !r->blockio && !r->network);
    protobuf_c_message_free_unpacked(&r->base, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    spec(data, size);
    process(data, size);
    resources(data, size);
    return 0;
}
