/* vmm/vm-helper: cocoon-vm run as the shim daemon runs it (create from XML on stdin, destroy by
 * name, libvirt's own errors, usage), against libvirt's test driver; and the watch on a QEMU
 * process's pidfd, against ordinary processes. */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd/shim-path.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"
#include "vmm/domain-xml.h"
#include "vmm/vm-helper.h"
#include "tests/common/run-tap.h"

#define TEST_URI "test:///default"

static char *plain_xml(const char *name)
{
    struct vm_spec s = {0};
    s.name = xstrdup(name);
    s.sandbox_id = xstrdup(name);
    s.vcpus = 1;
    s.memory_mib = 256;
    s.kernel = xstrdup("/nonexistent/vmlinux");
    s.agent_channel = VM_AGENT_SERIAL;
    s.agent_socket = xasprintf("/tmp/%s.sock", name);
    struct error err = ERROR_INIT;
    char *xml = NULL;
    ck_assert_msg(domain_xml_build(&s, &xml, &err) == 0, "%s", err.msg);
    vm_spec_free(&s);
    return xml;
}

START_TEST(test_create_and_destroy)
{
    struct error err = ERROR_INIT;
    _cleanup_free_ char *xml = plain_xml("cocoon-helper-test");
    struct vm_started st = {7, 7};
    ck_assert_msg(vm_helper_create(VM_HELPER_PATH, TEST_URI, xml, &st, &err) == 0, "%s", err.msg);
    /* the test driver runs no QEMU and the domain has no vsock */
    ck_assert_uint_eq(st.pid, 0);
    ck_assert_uint_eq(st.cid, 0);
    /* test:///default is a new, private driver in every process: the domain went with the
     * helper, so there is nothing to destroy now; a real domain is "destroyed" (e2e) */
    ck_assert_int_eq(vm_helper_destroy(VM_HELPER_PATH, TEST_URI, "cocoon-helper-test", &err), 0);
    /* the built-in domain of the test driver is there in every process */
    ck_assert_int_eq(vm_helper_destroy(VM_HELPER_PATH, TEST_URI, "test", &err), 1);
    error_clear(&err);
}
END_TEST

START_TEST(test_errors)
{
    struct error err = ERROR_INIT;
    struct vm_started st;
    /* libvirt's own message reaches the caller */
    ck_assert_int_eq(vm_helper_create(VM_HELPER_PATH, TEST_URI, "<domain>", &st, &err), -1);
    ck_assert_msg(strncmp(err.msg, "create domain: libvirt: ", 24) == 0 &&
                      strstr(err.msg, "domain_definition"),
                  "%s", err.msg);
    ck_assert_int_eq(vm_helper_create(VM_HELPER_PATH, "nosuch:///x", "<domain/>", &st, &err), -1);
    ck_assert_msg(strstr(err.msg, "connect to nosuch:///x"), "%s", err.msg);
    ck_assert_int_eq(vm_helper_destroy(VM_HELPER_PATH, "nosuch:///x", "d", &err), -1);
    ck_assert_msg(strncmp(err.msg, "destroy domain: ", 16) == 0, "%s", err.msg);
    /* a helper that is not there */
    ck_assert_int_eq(vm_helper_destroy("/nonexistent/cocoon-vm", TEST_URI, "d", &err), -1);
    ck_assert_msg(strstr(err.msg, "/nonexistent/cocoon-vm"), "%s", err.msg);
    /* a helper that says nothing useful */
    ck_assert_int_eq(vm_helper_create("/bin/true", TEST_URI, "<domain/>", &st, &err), -1);
    ck_assert_msg(strstr(err.msg, "answered \"\""), "%s", err.msg);
    ck_assert_int_eq(vm_helper_create("/bin/false", TEST_URI, "<domain/>", &st, &err), -1);
    ck_assert_msg(strstr(err.msg, "exited with 1 and said nothing"), "%s", err.msg);
    error_clear(&err);

    /* usage */
    int status = system(VM_HELPER_PATH " frobnicate 2>/dev/null");
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 2);
    status = system(VM_HELPER_PATH " destroy 2>/dev/null");
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 2);
}
END_TEST

