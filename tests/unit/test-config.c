/* shim/config: defaults, a full file, config.d drop-ins, errors naming file:line:col and the
 * key, config_dump read back by config_load, and the shipped SNP and TDX configurations. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/xalloc.h"
#include "shim/config.h"
#include "tests/common/run-tap.h"

/* --- a scratch directory holding cocoon.toml and config.d/ --- */

struct scratch {
    char dir[64];
    char *main; /* dir/cocoon.toml */
};

static void scratch_init(struct scratch *s)
{
    snprintf(s->dir, sizeof(s->dir), "/tmp/cocoon-config-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(s->dir));
    s->main = xasprintf("%s/cocoon.toml", s->dir);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "create %s", path);
    ck_assert_int_eq(fputs(text, f) >= 0, 1);
    ck_assert_int_eq(fclose(f), 0);
}

/* Writes dir/config.d/name, creating config.d. */
static char *write_dropin(struct scratch *s, const char *name, const char *text)
{
    _cleanup_free_ char *d = xasprintf("%s/config.d", s->dir);
    mkdir(d, 0755);
    char *path = xasprintf("%s/%s", d, name);
    write_text(path, text);
    return path;
}

static void remove_dir_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        _cleanup_free_ char *p = xasprintf("%s/%s", dir, e->d_name);
        if (unlink(p) < 0)
            rmdir(p);
    }
    closedir(d);
    rmdir(dir);
}

static void scratch_free(struct scratch *s)
{
    _cleanup_free_ char *d = xasprintf("%s/config.d", s->dir);
    remove_dir_files(d);
    remove_dir_files(s->dir);
    free(s->main);
}

static struct config *load_ok(const char *path)
{
    struct error err = ERROR_INIT;
    struct config *cfg = NULL;
    int r = config_load(path, &cfg, &err);
    ck_assert_msg(r == 0, "config_load %s: %s", path, err.msg);
    ck_assert_ptr_nonnull(cfg);
    error_clear(&err);
    return cfg;
}

/* Loads text as cocoon.toml and returns the error message (caller frees). */
static char *load_error(const char *text, int *code)
{
    struct scratch s;
    scratch_init(&s);
    write_text(s.main, text);
    struct error err = ERROR_INIT;
    struct config *cfg = NULL;
    int r = config_load(s.main, &cfg, &err);
    ck_assert_msg(r < 0, "config_load accepted:\n%s", text);
    ck_assert_ptr_null(cfg);
    if (code)
        *code = err.code;
    /* Replace the scratch path so expectations can be written without it. */
    const char *rest =
        strncmp(err.msg, s.main, strlen(s.main)) == 0 ? err.msg + strlen(s.main) : err.msg;
    char *msg = xasprintf("FILE%s", rest);
    error_clear(&err);
    scratch_free(&s);
    return msg;
}

#define KERNEL_LINE "kernel = \"/boot/vmlinux\"\n"
#define IMAGE_LINE "image = \"/boot/root.img\"\n"
#define HASH64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789ABCDEF"
#define VERITY                                                                                     \
    "root_hash=" HASH64 ",salt=00ff,data_blocks=10,data_block_size=4096,hash_block_size=4096"
/* Kata's default-initdata.toml (sha256), gzipped and base64-encoded (kata.md 2.8, vector 3) */
#define INITDATA_ANNOTATION                                                                        \
    "H4sIAAAAAAACAytLLSrOzM9TsFVQMtAz1DNQ4krMSc8vyizJyAWJFWckGpmaKXFxRackliTGcgEAwFeFLC8AAAA="

/* --- defaults --- */

START_TEST(test_defaults)
{
    struct config *cfg = config_new_defaults();
    const struct config_hypervisor *hv = &cfg->hypervisor;
    ck_assert_str_eq(hv->uri, "qemu:///system");
    ck_assert_str_eq(hv->domain_type, "kvm");
    ck_assert_str_eq(hv->emulator, "");
    ck_assert_str_eq(hv->machine_type, "q35");
    ck_assert_str_eq(hv->kernel, "");
    ck_assert_str_eq(hv->initrd, "");
    ck_assert_str_eq(hv->image, "");
    ck_assert_str_eq(hv->firmware, "");
    ck_assert_str_eq(hv->kernel_params, "");
    ck_assert_str_eq(hv->kernel_verity_params, "");
    ck_assert_uint_eq(hv->guest_extension_images.len, 0);
    ck_assert_uint_eq(hv->default_vcpus, 1);
    ck_assert_int_eq(hv->overhead_millivcpus, CONFIG_UNSET);
    ck_assert_uint_eq(hv->default_memory, 2048);
    ck_assert_int_eq(hv->overhead_memory, CONFIG_UNSET);
    ck_assert_str_eq(hv->initdata, "");
    ck_assert_int_eq(hv->tee, VM_TEE_NONE);
    ck_assert_int_eq(hv->agent_channel, VM_AGENT_VSOCK);
    ck_assert(!hv->user_network);
    ck_assert_uint_eq(hv->enable_annotations.len, 0);
    ck_assert_uint_eq(hv->valid_kernel_paths.len, 0);
    ck_assert_uint_eq(hv->valid_firmware_paths.len, 0);
    ck_assert_uint_eq(hv->snp_guest_policy, 0x30000);
    ck_assert_str_eq(hv->snp_id_block, "");
    ck_assert_str_eq(hv->snp_id_auth, "");
    ck_assert_uint_eq(hv->snp_cbitpos, 0);
    ck_assert_uint_eq(hv->snp_reduced_phys_bits, 0);
    ck_assert(!hv->snp_kernel_hashes);
    ck_assert_uint_eq(hv->tdx_policy, 0x10000000);
    ck_assert(!hv->tdx_quote_generation_service);
    ck_assert_str_eq(hv->tdx_quote_generation_service_socket, "");
    ck_assert_str_eq(hv->tdx_mr_owner, "");
    ck_assert_str_eq(hv->tdx_mr_owner_config, "");
    ck_assert_uint_eq(cfg->agent.dial_timeout, 90);
    ck_assert_uint_eq(cfg->agent.request_timeout, 60);
    ck_assert_uint_eq(cfg->agent.health_check_timeout, 90);
    ck_assert(!cfg->runtime.debug);
    ck_assert_uint_eq(cfg->runtime.create_container_timeout, 60);
    ck_assert(!cfg->runtime.experimental_force_guest_pull);
    ck_assert(!cfg->runtime.static_sandbox_resource_mgmt);
    ck_assert_uint_eq(cfg->runtime.initdata_annotation_limit_kib, 256);
    ck_assert_uint_eq(cfg->runtime.initdata_document_limit_kib, 1024);
    ck_assert_str_eq(cfg->runtime.state_dir, "/run/cocoon");
    config_free(cfg);
}
END_TEST

