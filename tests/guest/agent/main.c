/* cocoon-test-agent: a small Kata agent for cocoon's development and CI guests.
 *
 * It serves grpc.AgentService and grpc.Health over the project's ttrpc library on the
 * virtio-serial port agent.channel.0 (default), a vsock port, or a unix socket (host tests).
 * See README in this folder for what the guest image must provide. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "channel.h"
#include "initdata.h"
#include "policy.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "ns.h"
#include "rpc.h"
#include "serial.h"
#include "ttrpc/dial.h"
#include "ttrpc/server.h"
#include "util.h"

struct options {
    const char *serial;
    const char *serial_device;
    unsigned vsock_port;
    const char *listen;
    const char *rootfs;
    const char *state_dir;
    const char *initdata;
    const char *loopback_host;
    enum kata_errors kata_errors;
    enum log_level level;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: cocoon-test-agent [--serial NAME | --vsock PORT | --listen unix:///PATH]\n"
               "                         [--rootfs DIR] [--state-dir DIR] [--initdata DEV|none]\n"
               "                         [--loopback-registry HOST|none] [--log-level LEVEL]\n"
               "                         [--kata-errors 3.24|3.25]\n"
               "       cocoon-test-agent --pause\n"
               "--serial-device PATH serves PATH (a pty in tests) like a virtio-serial port\n"
               "defaults: --serial agent.channel.0 --rootfs /usr/share/cocoon-guest/rootfs\n"
               "          --state-dir /run/cocoon --loopback-registry 10.0.2.2 --log-level debug\n"
               "          --kata-errors 3.25\n");
}

/* The sandbox's pause process: sleeps until SIGTERM/SIGINT (exit 0) or SIGKILL. */
static void pause_exit(int sig)
{
    _exit(0);
}

static void pause_reap(int sig)
{
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
}