/* --- the QEMU watch --- */

struct heard {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int stopped;
    char detail[16];
};

static void on_event(void *user, enum vmm_event event, const char *detail)
{
    struct heard *h = user;
    pthread_mutex_lock(&h->lock);
    if (event == VMM_EVENT_STOPPED)
        h->stopped++;
    snprintf(h->detail, sizeof(h->detail), "%s", detail);
    pthread_cond_broadcast(&h->cond);
    pthread_mutex_unlock(&h->lock);
}

/* Waits up to 5 s for a STOPPED; returns how many came. */
static int wait_stopped(struct heard *h)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    pthread_mutex_lock(&h->lock);
    while (h->stopped == 0 && pthread_cond_timedwait(&h->cond, &h->lock, &until) == 0)
        ;
    int n = h->stopped;
    pthread_mutex_unlock(&h->lock);
    return n;
}

/* A process whose command line names the domain the way libvirt's QEMU does. */
static pid_t fake_qemu(const char *name)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        _cleanup_free_ char *arg = xasprintf("guest=%s,debug-threads=on", name);
        execl("/bin/sh", "qemu-system-x86_64", "-c", "sleep 30", "-name", arg, (char *)NULL);
        _exit(127);
    }
    usleep(100 * 1000); /* exec'd */
    return pid;
}

START_TEST(test_watch)
{
    if (getenv("COCOON_VALGRIND")) /* valgrind 3.19 does not know pidfd_open (ENOSYS) */
        return;
    struct heard h = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, ""};
    struct error err = ERROR_INIT;
    struct qemu_watch *w = NULL;

    /* the process ends: STOPPED "exited", once */
    pid_t pid = fake_qemu("cocoon-w1");
    ck_assert_msg(qemu_watch_start((uint32_t)pid, "cocoon-w1", on_event, &h, &w, &err) == 0, "%s",
                  err.msg);
    usleep(200 * 1000);
    ck_assert_int_eq(h.stopped, 0);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    ck_assert_int_eq(wait_stopped(&h), 1);
    ck_assert_str_eq(h.detail, "exited");
    qemu_watch_stop(w);
    ck_assert_int_eq(h.stopped, 1);

    /* stopped before the end: nothing is heard */
    h.stopped = 0;
    pid = fake_qemu("cocoon-w2");
    ck_assert_int_eq(qemu_watch_start((uint32_t)pid, "cocoon-w2", on_event, &h, &w, &err), 0);
    qemu_watch_stop(w);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    usleep(100 * 1000);
    ck_assert_int_eq(h.stopped, 0);

    /* a pid that runs something else (a recycled pid): STOPPED at once */
    pid = fake_qemu("cocoon-other");
    ck_assert_int_eq(qemu_watch_start((uint32_t)pid, "cocoon-w3", on_event, &h, &w, &err), 0);
    ck_assert_int_eq(wait_stopped(&h), 1);
    qemu_watch_stop(w);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);

    /* a pid that is gone: STOPPED at once */
    h.stopped = 0;
    pid = fork();
    if (pid == 0)
        _exit(0);
    waitpid(pid, NULL, 0);
    ck_assert_int_eq(qemu_watch_start((uint32_t)pid, "cocoon-w4", on_event, &h, &w, &err), 0);
    ck_assert_int_eq(wait_stopped(&h), 1);
    qemu_watch_stop(w);
    qemu_watch_stop(NULL);
    error_clear(&err);
}
END_TEST

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* as the shim does: vm-helper.h */
    Suite *s = suite_create("vm-helper");
    TCase *tc = tcase_create("helper");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_create_and_destroy);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_watch);
    suite_add_tcase(s, tc);
    return run_tap(s);
}
