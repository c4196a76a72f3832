/* cocoonctl render / config dump, run as the built binary: the shipped development, SEV-SNP and
 * TDX configs and inline ones, with and without annotations (init-data with kata.md §2.8's
 * vectors, containerd's sandbox sizing), every XML checked by xmllint against libvirt's schema;
 * annotation gating and path globs; Kata 4.x's node init-data, dm-verity root, extension images
 * and overhead sizing; the VM plan, the init-data disk written for it and the annotation
 * overrides underneath, called directly. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "annotations/initdata.h"
#include "lib/base64.h"
#include "annotations/overrides.h"
#include "annotations/verity.h"
#include "cmd/cocoonctl-path.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"
#include "shim/config.h"
#include "shim/sandbox-vm.h"
#include "tests/common/run-tap.h"

#define DEV_CONFIG COCOON_CONFIGS_DIR "/cocoon-dev.toml"
#define SNP_CONFIG COCOON_CONFIGS_DIR "/cocoon-snp.toml"
#define TDX_CONFIG COCOON_CONFIGS_DIR "/cocoon-tdx.toml"
#define HV_PREFIX "io.katacontainers.config.hypervisor."
#define INITDATA HV_PREFIX "cc_init_data="

/* kata.md §2.8. Vector 3, Kata's default-initdata.toml (sha256), and vector 4, the same with
 * sha384, gzipped with Python's gzip module (mtime 0) and base64-encoded: */
#define DEFAULT_TOML "version = \"0.1.0\"\nalgorithm = \"sha256\"\n\n[data]\n"
#define DEFAULT_ANNOTATION                                                                         \
    "H4sIAAAAAAACAytLLSrOzM9TsFVQMtAz1DNQ4krMSc8vyizJyAWJFWckGpmaKXFxRackliTGcgEAwFeFLC8AAAA="
#define DEFAULT_SNP "X7ui0ZC0xgDcSLgIAlWUYOyuSZ928HnprS69Tjx+tl8="
#define DEFAULT_TDX "X7ui0ZC0xgDcSLgIAlWUYOyuSZ928HnprS69Tjx+tl8AAAAAAAAAAAAAAAAAAAAA"
#define SHA384_ANNOTATION                                                                          \
    "H4sIAAAAAAACAytLLSrOzM9TsFVQMtAz1DNQ4krMSc8vyizJyAWJFWckGluYKHFxRackliTGcgEAajbQNy8AAAA="
#define SHA384_SNP "4qOl4KhCxTljj/HTkpN8bQCy3f3x2KcrRJ4ze6TnEEo="
#define SHA384_TDX "4qOl4KhCxTljj/HTkpN8bQCy3f3x2KcrRJ4ze6TnEEp7h4i2EELCyGWmAX2Ecr8r"
/* Vector 5: the annotation in Kata's how-to-use-the-kata-agent-policy.md (GNU gzip), a 1518-byte
 * sha256 document; its TDX value is the digest and 16 zero bytes. */
#define POLICY_ANNOTATION                                                                          \
    "H4sIAAAAAAAAA42UTW/TQBCG7/4Vq/QQOCQKQXCo1ENIAkRqiGWnpBJCaGKP7RXrXTM7DnV/PRMiVUh07R582J3H"     \
    "8/XO7AnJa2fVjRrNpm+ms1EEpnSkuarPd76C+bv3oyj6lgPD92jUOKOzbkpYupEA4/E4ulJL13Sky4rVq+y1ms/m"     \
    "b9VWZ+S8K1iM1DgClijRlcBpvLqf3OoMrcfJJkfLutBI12rRQFbhZD6dCRfJ4SeUqOSz/OMSNopyLKA1rBZ5vkji"     \
    "LyhBj458gr9a9KyubxRTi/9i6W9oQualcR5TzrUNElLZR20waCcExqWzDNoi9WMp2PzoHkLQSi7JdQPUJ+QtMuks"     \
    "WLQQu912fZK+BZHz7QolaRN0c6s9bywjFZBhL5W4lsPEFuvPjhvTlh+6mNwx2MudNdLDZXwnf4SYGFo/3O64NWZT"     \
    "y+SEgAQhT1lECQZKsHan4UgXLGUw+FWTzHjh0woIt661HGxJgh4xT0RoV6/w1IO19XAOKfJFTxmxva6DRQsX/12j"     \
    "IKBLC0Y0Er2DuUutxMM5nak9QaZt2cOwf4En1ww42nN3OK+w14/B4u+a/CWLesHWTYU1Eph+GS/w0470Y/1LcgDN"     \
    "A40/yKOMzw/tE7N+wOx/NwUYj9H5qf4DsX93tO4FAAA="
#define POLICY_SNP "I4XF2glZ0GNjiyq0rCUq4Y6CX27LaYFeQgazgHfQvN0="
#define POLICY_TDX "I4XF2glZ0GNjiyq0rCUq4Y6CX27LaYFeQgazgHfQvN0AAAAAAAAAAAAAAAAAAAAA"
/* base64 of a plain TOML document (cocoon takes it without gzip too) whose algorithm, md5, the
 * guest does not know. */
#define MD5_ANNOTATION "dmVyc2lvbiA9ICIwLjEuMCIKYWxnb3JpdGhtID0gIm1kNSIKCltkYXRhXQo="

#define CPU_PERIOD "io.kubernetes.cri.sandbox-cpu-period="
#define CPU_QUOTA "io.kubernetes.cri.sandbox-cpu-quota="
#define MEMORY "io.kubernetes.cri.sandbox-memory="

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

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