/* A file with only the one required key gets every default. */
START_TEST(test_minimal_file)
{
    struct scratch s;
    scratch_init(&s);
    write_text(s.main, "[hypervisor.libvirt]\n" KERNEL_LINE);
    struct config *cfg = load_ok(s.main);
    ck_assert_str_eq(cfg->hypervisor.kernel, "/boot/vmlinux");
    ck_assert_str_eq(cfg->hypervisor.uri, "qemu:///system");
    ck_assert_uint_eq(cfg->hypervisor.default_memory, 2048);
    ck_assert_uint_eq(cfg->agent.dial_timeout, 90);
    ck_assert_uint_eq(cfg->files.len, 1);
    ck_assert_str_eq(cfg->files.items[0], s.main);
    config_free(cfg);
    scratch_free(&s);
}
END_TEST

START_TEST(test_default_path)
{
    unsetenv(CONFIG_ENV);
    ck_assert_str_eq(config_default_path(), "/etc/cocoon/cocoon.toml");
    setenv(CONFIG_ENV, "", 1);
    ck_assert_str_eq(config_default_path(), "/etc/cocoon/cocoon.toml");
    setenv(CONFIG_ENV, "/tmp/x.toml", 1);
    ck_assert_str_eq(config_default_path(), "/tmp/x.toml");
    unsetenv(CONFIG_ENV);
}
END_TEST

START_TEST(test_missing_file)
{
    struct error err = ERROR_INIT;
    struct config *cfg = NULL;
    ck_assert_int_eq(config_load("/nonexistent/cocoon.toml", &cfg, &err), -1);
    ck_assert_int_eq(err.code, GRPC_NOT_FOUND);
    ck_assert_str_eq(err.msg, "open /nonexistent/cocoon.toml: No such file or directory");
    error_clear(&err);
}
END_TEST

/* --- a full file --- */

static char *b64_zeros(size_t n) /* the base64 of n zero bytes */
{
    size_t groups = (n + 2) / 3, pad = groups * 3 - n;
    char *s = xmalloc(groups * 4 + 1);
    memset(s, 'A', groups * 4);
    memset(s + groups * 4 - pad, '=', pad);
    s[groups * 4] = '\0';
    return s;
}

static char *full_text(void)
{
    _cleanup_free_ char *id_block = b64_zeros(96);
    _cleanup_free_ char *id_auth = b64_zeros(4096);
    _cleanup_free_ char *owner = b64_zeros(48);
    return xasprintf(
        "[hypervisor.libvirt]\n"
        "uri = \"qemu+unix:///system?socket=/run/x\"\n"
        "domain_type = \"qemu\"\n"
        "emulator = \"/usr/bin/qemu-system-x86_64\"\n"
        "machine_type = \"pc-q35-8.2\"\n"
        "kernel = \"/opt/cocoon/vmlinuz\"\n"
        "initrd = \"/opt/cocoon/initrd.img\"\n"
        "image = \"/opt/cocoon/rootfs.img\"\n"
        "firmware = \"/opt/cocoon/OVMF.amdsev.fd\"\n"
        "kernel_params = \"console=ttyS0 quiet\"\n"
        "guest_extension_images = [{name = \"coco\", path = \"/opt/cocoon/coco.img\", "
        "verity_params = \"" VERITY "\"}, {path = \"/opt/cocoon/gpu.img\", name = \"gpu_1\"}]\n"
        "default_vcpus = 4\n"
        "overhead_vcpus = 0.25\n"
        "default_memory = 4096\n"
        "overhead_memory = 0\n"
        "initdata = \"" INITDATA_ANNOTATION "\"\n"
        "tee = \"snp\"\n"
        "agent_channel = \"virtio-serial\"\n"
        "user_network = true\n"
        "enable_annotations = [\"default_vcpus\", \"^kernel_params$\", \"cc_init_data\"]\n"
        "valid_kernel_paths = [\"/opt/cocoon/*\"]\n"
        "valid_initrd_paths = [\"/opt/cocoon/*\", \"/srv/initrd-*\"]\n"
        "valid_image_paths = [\"/opt/cocoon/*.img\"]\n"
        "valid_firmware_paths = [\"/opt/cocoon/OVMF*.fd\"]\n"
        "snp_guest_policy = 0x30001\n"
        "snp_id_block = \"%s\"\n"
        "snp_id_auth = \"%s\"\n"
        "snp_cbitpos = 51\n"
        "snp_reduced_phys_bits = 1\n"
        "snp_kernel_hashes = true\n"
        "tdx_policy = 0x10000001\n"
        "tdx_quote_generation_service = true\n"
        "tdx_quote_generation_service_socket = \"/var/run/tdx-qgs/qgs.socket\"\n"
        "tdx_mr_owner = \"%s\"\n"
        "tdx_mr_owner_config = \"%s\"\n"
        "\n"
        "[agent]\n"
        "dial_timeout = 30\n"
        "request_timeout = 20\n"
        "health_check_timeout = 10\n"
        "\n"
        "[runtime]\n"
        "debug = true\n"
        "create_container_timeout = 600\n"
        "experimental_force_guest_pull = true\n"
        "static_sandbox_resource_mgmt = true\n"
        "initdata_annotation_limit_kib = 16384\n"
        "initdata_document_limit_kib = 1\n"
        "state_dir = \"/run/cocoon-test\"\n",
        id_block, id_auth, owner, owner);
}

static void assert_list(const struct config_list *l, size_t n, const char *const *want)
{
    ck_assert_uint_eq(l->len, n);
    for (size_t i = 0; i < n; i++)
        ck_assert_str_eq(l->items[i], want[i]);
}

