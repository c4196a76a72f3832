/* e2e vm-boot: the test guest image under libvirt (QEMU TCG) through the vmm API.
 *
 *   vm-boot VMLINUX INITRAMFS        (TAP; run by run-vm-boot.sh, which starts libvirtd)
 *
 * 1. create a domain from a vm_spec (virtio-serial agent channel), dial the channel and call
 *    grpc.Health/Check until the agent answers SERVING; report create -> SERVING time
 * 2. vmm_domain_destroy leaves no domain, no QEMU process; the test removes its files
 * 3. a domain destroyed from outside (virsh destroy) fires VMM_EVENT_STOPPED within seconds
 *
 * E2E_LIBVIRT_URI overrides qemu:///system; E2E_TMPDIR (default /tmp, must be traversable by
 * QEMU's user) holds the per-VM dirs. Domains are named cocoon-e2e-<pid>-<case>, so the
 * driver script can destroy leftovers of a crashed run. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kata/health.pb-c.h"
#include "lib/cleanup.h"
#include "lib/error.h"
#include "lib/xalloc.h"
#include "ttrpc/client.h"
#include "ttrpc/dial.h"
#include "vmm/domain-xml.h"
#include "vmm/domain.h"
#include "vmm/vm-spec.h"

#define AGENT_DIAL_TIMEOUT_MS 60000
#define HEALTH_DEADLINE_S 120.0 /* TCG boot is ~3-6 s; a loaded CI machine is slower */
#define EVENT_DEADLINE_S 10.0
#define QEMU_GONE_DEADLINE_S 10.0

static const char *vmlinux;
static const char *initramfs;
static const char *uri = "qemu:///system";
static int test_no;
static int failures;

/* --- TAP --- */

static void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void diag(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("# ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
}

static bool ok(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool ok(bool cond, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%sok %d - ", cond ? "" : "not ", ++test_no);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    if (!cond)
        failures++;
    return cond;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* --- lifecycle events --- */

struct events {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int stopped; /* how many STOPPED events */
    int crashed;
    char detail[32]; /* of the last STOPPED */
    double stopped_at;
};

static void on_event(void *user, enum vmm_event event, const char *detail)
{
    struct events *ev = user;
    pthread_mutex_lock(&ev->lock);
    if (event == VMM_EVENT_STOPPED) {
        ev->stopped++;
        ev->stopped_at = now_s();
        snprintf(ev->detail, sizeof(ev->detail), "%s", detail ? detail : "");
    } else {
        ev->crashed++;
    }
    pthread_cond_broadcast(&ev->cond);
    pthread_mutex_unlock(&ev->lock);
}

/* True once a STOPPED event came, waiting up to timeout_s. */
static bool wait_stopped(struct events *ev, double timeout_s)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)timeout_s;
    pthread_mutex_lock(&ev->lock);
    int rc = 0;
    while (ev->stopped == 0 && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&ev->cond, &ev->lock, &until);
    bool stopped = ev->stopped > 0;
    pthread_mutex_unlock(&ev->lock);
    return stopped;
}

/* --- one test VM --- */

struct vm {
    char dir[PATH_MAX]; /* 0755 temp dir: QEMU (user libvirt-qemu) must reach the socket */
    char *sock;
    char *console;
    struct vm_spec spec;
    struct vmm_domain *dom;
    struct events ev;
    uint32_t qemu_pid;
};

static int vm_prepare(struct vm *vm, const char *tag, struct error *err)
{
    memset(vm, 0, sizeof(*vm));
    pthread_mutex_init(&vm->ev.lock, NULL);
    pthread_cond_init(&vm->ev.cond, NULL);
    const char *base = getenv("E2E_TMPDIR");
    snprintf(vm->dir, sizeof(vm->dir), "%s/vm-%s-XXXXXX", base && *base ? base : "/tmp", tag);
    if (!mkdtemp(vm->dir))
        return error_set_errno(err, errno, "mkdtemp %s", vm->dir);
    if (chmod(vm->dir, 0755) < 0)
        return error_set_errno(err, errno, "chmod %s", vm->dir);
    vm->sock = xasprintf("%s/agent.sock", vm->dir);
    vm->console = xasprintf("%s/console.log", vm->dir);

    _cleanup_free_ char *sandbox_id = xasprintf("e2e-%d-%s", (int)getpid(), tag);
    struct vm_spec *s = &vm->spec;
    s->name = vmm_domain_name(sandbox_id);
    s->sandbox_id = xstrdup(sandbox_id);
    s->domain_type = xstrdup("qemu"); /* TCG: KVM does not work on the test machines */
    s->machine_type = xstrdup("pc");
    s->vcpus = 1;
    s->memory_mib = 512;
    s->kernel = xstrdup(vmlinux);
    s->initrd = xstrdup(initramfs);
    s->kernel_params = xstrdup("console=ttyS0 panic=-1 quiet");
    s->tee = VM_TEE_NONE;
    s->agent_channel = VM_AGENT_SERIAL;
    s->agent_socket = xstrdup(vm->sock);
    s->console_log = xstrdup(vm->console);
    return 0;
}

static int vm_create(struct vm *vm, struct vmm *vmm, struct error *err)
{
    _cleanup_free_ char *xml = NULL;
    if (domain_xml_build(&vm->spec, &xml, err) < 0)
        return -1;
    return vmm_domain_create(vmm, xml, on_event, &vm->ev, &vm->dom, err);
}

/* The console log as TAP diagnostics (after a failure). */
static void dump_console(const struct vm *vm)
{
    _cleanup_fclose_ FILE *f = fopen(vm->console, "re");
    if (!f) {
        diag("console log %s: %s", vm->console, strerror(errno));
        return;
    }
    diag("--- console log %s:", vm->console);
    char line[512];
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        diag("  %s", line);
    }
    diag("--- end of console log");
}