static void tmpconf_write(struct tmpconf *t, const char *text)
{
    snprintf(t->dir, sizeof(t->dir), "/tmp/cocoon-render-cfg-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(t->dir));
    t->path = xasprintf("%s/cocoon.toml", t->dir);
    write_text(t->path, text);
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
    assert_contains(r.out, "<cmdline>console=ttyS0 panic=-1 quiet</cmdline>");
    /* no pod network to render (no namespace), and no user networking in the shipped config */
    assert_lacks(r.out, "<interface");
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
    assert_contains(r.out, "<cmdline>console=ttyS0 panic=-1 quiet cocoon.shell=1 debug</cmdline>");
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

/* xmllint --xpath EXPR on xml: the string it prints. */
static char *xpath(const char *xml, const char *expr)
{
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
        execlp("xmllint", "xmllint", "--xpath", expr, path, (char *)NULL);
        _exit(127);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    unlink(path);
    char *text = read_all(out);
    close(out);
    size_t n = strlen(text);
    if (n && text[n - 1] == '\n') /* some xmllint versions end the string with one */
        text[n - 1] = '\0';
    return text;
}

/* Every value a pod's annotation carries into the domain XML, with XML's metacharacters in it,
 * stays text: the XML is valid, has no element the pod wrote, and reads back exactly. */
#define INJECT "'\"><evil x=\"1\">&amp;]]><!--"
START_TEST(test_annotation_xml_injection)
{
    struct tmpconf t;
    tmpconf_write(&t,
                  "[hypervisor.libvirt]\nkernel = \"/k\"\nenable_annotations = [\".*\"]\n"
                  "valid_kernel_paths = [\"/opt/x/*\"]\nvalid_initrd_paths = [\"/opt/x/*\"]\n"
                  "valid_image_paths = [\"/opt/x/*\"]\nvalid_firmware_paths = [\"/opt/x/*\"]\n");
    struct run r =
        RUN("render", "--config", t.path, "--annotation", HV_PREFIX "kernel_params=quiet x=" INJECT,
            "--annotation", HV_PREFIX "kernel=/opt/x/k" INJECT, "--annotation",
            HV_PREFIX "initrd=/opt/x/i" INJECT, "--annotation", HV_PREFIX "image=/opt/x/r" INJECT,
            "--annotation", HV_PREFIX "firmware=/opt/x/f" INJECT);
    assert_rendered(&r);
    assert_lacks(r.out, "<evil");
    assert_lacks(r.out, "<!--");
    _cleanup_free_ char *cmdline = xpath(r.out, "string(/domain/os/cmdline)");
    ck_assert_msg(strstr(cmdline, "quiet x=" INJECT), "cmdline reads back as [%s]", cmdline);
    _cleanup_free_ char *kernel = xpath(r.out, "string(/domain/os/kernel)");
    ck_assert_str_eq(kernel, "/opt/x/k" INJECT);
    _cleanup_free_ char *initrd = xpath(r.out, "string(/domain/os/initrd)");
    ck_assert_str_eq(initrd, "/opt/x/i" INJECT);
    _cleanup_free_ char *image = xpath(r.out, "string(/domain/devices/disk[1]/source/@file)");
    ck_assert_str_eq(image, "/opt/x/r" INJECT);
    _cleanup_free_ char *firmware = xpath(r.out, "string(/domain/os/loader)");
    ck_assert_str_eq(firmware, "/opt/x/f" INJECT);
    _cleanup_free_ char *evil = xpath(r.out, "count(//evil)");
    ck_assert_str_eq(evil, "0");
    run_free(&r);

    /* a control character cannot be carried at all: refused, naming the annotation */
    r = RUN("render", "--config", t.path, "--annotation", HV_PREFIX "kernel_params=a\x01b");
    assert_exit(&r, 1);
    assert_contains(r.err, "kernel_params");
    run_free(&r);

    /* the sandbox id (the domain's name and metadata) is containerd's, and checked: never markup */
    r = RUN("render", "--config", t.path, "--id", "pod" INJECT);
    assert_exit(&r, 1);
    assert_contains(r.err, "sandbox id");
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
    assert_lacks(r.out, "<hostData>");
    run_free(&r);

    r = RUN("render", "--config", t.path, "--annotation", HV_PREFIX "default_vcpus=4",
            "--annotation", HV_PREFIX "default_memory=8192", "--annotation",
            HV_PREFIX "kernel=/opt/cocoon/kernels/vmlinuz-6.12", "--annotation",
            INITDATA DEFAULT_ANNOTATION);
    assert_rendered(&r);
    assert_contains(r.out, "<vcpu placement='static'>4</vcpu>");
    assert_contains(r.out, "<memory unit='MiB'>8192</memory>");
    assert_contains(r.out, "<kernel>/opt/cocoon/kernels/vmlinuz-6.12</kernel>");
    assert_contains(r.out, "<hostData>" DEFAULT_SNP "</hostData>");
    /* no root image here, so the init-data disk is the first */
    assert_contains(r.out, "<source file='/run/cocoon/example-sandbox/initdata.img'/>\n"
                           "      <target dev='vda' bus='virtio'/>\n"
                           "      <serial>initdata</serial>\n"
                           "      <readonly/>");
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

/* --- the shipped SEV-SNP and TDX configs, and init-data --- */

/* The init-data disk after the root image (vda), as the shipped configs have one. */
#define INITDATA_DISK(dir)                                                                         \
    "<source file='" dir "/initdata.img'/>\n"                                                      \
    "      <target dev='vdb' bus='virtio'/>\n"                                                     \
    "      <serial>initdata</serial>\n"                                                            \
    "      <readonly/>"

START_TEST(test_shipped_snp)
{
    struct run r = RUN("render", "--config", SNP_CONFIG);
    assert_rendered(&r);
    assert_contains(r.out, "<domain type='kvm'>");
    assert_contains(r.out, "<launchSecurity type='sev-snp' kernelHashes='yes'>");
    assert_contains(r.out, "<policy>0x00030000</policy>");
    assert_contains(r.out, "<loader type='rom' readonly='yes'>/opt/kata/share/ovmf/AMDSEV.fd");
    assert_contains(r.out, "<emulator>/opt/kata/bin/qemu-system-x86_64</emulator>");
    assert_contains(r.out, "kata-containers-confidential.img'/>\n"
                           "      <target dev='vda' bus='virtio'/>");
    assert_contains(r.out, "<vsock model='virtio'>");
    assert_lacks(r.out, "<hostData>");
    assert_lacks(r.out, "initdata");
    run_free(&r);

    static const char *const vectors[][2] = {
        {DEFAULT_ANNOTATION, "<hostData>" DEFAULT_SNP "</hostData>"},
        {SHA384_ANNOTATION, "<hostData>" SHA384_SNP "</hostData>"},
        {POLICY_ANNOTATION, "<hostData>" POLICY_SNP "</hostData>"},
    };
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        _cleanup_free_ char *ann = xasprintf(INITDATA "%s", vectors[i][0]);
        r = RUN("render", "--config", SNP_CONFIG, "--id", "snp-pod", "--annotation", ann);
        assert_rendered(&r);
        assert_contains(r.out, vectors[i][1]);
        assert_contains(r.out, INITDATA_DISK("/run/cocoon/snp-pod"));
        assert_lacks(r.out, "<mrConfigId>");
        run_free(&r);
    }
}
END_TEST

START_TEST(test_shipped_tdx)
{
    struct run r = RUN("render", "--config", TDX_CONFIG);
    assert_rendered(&r);
    assert_contains(r.out, "<launchSecurity type='tdx'>");
    assert_contains(r.out, "<policy>0x10000000</policy>");
    assert_contains(r.out, "<quoteGenerationService/>");
    assert_contains(r.out, "<loader type='rom' readonly='yes'>/opt/kata/share/ovmf/"
                           "OVMF.inteltdx.fd</loader>");
    assert_lacks(r.out, "<mrConfigId>");
    assert_lacks(r.out, "initdata");
    run_free(&r);

    static const char *const vectors[][2] = {
        {DEFAULT_ANNOTATION, "<mrConfigId>" DEFAULT_TDX "</mrConfigId>"},
        {SHA384_ANNOTATION, "<mrConfigId>" SHA384_TDX "</mrConfigId>"},
        {POLICY_ANNOTATION, "<mrConfigId>" POLICY_TDX "</mrConfigId>"},
    };
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        _cleanup_free_ char *ann = xasprintf(INITDATA "%s", vectors[i][0]);
        r = RUN("render", "--config", TDX_CONFIG, "--id", "tdx-pod", "--annotation", ann);
        assert_rendered(&r);
        assert_contains(r.out, vectors[i][1]);
        assert_contains(r.out, INITDATA_DISK("/run/cocoon/tdx-pod"));
        assert_lacks(r.out, "<hostData>");
        run_free(&r);
    }
}
END_TEST

/* Kata's CoCo annotations are all allowed; the one cocoon has no use for is only warned about. */
START_TEST(test_shipped_annotations)
{
    struct run r =
        RUN("render", "--config", SNP_CONFIG, "--annotation", HV_PREFIX "default_memory=4096",
            "--annotation", HV_PREFIX "kernel_params=agent.log=debug", "--annotation",
            HV_PREFIX "enable_iommu=true", "--annotation", INITDATA DEFAULT_ANNOTATION);
    assert_exit(&r, 0);
    assert_schema_valid(r.out);
    assert_contains(r.out, "<memory unit='MiB'>4096</memory>");
    assert_contains(r.out, "systemd.unified_cgroup_hierarchy=1 agent.log=debug</cmdline>");
    assert_contains(r.err, "enable_iommu");
    assert_contains(r.err, "ignored");
    run_free(&r);

    r = RUN("render", "--config", TDX_CONFIG, "--annotation", HV_PREFIX "image=/tmp/evil.img");
    assert_exit(&r, 1);
    assert_contains(r.err, "add \"image\" to [hypervisor.libvirt] enable_annotations");
    run_free(&r);
}
END_TEST

/* No TEE, nothing to bind: the disk still carries the document to the guest. */
START_TEST(test_initdata_plain_vm)
{
    struct tmpconf t;
    tmpconf_write(&t, "[hypervisor.libvirt]\nkernel = \"/k\"\nenable_annotations = "
                      "[\"cc_init_data\"]\n");
    struct run r = RUN("render", "--config", t.path, "--annotation", INITDATA DEFAULT_ANNOTATION);
    assert_rendered(&r);
    assert_contains(r.out, "<source file='/run/cocoon/example-sandbox/initdata.img'/>");
    assert_contains(r.out, "<serial>initdata</serial>");
    assert_lacks(r.out, "<launchSecurity");
    run_free(&r);

    /* An empty value is no init-data, as in Kata. */
    r = RUN("render", "--config", t.path, "--annotation", INITDATA);
    assert_rendered(&r);
    assert_lacks(r.out, "initdata");
    run_free(&r);
    tmpconf_free(&t);
}
END_TEST

START_TEST(test_bad_initdata)
{
    struct run r = RUN("render", "--config", SNP_CONFIG, "--annotation", INITDATA MD5_ANNOTATION);
    assert_exit(&r, 1);
    ck_assert_str_eq(r.out, "");
    ck_assert_str_eq(r.err, "cocoonctl: annotation \"" HV_PREFIX "cc_init_data\": init-data: "
                            "algorithm \"md5\" is not one of sha256, sha384, sha512\n");
    run_free(&r);

    r = RUN("render", "--config", TDX_CONFIG, "--annotation", INITDATA "H4sIAAAAAAAA");
    assert_exit(&r, 1);
    assert_contains(r.err, "cc_init_data\": init-data: gzip: truncated stream");
    run_free(&r);

    r = RUN("render", "--config", SNP_CONFIG, "--annotation", INITDATA "not base64!");
    assert_exit(&r, 1);
    assert_contains(r.err, "cc_init_data\": init-data: base64: invalid character ' '");
    run_free(&r);
}
END_TEST

/* An init-data annotation (plain TOML, base64) whose document is exactly doc_len bytes. */
static char *initdata_of_size(size_t doc_len)
{
    static const char head[] = "version = \"0.1.0\"\nalgorithm = \"sha256\"\n[data]\n\"x\" = \"";
    size_t fixed = strlen(head) + strlen("\"\n");
    ck_assert_uint_gt(doc_len, fixed);
    _cleanup_free_ char *doc = xasprintf("%s%*s\"\n", head, (int)(doc_len - fixed), "");
    ck_assert_uint_eq(strlen(doc), doc_len);
    _cleanup_free_ char *b64 = base64_encode((const uint8_t *)doc, doc_len);
    return xasprintf(INITDATA "%s", b64);
}

/* The configured limits, exactly at the boundary: at the limit is accepted, one step over is
 * refused with a message naming the configuration key. */
START_TEST(test_initdata_limits)
{
    struct tmpconf t;
    tmpconf_write(&t, "[hypervisor.libvirt]\nkernel = \"/k\"\nenable_annotations = "
                      "[\"cc_init_data\"]\n[runtime]\ninitdata_annotation_limit_kib = 1\n");
    /* 768 bytes of TOML are 1024 of base64; 771 are 1028 */
    _cleanup_free_ char *at = initdata_of_size(768), *over = initdata_of_size(771);
    struct run r = RUN("render", "--config", t.path, "--annotation", at);
    assert_rendered(&r);
    assert_contains(r.out, "<serial>initdata</serial>");
    run_free(&r);
    r = RUN("render", "--config", t.path, "--annotation", over);
    assert_exit(&r, 1);
    ck_assert_str_eq(r.err, "cocoonctl: annotation \"" HV_PREFIX "cc_init_data\": init-data: "
                            "annotation is 1028 bytes, over the 1024-byte limit set by [runtime] "
                            "initdata_annotation_limit_kib\n");
    run_free(&r);
    tmpconf_free(&t);

    tmpconf_write(&t, "[hypervisor.libvirt]\nkernel = \"/k\"\nenable_annotations = "
                      "[\"cc_init_data\"]\n[runtime]\ninitdata_document_limit_kib = 1\n");
    _cleanup_free_ char *doc_at = initdata_of_size(1024), *doc_over = initdata_of_size(1025);
    r = RUN("render", "--config", t.path, "--annotation", doc_at);
    assert_rendered(&r);
    run_free(&r);
    r = RUN("render", "--config", t.path, "--annotation", doc_over);
    assert_exit(&r, 1);
    ck_assert_str_eq(r.err, "cocoonctl: annotation \"" HV_PREFIX "cc_init_data\": init-data: "
                            "document is 1025 bytes, over the 1024-byte limit set by [runtime] "
                            "initdata_document_limit_kib\n");
    run_free(&r);
    tmpconf_free(&t);
}
END_TEST

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* render shows the init-data disk and writes nothing: not the image, not its directory. */
START_TEST(test_render_writes_nothing)
{
    char dir[] = "/tmp/cocoon-render-state-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    _cleanup_free_ char *text = xasprintf("[hypervisor.libvirt]\nkernel = \"/k\"\n"
                                          "firmware = \"/f\"\ntee = \"snp\"\n"
                                          "enable_annotations = [\"cc_init_data\"]\n"
                                          "[runtime]\nstate_dir = \"%s/state\"\n",
                                          dir);
    struct tmpconf t;
    tmpconf_write(&t, text);
    struct run r = RUN("render", "--config", t.path, "--id", "p1", "--annotation",
                       INITDATA DEFAULT_ANNOTATION);
    assert_rendered(&r);
    _cleanup_free_ char *img = xasprintf("<source file='%s/state/p1/initdata.img'/>", dir);
    assert_contains(r.out, img);
    run_free(&r);
    _cleanup_free_ char *state = xasprintf("%s/state", dir);
    ck_assert_msg(!exists(state), "render created %s", state);
    tmpconf_free(&t);
    ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* static_sandbox_resource_mgmt (on in the shipped TEE configs, with runtime-rs's TEE overhead of
 * 0.4 vCPU and 128 MiB): a pod with limits gets its limits plus the overhead. */
START_TEST(test_sandbox_sizing)
{
    struct run r = RUN("render", "--config", SNP_CONFIG, "--annotation", CPU_PERIOD "100000",
                       "--annotation", CPU_QUOTA "150000", "--annotation", MEMORY "268435457");
    assert_rendered(&r);
    assert_contains(r.out, "<vcpu placement='static'>2</vcpu>"); /* ceil(1.5 + 0.4) */
    assert_contains(r.out, "<memory unit='MiB'>385</memory>");   /* 256 + 1 (rounded up) + 128 */
    run_free(&r);

    /* A quota of -1 is "no limit", counted 0 as runtime-rs does: ceil(0 + 0.4) = 1 vCPU, the
     * default_vcpus annotation notwithstanding; memory 1 MiB + 128. */
    r = RUN("render", "--config", TDX_CONFIG, "--annotation", HV_PREFIX "default_vcpus=2",
            "--annotation", CPU_PERIOD "100000", "--annotation", CPU_QUOTA "-1", "--annotation",
            HV_PREFIX "default_memory=1024", "--annotation", MEMORY "1048576");
    assert_rendered(&r);
    assert_contains(r.out, "<vcpu placement='static'>1</vcpu>");
    assert_contains(r.out, "<memory unit='MiB'>129</memory>");
    run_free(&r);

    /* No limits at all: the base size (default_* or their annotations). */
    r = RUN("render", "--config", TDX_CONFIG, "--annotation", HV_PREFIX "default_vcpus=2");
    assert_rendered(&r);
    assert_contains(r.out, "<vcpu placement='static'>2</vcpu>");
    assert_contains(r.out, "<memory unit='MiB'>2048</memory>");
    run_free(&r);

    r = RUN("render", "--config", SNP_CONFIG, "--annotation", MEMORY "2G");
    assert_exit(&r, 1);
    ck_assert_str_eq(r.err, "cocoonctl: annotation \"io.kubernetes.cri.sandbox-memory\": must be "
                            "a decimal integer, got \"2G\"\n");
    run_free(&r);

    /* The development config sizes statically only from its own keys: these are ignored. */
    r = RUN("render", "--config", DEV_CONFIG, "--annotation", CPU_PERIOD "100000", "--annotation",
            CPU_QUOTA "800000", "--annotation", MEMORY "junk");
    assert_rendered(&r);
    assert_contains(r.out, "<vcpu placement='static'>1</vcpu>");
    assert_contains(r.out, "<memory unit='MiB'>512</memory>");
    run_free(&r);
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
    ck_assert_msg(sandbox_vm_spec(cfg, "abc", anns, 1, &spec, NULL, &err) == 0, "%s", err.msg);
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
                                     0, &spec, NULL, &err),
                     -1);
    assert_contains(err.msg, "use a shorter [runtime] state_dir");
    vm_spec_free(&spec);
    error_clear(&err);
    config_free(cfg);
    tmpconf_free(&t);
}
END_TEST