START_TEST(test_full_file)
{
    struct scratch s;
    scratch_init(&s);
    _cleanup_free_ char *text = full_text();
    write_text(s.main, text);
    struct config *cfg = load_ok(s.main);
    const struct config_hypervisor *hv = &cfg->hypervisor;
    ck_assert_str_eq(hv->uri, "qemu+unix:///system?socket=/run/x");
    ck_assert_str_eq(hv->domain_type, "qemu");
    ck_assert_str_eq(hv->emulator, "/usr/bin/qemu-system-x86_64");
    ck_assert_str_eq(hv->machine_type, "pc-q35-8.2");
    ck_assert_str_eq(hv->kernel, "/opt/cocoon/vmlinuz");
    ck_assert_str_eq(hv->initrd, "/opt/cocoon/initrd.img");
    ck_assert_str_eq(hv->image, "/opt/cocoon/rootfs.img");
    ck_assert_str_eq(hv->firmware, "/opt/cocoon/OVMF.amdsev.fd");
    ck_assert_str_eq(hv->kernel_params, "console=ttyS0 quiet");
    ck_assert_uint_eq(hv->default_vcpus, 4);
    ck_assert_int_eq(hv->overhead_millivcpus, 250);
    ck_assert_uint_eq(hv->default_memory, 4096);
    ck_assert_int_eq(hv->overhead_memory, 0);
    ck_assert_uint_eq(hv->guest_extension_images.len, 2);
    ck_assert_str_eq(hv->guest_extension_images.items[0].name, "coco");
    ck_assert_str_eq(hv->guest_extension_images.items[0].path, "/opt/cocoon/coco.img");
    ck_assert_str_eq(hv->guest_extension_images.items[0].verity_params, VERITY);
    ck_assert_str_eq(hv->guest_extension_images.items[1].name, "gpu_1");
    ck_assert_str_eq(hv->guest_extension_images.items[1].verity_params, "");
    ck_assert_str_eq(hv->initdata, INITDATA_ANNOTATION);
    ck_assert_int_eq(hv->tee, VM_TEE_SNP);
    ck_assert_int_eq(hv->agent_channel, VM_AGENT_SERIAL);
    ck_assert(hv->user_network);
    assert_list(&hv->enable_annotations, 3,
                (const char *const[]){"default_vcpus", "^kernel_params$", "cc_init_data"});
    assert_list(&hv->valid_kernel_paths, 1, (const char *const[]){"/opt/cocoon/*"});
    assert_list(&hv->valid_initrd_paths, 2,
                (const char *const[]){"/opt/cocoon/*", "/srv/initrd-*"});
    assert_list(&hv->valid_image_paths, 1, (const char *const[]){"/opt/cocoon/*.img"});
    assert_list(&hv->valid_firmware_paths, 1, (const char *const[]){"/opt/cocoon/OVMF*.fd"});
    ck_assert_uint_eq(hv->snp_guest_policy, 0x30001);
    ck_assert_uint_eq(strlen(hv->snp_id_block), 128);
    ck_assert_uint_eq(strlen(hv->snp_id_auth), 5464);
    ck_assert_uint_eq(hv->snp_cbitpos, 51);
    ck_assert_uint_eq(hv->snp_reduced_phys_bits, 1);
    ck_assert(hv->snp_kernel_hashes);
    ck_assert_uint_eq(hv->tdx_policy, 0x10000001);
    ck_assert(hv->tdx_quote_generation_service);
    ck_assert_str_eq(hv->tdx_quote_generation_service_socket, "/var/run/tdx-qgs/qgs.socket");
    ck_assert_uint_eq(strlen(hv->tdx_mr_owner), 64);
    ck_assert_uint_eq(strlen(hv->tdx_mr_owner_config), 64);
    ck_assert_uint_eq(cfg->agent.dial_timeout, 30);
    ck_assert_uint_eq(cfg->agent.request_timeout, 20);
    ck_assert_uint_eq(cfg->agent.health_check_timeout, 10);
    ck_assert(cfg->runtime.debug);
    ck_assert_uint_eq(cfg->runtime.create_container_timeout, 600);
    ck_assert(cfg->runtime.experimental_force_guest_pull);
    ck_assert(cfg->runtime.static_sandbox_resource_mgmt);
    ck_assert_uint_eq(cfg->runtime.initdata_annotation_limit_kib, 16384);
    ck_assert_uint_eq(cfg->runtime.initdata_document_limit_kib, 1);
    struct initdata_limits lim;
    config_initdata_limits(cfg, &lim);
    ck_assert_uint_eq(lim.max_annotation, 16384 * 1024);
    ck_assert_uint_eq(lim.max_decompressed, 1024);
    ck_assert_str_eq(lim.max_annotation_name, "[runtime] initdata_annotation_limit_kib");
    ck_assert_str_eq(lim.max_decompressed_name, "[runtime] initdata_document_limit_kib");
    ck_assert_str_eq(cfg->runtime.state_dir, "/run/cocoon-test");
    config_free(cfg);
    scratch_free(&s);
}
END_TEST

/* The shipped development configuration loads. */
START_TEST(test_shipped_dev_config)
{
    struct config *cfg = load_ok(COCOON_CONFIGS_DIR "/cocoon-dev.toml");
    const struct config_hypervisor *hv = &cfg->hypervisor;
    ck_assert_str_eq(hv->domain_type, "qemu");
    ck_assert_str_eq(hv->machine_type, "pc");
    ck_assert_int_eq(hv->agent_channel, VM_AGENT_SERIAL);
    ck_assert_int_eq(hv->tee, VM_TEE_NONE);
    ck_assert_str_eq(hv->kernel, "/usr/share/cocoon/guest/vmlinux");
    ck_assert_str_eq(hv->initrd, "/usr/share/cocoon/guest/initramfs.cpio.gz");
    ck_assert_uint_eq(hv->default_memory, 512);
    ck_assert(!hv->user_network); /* the pod's network only; tests add user networking */
    ck_assert_str_eq(hv->kernel_params, "console=ttyS0 panic=-1 quiet");
    assert_list(&hv->enable_annotations, 3,
                (const char *const[]){"default_vcpus", "default_memory", "kernel_params"});
    config_free(cfg);
}
END_TEST

/* --- drop-ins --- */

START_TEST(test_dropins_in_lexical_order)
{
    struct scratch s;
    scratch_init(&s);
    write_text(s.main, "[hypervisor.libvirt]\n" KERNEL_LINE "default_vcpus = 2\n"
                       "default_memory = 1024\n"
                       "enable_annotations = [\"a\", \"b\"]\n"
                       "[agent]\ndial_timeout = 5\n");
    /* Written out of order: the loader sorts. */
    _cleanup_free_ char *p20 =
        write_dropin(&s, "20-second.toml", "[hypervisor.libvirt]\ndefault_vcpus = 8\n");
    _cleanup_free_ char *p10 = write_dropin(&s, "10-first.toml",
                                            "[hypervisor.libvirt]\ndefault_vcpus = 4\n"
                                            "enable_annotations = [\"c\"]\n"
                                            "[runtime]\ndebug = true\n");
    /* Not drop-ins: another suffix, a hidden file, a directory. */
    _cleanup_free_ char *other = write_dropin(&s, "30-x.toml.bak", "junk = 1\n");
    _cleanup_free_ char *hidden = write_dropin(&s, ".40-hidden.toml", "junk = 1\n");
    _cleanup_free_ char *sub = xasprintf("%s/config.d/50-dir.toml", s.dir);
    ck_assert_int_eq(mkdir(sub, 0755), 0);

    struct config *cfg = load_ok(s.main);
    ck_assert_uint_eq(cfg->hypervisor.default_vcpus, 8);     /* 20 after 10 */
    ck_assert_uint_eq(cfg->hypervisor.default_memory, 1024); /* tables merge key by key */
    assert_list(&cfg->hypervisor.enable_annotations, 1,      /* arrays replace */
                (const char *const[]){"c"});
    ck_assert_uint_eq(cfg->agent.dial_timeout, 5);
    ck_assert(cfg->runtime.debug);
    ck_assert_uint_eq(cfg->files.len, 3);
    ck_assert_str_eq(cfg->files.items[0], s.main);
    ck_assert_str_eq(cfg->files.items[1], p10);
    ck_assert_str_eq(cfg->files.items[2], p20);
    config_free(cfg);
    scratch_free(&s);
}
END_TEST