/* The guest's own marker line ("cocoon-init: ready uptime=S ...") from the console log. */
static void diag_guest_ready(const struct vm *vm)
{
    _cleanup_fclose_ FILE *f = fopen(vm->console, "re");
    char line[512];
    while (f && fgets(line, sizeof(line), f)) {
        if (!strncmp(line, "cocoon-init: ready", 18)) {
            line[strcspn(line, "\n")] = '\0';
            diag("guest: %s", line);
            return;
        }
    }
}

/* Removes what the test made: the domain if still there, the socket, the console log and the
 * dir. Returns true when nothing is left. */
static bool vm_cleanup(struct vm *vm)
{
    if (vm->dom) {
        struct error err = ERROR_INIT;
        if (vmm_domain_destroy(vm->dom, &err) < 0)
            diag("cleanup: destroy %s: %s", vm->spec.name, err.msg);
        error_clear(&err);
        vmm_domain_free(vm->dom);
        vm->dom = NULL;
    }
    bool clean = true;
    if (vm->dir[0]) {
        if ((vm->sock && unlink(vm->sock) < 0 && errno != ENOENT) ||
            (vm->console && unlink(vm->console) < 0 && errno != ENOENT) ||
            (rmdir(vm->dir) < 0 && errno != ENOENT)) {
            diag("cleanup: %s: %s", vm->dir, strerror(errno));
            clean = false;
        }
        struct stat st;
        if (stat(vm->dir, &st) == 0)
            clean = false;
    }
    free(vm->sock);
    free(vm->console);
    vm_spec_free(&vm->spec);
    pthread_cond_destroy(&vm->ev.cond);
    pthread_mutex_destroy(&vm->ev.lock);
    memset(vm, 0, sizeof(*vm));
    return clean;
}

