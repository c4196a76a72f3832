/* node/check: `cocoonctl check` against libvirt's test driver (test:///default, no daemon) and
 * files in a temp dir: what passes, what fails and with which remedy; the domain capabilities
 * parser on libvirt's XML for SEV, SEV-SNP and TDX hosts. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/xalloc.h"
#include "node/check.h"
#include "tests/common/run-tap.h"

/* --- domain capabilities --- */

/* As libvirt 10.5+ prints them on an SNP host (trimmed). */
static const char caps_snp[] = "<domainCapabilities>\n"
                               "  <path>/usr/bin/qemu-system-x86_64</path>\n"
                               "  <domain>kvm</domain>\n"
                               "  <features>\n"
                               "    <gic supported='no'/>\n"
                               "    <sev supported='yes'>\n"
                               "      <cbitpos>51</cbitpos>\n"
                               "      <reducedPhysBits>1</reducedPhysBits>\n"
                               "      <maxGuests>15</maxGuests>\n"
                               "      <maxESGuests>494</maxESGuests>\n"
                               "    </sev>\n"
                               "    <sgx supported='no'/>\n"
                               "    <launchSecurity supported='yes'>\n"
                               "      <enum name='sectype'>\n"
                               "        <value>sev</value>\n"
                               "        <value>sev-snp</value>\n"
                               "      </enum>\n"
                               "    </launchSecurity>\n"
                               "  </features>\n"
                               "</domainCapabilities>\n";

static const char caps_tdx[] = "<domainCapabilities><features>"
                               "<tdx supported='yes'/><sev supported='no'/>"
                               "<launchSecurity supported='yes'><enum name='sectype'>"
                               "<value>tdx</value></enum></launchSecurity>"
                               "</features></domainCapabilities>";

/* libvirt 9.0 on an SEV (not SNP) host: no launchSecurity element. */
static const char caps_sev_only[] = "<domainCapabilities><features><sev supported='yes'/>"
                                    "</features></domainCapabilities>";

/* What this machine's libvirt reports: nothing confidential. */
static const char caps_none[] = "<domainCapabilities><features><sev supported='no'/>"
                                "<sgx supported='no'/></features></domainCapabilities>";

START_TEST(test_domcaps)
{
    struct domcaps_tee c;
    struct error err = ERROR_INIT;
    ck_assert_int_eq(domcaps_parse_tee(caps_snp, &c, &err), 0);
    ck_assert(c.sev && c.sev_snp && !c.tdx);
    ck_assert_int_eq(domcaps_parse_tee(caps_tdx, &c, &err), 0);
    ck_assert(!c.sev && !c.sev_snp && c.tdx);
    ck_assert_int_eq(domcaps_parse_tee(caps_sev_only, &c, &err), 0);
    ck_assert(c.sev && !c.sev_snp && !c.tdx);
    ck_assert_int_eq(domcaps_parse_tee(caps_none, &c, &err), 0);
    ck_assert(!c.sev && !c.sev_snp && !c.tdx);
    /* launchSecurity not supported: its enum does not count */
    ck_assert_int_eq(domcaps_parse_tee("<domainCapabilities><features><launchSecurity "
                                       "supported='no'><enum name='sectype'><value>sev-snp"
                                       "</value></enum></launchSecurity></features>"
                                       "</domainCapabilities>",
                                       &c, &err),
                     0);
    ck_assert(!c.sev_snp);
    ck_assert_int_eq(domcaps_parse_tee("<domainCapabilities><features>", &c, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "not XML"));
    ck_assert_int_eq(domcaps_parse_tee("<capabilities/>", &c, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "<domainCapabilities>"));
    error_clear(&err);
}
END_TEST

/* --- node_check in a temp dir --- */

struct scratch {
    char dir[64];
    char *config, *containerd, *dev, *sys;
};

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "create %s", path);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