/* A drop-in may supply what the main file lacks, and its mistakes name the drop-in. */
START_TEST(test_dropin_errors_name_the_dropin)
{
    struct scratch s;
    scratch_init(&s);
    write_text(s.main, "[runtime]\ndebug = true\n");
    _cleanup_free_ char *p =
        write_dropin(&s, "10-kernel.toml", "[hypervisor.libvirt]\n" KERNEL_LINE);
    struct config *cfg = load_ok(s.main);
    ck_assert_str_eq(cfg->hypervisor.kernel, "/boot/vmlinux");
    config_free(cfg);

    _cleanup_free_ char *bad = write_dropin(&s, "20-bad.toml", "\n[agent]\ndial_timeout = 0\n");
    struct error err = ERROR_INIT;
    ck_assert_int_eq(config_load(s.main, &cfg, &err), -1);
    _cleanup_free_ char *want =
        xasprintf("%s:3:1: agent.dial_timeout: must be an integer from 1 to 86400, got 0", bad);
    ck_assert_str_eq(err.msg, want);
    error_clear(&err);
    scratch_free(&s);
}
END_TEST

/* The keys of Kata 4.x parity: the node's init-data in either form, checked against limits a
 * later drop-in sets; dm-verity for the root; extension images a drop-in replaces. */
START_TEST(test_initdata_verity_extensions)
{
    struct scratch s;
    scratch_init(&s);
    write_text(s.main, "[hypervisor.libvirt]\n" KERNEL_LINE IMAGE_LINE
                       "kernel_verity_params = \"" VERITY "\"\n"
                       "initdata = '''\nversion = \"0.1.0\"\nalgorithm = \"sha384\"\n[data]\n"
                       "\"a.toml\" = \"x\"\n'''\n"
                       "[[hypervisor.libvirt.guest_extension_images]]\n"
                       "name = \"coco\"\npath = \"/a.img\"\n");
    struct config *cfg = load_ok(s.main);
    const struct config_hypervisor *hv = &cfg->hypervisor;
    ck_assert_str_eq(hv->kernel_verity_params, VERITY);
    ck_assert_str_eq(hv->initdata, "version = \"0.1.0\"\nalgorithm = \"sha384\"\n[data]\n"
                                   "\"a.toml\" = \"x\"\n");
    struct initdata *d = NULL;
    struct error err = ERROR_INIT;
    ck_assert_int_eq(config_default_initdata(cfg, &d, &err), 0);
    ck_assert_ptr_nonnull(d);
    ck_assert_int_eq(d->alg, INITDATA_SHA384);
    ck_assert_uint_eq(d->raw_len, strlen(hv->initdata)); /* the text itself is digested */
    initdata_free(d);
    ck_assert_uint_eq(hv->guest_extension_images.len, 1);
    config_free(cfg);

    /* A drop-in's array replaces the list; its limit applies to the main file's init-data. */
    _cleanup_free_ char *p = write_dropin(&s, "50-ext.toml",
                                          "[[hypervisor.libvirt.guest_extension_images]]\n"
                                          "name = \"gpu\"\npath = \"/g.img\"\n"
                                          "[[hypervisor.libvirt.guest_extension_images]]\n"
                                          "name = \"coco\"\npath = \"/c.img\"\n");
    cfg = load_ok(s.main);
    ck_assert_uint_eq(cfg->hypervisor.guest_extension_images.len, 2);
    ck_assert_str_eq(cfg->hypervisor.guest_extension_images.items[0].name, "gpu");
    ck_assert_str_eq(cfg->hypervisor.guest_extension_images.items[1].path, "/c.img");
    config_free(cfg);
    /* The limits are the loaded configuration's, whichever file sets them. */
    _cleanup_free_ char *big = xasprintf("[hypervisor.libvirt]\ninitdata = \"\"\"version = "
                                         "\"0.1.0\"\nalgorithm = \"sha256\"\n[data]\nx = "
                                         "\"%01100d\"\n\"\"\"\n",
                                         0);
    _cleanup_free_ char *q = write_dropin(&s, "60-big.toml", big);
    cfg = load_ok(s.main);
    config_free(cfg);
    _cleanup_free_ char *r =
        write_dropin(&s, "70-limit.toml", "[runtime]\ninitdata_document_limit_kib = 1\n");
    ck_assert_int_eq(config_load(s.main, &cfg, &err), -1);
    _cleanup_free_ char *want =
        xasprintf("%s:2:1: hypervisor.libvirt.initdata: init-data: document is 1153 bytes, over "
                  "the 1024-byte limit set by [runtime] initdata_document_limit_kib",
                  q);
    ck_assert_str_eq(err.msg, want);
    error_clear(&err);
    scratch_free(&s);
}
END_TEST

/* --- errors --- */

struct bad_case {
    const char *text;
    const char *want; /* the whole message, with FILE for the path */
};