/* Dials the agent channel and calls grpc.Health/Check until SERVING. Returns 0 or -1. */
static int health_check(struct vm *vm, double deadline, struct error *err)
{
    _cleanup_free_ char *addr = xasprintf("virtio-serial://%s", vm->sock);
    int fd = ttrpc_dial(addr, AGENT_DIAL_TIMEOUT_MS, err);
    if (fd < 0)
        return error_wrap(err, "dial %s", addr);
    struct ttrpc_client *c = ttrpc_client_new(fd);
    int rc = -1;
    for (;;) {
        double left = deadline - now_s();
        if (left <= 0) {
            if (error_is_set(err))
                error_wrap(err, "no SERVING within %.0f s; last Check", HEALTH_DEADLINE_S);
            else
                error_set(err, GRPC_DEADLINE_EXCEEDED, "the agent did not report SERVING in time");
            break;
        }
        /* QEMU keeps what we write until the guest opens the port, so one long call covers
         * the whole boot; its answer comes when the agent is up. */
        Grpc__CheckRequest req = GRPC__CHECK_REQUEST__INIT;
        ProtobufCMessage *resp = NULL;
        error_clear(err);
        if (ttrpc_client_call(c, "grpc.Health", "Check", &req.base,
                              &grpc__health_check_response__descriptor, &resp,
                              (int64_t)(left * 1000), NULL, 0, err) < 0) {
            if (ttrpc_client_closed(c)) {
                error_wrap(err, "grpc.Health/Check");
                break; /* QEMU went away, or the channel broke */
            }
            sleep_s(0.1);
            continue;
        }
        Grpc__HealthCheckResponse *hc = (Grpc__HealthCheckResponse *)resp;
        bool serving = hc->status == GRPC__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
        protobuf_c_message_free_unpacked(resp, NULL);
        if (serving) {
            rc = 0;
            break;
        }
        sleep_s(0.1);
    }
    ttrpc_client_free(c);
    return rc;
}

/* Processes whose command line names the domain (QEMU gets "-name guest=<name>,..."). */
static int count_qemu_of(const char *name)
{
    _cleanup_free_ char *needle = xasprintf("guest=%s,", name);
    DIR *d = opendir("/proc");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        _cleanup_free_ char *path = xasprintf("/proc/%s/cmdline", e->d_name);
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f)
            continue;
        char buf[8192];
        size_t len = fread(buf, 1, sizeof(buf) - 1, f);
        for (size_t i = 0; i < len; i++)
            if (buf[i] == '\0')
                buf[i] = ' ';
        buf[len] = '\0';
        if (strstr(buf, needle))
            n++;
    }
    closedir(d);
    return n;
}

/* Waits for the QEMU process (pid, or any with the domain's name) to be gone. */
static bool qemu_gone(uint32_t pid, const char *name, double timeout_s)
{
    double until = now_s() + timeout_s;
    for (;;) {
        bool pid_gone = pid == 0 || (kill((pid_t)pid, 0) < 0 && errno == ESRCH);
        if (pid_gone && count_qemu_of(name) == 0)
            return true;
        if (now_s() > until)
            return false;
        sleep_s(0.05);
    }
}

static bool domain_exists(struct vmm *vmm, const char *name)
{
    struct vmm_domain *d = NULL;
    struct error err = ERROR_INIT;
    int r = vmm_domain_lookup(vmm, name, &d, &err);
    if (r < 0 && err.code != GRPC_NOT_FOUND)
        diag("look up %s: %s", name, err.msg);
    error_clear(&err);
    vmm_domain_free(d);
    return r == 0;
}

/* --- cases --- */

static void case_boot_and_destroy(struct vmm *vmm)
{
    struct vm vm;
    struct error err = ERROR_INIT;
    if (!ok(vm_prepare(&vm, "boot", &err) == 0, "prepare VM spec and temp dir")) {
        diag("%s", err.msg);
        goto out;
    }
    double t0 = now_s();
    if (!ok(vm_create(&vm, vmm, &err) == 0, "create domain %s", vm.spec.name)) {
        diag("%s", err.msg);
        goto out;
    }
    double t_created = now_s();
    if (vmm_domain_pid(vm.dom, &vm.qemu_pid, &err) < 0) {
        diag("%s", err.msg);
        error_clear(&err);
    }
    diag("domain %s created in %.2f s, QEMU pid %u", vm.spec.name, t_created - t0, vm.qemu_pid);

    bool healthy = health_check(&vm, t0 + HEALTH_DEADLINE_S, &err) == 0;
    double t_healthy = now_s();
    if (!ok(healthy, "grpc.Health/Check over the virtio-serial channel answers SERVING")) {
        diag("%s", err.msg);
        dump_console(&vm);
        goto out;
    }
    diag("create-to-health-check: %.2f s", t_healthy - t0);
    diag_guest_ready(&vm);

    bool destroyed = vmm_domain_destroy(vm.dom, &err) == 0;
    if (!ok(destroyed, "vmm_domain_destroy"))
        diag("%s", err.msg);
    ok(wait_stopped(&vm.ev, EVENT_DEADLINE_S), "STOPPED event after our own destroy (%s)",
       vm.ev.detail);
    vmm_domain_free(vm.dom);
    vm.dom = NULL;
    ok(!domain_exists(vmm, vm.spec.name), "no domain %s left", vm.spec.name);
    ok(qemu_gone(vm.qemu_pid, vm.spec.name, QEMU_GONE_DEADLINE_S), "no QEMU process left (pid %u)",
       vm.qemu_pid);
out:
    error_clear(&err);
    _cleanup_free_ char *dir = xstrdup(vm.dir);
    ok(vm_cleanup(&vm), "socket, console log and %s removed", dir);
}