static void b64_decode(const char *b64, uint8_t *out, size_t want)
{
    uint8_t buf[64];
    size_t n = strlen(b64);
    ck_assert_uint_le(n / 4 * 3, sizeof(buf));
    ck_assert_int_eq(EVP_DecodeBlock(buf, (const unsigned char *)b64, (int)n), (int)(n / 4 * 3));
    memcpy(out, buf, want);
}

/* The plan carries the bound digest and the disk; writing the disk puts Kata's image there. */
START_TEST(test_sandbox_vm_initdata)
{
    char dir[] = "/tmp/cocoon-render-state-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    struct tmpconf t;
    struct config *cfg = load(snp_config, &t);
    free(cfg->runtime.state_dir);
    cfg->runtime.state_dir = xasprintf("%s/run/cocoon/", dir); /* parents missing, trailing / */

    struct annotation anns[] = {{HV_PREFIX "cc_init_data", DEFAULT_ANNOTATION}};
    struct vm_spec spec;
    struct initdata *d = (struct initdata *)&spec; /* must be overwritten */
    struct error err = ERROR_INIT;
    ck_assert_msg(sandbox_vm_spec(cfg, "pod", anns, 1, &spec, &d, &err) == 0, "%s", err.msg);
    ck_assert_ptr_nonnull(d);
    ck_assert_uint_eq(d->raw_len, strlen(DEFAULT_TOML));
    ck_assert_mem_eq(d->raw, DEFAULT_TOML, d->raw_len);
    uint8_t want[32];
    b64_decode(DEFAULT_SNP, want, sizeof(want));
    ck_assert(spec.snp.has_host_data);
    ck_assert_mem_eq(spec.snp.host_data, want, 32);
    ck_assert(!spec.tdx.has_mr_config_id);
    ck_assert_uint_eq(spec.n_disks, 1);
    _cleanup_free_ char *img = xasprintf("%s/run/cocoon/pod/initdata.img", dir);
    ck_assert_str_eq(spec.disks[0].path, img);
    ck_assert_str_eq(spec.disks[0].serial, SANDBOX_INITDATA_SERIAL);
    ck_assert(spec.disks[0].readonly);
    vm_spec_free(&spec);

    /* Twice: the second write replaces the first image. */
    for (int i = 0; i < 2; i++)
        ck_assert_msg(sandbox_vm_write_initdata(cfg, "pod", d, &err) == 0, "%s", err.msg);
    struct stat st;
    ck_assert_int_eq(stat(img, &st), 0);
    ck_assert(S_ISREG(st.st_mode));
    ck_assert_uint_eq(st.st_mode & 07777, 0644);
    ck_assert_uint_eq(st.st_size % 512, 0);
    int fd = open(img, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    _cleanup_free_ char *bytes = read_all(fd);
    close(fd);
    ck_assert_mem_eq(bytes, "initdata", 8);
    char *raw = NULL;
    size_t raw_len = 0;
    ck_assert_msg(initdata_disk_parse((const uint8_t *)bytes, (size_t)st.st_size, NULL, &raw,
                                      &raw_len, &err) == 0,
                  "%s", err.msg);
    ck_assert_uint_eq(raw_len, strlen(DEFAULT_TOML));
    ck_assert_mem_eq(raw, DEFAULT_TOML, raw_len);
    free(raw);

    /* Nothing but the image is left in the sandbox directory (no temporary file). */
    _cleanup_free_ char *sdir = xasprintf("%s/run/cocoon/pod", dir);
    DIR *dh = opendir(sdir);
    ck_assert_ptr_nonnull(dh);
    int entries = 0;
    for (struct dirent *e; (e = readdir(dh));)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            ck_assert_str_eq(e->d_name, SANDBOX_INITDATA_IMAGE);
            entries++;
        }
    closedir(dh);
    ck_assert_int_eq(entries, 1);
    unlink(img);
    rmdir(sdir);
    _cleanup_free_ char *p1 = xasprintf("%s/run/cocoon", dir), *p2 = xasprintf("%s/run", dir);
    rmdir(p1);
    rmdir(p2);
    ck_assert_int_eq(rmdir(dir), 0);
    initdata_free(d);

    /* TDX binds the same digest, padded to 48 bytes. */
    cfg->hypervisor.tee = VM_TEE_TDX;
    ck_assert_msg(sandbox_vm_spec(cfg, "pod", anns, 1, &spec, NULL, &err) == 0, "%s", err.msg);
    uint8_t want48[48];
    b64_decode(DEFAULT_TDX, want48, sizeof(want48));
    ck_assert(spec.tdx.has_mr_config_id);
    ck_assert_mem_eq(spec.tdx.mr_config_id, want48, 48);
    ck_assert(!spec.snp.has_host_data);
    vm_spec_free(&spec);

    /* No annotation: no disk, and *initdata is NULL; a bad one: failure, and NULL too. */
    d = (struct initdata *)&spec;
    ck_assert_int_eq(sandbox_vm_spec(cfg, "pod", NULL, 0, &spec, &d, &err), 0);
    ck_assert_ptr_null(d);
    ck_assert_uint_eq(spec.n_disks, 0);
    ck_assert(!spec.tdx.has_mr_config_id);
    vm_spec_free(&spec);
    struct annotation bad[] = {{HV_PREFIX "cc_init_data", MD5_ANNOTATION}};
    d = (struct initdata *)&spec;
    ck_assert_int_eq(sandbox_vm_spec(cfg, "pod", bad, 1, &spec, &d, &err), -1);
    ck_assert_ptr_null(d);
    ck_assert_int_eq(err.code, GRPC_INVALID_ARGUMENT);
    assert_contains(err.msg, "algorithm \"md5\"");
    vm_spec_free(&spec);

    /* Not enabled: the message names the annotation and the key that would allow it. */
    assert_lacks(cfg->hypervisor.enable_annotations.items[3], "x");
    free(cfg->hypervisor.enable_annotations.items[3]); /* "cc_init_data" */
    cfg->hypervisor.enable_annotations.items[3] = xstrdup("^kernel_params$");
    ck_assert_int_eq(sandbox_vm_spec(cfg, "pod", anns, 1, &spec, &d, &err), -1);
    ck_assert_str_eq(err.msg, "annotation \"" HV_PREFIX "cc_init_data\" is not enabled: add "
                              "\"cc_init_data\" to [hypervisor.libvirt] enable_annotations");
    vm_spec_free(&spec);
    error_clear(&err);
    config_free(cfg);
    tmpconf_free(&t);
}
END_TEST