static void scratch_init(struct scratch *s)
{
    snprintf(s->dir, sizeof(s->dir), "/tmp/cocoon-check-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(s->dir));
    s->config = xasprintf("%s/cocoon.toml", s->dir);
    s->containerd = xasprintf("%s/config.toml", s->dir);
    s->dev = xasprintf("%s/dev", s->dir);
    s->sys = xasprintf("%s/sys", s->dir);
    ck_assert_int_eq(mkdir(s->dev, 0755), 0);
    _cleanup_free_ char *vmlinux = xasprintf("%s/vmlinux", s->dir);
    write_text(vmlinux, "not really a kernel");
}

static void scratch_free(struct scratch *s)
{
    struct error err = ERROR_INIT;
    fs_remove_tree(s->dir, &err);
    error_clear(&err);
    free(s->config);
    free(s->containerd);
    free(s->dev);
    free(s->sys);
}

/* A cocoon config on libvirt's test driver; `extra` goes into [hypervisor.libvirt]. */
static void write_config(struct scratch *s, const char *extra)
{
    _cleanup_free_ char *text = xasprintf("[hypervisor.libvirt]\n"
                                          "uri = \"test:///default\"\n"
                                          "kernel = \"%s/vmlinux\"\n"
                                          "initrd = \"%s/missing-initrd\"\n"
                                          "%s",
                                          s->dir, s->dir, extra);
    write_text(s->config, text);
}

static void write_containerd(struct scratch *s, const char *config_path)
{
    _cleanup_free_ char *text =
        xasprintf("version = 2\n"
                  "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n"
                  "  runtime_type = \"io.containerd.runc.v2\"\n"
                  "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.cocoon-dev]\n"
                  "  runtime_type = \"io.containerd.cocoon.v2\"\n"
                  "  [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.cocoon-dev."
                  "options]\n"
                  "    ConfigPath = \"%s\"\n",
                  config_path);
    write_text(s->containerd, text);
}

static void run_check(struct scratch *s, struct check_report *r)
{
    struct check_opts o = {.config_path = s->config,
                           .containerd_config = s->containerd,
                           .dev_dir = s->dev,
                           .sys_dir = s->sys};
    node_check(&o, r);
}

static const struct check_result *find(const struct check_report *r, const char *name)
{
    for (size_t i = 0; i < r->len; i++)
        if (strcmp(r->items[i].name, name) == 0)
            return &r->items[i];
    ck_abort_msg("no check named %s", name);
    return NULL;
}

/* The check passed, or failed with a detail holding `detail` and a remedy holding `remedy`. */
static void expect(const struct check_report *r, const char *name, bool ok, const char *detail,
                   const char *remedy)
{
    const struct check_result *c = find(r, name);
    ck_assert_msg(c->ok == ok, "%s: ok = %d, want %d (%s)", name, c->ok, ok, c->detail);
    ck_assert_msg(!detail || strstr(c->detail, detail), "%s: detail \"%s\" lacks \"%s\"", name,
                  c->detail, detail);
    if (ok) {
        ck_assert_ptr_null(c->remedy);
    } else {
        ck_assert_ptr_nonnull(c->remedy);
        ck_assert_msg(!remedy || strstr(c->remedy, remedy), "%s: remedy \"%s\" lacks \"%s\"", name,
                      c->remedy, remedy);
    }
}

/* tee none, vsock: libvirt answers; the missing initrd and vhost-vsock fail; containerd's config
 * points at this config. */
START_TEST(test_dev_config)
{
    struct scratch s;
    scratch_init(&s);
    write_config(&s, "domain_type = \"qemu\"\nagent_channel = \"vsock\"\n");
    write_containerd(&s, s.config);
    struct check_report r;
    run_check(&s, &r);
    expect(&r, "config", true, "tee = \"none\", agent_channel = \"vsock\"", NULL);
    expect(&r, "kernel", true, "/vmlinux (19 bytes)", NULL);
    expect(&r, "initrd", false, "missing-initrd\": No such file or directory",
           "install the initrd");
    expect(&r, "image", true, "not needed", NULL);
    expect(&r, "firmware", true, "not needed", NULL);
    expect(&r, "vhost-vsock", false, "/dev/vhost-vsock: No such file", "modprobe vhost_vsock");
    expect(&r, "kvm", true, "not needed: domain_type = \"qemu\"", NULL);
    expect(&r, "libvirt", true, "test:///default: libvirt ", NULL);
    expect(&r, "sev-snp", true, "not needed", NULL);
    expect(&r, "tdx", true, "not needed", NULL);
    expect(&r, "containerd", true, "registers runtime cocoon-dev", NULL);
    ck_assert(!check_report_ok(&r));
    check_report_free(&r);
    scratch_free(&s);
}
END_TEST

/* Everything there: virtio-serial, an initrd, kvm device present in the fake /dev. */
START_TEST(test_all_ok_but_shim)
{
    struct scratch s;
    scratch_init(&s);
    _cleanup_free_ char *initrd = xasprintf("%s/missing-initrd", s.dir);
    write_text(initrd, "x");
    _cleanup_free_ char *kvm = xasprintf("%s/kvm", s.dev);
    write_text(kvm, ""); /* opens read-write like the device would */
    write_config(&s, "domain_type = \"kvm\"\nagent_channel = \"virtio-serial\"\n");
    write_containerd(&s, s.config);
    struct check_report r;
    run_check(&s, &r);
    for (size_t i = 0; i < r.len; i++)
        ck_assert_msg(r.items[i].ok || strcmp(r.items[i].name, "shim") == 0, "%s failed: %s",
                      r.items[i].name, r.items[i].detail);
    expect(&r, "vhost-vsock", true, "not needed: agent_channel = \"virtio-serial\"", NULL);
    expect(&r, "kvm", true, "opens read-write", NULL);
    check_report_free(&r);
    scratch_free(&s);
}
END_TEST

/* SNP asked for: the test driver reports no domain capabilities, libvirt is too old, the KVM
 * parameter is off, the firmware is missing: each a failure with its remedy. */
START_TEST(test_snp_config)
{
    struct scratch s;
    scratch_init(&s);
    _cleanup_free_ char *param_dir = xasprintf("%s/module/kvm_amd/parameters", s.sys);
    struct error err = ERROR_INIT;
    ck_assert_int_eq(fs_mkdir_p(param_dir, 0755, 0755, &err), 0);
    _cleanup_free_ char *param = xasprintf("%s/sev_snp", param_dir);
    write_text(param, "N\n");
    _cleanup_free_ char *extra = xasprintf("tee = \"snp\"\nmachine_type = \"q35\"\n"
                                           "firmware = \"%s/OVMF.amdsev.fd\"\n",
                                           s.dir);
    write_config(&s, extra);
    write_containerd(&s, "/etc/cocoon/cocoon-snp.toml");
    struct check_report r;
    run_check(&s, &r);
    expect(&r, "firmware", false, "OVMF.amdsev.fd\": No such file", "install the firmware");
    expect(&r, "kvm-sev-snp", false, "sev_snp is N", "kvm_amd with sev_snp=1");
    expect(&r, "sev-snp", false, "cannot report the domain capabilities", "virsh domcapabilities");
    expect(&r, "tdx", true, "not needed: tee = \"snp\"", NULL);
    expect(&r, "containerd", false, "cocoon-dev (ConfigPath \"/etc/cocoon/cocoon-snp.toml\")",
           "cocoonctl install containerd");
    check_report_free(&r);
    scratch_free(&s);
}
END_TEST

/* A config that does not load: named, and the checks that need it are not run. */
START_TEST(test_bad_config)
{
    struct scratch s;
    scratch_init(&s);
    write_text(s.config, "[hypervisor.libvirt]\nkernel = 5\n");
    struct check_report r;
    run_check(&s, &r);
    expect(&r, "config", false, "kernel", "fix the key");
    expect(&r, "containerd", false, "config.toml", "cocoonctl install containerd");
    for (size_t i = 0; i < r.len; i++)
        ck_assert_msg(strcmp(r.items[i].name, "libvirt") != 0, "libvirt checked without config");
    check_report_free(&r);

    unlink(s.config);
    run_check(&s, &r);
    expect(&r, "config", false, NULL, "install one of cocoon's configurations");
    check_report_free(&r);
    scratch_free(&s);
}
END_TEST

/* libvirt not reachable: named with the URI and what to start. */
START_TEST(test_libvirt_unreachable)
{
    struct scratch s;
    scratch_init(&s);
    write_text(s.config, "[hypervisor.libvirt]\n"
                         "uri = \"qemu+unix:///system?socket=/nonexistent/libvirt-sock\"\n"
                         "kernel = \"/boot/vmlinux\"\ntee = \"tdx\"\nmachine_type = \"q35\"\n"
                         "firmware = \"/fw/TDVF.fd\"\n");
    struct check_report r;
    run_check(&s, &r);
    expect(&r, "libvirt", false, "connect to qemu+unix:///system", "start libvirt's daemon");
    expect(&r, "tdx", false, "not checked: libvirt is not reachable", NULL);
    expect(&r, "sev-snp", true, "not needed", NULL);
    expect(&r, "kvm-tdx", false, "kvm_intel/parameters/tdx", "TDX support");
    check_report_free(&r);
    scratch_free(&s);
}
END_TEST

static Suite *check_suite(void)
{
    Suite *s = suite_create("check");
    TCase *tc = tcase_create("domcaps");
    tcase_add_test(tc, test_domcaps);
    suite_add_tcase(s, tc);

    tc = tcase_create("node");
    tcase_add_test(tc, test_dev_config);
    tcase_add_test(tc, test_all_ok_but_shim);
    tcase_add_test(tc, test_snp_config);
    tcase_add_test(tc, test_bad_config);
    tcase_add_test(tc, test_libvirt_unreachable);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_tap(check_suite());
}