static const struct bad_case bad_cases[] = {
    {"[hypervisor.libvirt]\n" KERNEL_LINE "kernal = \"/x\"\n",
     "FILE:3:1: unknown key \"hypervisor.libvirt.kernal\""},
    {"[hypervisor.qemu]\npath = \"/x\"\n", "FILE:1:13: unknown key \"hypervisor.qemu\""},
    {"debug = true\n", "FILE:1:1: unknown key \"debug\""},
    {"\"hypervisor.libvirt\" = {kernel = \"/k\"}\n",
     "FILE:1:1: unknown key \"hypervisor.libvirt\""},
    {"[runtime]\ndebug = true\nstate = \"/x\"\n", "FILE:3:1: unknown key \"runtime.state\""},
    {"hypervisor = 1\n", "FILE:1:1: hypervisor: must be a table, got 1"},
    {"[[agent]]\ndial_timeout = 1\n", "FILE:1:3: agent: must be a table, got an array"},
    {"[hypervisor.libvirt]\n" KERNEL_LINE "default_vcpus = \"two\"\n",
     "FILE:3:1: hypervisor.libvirt.default_vcpus: must be an integer from 1 to 512, got \"two\""},
    {"[hypervisor.libvirt]\n" KERNEL_LINE "default_vcpus = 513\n",
     "FILE:3:1: hypervisor.libvirt.default_vcpus: must be an integer from 1 to 512, got 513"},
    {"[hypervisor.libvirt]\n" KERNEL_LINE "default_memory = 2.5\n",
     "FILE:3:1: hypervisor.libvirt.default_memory: must be an integer from 128 to 4194304, got "
     "2.5"},
    {"[hypervisor.libvirt]\n" KERNEL_LINE "user_network = \"yes\"\n",
     "FILE:3:1: hypervisor.libvirt.user_network: must be true or false, got \"yes\""},
    {"[hypervisor.libvirt]\n" KERNEL_LINE "uri = 5\n",
     "FILE:3:1: hypervisor.libvirt.uri: must be a non-empty string, got 5"},
    {"[hypervisor.libvirt]\n" KERNEL_LINE "tee = \"sev\"\n",
     "FILE:3:1: hypervisor.libvirt.tee: must be one of \"none\", \"snp\", \"tdx\", got \"sev\""},
    {"[hypervisor.libvirt]\n" KERNEL_LINE "agent_channel = \"serial\"\n",
     "FILE:3:1: hypervisor.libvirt.agent_channel: must be one of \"vsock\", \"virtio-serial\", "
     "got \"serial\""},
    {"[hypervisor.libvirt]\n" KERNEL_LINE "domain_type = \"xen\"\n",
     "FILE:3:1: hypervisor.libvirt.domain_type: must be one of \"kvm\", \"qemu\", got \"xen\""},
    {"[hypervisor.libvirt]\n" KERNEL_LINE "enable_annotations = [\"ok\", \"(\"]\n",
     "FILE:3:29: hypervisor.libvirt.enable_annotations[1]: invalid regular expression \"(\": "},
    {"[hypervisor.libvirt]\n" KERNEL_LINE "enable_annotations = \"default_vcpus\"\n",
     "FILE:3:1: hypervisor.libvirt.enable_annotations: must be an array of strings, got "
     "\"default_vcpus\""},
    {"[hypervisor.libvirt]\n" KERNEL_LINE "enable_annotations = [1]\n",
     "FILE:3:23: hypervisor.libvirt.enable_annotations[0]: must be a string, got 1"},
    {"[hypervisor.libvirt]\n" KERNEL_LINE "valid_kernel_paths = [\"vmlinux*\"]\n",
     "FILE:3:23: hypervisor.libvirt.valid_kernel_paths[0]: must be a glob on absolute paths, got "
     "\"vmlinux*\""},
    {"[hypervisor.libvirt]\nkernel = \"vmlinux\"\n",
     "FILE:2:1: hypervisor.libvirt.kernel: must be an absolute path, or \"\" for none, got "
     "\"vmlinux\""},
    {"[hypervisor.libvirt]\n" KERNEL_LINE "firmware = \"./OVMF.fd\"\n",
     "FILE:3:1: hypervisor.libvirt.firmware: must be an absolute path, or \"\" for none, got "
     "\"./OVMF.fd\""},
    {"[hypervisor.libvirt]\n" KERNEL_LINE "[runtime]\nstate_dir = \"\"\n",
     "FILE:4:1: runtime.state_dir: must be an absolute path, got \"\""},
    {"[agent]\nrequest_timeout = -1\n[hypervisor.libvirt]\n" KERNEL_LINE,
     "FILE:2:1: agent.request_timeout: must be an integer from 1 to 86400, got -1"},
    /* the init-data limits: at least 1 KiB, at most what a config.json may hold (16 MiB) */
    {"[hypervisor.libvirt]\n" KERNEL_LINE "[runtime]\ninitdata_annotation_limit_kib = 0\n",
     "FILE:4:1: runtime.initdata_annotation_limit_kib: must be an integer from 1 to 16384, got 0"},
    {"[hypervisor.libvirt]\n" KERNEL_LINE "[runtime]\ninitdata_document_limit_kib = 16385\n",
     "FILE:4:1: runtime.initdata_document_limit_kib: must be an integer from 1 to 16384, got "
     "16385"},
    {"[hypervisor.libvirt]\n" KERNEL_LINE "snp_cbitpos = 64\n",
     "FILE:3:1: hypervisor.libvirt.snp_cbitpos: must be an integer from 0 to 63, got 64"},
    {"[hypervisor.libvirt]\n" KERNEL_LINE "snp_guest_policy = 0x10000\n",
     "FILE:3:1: hypervisor.libvirt.snp_guest_policy: 0x10000: bit 17 is reserved and must be set "
     "(the usual policy is 0x30000)"},
    {"[hypervisor.libvirt]\n" KERNEL_LINE "tdx_policy = 2\n",
     "FILE:3:1: hypervisor.libvirt.tdx_policy: 0x2: only bit 0 (debug) and bit 28 "
     "(sept-ve-disable) may be set"},
    {"[hypervisor.libvirt]\n" KERNEL_LINE "tdx_mr_owner = \"AAAA\"\n",
     "FILE:3:1: hypervisor.libvirt.tdx_mr_owner: must be the base64 of 48 bytes, or \"\" for "
     "none, got \"AAAA\""},
    {"[hypervisor.libvirt]\ndefault_vcpus = 2\n",
     "FILE: hypervisor.libvirt.kernel: required: the guest kernel, booted directly (an absolute "
     "path)"},
    {"[hypervisor.libvirt]\n" KERNEL_LINE "tee = \"snp\"\n",
     "FILE:3:1: hypervisor.libvirt.tee: \"snp\" needs hypervisor.libvirt.firmware (an OVMF "
     "AmdSev build, loaded as ROM)"},
    {"[hypervisor.libvirt]\n" KERNEL_LINE "tee = \"tdx\"\nfirmware = \"/f.fd\"\nmachine_type = "
     "\"pc\"\n",
     "FILE:5:1: hypervisor.libvirt.machine_type: \"pc\": a TDX guest needs q35"},
    {"[hypervisor.libvirt]\n" KERNEL_LINE "snp_id_auth = \"\"\nsnp_id_block = \""
     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"\n",
     "FILE:4:1: hypervisor.libvirt.snp_id_block: snp_id_block and snp_id_auth go together: set "
     "both or neither"},
    {"[hypervisor.libvirt]\n" KERNEL_LINE "default_vcpus = \n",
     "FILE:3:17: unexpected newline, expected a value"},
    /* kernel_verity_params: each field checked, by name */
    {"[hypervisor.libvirt]\n" KERNEL_LINE IMAGE_LINE "kernel_verity_params = \"root_hash=abc\"\n",
     "FILE:4:1: hypervisor.libvirt.kernel_verity_params: root_hash \"abc\": want the sha256 root "
     "hash, 64 hex digits"},
    {"[hypervisor.libvirt]\n" KERNEL_LINE IMAGE_LINE "kernel_verity_params = \"root_hash=" HASH64
     ",salt=0g\"\n",
     "FILE:4:1: hypervisor.libvirt.kernel_verity_params: salt \"0g\": want an even number of hex "
     "digits (at most 512), or \"-\" for none"},
    {"[hypervisor.libvirt]\n" KERNEL_LINE IMAGE_LINE "kernel_verity_params = \"root_hash=" HASH64
     ",salt=00,data_blocks=0x10\"\n",
     "FILE:4:1: hypervisor.libvirt.kernel_verity_params: data_blocks \"0x10\": want a decimal "
     "number"},
    {"[hypervisor.libvirt]\n" KERNEL_LINE IMAGE_LINE "kernel_verity_params = \"root_hash=" HASH64
     ",salt=00,data_blocks=0\"\n",
     "FILE:4:1: hypervisor.libvirt.kernel_verity_params: data_blocks \"0\": must not be 0"},
    {"[hypervisor.libvirt]\n" KERNEL_LINE IMAGE_LINE "kernel_verity_params = \"root_hash=" HASH64
     ",salt=00,data_blocks=8,data_block_size=1536\"\n",
     "FILE:4:1: hypervisor.libvirt.kernel_verity_params: data_block_size \"1536\": want a power "
     "of two from 512 to 4096 bytes"},
    {"[hypervisor.libvirt]\n" KERNEL_LINE IMAGE_LINE "kernel_verity_params = \"root_hash=" HASH64
     ",salt=00,data_blocks=8,data_block_size=4096,hash_block_size=8192\"\n",
     "FILE:4:1: hypervisor.libvirt.kernel_verity_params: hash_block_size \"8192\": want a power "
     "of two from 512 to 4096 bytes"},
    {"[hypervisor.libvirt]\n" KERNEL_LINE IMAGE_LINE "kernel_verity_params = \"root_hash=" HASH64
     ",salt=00,data_blocks=8,data_block_size=4096\"\n",
     "FILE:4:1: hypervisor.libvirt.kernel_verity_params: hash_block_size: missing"},
    {"[hypervisor.libvirt]\n" KERNEL_LINE IMAGE_LINE "kernel_verity_params = \"" VERITY
     ",salt=00\"\n",
     "FILE:4:1: hypervisor.libvirt.kernel_verity_params: salt: given twice"},
    {"[hypervisor.libvirt]\n" KERNEL_LINE IMAGE_LINE "kernel_verity_params = \"" VERITY
     ",hash_offset=0\"\n",
     "FILE:4:1: hypervisor.libvirt.kernel_verity_params: \"hash_offset=0\": not one of "
     "root_hash=, salt=, data_blocks=, data_block_size=, hash_block_size="},
    {"[hypervisor.libvirt]\n" KERNEL_LINE IMAGE_LINE "kernel_verity_params = \"" VERITY " ro\"\n",
     "FILE:4:1: hypervisor.libvirt.kernel_verity_params: \"" VERITY " ro\": holds a space or a "
     "quote; want root_hash=...,salt=...,data_blocks=...,data_block_size=...,hash_block_size=..."},
    {"[hypervisor.libvirt]\n" KERNEL_LINE "kernel_verity_params = \"" VERITY "\"\n",
     "FILE:3:1: hypervisor.libvirt.kernel_verity_params: needs the VM to boot from "
     "hypervisor.libvirt.image (set none), whose partitions 1 and 2 hold the root and its hash "
     "tree"},
    {"[hypervisor.libvirt]\n" KERNEL_LINE IMAGE_LINE
     "initrd = \"/i\"\nkernel_verity_params = \"" VERITY "\"\n",
     "FILE:5:1: hypervisor.libvirt.kernel_verity_params: needs the VM to boot from "
     "hypervisor.libvirt.image (and no initrd), whose partitions 1 and 2 hold the root and its "
     "hash tree"},
    {"[hypervisor.libvirt]\n" KERNEL_LINE IMAGE_LINE "kernel_params = \"rootfstype=btrfs\"\n"
     "kernel_verity_params = \"" VERITY "\"\n",
     "FILE:5:1: hypervisor.libvirt.kernel_verity_params: rootfstype \"btrfs\" in kernel_params: "
     "a dm-verity root is ext4, xfs or erofs"},
    /* guest_extension_images */
    {"[hypervisor.libvirt]\n" KERNEL_LINE "[[hypervisor.libvirt.guest_extension_images]]\n"
     "name = \"a.b\"\npath = \"/x\"\n",
     "FILE:4:1: hypervisor.libvirt.guest_extension_images[0].name: must be 1 to 10 ASCII "
     "letters, digits, '-' or '_' (it names the virtio-blk serial extension-<name>, at most 20 "
     "bytes, and the kernel parameter kata.extension.<name>.verity_params), got \"a.b\""},
    {"[hypervisor.libvirt]\n" KERNEL_LINE "[[hypervisor.libvirt.guest_extension_images]]\n"
     "name = \"elevenchars\"\npath = \"/x\"\n",
     "FILE:4:1: hypervisor.libvirt.guest_extension_images[0].name: must be 1 to 10 ASCII "
     "letters, digits, '-' or '_' (it names the virtio-blk serial extension-<name>, at most 20 "
     "bytes, and the kernel parameter kata.extension.<name>.verity_params), got \"elevenchars\""},
    {"[hypervisor.libvirt]\n" KERNEL_LINE "[[hypervisor.libvirt.guest_extension_images]]\n"
     "name = \"coco\"\npath = \"coco.img\"\n",
     "FILE:5:1: hypervisor.libvirt.guest_extension_images[0].path: must be an absolute path, got "
     "\"coco.img\""},
    {"[hypervisor.libvirt]\n" KERNEL_LINE "[[hypervisor.libvirt.guest_extension_images]]\n"
     "name = \"coco\"\n",
     "FILE:3:1: hypervisor.libvirt.guest_extension_images[0]: needs a path (an absolute path)"},
    {"[hypervisor.libvirt]\n" KERNEL_LINE "[[hypervisor.libvirt.guest_extension_images]]\n"
     "path = \"/x\"\nverity = \"\"\n",
     "FILE:5:1: unknown key \"hypervisor.libvirt.guest_extension_images[0].verity\" (an extension "
     "has name, path and verity_params)"},
    {"[hypervisor.libvirt]\n" KERNEL_LINE "[[hypervisor.libvirt.guest_extension_images]]\n"
     "name = \"coco\"\npath = \"/x\"\nverity_params = \"root_hash=" HASH64 "\"\n",
     "FILE:6:1: hypervisor.libvirt.guest_extension_images[0].verity_params: salt: missing"},
    {"[hypervisor.libvirt]\n" KERNEL_LINE "[[hypervisor.libvirt.guest_extension_images]]\n"
     "name = \"coco\"\npath = \"/x\"\n[[hypervisor.libvirt.guest_extension_images]]\n"
     "name = \"coco\"\npath = \"/y\"\n",
     "FILE:6:1: hypervisor.libvirt.guest_extension_images[1]: name \"coco\" is already "
     "hypervisor.libvirt.guest_extension_images[0]'s (the guest finds each extension by its "
     "name)"},
    {"[hypervisor.libvirt]\n" KERNEL_LINE "guest_extension_images = [\"/x\"]\n",
     "FILE:3:27: hypervisor.libvirt.guest_extension_images[0]: must be a table, got \"/x\""},
    {"[hypervisor.libvirt]\n" KERNEL_LINE "guest_extension_images = \"/x\"\n",
     "FILE:3:1: hypervisor.libvirt.guest_extension_images: must be an array of tables "
     "([[hypervisor.libvirt.guest_extension_images]]), got \"/x\""},
    /* the overheads */
    {"[hypervisor.libvirt]\n" KERNEL_LINE "overhead_vcpus = 0.0001\n",
     "FILE:3:1: hypervisor.libvirt.overhead_vcpus: must be a number of vCPUs from 0 to 512 (at "
     "most 3 decimals), or -1 for none, got 0.0001"},
    {"[hypervisor.libvirt]\n" KERNEL_LINE "overhead_vcpus = -0.5\n",
     "FILE:3:1: hypervisor.libvirt.overhead_vcpus: must be a number of vCPUs from 0 to 512 (at "
     "most 3 decimals), or -1 for none, got -0.5"},
    {"[hypervisor.libvirt]\n" KERNEL_LINE "overhead_vcpus = 512.5\n",
     "FILE:3:1: hypervisor.libvirt.overhead_vcpus: must be a number of vCPUs from 0 to 512 (at "
     "most 3 decimals), or -1 for none, got 512.5"},
    {"[hypervisor.libvirt]\n" KERNEL_LINE "overhead_vcpus = nan\n",
     "FILE:3:1: hypervisor.libvirt.overhead_vcpus: must be a number of vCPUs from 0 to 512 (at "
     "most 3 decimals), or -1 for none, got nan"},
    {"[hypervisor.libvirt]\n" KERNEL_LINE "overhead_vcpus = \"0.4\"\n",
     "FILE:3:1: hypervisor.libvirt.overhead_vcpus: must be a number of vCPUs from 0 to 512 (at "
     "most 3 decimals), or -1 for none, got \"0.4\""},
    {"[hypervisor.libvirt]\n" KERNEL_LINE "overhead_memory = -2\n",
     "FILE:3:1: hypervisor.libvirt.overhead_memory: must be an integer from 0 to 4194304 (MiB), "
     "or -1 for none, got -2"},
    {"[hypervisor.libvirt]\n" KERNEL_LINE "overhead_memory = 128.5\n",
     "FILE:3:1: hypervisor.libvirt.overhead_memory: must be an integer from 0 to 4194304 (MiB), "
     "or -1 for none, got 128.5"},
    /* the node's init-data: validated as the annotation would be, within the limits */
    {"[hypervisor.libvirt]\n" KERNEL_LINE "initdata = \"" INITDATA_ANNOTATION "x\"\n",
     "FILE:3:1: hypervisor.libvirt.initdata: init-data: "},
    {"[hypervisor.libvirt]\n" KERNEL_LINE
     "initdata = \"\"\"version = \"0.1.0\"\nalgorithm = \"md5\"\n[data]\n\"\"\"\n",
     "FILE:3:1: hypervisor.libvirt.initdata: init-data: algorithm \"md5\" is not one of sha256, "
     "sha384, sha512"},
    {"[hypervisor.libvirt]\n" KERNEL_LINE
     "initdata = '''\nversion = \"0.1.0\"\nalgorithm = \"sha256\"\n[data]\nx = 1\n'''\n",
     "FILE:3:1: hypervisor.libvirt.initdata: init-data: "},
    {"[runtime]\ninitdata_annotation_limit_kib = 1\ninitdata_document_limit_kib = 1\n"
     "[hypervisor.libvirt]\n" KERNEL_LINE "initdata = \"version = 1 #"
     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
     "\"\n",
     "FILE:6:1: hypervisor.libvirt.initdata: init-data: document is 1117 bytes, over the "
     "1024-byte limit set by [runtime] initdata_document_limit_kib"},
};