START_TEST(test_write_initdata_errors)
{
    struct tmpconf t;
    struct config *cfg = load(snp_config, &t);
    struct initdata *d = NULL;
    struct error err = ERROR_INIT;
    ck_assert_int_eq(initdata_from_toml(DEFAULT_TOML, strlen(DEFAULT_TOML), &d, &err), 0);

    /* state_dir below a regular file */
    free(cfg->runtime.state_dir);
    cfg->runtime.state_dir = xasprintf("%s/state", t.path);
    ck_assert_int_eq(sandbox_vm_write_initdata(cfg, "pod", d, &err), -1);
    _cleanup_free_ char *want = xasprintf("create directory %s/state: Not a directory", t.path);
    ck_assert_str_eq(err.msg, want);

    /* The id becomes a path component: it is checked here too. */
    ck_assert_int_eq(sandbox_vm_write_initdata(cfg, "../x", d, &err), -1);
    assert_contains(err.msg, "sandbox id \"../x\"");

    /* A directory that cannot be written to (unless we are root, who can write anywhere). */
    if (geteuid() != 0) {
        char dir[] = "/tmp/cocoon-render-ro-XXXXXX";
        ck_assert_ptr_nonnull(mkdtemp(dir));
        free(cfg->runtime.state_dir);
        cfg->runtime.state_dir = xstrdup(dir);
        _cleanup_free_ char *sdir = xasprintf("%s/pod", dir);
        ck_assert_int_eq(mkdir(sdir, 0555), 0);
        ck_assert_int_eq(sandbox_vm_write_initdata(cfg, "pod", d, &err), -1);
        assert_contains(err.msg, "/pod/initdata.img.");
        assert_contains(err.msg, "Permission denied");
        rmdir(sdir);
        rmdir(dir);
    }
    initdata_free(d);
    error_clear(&err);
    config_free(cfg);
    tmpconf_free(&t);
}
END_TEST

