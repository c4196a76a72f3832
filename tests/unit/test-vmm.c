/* vmm/domain: the libvirt lifecycle against the built-in test driver (no daemon needed):
 * create, lifecycle events, destroy, destroy by name, lookup, vsock CID read-back from a
 * test:///<file>.xml fixture, libvirt's error messages, domain names. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libvirt/libvirt.h>

#include "lib/cleanup.h"
#include "lib/xalloc.h"
#include "vmm/domain-xml.h"
#include "vmm/domain.h"
#include "vmm/events.h"
#include "tests/common/run-tap.h"

#define TEST_URI "test:///default"
#define EVENT_TIMEOUT_S 10

static struct vmm *vmm;

static void setup(void)
{
    struct error err = ERROR_INIT;
    ck_assert_msg(vmm_open(TEST_URI, &vmm, &err) == 0, "vmm_open: %s", err.msg);
}

static void teardown(void)
{
    vmm_close(vmm);
    vmm = NULL;
}

/* A unique name: test:///default's domains are shared by every connection of the process. */
static char *unique_name(const char *what)
{
    static int counter;
    return xasprintf("cocoon-test-%s-%d-%d", what, (int)getpid(),
                     __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED));
}

static char *plain_xml(const char *name, enum vm_agent_channel channel)
{
    struct vm_spec s = {0};
    s.name = xstrdup(name);
    s.sandbox_id = xstrdup(name);
    s.vcpus = 1;
    s.memory_mib = 256;
    s.kernel = xstrdup("/nonexistent/vmlinux");
    s.agent_channel = channel;
    if (channel == VM_AGENT_SERIAL)
        s.agent_socket = xasprintf("/tmp/%s.sock", name);
    struct error err = ERROR_INIT;
    char *xml = NULL;
    ck_assert_msg(domain_xml_build(&s, &xml, &err) == 0, "%s", err.msg);
    vm_spec_free(&s);
    return xml;
}

/* --- what a callback heard --- */

struct recorder {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int stopped, crashed;
    char detail[32];
    int delay_ms; /* sleep inside the callback, to test vmm_domain_free waiting */
    bool in_callback, callback_done;
};

static void recorder_init(struct recorder *r)
{
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->cond, NULL);
}

static void recorder_destroy(struct recorder *r)
{
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->cond);
}

static void on_event(void *user, enum vmm_event event, const char *detail)
{
    struct recorder *r = user;
    pthread_mutex_lock(&r->lock);
    r->in_callback = true;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
    if (r->delay_ms)
        usleep((useconds_t)r->delay_ms * 1000);
    pthread_mutex_lock(&r->lock);
    if (event == VMM_EVENT_STOPPED)
        r->stopped++;
    else
        r->crashed++;
    snprintf(r->detail, sizeof(r->detail), "%s", detail);
    r->callback_done = true;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

/* Waits until *flag is set; false on timeout. */
static bool wait_for(struct recorder *r, const int *count, const bool *flag)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += EVENT_TIMEOUT_S;
    pthread_mutex_lock(&r->lock);
    int rc = 0;
    while (!(count ? *count > 0 : *flag) && rc == 0)
        rc = pthread_cond_timedwait(&r->cond, &r->lock, &deadline);
    bool ok = count ? *count > 0 : *flag;
    pthread_mutex_unlock(&r->lock);
    return ok;
}

/* --- lifecycle --- */

START_TEST(test_open_bad_uri)
{
    struct error err = ERROR_INIT;
    struct vmm *v = NULL;
    ck_assert_int_eq(vmm_open("nosuchdriver:///x", &v, &err), -1);
    ck_assert_ptr_null(v);
    ck_assert_msg(strstr(err.msg, "connect to nosuchdriver:///x: libvirt: ") != NULL, "%s",
                  err.msg);
    ck_assert_int_eq(err.code, GRPC_UNAVAILABLE);
    error_clear(&err);
}
END_TEST