START_TEST(test_errors)
{
    const struct bad_case *c = &bad_cases[_i];
    int code = -1;
    _cleanup_free_ char *msg = load_error(c->text, &code);
    ck_assert_int_eq(code, GRPC_INVALID_ARGUMENT);
    /* The regex case ends with regerror's text, which the C library words. */
    ck_assert_msg(strncmp(msg, c->want, strlen(c->want)) == 0 &&
                      (strlen(msg) == strlen(c->want) || c->want[strlen(c->want) - 1] == ' '),
                  "case %d:\n got: %s\nwant: %s", _i, msg, c->want);
}
END_TEST

/* --- dump --- */

static char *dump_to_string(const struct config *cfg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    config_dump(cfg, f);
    ck_assert_int_eq(fclose(f), 0);
    return buf;
}

/* Without the leading comment lines, which name the files read. */
static const char *body(const char *dump)
{
    const char *p = dump;
    while (*p == '#')
        p = strchr(p, '\n') + 1;
    return p;
}

static void assert_round_trip(const char *text)
{
    struct scratch s;
    scratch_init(&s);
    write_text(s.main, text);
    struct config *cfg = load_ok(s.main);
    _cleanup_free_ char *first = dump_to_string(cfg);
    config_free(cfg);

    _cleanup_free_ char *again = xasprintf("%s/again.toml", s.dir);
    write_text(again, first);
    cfg = load_ok(again);
    _cleanup_free_ char *second = dump_to_string(cfg);
    config_free(cfg);
    ck_assert_str_eq(body(second), body(first));
    ck_assert_msg(strstr(first, s.main) != NULL, "the dump names its file:\n%s", first);
    scratch_free(&s);
}