static int run_virsh_destroy(const char *name)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        execlp("virsh", "virsh", "-q", "-c", uri, "destroy", name, (char *)NULL);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void case_external_destroy(struct vmm *vmm)
{
    struct vm vm;
    struct error err = ERROR_INIT;
    if (!ok(vm_prepare(&vm, "extdestroy", &err) == 0, "prepare second VM")) {
        diag("%s", err.msg);
        goto out;
    }
    if (!ok(vm_create(&vm, vmm, &err) == 0, "create domain %s", vm.spec.name)) {
        diag("%s", err.msg);
        goto out;
    }
    if (vmm_domain_pid(vm.dom, &vm.qemu_pid, &err) < 0) {
        diag("%s", err.msg);
        error_clear(&err);
    }
    /* Let it run a moment, so the event comes from a live guest. */
    sleep_s(1.0);
    pthread_mutex_lock(&vm.ev.lock);
    bool quiet = vm.ev.stopped == 0 && vm.ev.crashed == 0;
    pthread_mutex_unlock(&vm.ev.lock);
    ok(quiet, "no lifecycle event while running");

    double t0 = now_s();
    int rc = run_virsh_destroy(vm.spec.name);
    ok(rc == 0, "virsh destroy %s from outside (rc %d)", vm.spec.name, rc);
    bool stopped = wait_stopped(&vm.ev, EVENT_DEADLINE_S);
    pthread_mutex_lock(&vm.ev.lock);
    double dt = vm.ev.stopped_at - t0;
    int n = vm.ev.stopped;
    pthread_mutex_unlock(&vm.ev.lock);
    if (ok(stopped, "VMM_EVENT_STOPPED within %.0f s", EVENT_DEADLINE_S))
        diag("STOPPED (%s) %.2f s after virsh destroy began", vm.ev.detail, dt);
    ok(!strcmp(vm.ev.detail, "destroyed"), "STOPPED detail is \"destroyed\" (got \"%s\")",
       vm.ev.detail);
    vmm_domain_free(vm.dom);
    vm.dom = NULL;
    ok(n == 1, "STOPPED delivered once (got %d)", n);
    ok(!domain_exists(vmm, vm.spec.name), "no domain %s left", vm.spec.name);
    ok(qemu_gone(vm.qemu_pid, vm.spec.name, QEMU_GONE_DEADLINE_S), "no QEMU process left (pid %u)",
       vm.qemu_pid);
out:
    error_clear(&err);
    _cleanup_free_ char *dir = xstrdup(vm.dir);
    ok(vm_cleanup(&vm), "socket, console log and %s removed", dir);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s VMLINUX INITRAMFS\n", argv[0]);
        return 2;
    }
    /* libvirt wants absolute paths */
    vmlinux = realpath(argv[1], NULL);
    initramfs = realpath(argv[2], NULL);
    if (!vmlinux || !initramfs) {
        printf("Bail out! %s: %s\n", vmlinux ? argv[2] : argv[1], strerror(errno));
        return 1;
    }
    if (getenv("E2E_LIBVIRT_URI") && *getenv("E2E_LIBVIRT_URI"))
        uri = getenv("E2E_LIBVIRT_URI");
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);

    struct vmm *vmm = NULL;
    struct error err = ERROR_INIT;
    if (vmm_open(uri, &vmm, &err) < 0) {
        printf("Bail out! %s (run-vm-boot.sh starts libvirtd)\n", err.msg);
        error_clear(&err);
        return 1;
    }
    case_boot_and_destroy(vmm);
    case_external_destroy(vmm);
    vmm_close(vmm);
    printf("1..%d\n", test_no);
    free((char *)vmlinux);
    free((char *)initramfs);
    return failures ? 1 : 0;
}
