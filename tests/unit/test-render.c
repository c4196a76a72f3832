/* cocoonctl render / config dump, run as the built binary: the shipped development config and
 * inline SEV-SNP and TDX configs, with and without annotations, every XML checked by xmllint
 * against libvirt's schema; annotation gating and path globs; the VM plan and the annotation
 * overrides underneath, called directly. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "annotations/overrides.h"
#include "cmd/cocoonctl-path.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"
#include "shim/config.h"
#include "shim/sandbox-vm.h"

#define DEV_CONFIG COCOON_CONFIGS_DIR "/cocoon-dev.toml"
#define HV_PREFIX "io.katacontainers.config.hypervisor."

/* --- running cocoonctl --- */

struct run {
    int status; /* exit status, or -1 if it did not exit */
    char *out, *err;
};

static void run_free(struct run *r)
{
    free(r->out);
    free(r->err);
}

static char *read_all(int fd)
{
    size_t cap = 4096, len = 0;
    char *buf = xmalloc(cap);
    ssize_t n;
    while ((n = pread(fd, buf + len, cap - len - 1, (off_t)len)) > 0) {
        len += (size_t)n;
        if (cap - len < 2)
            buf = xrealloc(buf, cap *= 2);
    }
    buf[len] = '\0';
    return buf;
}

static int scratch_fd(void)
{
    char path[] = "/tmp/cocoon-render-out-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    return fd;
}

/* Runs cocoonctl with argv (NULL-terminated, without argv[0]). */
static struct run run_cocoonctl(const char *const *args)
{
    const char *argv[32] = {"cocoonctl"};
    size_t n = 1;
    for (; args[n - 1]; n++) {
        ck_assert_uint_lt(n, 31);
        argv[n] = args[n - 1];
    }
    argv[n] = NULL;
    int out = scratch_fd(), err = scratch_fd();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(out, 1);
        dup2(err, 2);
        execv(COCOONCTL_PATH, (char *const *)argv);
        _exit(127);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    struct run r = {WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_all(out), read_all(err)};
    close(out);
    close(err);
    return r;
}

#define RUN(...) run_cocoonctl((const char *const[]){__VA_ARGS__, NULL})

static void assert_exit(const struct run *r, int want)
{
    ck_assert_msg(r->status == want, "exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r->status, want,
                  r->out, r->err);
}

/* xmllint --relaxng against the libvirt 12.8 schemas; fails the test with xmllint's output. */
static void assert_schema_valid(const char *xml)
{
    const char *dir = getenv("LIBVIRT_SCHEMAS_DIR");
    ck_assert_msg(dir != NULL, "LIBVIRT_SCHEMAS_DIR is not set (run through meson test)");
    _cleanup_free_ char *rng = xasprintf("%s/domain.rng", dir);
    char path[] = "/tmp/cocoon-render-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, xml, strlen(xml)), (ssize_t)strlen(xml));
    close(fd);
    int out = scratch_fd();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(out, 1);
        dup2(out, 2);
        execlp("xmllint", "xmllint", "--noout", "--relaxng", rng, path, (char *)NULL);
        _exit(127);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    _cleanup_free_ char *msg = read_all(out);
    close(out);
    unlink(path);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "xmllint rejects the XML:\n%s\n--- XML ---\n%s", msg, xml);
}

static void assert_contains(const char *text, const char *want)
{
    ck_assert_msg(strstr(text, want) != NULL, "missing %s in:\n%s", want, text);
}

static void assert_lacks(const char *text, const char *unwanted)
{
    ck_assert_msg(strstr(text, unwanted) == NULL, "unexpected %s in:\n%s", unwanted, text);
}

/* A render that succeeds, prints schema-valid XML and nothing on stderr. */
static void assert_rendered(const struct run *r)
{
    assert_exit(r, 0);
    ck_assert_msg(r->err[0] == '\0', "stderr: %s", r->err);
    assert_schema_valid(r->out);
}

/* --- inline configs --- */

struct tmpconf {
    char dir[64];
    char *path;
};