START_TEST(test_dump_round_trip_full)
{
    _cleanup_free_ char *text = full_text();
    assert_round_trip(text);
}
END_TEST

START_TEST(test_dump_round_trip_escapes)
{
    assert_round_trip("[hypervisor.libvirt]\n" KERNEL_LINE
                      "kernel_params = \"a=\\\"quoted\\\" b=\\\\back\\tslash c=\\u00e9\\u0001\"\n"
                      "enable_annotations = [\"^default_(vcpus|memory)$\", \"a\\\\.b\"]\n");
}
END_TEST

START_TEST(test_dump_shows_values)
{
    struct scratch s;
    scratch_init(&s);
    write_text(s.main, "[hypervisor.libvirt]\n" KERNEL_LINE "tee = \"tdx\"\n"
                       "firmware = \"/fw/TDVF.fd\"\nenable_annotations = [\"x\"]\n");
    struct config *cfg = load_ok(s.main);
    _cleanup_free_ char *d = dump_to_string(cfg);
    ck_assert_ptr_nonnull(strstr(d, "\n[hypervisor.libvirt]\n"));
    ck_assert_ptr_nonnull(strstr(d, "\nkernel = \"/boot/vmlinux\"\n"));
    ck_assert_ptr_nonnull(strstr(d, "\ntee = \"tdx\"\n"));
    ck_assert_ptr_nonnull(strstr(d, "\nenable_annotations = [\"x\"]\n"));
    ck_assert_ptr_nonnull(strstr(d, "\ntdx_policy = 0x10000000\n"));
    ck_assert_ptr_nonnull(strstr(d, "\n[agent]\ndial_timeout = 90\n"));
    ck_assert_ptr_nonnull(strstr(d, "\nstate_dir = \"/run/cocoon\"\n"));
    config_free(cfg);
    scratch_free(&s);
}
END_TEST