static int __attribute__((noreturn)) run_pause(void)
{
    struct sigaction sa = {.sa_handler = pause_exit};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = pause_reap;
    sigaction(SIGCHLD, &sa, NULL);
    /* The agent starts us with SIGTERM and SIGINT blocked so that one sent right after
     * StartContainer still ends us with status 0. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    for (;;)
        pause();
}

static int parse_level(const char *s, enum log_level *level)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++) {
        if (!strcmp(s, names[i])) {
            *level = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

static int parse_args(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"serial", required_argument, NULL, 's'},
        {"vsock", required_argument, NULL, 'v'},
        {"listen", required_argument, NULL, 'l'},
        {"rootfs", required_argument, NULL, 'r'},
        {"state-dir", required_argument, NULL, 'd'},
        {"initdata", required_argument, NULL, 'i'},
        {"loopback-registry", required_argument, NULL, 'g'},
        {"log-level", required_argument, NULL, 'L'},
        {"kata-errors", required_argument, NULL, 'k'},
        {"pause", no_argument, NULL, 'p'},
        {"serial-device", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *o = (struct options){.rootfs = "/usr/share/cocoon-guest/rootfs",
                          .state_dir = "/run/cocoon",
                          .loopback_host = "10.0.2.2",
                          .kata_errors = KATA_ERRORS_3_25,
                          .level = LOG_LEVEL_DEBUG};
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            o->serial = optarg;
            break;
        case 'S':
            o->serial = o->serial_device = optarg;
            break;
        case 'v':
            o->vsock_port = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'l':
            o->listen = optarg;
            break;
        case 'r':
            o->rootfs = optarg;
            break;
        case 'd':
            o->state_dir = optarg;
            break;
        case 'i':
            o->initdata = optarg;
            break;
        case 'g':
            o->loopback_host = strcmp(optarg, "none") ? optarg : NULL;
            break;
        case 'L':
            if (parse_level(optarg, &o->level) < 0) {
                fprintf(stderr, "cocoon-test-agent: unknown log level %s\n", optarg);
                return -1;
            }
            break;
        case 'k':
            if (!strcmp(optarg, "3.24")) {
                o->kata_errors = KATA_ERRORS_3_24;
            } else if (!strcmp(optarg, "3.25")) {
                o->kata_errors = KATA_ERRORS_3_25;
            } else {
                fprintf(stderr, "cocoon-test-agent: --kata-errors %s: not 3.24 or 3.25\n", optarg);
                return -1;
            }
            break;
        case 'p':
            exit(run_pause());
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind < argc || (!!o->serial + !!o->vsock_port + !!o->listen) > 1) {
        usage(stderr);
        return -1;
    }
    if (!o->serial && !o->vsock_port && !o->listen)
        o->serial = "agent.channel.0";
    return 0;
}

/* --- serving --- */

static const char *unix_path(const char *addr)
{
    return strncmp(addr, "unix://", 7) ? addr : addr + 7;
}

/* Returns the serial port fd (kept open for the agent's life), -1 for a listener, or -2 with err
 * set. */
static int start_serving(struct ttrpc_server *srv, const struct options *o, struct error *err)
{
    int fd;
    if (o->listen) {
        fd = ttrpc_listen_unix(unix_path(o->listen), err);
        if (fd < 0 || ttrpc_server_listen(srv, fd, err) < 0)
            return -2;
        log_info("cocoon-test-agent: listening on unix://%s", unix_path(o->listen));
        return -1;
    }
    if (o->vsock_port) {
        fd = channel_listen_vsock(o->vsock_port, err);
        if (fd < 0 || ttrpc_server_listen(srv, fd, err) < 0)
            return -2;
        log_info("cocoon-test-agent: listening on vsock port %u", o->vsock_port);
        return -1;
    }
    fd = o->serial_device ? open(o->serial_device, O_RDWR | O_NOCTTY | O_CLOEXEC)
                          : channel_open_serial(o->serial, err);
    if (fd < 0 && o->serial_device)
        error_set_errno(err, errno, "open %s", o->serial_device);
    if (fd < 0)
        return -2;
    log_info("cocoon-test-agent: serving virtio-serial port %s", o->serial);
    return fd;
}

static int wait_for_signal(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    _cleanup_close_ int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    if (sfd < 0) {
        log_error("signalfd: %s", strerror(errno));
        return -1;
    }
    struct signalfd_siginfo si;
    while (read(sfd, &si, sizeof(si)) < 0)
        if (errno != EINTR)
            return -1;
    log_info("cocoon-test-agent: signal %u, stopping", si.ssi_signo);
    return 0;
}

static void stop_everything(void)
{
    pthread_mutex_lock(&agent.lock);
    agent.stopping = true;
    for (struct container *c = agent.containers; c; c = c->next)
        for (struct proc *p = c->procs; p; p = p->next)
            proc_wake(p);
    pthread_cond_broadcast(&agent.exited);
    pthread_mutex_unlock(&agent.lock);
    destroy_all_containers();
}

int main(int argc, char **argv)
{
    struct options o;
    if (parse_args(argc, argv, &o) < 0)
        return 2;
    log_set_level(o.level);
    signal(SIGPIPE, SIG_IGN);
    /* Blocked in every thread: the reaper sigwaits SIGCHLD, main reads SIGTERM/SIGINT. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0) {
        fprintf(stderr, "cocoon-test-agent: readlink /proc/self/exe: %s\n", strerror(errno));
        return 1;
    }
    self[n] = '\0';

    _cleanup_free_ char *initdata_policy = initdata_report(o.initdata, o.state_dir);

    _cleanup_(error_clearp) struct error err = ERROR_INIT;
    struct agent_config cfg = {.rootfs = o.rootfs,
                               .state_dir = o.state_dir,
                               .self_exe = self,
                               .loopback_host = o.loopback_host,
                               .kata_errors = o.kata_errors};
    agent_init(&cfg);
    if (initdata_policy)
        policy_from_initdata(initdata_policy);
    if (mkdir_p(o.state_dir, 0755, &err) < 0 || ns_init(&err) < 0 || reaper_start(&err) < 0) {
        log_error("cocoon-test-agent: %s", err.msg);
        return 1;
    }
    struct ttrpc_server *srv = ttrpc_server_new(NULL);
    int port_fd = -1;
    int rc = 0;
    bool relaying = false;
    if (rpc_register(srv, &err) < 0 || (port_fd = start_serving(srv, &o, &err)) < -1 ||
        (port_fd >= 0 && !(relaying = serial_relay_start(srv, port_fd, &err) == 0))) {
        log_error("cocoon-test-agent: %s", err.msg);
        rc = 1;
    } else if (wait_for_signal() < 0) {
        rc = 1;
    }
    if (relaying)
        serial_relay_stop();
    stop_everything();
    ttrpc_server_free(srv);
    reaper_stop();
    if (port_fd >= 0)
        close(port_fd);
    if (o.listen && rc == 0)
        unlink(unix_path(o.listen));
    agent_free();
    log_info("cocoon-test-agent: stopped");
    return rc;
}