START_TEST(test_create_destroy_event)
{
    _cleanup_free_ char *name = unique_name("events");
    _cleanup_free_ char *xml = plain_xml(name, VM_AGENT_VSOCK);
    struct recorder rec;
    recorder_init(&rec);
    struct error err = ERROR_INIT;
    struct vmm_domain *dom = NULL;
    ck_assert_msg(vmm_domain_create(vmm, xml, on_event, &rec, &dom, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(vmm_domain_get_name(dom), name);

    uint32_t pid = 1;
    ck_assert_int_eq(vmm_domain_pid(dom, &pid, &err), 0);
    ck_assert_uint_eq(pid, 0); /* the test driver runs no QEMU */

    ck_assert_msg(vmm_domain_destroy(dom, &err) == 0, "%s", err.msg);
    ck_assert_msg(wait_for(&rec, &rec.stopped, NULL), "no STOPPED event within %ds",
                  EVENT_TIMEOUT_S);
    pthread_mutex_lock(&rec.lock);
    ck_assert_str_eq(rec.detail, "destroyed");
    pthread_mutex_unlock(&rec.lock);

    /* a domain that is already gone destroys fine */
    ck_assert_msg(vmm_domain_destroy(dom, &err) == 0, "%s", err.msg);
    vmm_domain_free(dom);
    ck_assert_int_eq(rec.stopped, 1);
    ck_assert_int_eq(rec.crashed, 0);
    recorder_destroy(&rec);
}
END_TEST

/* A domain destroyed behind vmm's back (here: by name, as `virsh destroy` would) is heard of. */
START_TEST(test_destroy_from_outside_is_heard)
{
    _cleanup_free_ char *name = unique_name("outside");
    _cleanup_free_ char *xml = plain_xml(name, VM_AGENT_SERIAL);
    struct recorder rec;
    recorder_init(&rec);
    struct error err = ERROR_INIT;
    struct vmm_domain *dom = NULL;
    ck_assert_msg(vmm_domain_create(vmm, xml, on_event, &rec, &dom, &err) == 0, "%s", err.msg);

    struct vmm *other = NULL;
    ck_assert_int_eq(vmm_open(TEST_URI, &other, &err), 0);
    ck_assert_int_eq(vmm_destroy_by_name(other, name, &err), 1);
    vmm_close(other);

    ck_assert(wait_for(&rec, &rec.stopped, NULL));
    vmm_domain_free(dom);
    ck_assert_str_eq(rec.detail, "destroyed");
    recorder_destroy(&rec);
}
END_TEST

START_TEST(test_destroy_by_name)
{
    _cleanup_free_ char *name = unique_name("byname");
    _cleanup_free_ char *xml = plain_xml(name, VM_AGENT_VSOCK);
    struct error err = ERROR_INIT;
    struct vmm_domain *dom = NULL;
    ck_assert_int_eq(vmm_domain_create(vmm, xml, NULL, NULL, &dom, &err), 0);
    ck_assert_int_eq(vmm_destroy_by_name(vmm, name, &err), 1);
    ck_assert_int_eq(vmm_destroy_by_name(vmm, name, &err), 0);
    ck_assert_int_eq(vmm_destroy_by_name(vmm, "cocoon-never-existed", &err), 0);
    ck_assert(!error_is_set(&err));
    vmm_domain_free(dom);
}
END_TEST

START_TEST(test_bad_xml)
{
    struct error err = ERROR_INIT;
    struct vmm_domain *dom = NULL;
    ck_assert_int_eq(vmm_domain_create(vmm, "<domain type='kvm'><name>x", NULL, NULL, &dom, &err),
                     -1);
    ck_assert_ptr_null(dom);
    ck_assert_msg(strncmp(err.msg, "create domain: libvirt: ", 24) == 0, "%s", err.msg);
    ck_assert_msg(strlen(err.msg) > 24, "no libvirt message: %s", err.msg);
    ck_assert_int_eq(err.code, GRPC_INVALID_ARGUMENT);

    /* well-formed but not a domain libvirt accepts: its own words come through */
    ck_assert_int_eq(vmm_domain_create(vmm, "<domain type='nonsense'><name>x</name></domain>", NULL,
                                       NULL, &dom, &err),
                     -1);
    ck_assert_msg(strstr(err.msg, "nonsense") != NULL, "%s", err.msg);
    error_clear(&err);
}
END_TEST

START_TEST(test_lookup)
{
    struct error err = ERROR_INIT;
    struct vmm_domain *dom = NULL;
    ck_assert_int_eq(vmm_domain_lookup(vmm, "cocoon-never-existed", &dom, &err), -1);
    ck_assert_ptr_null(dom);
    ck_assert_int_eq(err.code, GRPC_NOT_FOUND);
    ck_assert_msg(strstr(err.msg, "look up domain: libvirt: ") != NULL, "%s", err.msg);
    error_clear(&err);

    /* test:///default always has a running domain called "test" */
    ck_assert_int_eq(vmm_domain_lookup(vmm, "test", &dom, &err), 0);
    ck_assert_str_eq(vmm_domain_get_name(dom), "test");
    vmm_domain_free(dom);
}
END_TEST

/* The test driver assigns no CID to <cid auto='yes'/>, and a domain without vsock has none. */
START_TEST(test_cid_missing)
{
    struct error err = ERROR_INIT;
    for (int i = 0; i < 2; i++) {
        _cleanup_free_ char *name = unique_name("nocid");
        _cleanup_free_ char *xml = plain_xml(name, i ? VM_AGENT_SERIAL : VM_AGENT_VSOCK);
        struct vmm_domain *dom = NULL;
        ck_assert_int_eq(vmm_domain_create(vmm, xml, NULL, NULL, &dom, &err), 0);
        uint32_t cid = 7;
        ck_assert_int_eq(vmm_domain_vsock_cid(dom, &cid, &err), -1);
        ck_assert_uint_eq(cid, 0);
        ck_assert_int_eq(err.code, GRPC_FAILED_PRECONDITION);
        ck_assert_msg(strstr(err.msg, name) != NULL, "%s", err.msg);
        ck_assert_int_eq(vmm_domain_destroy(dom, &err), 0);
        vmm_domain_free(dom);
    }
    error_clear(&err);
}
END_TEST

/* A custom test:///<file>.xml node whose domain carries a fixed CID, as a live QEMU domain
 * would after libvirt assigned one. */
static const char fixture_node[] =
    "<node xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>\n"
    "  <domain type='test'>\n"
    "    <name>cocoon-cid-fixture</name>\n"
    "    <memory unit='MiB'>128</memory>\n"
    "    <vcpu>1</vcpu>\n"
    "    <os><type arch='x86_64' machine='pc'>hvm</type></os>\n"
    "    <devices>\n"
    "      <vsock model='virtio'><cid auto='no' address='42'/></vsock>\n"
    "    </devices>\n"
    "  </domain>\n"
    "  <cpu><mhz>2000</mhz><model>x86_64</model><active>2</active><nodes>1</nodes>"
    "<sockets>1</sockets><cores>2</cores><threads>1</threads></cpu>\n"
    "  <memory>4194304</memory>\n"
    "</node>\n";

START_TEST(test_cid_from_fixture)
{
    char path[] = "/tmp/cocoon-test-node-XXXXXX.xml";
    int fd = mkstemps(path, 4);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, fixture_node, sizeof(fixture_node) - 1),
                     (ssize_t)sizeof(fixture_node) - 1);
    close(fd);

    _cleanup_free_ char *uri = xasprintf("test://%s", path);
    struct error err = ERROR_INIT;
    struct vmm *v = NULL;
    int r = vmm_open(uri, &v, &err);
    unlink(path);
    ck_assert_msg(r == 0, "%s", err.msg);

    struct vmm_domain *dom = NULL;
    ck_assert_msg(vmm_domain_lookup(v, "cocoon-cid-fixture", &dom, &err) == 0, "%s", err.msg);
    uint32_t cid = 0;
    ck_assert_msg(vmm_domain_vsock_cid(dom, &cid, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(cid, 42);
    uint32_t pid = 1;
    ck_assert_int_eq(vmm_domain_pid(dom, &pid, &err), 0);
    ck_assert_uint_eq(pid, 0);
    vmm_domain_free(dom);
    vmm_close(v);
}
END_TEST

/* --- thread-safety of callbacks --- */

/* vmm_domain_free waits for a callback in flight, and no callback runs after it returns. */
START_TEST(test_free_waits_for_callback)
{
    _cleanup_free_ char *name = unique_name("inflight");
    _cleanup_free_ char *xml = plain_xml(name, VM_AGENT_VSOCK);
    struct recorder rec;
    recorder_init(&rec);
    rec.delay_ms = 300;
    struct error err = ERROR_INIT;
    struct vmm_domain *dom = NULL;
    ck_assert_int_eq(vmm_domain_create(vmm, xml, on_event, &rec, &dom, &err), 0);
    ck_assert_int_eq(vmm_domain_destroy(dom, &err), 0);
    ck_assert(wait_for(&rec, NULL, &rec.in_callback));
    vmm_domain_free(dom);
    pthread_mutex_lock(&rec.lock);
    ck_assert(rec.callback_done);
    pthread_mutex_unlock(&rec.lock);
    recorder_destroy(&rec);
}
END_TEST

/* A watch started on a domain that already stopped still reports STOPPED, from the event loop. */
START_TEST(test_watch_after_stop)
{
    _cleanup_free_ char *name = unique_name("missed");
    _cleanup_free_ char *xml = plain_xml(name, VM_AGENT_VSOCK);
    virConnectPtr conn = virConnectOpen(TEST_URI);
    ck_assert_ptr_nonnull(conn);
    struct error err = ERROR_INIT;
    struct event_router *router = event_router_new(conn, &err);
    ck_assert_msg(router != NULL, "%s", err.msg);
    virDomainPtr d = virDomainCreateXML(conn, xml, 0);
    ck_assert_ptr_nonnull(d);
    ck_assert_int_eq(virDomainDestroy(d), 0);

    struct recorder rec;
    recorder_init(&rec);
    struct domain_watch *w = domain_watch_start(router, d, on_event, &rec, &err);
    ck_assert_msg(w != NULL, "%s", err.msg);
    ck_assert(wait_for(&rec, &rec.stopped, NULL));
    /* the router may still deliver libvirt's own STOPPED; it must not come twice */
    usleep(200 * 1000);
    domain_watch_stop(w);
    ck_assert_int_eq(rec.stopped, 1);
    event_router_free(conn, router);
    virDomainFree(d);
    virConnectClose(conn);
    recorder_destroy(&rec);
}
END_TEST

#define N_THREADS 6
#define ROUNDS 5

static void *create_destroy_loop(void *arg)
{
    long failures = 0;
    for (int i = 0; i < ROUNDS; i++) {
        char *name = unique_name("concurrent");
        char *xml = plain_xml(name, VM_AGENT_VSOCK);
        struct recorder rec;
        recorder_init(&rec);
        struct error err = ERROR_INIT;
        struct vmm_domain *dom = NULL;
        if (vmm_domain_create(vmm, xml, on_event, &rec, &dom, &err) < 0 ||
            vmm_domain_destroy(dom, &err) < 0 || !wait_for(&rec, &rec.stopped, NULL)) {
            fprintf(stderr, "# %s: %s (stopped %d)\n", name, err.msg ? err.msg : "no event",
                    rec.stopped);
            failures++;
        }
        vmm_domain_free(dom);
        if (rec.stopped != 1)
            failures++;
        recorder_destroy(&rec);
        error_clear(&err);
        free(xml);
        free(name);
    }
    return (void *)failures;
}

START_TEST(test_concurrent_domains)
{
    pthread_t t[N_THREADS];
    for (int i = 0; i < N_THREADS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, create_destroy_loop, NULL), 0);
    long failures = 0;
    for (int i = 0; i < N_THREADS; i++) {
        void *r;
        pthread_join(t[i], &r);
        failures += (long)r;
    }
    ck_assert_int_eq(failures, 0);
}
END_TEST

/* --- names --- */

START_TEST(test_domain_name)
{
    static const char *const cases[][2] = {
        {"abc-DEF_1.2", "cocoon-abc-DEF_1.2"},
        {"a/b c'd\"e<f>g&h", "cocoon-a_b_c_d_e_f_g_h"},
        {"caf\xc3\xa9", "cocoon-caf__"},
        {"", "cocoon-"},
        {"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef-and-more",
         "cocoon-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef-and-more"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        _cleanup_free_ char *name = vmm_domain_name(cases[i][0]);
        ck_assert_str_eq(name, cases[i][1]);
    }
}
END_TEST

static Suite *vmm_suite(void)
{
    Suite *s = suite_create("vmm");
    TCase *tc = tcase_create("lifecycle");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_open_bad_uri);
    tcase_add_test(tc, test_create_destroy_event);
    tcase_add_test(tc, test_destroy_from_outside_is_heard);
    tcase_add_test(tc, test_destroy_by_name);
    tcase_add_test(tc, test_bad_xml);
    tcase_add_test(tc, test_lookup);
    tcase_add_test(tc, test_cid_missing);
    tcase_add_test(tc, test_cid_from_fixture);
    suite_add_tcase(s, tc);

    tc = tcase_create("threads");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_free_waits_for_callback);
    tcase_add_test(tc, test_watch_after_stop);
    tcase_add_test(tc, test_concurrent_domains);
    suite_add_tcase(s, tc);

    tc = tcase_create("names");
    tcase_add_test(tc, test_domain_name);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_tap(vmm_suite());
}