/* --- the shipped TEE configurations --- */

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "open %s", path);
    char *buf = NULL;
    size_t cap = 0;
    ssize_t n = getdelim(&buf, &cap, '\0', f);
    ck_assert_int_gt(n, 0);
    fclose(f);
    return buf;
}

/* Every key config_dump knows (one "section.key" per line of the result; caller frees), except
 * those starting with skip ("tdx_" in the SNP file). */
static char *known_keys(const char *skip)
{
    struct config *cfg = config_new_defaults();
    _cleanup_free_ char *dump = dump_to_string(cfg);
    config_free(cfg);
    char *out = xstrdup("");
    char section[64] = "";
    for (char *line = strtok(dump, "\n"); line; line = strtok(NULL, "\n")) {
        char key[64];
        if (sscanf(line, "[%63[^]]]", section) == 1 || line[0] == '#')
            continue;
        ck_assert_int_eq(sscanf(line, "%63[a-z0-9_] =", key), 1);
        if (strncmp(key, skip, strlen(skip)) == 0)
            continue;
        char *next = xasprintf("%s%s.%s\n", out, section, key);
        free(out);
        out = next;
    }
    return out;
}

/* The file sets every key (but the other TEE's), each key or run of keys right under its own
 * comment, like cocoon-dev.toml. */
static void assert_documented(const char *path, const char *other_tee)
{
    _cleanup_free_ char *text = read_text(path);
    _cleanup_free_ char *want = known_keys(other_tee);
    _cleanup_free_ char *got = xstrdup("");
    char section[64] = "";
    const char *prev = "";
    char *rest = text;
    for (char *line; (line = strsep(&rest, "\n")); prev = line) {
        char key[64];
        if (line[0] == '\0' || line[0] == '#' || sscanf(line, "[%63[^]]]", section) == 1)
            continue;
        ck_assert_msg(sscanf(line, "%63[a-z0-9_] = ", key) == 1, "%s: odd line: %s", path, line);
        ck_assert_msg(prev[0] == '#' || sscanf(prev, "%*[a-z0-9_] =%c", &(char){0}) == 1,
                      "%s: %s has no comment above it", path, key);
        char *next = xasprintf("%s%s.%s\n", got, section, key);
        free(got);
        got = next;
    }
    ck_assert_str_eq(got, want);
}

START_TEST(test_shipped_snp_config)
{
    const char *path = COCOON_CONFIGS_DIR "/cocoon-snp.toml";
    struct config *cfg = load_ok(path);
    const struct config_hypervisor *hv = &cfg->hypervisor;
    ck_assert_int_eq(hv->tee, VM_TEE_SNP);
    ck_assert_str_eq(hv->domain_type, "kvm");
    ck_assert_str_eq(hv->machine_type, "q35");
    ck_assert_str_eq(hv->firmware, "/opt/kata/share/ovmf/AMDSEV.fd");
    ck_assert_str_eq(hv->kernel, "/opt/kata/share/kata-containers/vmlinuz.container");
    ck_assert_str_eq(hv->image, "/opt/kata/share/kata-containers/kata-containers-confidential.img");
    ck_assert_ptr_nonnull(
        strstr(hv->kernel_params, "cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1"));
    ck_assert_uint_eq(hv->default_vcpus, 1);
    ck_assert_uint_eq(hv->default_memory, 2048);
    ck_assert_int_eq(hv->agent_channel, VM_AGENT_VSOCK);
    ck_assert(!hv->user_network);
    assert_list(&hv->enable_annotations, 6,
                (const char *const[]){"enable_iommu", "kernel_params", "kernel_verity_params",
                                      "default_vcpus", "default_memory", "cc_init_data"});
    ck_assert_uint_eq(hv->snp_guest_policy, 0x30000);
    ck_assert_str_eq(hv->snp_id_block, "");
    ck_assert_str_eq(hv->snp_id_auth, "");
    ck_assert(hv->snp_kernel_hashes);
    ck_assert_uint_eq(cfg->agent.dial_timeout, 90);
    ck_assert(cfg->runtime.static_sandbox_resource_mgmt);
    ck_assert_uint_eq(cfg->runtime.create_container_timeout, 60);
    /* a confidential runtime runs nothing but the image the pod names */
    ck_assert(cfg->runtime.experimental_force_guest_pull);
    ck_assert_uint_eq(cfg->runtime.copy_volume_limit_mib, 64);
    ck_assert_uint_eq(cfg->runtime.initdata_annotation_limit_kib, 256);
    ck_assert_uint_eq(cfg->runtime.initdata_document_limit_kib, 1024);
    config_free(cfg);
    assert_documented(path, "tdx_");
}
END_TEST

START_TEST(test_shipped_tdx_config)
{
    const char *path = COCOON_CONFIGS_DIR "/cocoon-tdx.toml";
    struct config *cfg = load_ok(path);
    const struct config_hypervisor *hv = &cfg->hypervisor;
    ck_assert_int_eq(hv->tee, VM_TEE_TDX);
    ck_assert_str_eq(hv->machine_type, "q35");
    ck_assert_str_eq(hv->firmware, "/opt/kata/share/ovmf/OVMF.inteltdx.fd");
    ck_assert_uint_eq(hv->default_memory, 2048);
    assert_list(&hv->enable_annotations, 6,
                (const char *const[]){"enable_iommu", "kernel_params", "kernel_verity_params",
                                      "default_vcpus", "default_memory", "cc_init_data"});
    ck_assert_uint_eq(hv->tdx_policy, 0x10000000);
    ck_assert(hv->tdx_quote_generation_service);
    ck_assert_str_eq(hv->tdx_quote_generation_service_socket, "");
    ck_assert_uint_eq(cfg->agent.dial_timeout, 60);
    ck_assert(cfg->runtime.static_sandbox_resource_mgmt);
    config_free(cfg);
    assert_documented(path, "snp_");
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("load");
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_minimal_file);
    tcase_add_test(tc, test_default_path);
    tcase_add_test(tc, test_missing_file);
    tcase_add_test(tc, test_full_file);
    tcase_add_test(tc, test_shipped_dev_config);
    suite_add_tcase(s, tc);

    tc = tcase_create("drop-ins");
    tcase_add_test(tc, test_dropins_in_lexical_order);
    tcase_add_test(tc, test_dropin_errors_name_the_dropin);
    tcase_add_test(tc, test_initdata_verity_extensions);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_loop_test(tc, test_errors, 0, (int)(sizeof(bad_cases) / sizeof(bad_cases[0])));
    suite_add_tcase(s, tc);

    tc = tcase_create("dump");
    tcase_add_test(tc, test_dump_round_trip_full);
    tcase_add_test(tc, test_dump_round_trip_escapes);
    tcase_add_test(tc, test_dump_shows_values);
    suite_add_tcase(s, tc);

    tc = tcase_create("shipped");
    tcase_add_test(tc, test_shipped_snp_config);
    tcase_add_test(tc, test_shipped_tdx_config);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_tap(config_suite());
}