static void tmpconf_write(struct tmpconf *t, const char *text)
{
    snprintf(t->dir, sizeof(t->dir), "/tmp/cocoon-render-cfg-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(t->dir));
    t->path = xasprintf("%s/cocoon.toml", t->dir);
    FILE *f = fopen(t->path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

static void tmpconf_free(struct tmpconf *t)
{
    unlink(t->path);
    free(t->path);
    rmdir(t->dir);
}

/* Paths that need not exist here: render never looks at them. */
static const char snp_config[] = "[hypervisor.libvirt]\n"
                                 "kernel = \"/opt/cocoon/vmlinuz\"\n"
                                 "initrd = \"/opt/cocoon/initrd.img\"\n"
                                 "firmware = \"/opt/cocoon/OVMF.amdsev.fd\"\n"
                                 "kernel_params = \"console=ttyS0\"\n"
                                 "tee = \"snp\"\n"
                                 "snp_cbitpos = 51\n"
                                 "snp_reduced_phys_bits = 1\n"
                                 "snp_kernel_hashes = true\n"
                                 "enable_annotations = [\"default_vcpus\", \"default_memory\", "
                                 "\"kernel$\", \"cc_init_data\"]\n"
                                 "valid_kernel_paths = [\"/opt/cocoon/kernels/*\"]\n";

static const char tdx_config[] = "[hypervisor.libvirt]\n"
                                 "kernel = \"/opt/cocoon/vmlinuz\"\n"
                                 "firmware = \"/opt/cocoon/OVMF.inteltdx.fd\"\n"
                                 "tee = \"tdx\"\n"
                                 "agent_channel = \"vsock\"\n"
                                 "tdx_quote_generation_service = true\n"
                                 "enable_annotations = [\"^default_memory$\", \"firmware\"]\n"
                                 "valid_firmware_paths = [\"/opt/cocoon/OVMF.*.fd\"]\n"
                                 "[runtime]\n"
                                 "state_dir = \"/var/run/cocoon-tdx/\"\n";

/* --- the development config --- */

START_TEST(test_dev_config)
{
    struct run r = RUN("render", "--config", DEV_CONFIG);
    assert_rendered(&r);
    assert_contains(r.out, "<domain type='qemu'>");
    assert_contains(r.out, "<name>cocoon-example-sandbox</name>");
    assert_contains(r.out, ">example-sandbox</cocoon:sandbox>");
    assert_contains(r.out, "<memory unit='MiB'>512</memory>");
    assert_contains(r.out, "<vcpu placement='static'>1</vcpu>");
    assert_contains(r.out, "machine='pc'");
    assert_contains(r.out, "<kernel>/usr/share/cocoon/guest/vmlinux</kernel>");
    assert_contains(r.out, "<initrd>/usr/share/cocoon/guest/initramfs.cpio.gz</initrd>");
    assert_contains(r.out, "<cmdline>console=ttyS0 panic=-1 quiet cocoon.net=static</cmdline>");
    assert_contains(r.out, "<interface type='user'>");
    assert_contains(r.out, "path='/run/cocoon/example-sandbox/agent.sock'");
    assert_contains(r.out, "name='agent.channel.0'");
    assert_contains(r.out, "path='/run/cocoon/example-sandbox/console.log'");
    assert_lacks(r.out, "<launchSecurity");
    assert_lacks(r.out, "<vsock");
    run_free(&r);
}
END_TEST

START_TEST(test_dev_config_with_annotations)
{
    struct run r = RUN("render", "--config", DEV_CONFIG, "--id", "pod-1234", "--annotation",
                       HV_PREFIX "default_vcpus=2", "--annotation", HV_PREFIX "default_memory=1024",
                       "--annotation", HV_PREFIX "kernel_params=cocoon.shell=1 debug",
                       /* not ours to judge: other prefixes pass through untouched */
                       "--annotation", "io.kubernetes.cri.sandbox-name=web", "--annotation",
                       "io.katacontainers.config.agent.policy=cGFja2FnZSBhZ2VudF9wb2xpY3k=");
    assert_rendered(&r);
    assert_contains(r.out, "<vcpu placement='static'>2</vcpu>");
    assert_contains(r.out, "<memory unit='MiB'>1024</memory>");
    assert_contains(r.out, "<cmdline>console=ttyS0 panic=-1 quiet cocoon.net=static cocoon.shell=1 "
                           "debug</cmdline>");
    assert_contains(r.out, "<name>cocoon-pod-1234</name>");
    assert_contains(r.out, "path='/run/cocoon/pod-1234/agent.sock'");
    assert_contains(r.out, "path='/run/cocoon/pod-1234/console.log'");
    run_free(&r);
}
END_TEST

START_TEST(test_annotation_not_enabled)
{
    struct tmpconf t;
    tmpconf_write(&t, "[hypervisor.libvirt]\nkernel = \"/k\"\n");
    struct run r = RUN("render", "--config", t.path, "--annotation", HV_PREFIX "default_vcpus=2");
    assert_exit(&r, 1);
    ck_assert_str_eq(r.out, "");
    ck_assert_str_eq(r.err, "cocoonctl: annotation \"" HV_PREFIX "default_vcpus\" is not enabled: "
                            "add \"default_vcpus\" to [hypervisor.libvirt] enable_annotations\n");
    run_free(&r);

    /* The dev config enables three; a Kata annotation outside them fails the pod too. */
    r = RUN("render", "--config", DEV_CONFIG, "--annotation", HV_PREFIX "enable_iommu=true");
    assert_exit(&r, 1);
    assert_contains(r.err, "annotation \"" HV_PREFIX "enable_iommu\" is not enabled: add "
                           "\"enable_iommu\" to [hypervisor.libvirt] enable_annotations");
    run_free(&r);

    r = RUN("render", "--config", DEV_CONFIG, "--annotation", HV_PREFIX "cc_init_data=H4sI");
    assert_exit(&r, 1);
    assert_contains(r.err, "add \"cc_init_data\" to [hypervisor.libvirt] enable_annotations");
    run_free(&r);
    tmpconf_free(&t);
}
END_TEST

START_TEST(test_bad_annotation_values)
{
    struct run r =
        RUN("render", "--config", DEV_CONFIG, "--annotation", HV_PREFIX "default_vcpus=0");
    assert_exit(&r, 1);
    ck_assert_str_eq(r.err, "cocoonctl: annotation \"" HV_PREFIX "default_vcpus\": must be an "
                            "integer from 1 to 512, got \"0\"\n");
    run_free(&r);
    r = RUN("render", "--config", DEV_CONFIG, "--annotation", HV_PREFIX "default_memory=1G");
    assert_exit(&r, 1);
    assert_contains(r.err, "default_memory\": must be an integer from 128 to 4194304, got \"1G\"");
    run_free(&r);
}
END_TEST

/* Enabled, but nothing cocoon does: rendered anyway, with a warning. */
START_TEST(test_enabled_unsupported_is_ignored)
{
    struct tmpconf t;
    tmpconf_write(&t, "[hypervisor.libvirt]\nkernel = \"/k\"\nenable_annotations = [\".*\"]\n");
    struct run r = RUN("render", "--config", t.path, "--annotation", HV_PREFIX "enable_iommu=true");
    assert_exit(&r, 0);
    assert_schema_valid(r.out);
    assert_contains(r.err, HV_PREFIX "enable_iommu");
    assert_contains(r.err, "ignored");
    run_free(&r);
    tmpconf_free(&t);
}
END_TEST

/* --- SEV-SNP and TDX --- */

START_TEST(test_snp)
{
    struct tmpconf t;
    tmpconf_write(&t, snp_config);
    struct run r = RUN("render", "--config", t.path);
    assert_rendered(&r);
    assert_contains(r.out, "<domain type='kvm'>");
    assert_contains(r.out, "machine='q35'");
    assert_contains(r.out, "<launchSecurity type='sev-snp' kernelHashes='yes'>");
    assert_contains(r.out, "<cbitpos>51</cbitpos>");
    assert_contains(r.out, "<reducedPhysBits>1</reducedPhysBits>");
    assert_contains(r.out, "<policy>0x00030000</policy>");
    assert_contains(r.out, "/opt/cocoon/OVMF.amdsev.fd");
    assert_contains(r.out, "<memory unit='MiB'>2048</memory>");
    assert_contains(r.out, "<vsock model='virtio'>");
    run_free(&r);

    r = RUN("render", "--config", t.path, "--annotation", HV_PREFIX "default_vcpus=4",
            "--annotation", HV_PREFIX "default_memory=8192", "--annotation",
            HV_PREFIX "kernel=/opt/cocoon/kernels/vmlinuz-6.12", "--annotation",
            HV_PREFIX "cc_init_data=H4sIAAAAAAAA");
    assert_rendered(&r);
    assert_contains(r.out, "<vcpu placement='static'>4</vcpu>");
    assert_contains(r.out, "<memory unit='MiB'>8192</memory>");
    assert_contains(r.out, "<kernel>/opt/cocoon/kernels/vmlinuz-6.12</kernel>");
    assert_lacks(r.out, "<hostData>"); /* init-data comes later */
    run_free(&r);
    tmpconf_free(&t);
}
END_TEST

START_TEST(test_path_annotation_outside_globs)
{
    struct tmpconf t;
    tmpconf_write(&t, snp_config);
    struct run r =
        RUN("render", "--config", t.path, "--annotation", HV_PREFIX "kernel=/home/mallory/vmlinuz");
    assert_exit(&r, 1);
    ck_assert_str_eq(r.out, "");
    ck_assert_str_eq(r.err, "cocoonctl: annotation \"" HV_PREFIX "kernel\": path "
                            "\"/home/mallory/vmlinuz\" is not allowed: add a glob matching it to "
                            "[hypervisor.libvirt] valid_kernel_paths\n");
    run_free(&r);

    /* '*' does not cross '/', and ".." cannot climb out of an allowed folder. */
    r = RUN("render", "--config", t.path, "--annotation",
            HV_PREFIX "kernel=/opt/cocoon/kernels/sub/vmlinuz");
    assert_exit(&r, 1);
    assert_contains(r.err, "valid_kernel_paths");
    run_free(&r);
    r = RUN("render", "--config", t.path, "--annotation",
            HV_PREFIX "kernel=/opt/cocoon/kernels/../../../etc/shadow");
    assert_exit(&r, 1);
    assert_contains(r.err, "must be absolute, without \".\", \"..\" or empty components");
    run_free(&r);
    tmpconf_free(&t);
}
END_TEST

START_TEST(test_tdx)
{
    struct tmpconf t;
    tmpconf_write(&t, tdx_config);
    struct run r = RUN("render", "--config", t.path, "--id", "tdx-pod");
    assert_rendered(&r);
    assert_contains(r.out, "<launchSecurity type='tdx'>");
    assert_contains(r.out, "<policy>0x10000000</policy>");
    assert_contains(r.out, "<quoteGenerationService/>");
    assert_contains(r.out, "/opt/cocoon/OVMF.inteltdx.fd");
    assert_contains(r.out, "path='/var/run/cocoon-tdx/tdx-pod/console.log'");
    assert_lacks(r.out, "agent.sock");
    run_free(&r);

    r = RUN("render", "--config", t.path, "--annotation", HV_PREFIX "default_memory=3072",
            "--annotation", HV_PREFIX "firmware=/opt/cocoon/OVMF.tdx-debug.fd");
    assert_rendered(&r);
    assert_contains(r.out, "<memory unit='MiB'>3072</memory>");
    assert_contains(r.out, "/opt/cocoon/OVMF.tdx-debug.fd");
    assert_lacks(r.out, "OVMF.inteltdx.fd");
    run_free(&r);

    /* "^default_memory$" is anchored by its author; "default_vcpus" is simply not listed. */
    r = RUN("render", "--config", t.path, "--annotation", HV_PREFIX "default_vcpus=2");
    assert_exit(&r, 1);
    assert_contains(r.err, "add \"default_vcpus\" to [hypervisor.libvirt] enable_annotations");
    run_free(&r);
    tmpconf_free(&t);
}
END_TEST

/* --- the rest of the command line --- */

START_TEST(test_config_errors_exit_1)
{
    struct tmpconf t;
    tmpconf_write(&t, "[hypervisor.libvirt]\nkernel = \"/k\"\ndefault_vcpus = \"two\"\n");
    struct run r = RUN("render", "--config", t.path);
    assert_exit(&r, 1);
    _cleanup_free_ char *want = xasprintf("cocoonctl: %s:3:1: hypervisor.libvirt.default_vcpus: "
                                          "must be an integer from 1 to 512, got \"two\"\n",
                                          t.path);
    ck_assert_str_eq(r.err, want);
    run_free(&r);

    r = RUN("render", "--config", "/nonexistent/cocoon.toml");
    assert_exit(&r, 1);
    ck_assert_str_eq(r.err,
                     "cocoonctl: open /nonexistent/cocoon.toml: No such file or directory\n");
    run_free(&r);

    r = RUN("render", "--config", DEV_CONFIG, "--id", "../escape");
    assert_exit(&r, 1);
    assert_contains(r.err, "cocoonctl: sandbox id \"../escape\"");
    run_free(&r);
    tmpconf_free(&t);
}
END_TEST

START_TEST(test_usage_errors_exit_2)
{
    const char *const *cases[] = {
        (const char *const[]){NULL},
        (const char *const[]){"frobnicate", NULL},
        (const char *const[]){"render", "--bogus", NULL},
        (const char *const[]){"render", "--config", NULL},
        (const char *const[]){"render", "--annotation", "no-equals-sign", NULL},
        (const char *const[]){"render", "extra", NULL},
        (const char *const[]){"config", NULL},
        (const char *const[]){"config", "show", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct run r = run_cocoonctl(cases[i]);
        assert_exit(&r, 2);
        ck_assert_msg(strncmp(r.err, "cocoonctl: ", 11) == 0, "case %zu: %s", i, r.err);
        assert_contains(r.err, "cocoonctl --help");
        run_free(&r);
    }
}
END_TEST

START_TEST(test_help_and_version)
{
    struct run r = RUN("--help");
    assert_exit(&r, 0);
    assert_contains(r.out, "render [--config FILE] [--id SANDBOX_ID] [--annotation KEY=VALUE]");
    assert_contains(r.out, "\"example-sandbox\"");
    assert_contains(r.out, "config dump");
    run_free(&r);
    r = RUN("render", "--help");
    assert_exit(&r, 0);
    assert_contains(r.out, "Usage: cocoonctl");
    run_free(&r);
    r = RUN("version");
    assert_exit(&r, 0);
    ck_assert_str_eq(r.out, "cocoonctl " COCOON_VERSION "\n");
    run_free(&r);
}
END_TEST

START_TEST(test_config_dump)
{
    struct tmpconf t;
    tmpconf_write(&t, "[hypervisor.libvirt]\nkernel = \"/k\"\ndefault_vcpus = 2\n");
    _cleanup_free_ char *d = xasprintf("%s/config.d", t.dir);
    ck_assert_int_eq(mkdir(d, 0755), 0);
    _cleanup_free_ char *dropin = xasprintf("%s/10-more.toml", d);
    FILE *f = fopen(dropin, "w");
    ck_assert_ptr_nonnull(f);
    fputs("[hypervisor.libvirt]\ndefault_vcpus = 3\n", f);
    fclose(f);

    struct run r = RUN("config", "dump", "--config", t.path);
    assert_exit(&r, 0);
    assert_contains(r.out, "\ndefault_vcpus = 3\n");
    assert_contains(r.out, "\nkernel = \"/k\"\n");
    assert_contains(r.out, dropin);
    run_free(&r);

    /* $COCOON_CONFIG is the default --config. */
    setenv("COCOON_CONFIG", t.path, 1);
    r = RUN("config", "dump");
    unsetenv("COCOON_CONFIG");
    assert_exit(&r, 0);
    assert_contains(r.out, "\ndefault_vcpus = 3\n");
    run_free(&r);

    unlink(dropin);
    rmdir(d);
    tmpconf_free(&t);
}
END_TEST

/* --- the layers underneath, called directly --- */

static struct config *load(const char *text, struct tmpconf *t)
{
    tmpconf_write(t, text);
    struct error err = ERROR_INIT;
    struct config *cfg = NULL;
    ck_assert_msg(config_load(t->path, &cfg, &err) == 0, "%s", err.msg);
    return cfg;
}

START_TEST(test_sandbox_vm_spec_snp)
{
    struct tmpconf t;
    struct config *cfg = load(snp_config, &t);
    struct annotation anns[] = {{HV_PREFIX "default_vcpus", "3"}};
    struct vm_spec spec;
    struct error err = ERROR_INIT;
    ck_assert_msg(sandbox_vm_spec(cfg, "abc", anns, 1, &spec, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(spec.name, "cocoon-abc");
    ck_assert_str_eq(spec.sandbox_id, "abc");
    ck_assert_uint_eq(spec.vcpus, 3);
    ck_assert_uint_eq(spec.memory_mib, 2048);
    ck_assert_int_eq(spec.tee, VM_TEE_SNP);
    ck_assert_uint_eq(spec.snp.policy, 0x30000);
    ck_assert(spec.snp.has_cbitpos && spec.snp.cbitpos == 51);
    ck_assert(spec.snp.has_reduced_phys_bits && spec.snp.reduced_phys_bits == 1);
    ck_assert(spec.snp.kernel_hashes);
    ck_assert_ptr_null(spec.snp.id_block);
    ck_assert(!spec.snp.has_host_data);
    ck_assert_ptr_null(spec.image); /* "" in the config means none */
    ck_assert_ptr_null(spec.emulator);
    ck_assert_int_eq(spec.agent_channel, VM_AGENT_VSOCK);
    ck_assert_ptr_null(spec.agent_socket);
    ck_assert_str_eq(spec.console_log, "/run/cocoon/abc/console.log");
    vm_spec_free(&spec);

    /* No room for <state_dir>/<id>/agent.sock in a unix socket address. */
    free(cfg->runtime.state_dir);
    cfg->runtime.state_dir =
        xstrdup("/run/a-rather-long-state-directory-name-for-cocoon-sandboxes");
    cfg->hypervisor.agent_channel = VM_AGENT_SERIAL;
    ck_assert_int_eq(sandbox_vm_spec(cfg, "0123456789abcdef0123456789abcdef0123456789abcdef", NULL,
                                     0, &spec, &err),
                     -1);
    assert_contains(err.msg, "use a shorter [runtime] state_dir");
    vm_spec_free(&spec);
    error_clear(&err);
    config_free(cfg);
    tmpconf_free(&t);
}
END_TEST

#define LIST(...)                                                                                  \
    {                                                                                              \
        (char *const[]){__VA_ARGS__}, sizeof((char *const[]){__VA_ARGS__}) / sizeof(char *)        \
    }

START_TEST(test_overrides)
{
    struct overrides_allow allow = {
        .enable_annotations = LIST("vcpus", "^kernel_params$", "^(initrd|image)$", "enable_"),
        .valid_initrd_paths = LIST("/srv/initrd/*.img"),
    };
    struct annotation anns[] = {
        {HV_PREFIX "default_vcpus", "16"}, /* "vcpus" matches unanchored */
        {HV_PREFIX "kernel_params", "a=1 b"},
        {HV_PREFIX "initrd", "/srv/initrd/x.img"},
        {HV_PREFIX "enable_iommu", "true"}, /* enabled, not supported */
        {HV_PREFIX "enable_hugepages", "true"},
        {"io.katacontainers.config.runtime.experimental", "x"}, /* not ours */
    };
    struct overrides o;
    struct error err = ERROR_INIT;
    ck_assert_msg(overrides_compute(&allow, anns, sizeof(anns) / sizeof(anns[0]), &o, &err) == 0,
                  "%s", err.msg);
    ck_assert_uint_eq(o.vcpus, 16);
    ck_assert_uint_eq(o.memory_mib, 0);
    ck_assert_str_eq(o.kernel_params, "a=1 b");
    ck_assert_str_eq(o.initrd, "/srv/initrd/x.img");
    ck_assert_ptr_null(o.kernel);
    ck_assert_uint_eq(o.n_ignored, 2);
    ck_assert_str_eq(o.ignored[0], HV_PREFIX "enable_iommu");
    ck_assert_str_eq(o.ignored[1], HV_PREFIX "enable_hugepages");
    overrides_free(&o);

    /* An empty glob list allows no path at all. */
    struct annotation image[] = {{HV_PREFIX "image", "/srv/initrd/x.img"}};
    ck_assert_int_eq(overrides_compute(&allow, image, 1, &o, &err), -1);
    assert_contains(err.msg, "add a glob matching it to [hypervisor.libvirt] valid_image_paths");
    overrides_free(&o);

    static const char *const bad_counts[] = {
        "", "-1", "+2", " 2", "2 ", "1e3", "0x10", "513", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof(bad_counts) / sizeof(bad_counts[0]); i++) {
        struct annotation a = {HV_PREFIX "default_vcpus", bad_counts[i]};
        ck_assert_msg(overrides_compute(&allow, &a, 1, &o, &err) == -1, "accepted \"%s\"",
                      bad_counts[i]);
        assert_contains(err.msg, "must be an integer from 1 to 512");
        overrides_free(&o);
    }
    error_clear(&err);
}
END_TEST

static Suite *render_suite(void)
{
    Suite *s = suite_create("render");
    TCase *tc = tcase_create("dev");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_dev_config);
    tcase_add_test(tc, test_dev_config_with_annotations);
    tcase_add_test(tc, test_annotation_not_enabled);
    tcase_add_test(tc, test_bad_annotation_values);
    tcase_add_test(tc, test_enabled_unsupported_is_ignored);
    suite_add_tcase(s, tc);

    tc = tcase_create("tee");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_snp);
    tcase_add_test(tc, test_path_annotation_outside_globs);
    tcase_add_test(tc, test_tdx);
    suite_add_tcase(s, tc);

    tc = tcase_create("cli");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_config_errors_exit_1);
    tcase_add_test(tc, test_usage_errors_exit_2);
    tcase_add_test(tc, test_help_and_version);
    tcase_add_test(tc, test_config_dump);
    suite_add_tcase(s, tc);

    tc = tcase_create("library");
    tcase_add_test(tc, test_sandbox_vm_spec_snp);
    tcase_add_test(tc, test_overrides);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(render_suite());
    srunner_set_tap(sr, "-");
    srunner_run_all(sr, CK_SILENT);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