START_TEST(test_sandbox_vm_sizing)
{
    struct tmpconf t;
    struct config *cfg = load(snp_config, &t);
    cfg->runtime.static_sandbox_resource_mgmt = true;
    struct vm_spec spec;
    struct error err = ERROR_INIT;

    static const struct {
        const char *period, *quota, *memory;
        unsigned vcpus, mib;
    } ok[] = {
        {"100000", "100000", "0", 2, 2048},      /* exactly one CPU */
        {"100000", "100001", NULL, 3, 2048},     /* a little more: rounded up */
        {"100000", "50000", "1", 2, 2049},       /* half a CPU, one byte */
        {"0", "50000", "1048576", 1, 2049},      /* no period: no CPUs added */
        {NULL, "50000", "-1", 1, 2048},          /* no period */
        {"100000", "0", "-5", 1, 2048},          /* no quota; negative memory is none */
        {"100000", "51100000", NULL, 512, 2048}, /* just fits: 1 + 511 */
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct annotation anns[3];
        size_t n = 0;
        if (ok[i].period)
            anns[n++] = (struct annotation){ANNOTATION_SANDBOX_CPU_PERIOD, ok[i].period};
        if (ok[i].quota)
            anns[n++] = (struct annotation){ANNOTATION_SANDBOX_CPU_QUOTA, ok[i].quota};
        if (ok[i].memory)
            anns[n++] = (struct annotation){ANNOTATION_SANDBOX_MEMORY, ok[i].memory};
        ck_assert_msg(sandbox_vm_spec(cfg, "pod", anns, n, &spec, NULL, &err) == 0, "case %zu: %s",
                      i, err.msg);
        ck_assert_msg(spec.vcpus == ok[i].vcpus && spec.memory_mib == ok[i].mib,
                      "case %zu: %u vCPUs, %u MiB", i, spec.vcpus, spec.memory_mib);
        vm_spec_free(&spec);
    }

    static const struct {
        const char *key, *value, *msg;
    } bad[] = {
        {ANNOTATION_SANDBOX_CPU_QUOTA, "1.5", "must be a decimal integer, got \"1.5\""},
        {ANNOTATION_SANDBOX_CPU_QUOTA, "", "must be a decimal integer, got \"\""},
        {ANNOTATION_SANDBOX_CPU_PERIOD, "-", "must be a decimal integer"},
        {ANNOTATION_SANDBOX_CPU_PERIOD, "+100", "must be a decimal integer"},
        {ANNOTATION_SANDBOX_MEMORY, " 1", "must be a decimal integer"},
        {ANNOTATION_SANDBOX_MEMORY, "9223372036854775808", "must be a decimal integer"},
        {ANNOTATION_SANDBOX_MEMORY, "99999999999999999999", "must be a decimal integer"},
        {ANNOTATION_SANDBOX_MEMORY, "9223372036854775807",
         "2048 MiB plus 8796093022208 MiB for the pod (io.kubernetes.cri.sandbox-memory) are "
         "more than the 4194304 MiB a VM may have"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct annotation a = {bad[i].key, bad[i].value};
        ck_assert_msg(sandbox_vm_spec(cfg, "pod", &a, 1, &spec, NULL, &err) == -1,
                      "accepted %s=\"%s\"", bad[i].key, bad[i].value);
        assert_contains(err.msg, bad[i].msg);
        ck_assert_int_eq(err.code, GRPC_INVALID_ARGUMENT);
        vm_spec_free(&spec);
    }
    struct annotation cpus[] = {{ANNOTATION_SANDBOX_CPU_PERIOD, "1"},
                                {ANNOTATION_SANDBOX_CPU_QUOTA, "9223372036854775807"}};
    ck_assert_int_eq(sandbox_vm_spec(cfg, "pod", cpus, 2, &spec, NULL, &err), -1);
    ck_assert_str_eq(err.msg, "sandbox resources: 1 vCPUs plus 9223372036854775807 for the pod "
                              "(io.kubernetes.cri.sandbox-cpu-quota / "
                              "io.kubernetes.cri.sandbox-cpu-period) are more than the 512 a VM "
                              "may have");
    vm_spec_free(&spec);
    cpus[0].value = "100000";
    cpus[1].value = "51100001"; /* one more than fits */
    ck_assert_int_eq(sandbox_vm_spec(cfg, "pod", cpus, 2, &spec, NULL, &err), -1);
    assert_contains(err.msg, "1 vCPUs plus 512 for the pod");
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

/* --- Kata 4.x parity: the node's init-data, dm-verity, extension images, overhead sizing --- */

#define HASH_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HASH_B "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define VERITY_A                                                                                   \
    "root_hash=" HASH_A ",salt=00ff,data_blocks=1000,data_block_size=4096,hash_block_size=4096"
#define VERITY_B                                                                                   \
    "root_hash=" HASH_B ",salt=-,data_blocks=16,data_block_size=512,hash_block_size=1024"

/* A shipped config copied into a scratch directory, with one drop-in beside it. */
struct shipped_plus {
    struct tmpconf t;
    char *dropin_dir, *dropin;
};

static void shipped_plus(struct shipped_plus *s, const char *shipped, const char *dropin_text)
{
    FILE *in = fopen(shipped, "r");
    ck_assert_ptr_nonnull(in);
    char *text = NULL;
    size_t cap = 0;
    ck_assert_int_gt(getdelim(&text, &cap, '\0', in), 0);
    fclose(in);
    tmpconf_write(&s->t, text);
    free(text);
    s->dropin_dir = xasprintf("%s/config.d", s->t.dir);
    ck_assert_int_eq(mkdir(s->dropin_dir, 0755), 0);
    s->dropin = xasprintf("%s/50-test.toml", s->dropin_dir);
    write_text(s->dropin, dropin_text);
}

static void shipped_plus_free(struct shipped_plus *s)
{
    unlink(s->dropin);
    rmdir(s->dropin_dir);
    free(s->dropin);
    free(s->dropin_dir);
    tmpconf_free(&s->t);
}

/* [hypervisor.libvirt] initdata: the pod without the annotation gets the node's, bound and on its
 * disk like the annotation's; the annotation wins, and an empty one means none. */
START_TEST(test_node_initdata)
{
    struct shipped_plus s;
    shipped_plus(&s, SNP_CONFIG, "[hypervisor.libvirt]\ninitdata = \"" DEFAULT_ANNOTATION "\"\n");
    struct run r = RUN("render", "--config", s.t.path, "--id", "snp-pod");
    assert_rendered(&r);
    assert_contains(r.out, "<hostData>" DEFAULT_SNP "</hostData>");
    assert_contains(r.out, INITDATA_DISK("/run/cocoon/snp-pod"));
    run_free(&r);
    r = RUN("render", "--config", s.t.path, "--annotation", INITDATA SHA384_ANNOTATION);
    assert_rendered(&r);
    assert_contains(r.out, "<hostData>" SHA384_SNP "</hostData>");
    run_free(&r);
    r = RUN("render", "--config", s.t.path, "--annotation", INITDATA);
    assert_rendered(&r);
    assert_lacks(r.out, "<hostData>");
    assert_lacks(r.out, "initdata");
    run_free(&r);
    shipped_plus_free(&s);

    /* runtime-rs's form, the TOML itself: the same bytes, the same digest */
    shipped_plus(&s, TDX_CONFIG,
                 "[hypervisor.libvirt]\ninitdata = \"version = \\\"0.1.0\\\"\\nalgorithm = "
                 "\\\"sha256\\\"\\n\\n[data]\\n\"\n");
    r = RUN("render", "--config", s.t.path, "--id", "tdx-pod");
    assert_rendered(&r);
    assert_contains(r.out, "<mrConfigId>" DEFAULT_TDX "</mrConfigId>");
    assert_contains(r.out, INITDATA_DISK("/run/cocoon/tdx-pod"));
    run_free(&r);
    shipped_plus_free(&s);

    /* an invalid default fails the configuration, naming the key */
    shipped_plus(&s, SNP_CONFIG, "[hypervisor.libvirt]\ninitdata = \"" MD5_ANNOTATION "\"\n");
    r = RUN("render", "--config", s.t.path);
    assert_exit(&r, 1);
    _cleanup_free_ char *want =
        xasprintf("cocoonctl: %s:2:1: hypervisor.libvirt.initdata: init-data: algorithm \"md5\" "
                  "is not one of sha256, sha384, sha512\n",
                  s.dropin);
    ck_assert_str_eq(r.err, want);
    run_free(&r);
    shipped_plus_free(&s);
}
END_TEST

/* kernel_verity_params: Kata's dm-verity table for the root image replaces its root=. */
START_TEST(test_root_verity)
{
    struct shipped_plus s;
    shipped_plus(&s, SNP_CONFIG, "[hypervisor.libvirt]\nkernel_verity_params = \"" VERITY_A "\"\n");
    struct run r = RUN("render", "--config", s.t.path);
    assert_rendered(&r);
    assert_contains(r.out, "<cmdline>ro systemd.unit=kata-containers.target ");
    assert_contains(r.out, " systemd.unified_cgroup_hierarchy=1 dm-mod.create=&quot;dm-verity,,,ro,"
                           "0 8000 verity 1 /dev/vda1 /dev/vda2 4096 4096 1000 0 sha256 " HASH_A
                           " 00ff&quot; root=/dev/dm-0 rootflags=data=ordered,errors=remount-ro ro "
                           "rootfstype=ext4</cmdline>");
    assert_lacks(r.out, "/dev/vda1 rootflags");
    run_free(&r);

    /* enabled in the shipped configs: the pod's parameters replace the node's */
    r = RUN("render", "--config", s.t.path, "--annotation",
            HV_PREFIX "kernel_verity_params=" VERITY_B, "--annotation",
            HV_PREFIX "kernel_params=agent.log=debug");
    assert_rendered(&r);
    assert_contains(r.out, " dm-mod.create=&quot;dm-verity,,,ro,0 16 verity 1 /dev/vda1 /dev/vda2 "
                           "512 1024 16 0 sha256 " HASH_B " -&quot; root=/dev/dm-0 ");
    assert_contains(r.out, "rootfstype=ext4 agent.log=debug</cmdline>");
    assert_lacks(r.out, HASH_A);
    run_free(&r);

    r = RUN("render", "--config", s.t.path, "--annotation",
            HV_PREFIX "kernel_verity_params=root_hash=" HASH_B ",salt=xy");
    assert_exit(&r, 1);
    ck_assert_str_eq(r.err, "cocoonctl: annotation \"" HV_PREFIX "kernel_verity_params\": salt "
                            "\"xy\": want an even number of hex digits (at most 512), or \"-\" for "
                            "none\n");
    run_free(&r);
    shipped_plus_free(&s);

    /* without a root image there is nothing to verify */
    struct tmpconf t;
    tmpconf_write(&t, "[hypervisor.libvirt]\nkernel = \"/k\"\ninitrd = \"/i\"\n"
                      "enable_annotations = [\"kernel_verity_params\"]\n");
    r = RUN("render", "--config", t.path, "--annotation",
            HV_PREFIX "kernel_verity_params=" VERITY_B);
    assert_exit(&r, 1);
    ck_assert_str_eq(r.err, "cocoonctl: annotation \"" HV_PREFIX "kernel_verity_params\": needs "
                            "the VM to boot from its image (it has none), whose partitions 1 and 2 "
                            "hold the root and its hash tree\n");
    run_free(&r);
    /* an empty value keeps the configured parameters (here: none), as in Kata */
    r = RUN("render", "--config", t.path, "--annotation", HV_PREFIX "kernel_verity_params=");
    assert_rendered(&r);
    assert_lacks(r.out, "dm-mod");
    run_free(&r);
    tmpconf_free(&t);
}
END_TEST

/* guest_extension_images: read-only disks after the root image, before the init-data disk, and
 * their parameters last on the command line. */
START_TEST(test_extension_images)
{
    struct shipped_plus s;
    shipped_plus(&s, TDX_CONFIG,
                 "[[hypervisor.libvirt.guest_extension_images]]\nname = \"coco\"\n"
                 "path = \"/opt/kata/share/kata-containers/kata-containers-coco.img\"\n"
                 "verity_params = \"" VERITY_B "\"\n"
                 "[[hypervisor.libvirt.guest_extension_images]]\nname = \"gpu-0_x\"\n"
                 "path = \"/srv/gpu.img\"\n");
    struct run r = RUN("render", "--config", s.t.path, "--id", "tdx-pod", "--annotation",
                       INITDATA DEFAULT_ANNOTATION);
    assert_rendered(&r);
    assert_contains(r.out, "kata-containers-confidential.img'/>\n"
                           "      <target dev='vda' bus='virtio'/>");
    assert_contains(r.out,
                    "<source file='/opt/kata/share/kata-containers/kata-containers-coco.img'/>\n"
                    "      <target dev='vdb' bus='virtio'/>\n"
                    "      <serial>extension-coco</serial>\n"
                    "      <readonly/>");
    assert_contains(r.out, "<source file='/srv/gpu.img'/>\n"
                           "      <target dev='vdc' bus='virtio'/>\n"
                           "      <serial>extension-gpu-0_x</serial>\n"
                           "      <readonly/>");
    assert_contains(r.out, "<source file='/run/cocoon/tdx-pod/initdata.img'/>\n"
                           "      <target dev='vdd' bus='virtio'/>");
    assert_contains(
        r.out, " systemd.unified_cgroup_hierarchy=1 kata.extension.coco.verity_params=" VERITY_B
               " kata.extension.gpu-0_x.verity_params</cmdline>");
    assert_contains(r.out, "<mrConfigId>" DEFAULT_TDX "</mrConfigId>");
    run_free(&r);
    shipped_plus_free(&s);
}
END_TEST

/* overhead_vcpus / overhead_memory: runtime-rs's limits plus overhead. */
START_TEST(test_overhead_sizing)
{
    struct shipped_plus s;
    shipped_plus(&s, SNP_CONFIG,
                 "[hypervisor.libvirt]\noverhead_vcpus = 0.4\noverhead_memory = 128\n");
    struct run r = RUN("render", "--config", s.t.path, "--annotation", CPU_PERIOD "100000",
                       "--annotation", CPU_QUOTA "150000", "--annotation", MEMORY "629145600");
    assert_rendered(&r);
    assert_contains(r.out, "<vcpu placement='static'>2</vcpu>"); /* ceil(1.5 + 0.4) */
    assert_contains(r.out, "<memory unit='MiB'>728</memory>");   /* 600 + 128 */
    assert_contains(r.out, "<currentMemory unit='MiB'>728</currentMemory>");
    run_free(&r);

    /* a memory limit alone: the CPU side is the overhead, at least one vCPU */
    r = RUN("render", "--config", s.t.path, "--annotation", MEMORY "536870912");
    assert_rendered(&r);
    assert_contains(r.out, "<vcpu placement='static'>1</vcpu>");
    assert_contains(r.out, "<memory unit='MiB'>640</memory>");
    run_free(&r);

    /* a CPU limit alone: the memory is the overhead, not default_memory */
    r = RUN("render", "--config", s.t.path, "--annotation", CPU_PERIOD "100000", "--annotation",
            CPU_QUOTA "200000");
    assert_rendered(&r);
    assert_contains(r.out, "<vcpu placement='static'>3</vcpu>");
    assert_contains(r.out, "<memory unit='MiB'>128</memory>");
    run_free(&r);

    /* no limits: the base size, annotations included */
    r = RUN("render", "--config", s.t.path, "--annotation", HV_PREFIX "default_vcpus=4");
    assert_rendered(&r);
    assert_contains(r.out, "<vcpu placement='static'>4</vcpu>");
    assert_contains(r.out, "<memory unit='MiB'>2048</memory>");
    run_free(&r);
    shipped_plus_free(&s);
}
END_TEST

START_TEST(test_overhead_sizing_library)
{
    struct tmpconf t;
    struct config *cfg = load(snp_config, &t);
    cfg->runtime.static_sandbox_resource_mgmt = true;
    struct vm_spec spec;
    struct error err = ERROR_INIT;
    static const struct {
        int milli, memory;
        const char *period, *quota, *bytes;
        unsigned vcpus, mib;
    } ok[] = {
        {700, 64, "100000", "30000", NULL, 1, 64},                   /* 0.7 + 0.3 is exactly 1 */
        {701, 64, "100000", "30000", NULL, 2, 64},                   /* a thousandth more: 2 */
        {0, 0, "100000", "150000", "1", 2, 1},                       /* no overhead at all */
        {0, 64, "100000", "1", NULL, 1, 64},                         /* a sliver of a CPU: 1 */
        {CONFIG_UNSET, 128, "100000", "150000", "1048576", 3, 129},  /* Go's CPU, rs's memory */
        {400, CONFIG_UNSET, "100000", "150000", "1048576", 2, 2049}, /* and the reverse */
        {511000, 0, "100000", "100000", "1", 512, 1},                /* just fits */
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        cfg->hypervisor.overhead_millivcpus = ok[i].milli;
        cfg->hypervisor.overhead_memory = ok[i].memory;
        struct annotation anns[3] = {{ANNOTATION_SANDBOX_CPU_PERIOD, ok[i].period},
                                     {ANNOTATION_SANDBOX_CPU_QUOTA, ok[i].quota}};
        size_t n = 2;
        if (ok[i].bytes)
            anns[n++] = (struct annotation){ANNOTATION_SANDBOX_MEMORY, ok[i].bytes};
        ck_assert_msg(sandbox_vm_spec(cfg, "pod", anns, n, &spec, NULL, &err) == 0, "case %zu: %s",
                      i, err.msg);
        ck_assert_msg(spec.vcpus == ok[i].vcpus && spec.memory_mib == ok[i].mib,
                      "case %zu: %u vCPUs, %u MiB", i, spec.vcpus, spec.memory_mib);
        vm_spec_free(&spec);
    }

    /* CRI-O's sizing, the same way */
    cfg->hypervisor.overhead_millivcpus = 400;
    cfg->hypervisor.overhead_memory = 128;
    struct annotation crio = {ANNOTATION_CRIO_POD_RESOURCES,
                              "{\"cpu_period\":100000,\"cpu_quota\":150000,"
                              "\"memory_limit_in_bytes\":629145600}"};
    ck_assert_msg(sandbox_vm_spec(cfg, "pod", &crio, 1, &spec, NULL, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(spec.vcpus, 2);
    ck_assert_uint_eq(spec.memory_mib, 728);
    vm_spec_free(&spec);

    cfg->hypervisor.overhead_millivcpus = 511001;
    cfg->hypervisor.overhead_memory = 0;
    struct annotation cpus[] = {{ANNOTATION_SANDBOX_CPU_PERIOD, "100000"},
                                {ANNOTATION_SANDBOX_CPU_QUOTA, "100000"},
                                {ANNOTATION_SANDBOX_MEMORY, "1"}};
    ck_assert_int_eq(sandbox_vm_spec(cfg, "pod", cpus, 3, &spec, NULL, &err), -1);
    ck_assert_str_eq(err.msg, "sandbox resources: [hypervisor.libvirt] overhead_vcpus plus the "
                              "pod's 100000 / 100000 (io.kubernetes.cri.sandbox-cpu-quota / "
                              "io.kubernetes.cri.sandbox-cpu-period) are more than the 512 vCPUs "
                              "a VM may have");
    vm_spec_free(&spec);
    cpus[1].value = "9223372036854775807";
    cpus[0].value = "1";
    ck_assert_int_eq(sandbox_vm_spec(cfg, "pod", cpus, 3, &spec, NULL, &err), -1);
    assert_contains(err.msg, "are more than the 512 vCPUs a VM may have");
    vm_spec_free(&spec);

    /* runtime-rs's safety net: no memory at all */
    cfg->hypervisor.overhead_millivcpus = 400;
    cpus[0].value = cpus[1].value = "100000";
    ck_assert_int_eq(sandbox_vm_spec(cfg, "pod", cpus, 2, &spec, NULL, &err), -1);
    ck_assert_str_eq(err.msg, "sandbox resources: 0 MiB: the pod has no memory limit "
                              "(io.kubernetes.cri.sandbox-memory) and [hypervisor.libvirt] "
                              "overhead_memory is 0; set either");
    vm_spec_free(&spec);
    cfg->hypervisor.overhead_memory = 4194304;
    ck_assert_int_eq(sandbox_vm_spec(cfg, "pod", cpus, 3, &spec, NULL, &err), -1);
    ck_assert_str_eq(err.msg, "sandbox resources: 4194304 MiB of [hypervisor.libvirt] "
                              "overhead_memory plus 1 MiB for the pod "
                              "(io.kubernetes.cri.sandbox-memory) are more than the 4194304 MiB "
                              "a VM may have");
    vm_spec_free(&spec);
    error_clear(&err);
    config_free(cfg);
    tmpconf_free(&t);
}
END_TEST

/* Kata's split of kernel parameters: quotes keep a parameter whole; only root, rootflags and
 * rootfstype give way, and the file system picks Kata's root flags. */
START_TEST(test_verity_kernel_params)
{
    struct verity_params p;
    struct error err = ERROR_INIT;
    ck_assert_msg(verity_params_parse(",," VERITY_B ",", &p, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(p.root_hash, HASH_B);
    ck_assert_str_eq(p.salt, "-");
    ck_assert_uint_eq(p.data_blocks, 16);
    _cleanup_free_ char *a = verity_root_kernel_params(
        "  x=\"a root=b\"  root=/dev/vda1 rootfstype=xfs rootflags=ro rootwait  ", &p, &err);
    ck_assert_ptr_nonnull(a);
    ck_assert_str_eq(a, "x=\"a root=b\" rootwait dm-mod.create=\"dm-verity,,,ro,0 16 verity 1 "
                        "/dev/vda1 /dev/vda2 512 1024 16 0 sha256 " HASH_B
                        " -\" root=/dev/dm-0 rootflags=ro rootfstype=xfs");
    _cleanup_free_ char *b = verity_root_kernel_params(NULL, &p, &err);
    ck_assert_str_eq(b, "dm-mod.create=\"dm-verity,,,ro,0 16 verity 1 /dev/vda1 /dev/vda2 512 "
                        "1024 16 0 sha256 " HASH_B " -\" root=/dev/dm-0 "
                        "rootflags=data=ordered,errors=remount-ro ro rootfstype=ext4");
    _cleanup_free_ char *c = verity_root_kernel_params("rootfstype=erofs", &p, &err);
    assert_contains(c, "rootflags=ro rootfstype=erofs");
    ck_assert_ptr_null(verity_root_kernel_params("rootfstype=\"ext4\"", &p, &err));
    ck_assert_str_eq(err.msg, "rootfstype \"\"ext4\"\" in kernel_params: a dm-verity root is ext4, "
                              "xfs or erofs");
    /* sectors are data_block_size / 512 * data_blocks, which must fit */
    ck_assert_int_eq(verity_params_parse("root_hash=" HASH_B ",salt=00,data_blocks="
                                         "4611686018427387904,data_block_size=4096,"
                                         "hash_block_size=4096",
                                         &p, &err),
                     -1);
    ck_assert_str_eq(err.msg, "data_blocks 4611686018427387904 of 4096 bytes: more sectors than "
                              "the table can hold");
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
    tcase_add_test(tc, test_annotation_xml_injection);
    suite_add_tcase(s, tc);

    tc = tcase_create("tee");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_snp);
    tcase_add_test(tc, test_path_annotation_outside_globs);
    tcase_add_test(tc, test_tdx);
    suite_add_tcase(s, tc);

    tc = tcase_create("shipped");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_shipped_snp);
    tcase_add_test(tc, test_shipped_tdx);
    tcase_add_test(tc, test_shipped_annotations);
    tcase_add_test(tc, test_initdata_plain_vm);
    tcase_add_test(tc, test_bad_initdata);
    tcase_add_test(tc, test_initdata_limits);
    tcase_add_test(tc, test_render_writes_nothing);
    tcase_add_test(tc, test_sandbox_sizing);
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
    tcase_add_test(tc, test_sandbox_vm_initdata);
    tcase_add_test(tc, test_write_initdata_errors);
    tcase_add_test(tc, test_sandbox_vm_sizing);
    tcase_add_test(tc, test_overrides);
    tcase_add_test(tc, test_overhead_sizing_library);
    tcase_add_test(tc, test_verity_kernel_params);
    suite_add_tcase(s, tc);

    tc = tcase_create("kata4");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_node_initdata);
    tcase_add_test(tc, test_root_verity);
    tcase_add_test(tc, test_extension_images);
    tcase_add_test(tc, test_overhead_sizing);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_tap(render_suite());
}
