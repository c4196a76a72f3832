/* vmm/domain-xml: plain, SEV-SNP and TDX domain XML, checked against libvirt's RelaxNG schema
 * (xmllint) and, for a plain VM, against libvirt's own test driver; spec validation errors. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>
#include <openssl/evp.h>

#include "lib/cleanup.h"
#include "lib/xalloc.h"
#include "vmm/domain-xml.h"
#include "vmm/xml-writer.h"
#include "tests/common/run-tap.h"

/* --- specs --- */

static void spec_plain(struct vm_spec *s)
{
    memset(s, 0, sizeof(*s));
    s->name = xstrdup("cocoon-test-plain");
    s->sandbox_id = xstrdup("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    s->vcpus = 1;
    s->memory_mib = 512;
    s->kernel = xstrdup("/var/lib/cocoon/vmlinux");
}

/* Every optional part of a plain VM. */
static void spec_plain_full(struct vm_spec *s)
{
    spec_plain(s);
    s->domain_type = xstrdup("qemu");
    s->machine_type = xstrdup("pc");
    s->emulator = xstrdup("/usr/bin/qemu-system-x86_64");
    s->initrd = xstrdup("/var/lib/cocoon/initrd.img");
    s->image = xstrdup("/var/lib/cocoon/rootfs.img");
    s->kernel_params = xstrdup("console=ttyS0 panic=-1 quiet");
    s->n_disks = 2;
    s->disks = xcalloc(2, sizeof(*s->disks));
    s->disks[0].path = xstrdup("/run/cocoon/x/initdata.img");
    s->disks[0].serial = xstrdup("initdata");
    s->disks[0].readonly = true;
    s->disks[1].path = xstrdup("/run/cocoon/x/scratch.img");
    s->agent_channel = VM_AGENT_SERIAL;
    s->agent_socket = xstrdup("/run/cocoon/x/agent.sock");
    s->console_log = xstrdup("/run/cocoon/x/console.log");
    s->user_network = true;
    s->n_nics = 2;
    s->nics = xcalloc(2, sizeof(*s->nics));
    s->nics[0].tap = xstrdup("cc0-0123456789");
    memcpy(s->nics[0].mac, (uint8_t[]){0x0a, 0x58, 0x0a, 0xd5, 0x00, 0x07}, 6);
    s->nics[0].mtu = 1450;
    s->nics[1].tap = xstrdup("cc1-0123456789"); /* MTU: libvirt's default */
    memcpy(s->nics[1].mac, (uint8_t[]){0x0a, 0x58, 0x0a, 0xd5, 0x01, 0x07}, 6);
}

static void fill_bytes(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)i;
}

static char *b64_of_len(size_t n)
{
    uint8_t *raw = xcalloc(1, n);
    fill_bytes(raw, n);
    char *out = xmalloc(4 * ((n + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)out, raw, (int)n);
    free(raw);
    return out;
}

static void spec_snp(struct vm_spec *s)
{
    spec_plain(s);
    s->tee = VM_TEE_SNP;
    s->firmware = xstrdup("/usr/share/ovmf/OVMF.amdsev.fd");
    s->snp.policy = 0x30000;
}

static void spec_snp_full(struct vm_spec *s)
{
    spec_snp(s);
    s->initrd = xstrdup("/var/lib/cocoon/initrd.img");
    s->kernel_params = xstrdup("console=ttyS0");
    s->snp.has_cbitpos = true;
    s->snp.cbitpos = 51;
    s->snp.has_reduced_phys_bits = true;
    s->snp.reduced_phys_bits = 1;
    s->snp.guest_visible_workarounds = b64_of_len(16);
    s->snp.id_block = b64_of_len(96);
    s->snp.id_auth = b64_of_len(4096);
    s->snp.has_host_data = true;
    fill_bytes(s->snp.host_data, sizeof(s->snp.host_data));
    s->snp.kernel_hashes = true;
    s->snp.author_key = true;
    s->snp.vcek_disabled = true;
}

static void spec_tdx(struct vm_spec *s)
{
    spec_plain(s);
    s->tee = VM_TEE_TDX;
    s->firmware = xstrdup("/usr/share/ovmf/OVMF.inteltdx.fd");
}

static void spec_tdx_full(struct vm_spec *s)
{
    spec_tdx(s);
    s->machine_type = xstrdup("q35");
    s->tdx.has_policy = true;
    s->tdx.policy = 0x10000001;
    s->tdx.has_mr_config_id = true;
    fill_bytes(s->tdx.mr_config_id, sizeof(s->tdx.mr_config_id));
    s->tdx.mr_owner = b64_of_len(48);
    s->tdx.mr_owner_config = b64_of_len(48);
    s->tdx.quote_generation_service = true;
    s->tdx.qgs_socket_path = xstrdup("/var/run/tdx-qgs/qgs.socket");
}

/* --- helpers --- */

static char *build_ok(const struct vm_spec *s)
{
    struct error err = ERROR_INIT;
    char *xml = NULL;
    int r = domain_xml_build(s, &xml, &err);
    ck_assert_msg(r == 0, "domain_xml_build: %s", err.msg);
    ck_assert_ptr_nonnull(xml);
    error_clear(&err);
    return xml;
}

/* xmllint --relaxng against the libvirt 12.8 schemas; fails the test with xmllint's output. */
static void assert_schema_valid(const char *xml)
{
    const char *dir = getenv("LIBVIRT_SCHEMAS_DIR");
    ck_assert_msg(dir != NULL, "LIBVIRT_SCHEMAS_DIR is not set (run through meson test)");
    _cleanup_free_ char *rng = xasprintf("%s/domain.rng", dir);
    char path[] = "/tmp/cocoon-domain-xml-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, xml, strlen(xml)), (ssize_t)strlen(xml));
    close(fd);
    char out_path[] = "/tmp/cocoon-xmllint-XXXXXX";
    int out = mkstemp(out_path);
    ck_assert_int_ge(out, 0);
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
    char msg[4096] = "";
    ssize_t n = pread(out, msg, sizeof(msg) - 1, 0);
    msg[n > 0 ? n : 0] = '\0';
    close(out);
    unlink(out_path);
    unlink(path);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "xmllint rejects the XML:\n%s\n--- XML ---\n%s", msg, xml);
}

static void assert_contains(const char *xml, const char *want)
{
    ck_assert_msg(strstr(xml, want) != NULL, "missing %s in:\n%s", want, xml);
}

static void assert_lacks(const char *xml, const char *unwanted)
{
    ck_assert_msg(strstr(xml, unwanted) == NULL, "unexpected %s in:\n%s", unwanted, xml);
}

/* The string value of an XPath expression on xml, as a parser reads it back. */
static char *xpath(const char *xml, const char *expr)
{
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "d.xml", NULL, XML_PARSE_NONET);
    ck_assert_ptr_nonnull(doc);
    xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    xmlXPathRegisterNs(ctx, (const xmlChar *)"c", (const xmlChar *)DOMAIN_XML_METADATA_NS);
    xmlXPathObjectPtr obj = xmlXPathEvalExpression((const xmlChar *)expr, ctx);
    ck_assert_ptr_nonnull(obj);
    char *s = xstrdup((const char *)obj->stringval);
    xmlXPathFreeObject(obj);
    xmlXPathFreeContext(ctx);
    xmlFreeDoc(doc);
    return s;
}

static void assert_xpath(const char *xml, const char *expr, const char *want)
{
    _cleanup_free_ char *got = xpath(xml, expr);
    ck_assert_msg(strcmp(got, want) == 0, "%s is \"%s\", want \"%s\"", expr, got, want);
}

/* --- plain --- */

START_TEST(test_plain_minimal)
{
    struct vm_spec s;
    spec_plain(&s);
    _cleanup_free_ char *xml = build_ok(&s);
    assert_schema_valid(xml);
    assert_contains(xml, "<domain type='kvm'>");
    assert_contains(xml, "<name>cocoon-test-plain</name>");
    assert_contains(xml, "<memory unit='MiB'>512</memory>");
    assert_contains(xml, "<vcpu placement='static'>1</vcpu>");
    assert_contains(xml, "<type arch='x86_64' machine='q35'>hvm</type>");
    assert_contains(xml, "<kernel>/var/lib/cocoon/vmlinux</kernel>");
    assert_contains(xml, "<acpi/>");
    assert_contains(xml, "<on_poweroff>destroy</on_poweroff>");
    assert_contains(xml, "<on_reboot>destroy</on_reboot>");
    assert_contains(xml, "<on_crash>destroy</on_crash>");
    assert_contains(xml, "<memballoon model='none'/>");
    assert_contains(xml, "<controller type='usb' model='none'/>");
    assert_contains(xml, "<vsock model='virtio'>");
    assert_contains(xml, "<cid auto='yes'/>");
    assert_xpath(xml, "string(/domain/metadata/c:sandbox)", s.sandbox_id);
    assert_lacks(xml, "<loader");
    assert_lacks(xml, "<launchSecurity");
    assert_lacks(xml, "<disk");
    assert_lacks(xml, "<interface");
    assert_lacks(xml, "<serial");
    assert_lacks(xml, "<channel");
    assert_lacks(xml, "<initrd");
    assert_lacks(xml, "<cmdline");
    vm_spec_free(&s);
    vm_spec_free(&s); /* a freed spec is empty and may be freed again */
}
END_TEST

START_TEST(test_plain_full)
{
    struct vm_spec s;
    spec_plain_full(&s);
    _cleanup_free_ char *xml = build_ok(&s);
    assert_schema_valid(xml);
    assert_contains(xml, "<domain type='qemu'>");
    assert_contains(xml, "<type arch='x86_64' machine='pc'>hvm</type>");
    assert_contains(xml, "<emulator>/usr/bin/qemu-system-x86_64</emulator>");
    assert_contains(xml, "<initrd>/var/lib/cocoon/initrd.img</initrd>");
    assert_contains(xml, "<cmdline>console=ttyS0 panic=-1 quiet</cmdline>");
    /* root image read-only on vda, then the extra disks in order */
    assert_xpath(xml, "string(/domain/devices/disk[1]/source/@file)", "/var/lib/cocoon/rootfs.img");
    assert_xpath(xml, "string(/domain/devices/disk[1]/target/@dev)", "vda");
    assert_xpath(xml, "string(/domain/devices/disk[1]/driver/@type)", "raw");
    assert_xpath(xml, "string(count(/domain/devices/disk[1]/readonly))", "1");
    assert_xpath(xml, "string(/domain/devices/disk[2]/target/@dev)", "vdb");
    assert_xpath(xml, "string(/domain/devices/disk[2]/target/@bus)", "virtio");
    assert_xpath(xml, "string(/domain/devices/disk[2]/serial)", "initdata");
    assert_xpath(xml, "string(count(/domain/devices/disk[2]/readonly))", "1");
    assert_xpath(xml, "string(/domain/devices/disk[3]/target/@dev)", "vdc");
    assert_xpath(xml, "string(count(/domain/devices/disk[3]/readonly))", "0");
    assert_xpath(xml, "string(count(/domain/devices/disk[3]/serial))", "0");
    assert_contains(xml, "<controller type='virtio-serial' index='0'/>");
    assert_contains(xml, "<source mode='bind' path='/run/cocoon/x/agent.sock'/>");
    assert_contains(xml, "<target type='virtio' name='agent.channel.0'/>");
    /* the pod's NICs on their taps, then the user network's with its fixed MAC; no ROMs */
    assert_xpath(xml, "string(/domain/devices/interface[1]/@type)", "ethernet");
    assert_xpath(xml, "string(/domain/devices/interface[1]/mac/@address)", "0a:58:0a:d5:00:07");
    assert_xpath(xml, "string(/domain/devices/interface[1]/target/@dev)", "cc0-0123456789");
    assert_xpath(xml, "string(/domain/devices/interface[1]/target/@managed)", "no");
    assert_xpath(xml, "string(/domain/devices/interface[1]/model/@type)", "virtio");
    assert_xpath(xml, "string(/domain/devices/interface[1]/mtu/@size)", "1450");
    assert_xpath(xml, "string(/domain/devices/interface[1]/rom/@enabled)", "no");
    assert_xpath(xml, "string(/domain/devices/interface[2]/target/@dev)", "cc1-0123456789");
    assert_xpath(xml, "string(count(/domain/devices/interface[2]/mtu))", "0");
    assert_xpath(xml, "string(/domain/devices/interface[3]/@type)", "user");
    assert_xpath(xml, "string(/domain/devices/interface[3]/mac/@address)", VM_USER_NETWORK_MAC);
    assert_xpath(xml, "string(/domain/devices/interface[3]/rom/@enabled)", "no");
    assert_xpath(xml, "string(/domain/devices/serial[@type='file']/source/@path)",
                 "/run/cocoon/x/console.log");
    assert_lacks(xml, "<vsock");
    vm_spec_free(&s);
}
END_TEST

START_TEST(test_plain_without_sandbox_id)
{
    struct vm_spec s;
    spec_plain(&s);
    free(s.sandbox_id);
    s.sandbox_id = NULL;
    _cleanup_free_ char *xml = build_ok(&s);
    assert_schema_valid(xml);
    assert_lacks(xml, "<metadata");
    vm_spec_free(&s);
}
END_TEST

/* Quotes, brackets and ampersands in names and paths are escaped and survive a parse. */
START_TEST(test_escaping)
{
    static const char nasty[] = "a'b\"c<d>e&f";
    struct vm_spec s;
    spec_plain_full(&s);
    free(s.name);
    s.name = xstrdup(nasty);
    free(s.sandbox_id);
    s.sandbox_id = xstrdup(nasty);
    free(s.kernel);
    s.kernel = xasprintf("/k/%s/vmlinux", nasty);
    free(s.agent_socket);
    s.agent_socket = xasprintf("/run/%s.sock", nasty);
    free(s.kernel_params);
    s.kernel_params = xstrdup("init=/x a='1' b=\"2\" <3> &4\tfive");
    _cleanup_free_ char *xml = build_ok(&s);
    assert_schema_valid(xml);
    assert_contains(xml, "<name>a&apos;b&quot;c&lt;d&gt;e&amp;f</name>");
    assert_contains(xml, "path='/run/a&apos;b&quot;c&lt;d&gt;e&amp;f.sock'");
    assert_xpath(xml, "string(/domain/name)", nasty);
    assert_xpath(xml, "string(/domain/metadata/c:sandbox)", nasty);
    assert_xpath(xml, "string(/domain/os/kernel)", s.kernel);
    assert_xpath(xml, "string(/domain/os/cmdline)", s.kernel_params);
    assert_xpath(xml, "string(/domain/devices/channel/source/@path)", s.agent_socket);
    vm_spec_free(&s);
}
END_TEST

START_TEST(test_xml_text_valid)
{
    ck_assert(xml_text_valid(""));
    ck_assert(xml_text_valid("plain ascii\ttab\nnewline"));
    ck_assert(xml_text_valid("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
    ck_assert(!xml_text_valid("bell\x07"));
    ck_assert(!xml_text_valid("\x1b[0m"));
    ck_assert(!xml_text_valid("\xc3"));             /* truncated */
    ck_assert(!xml_text_valid("\xc0\xaf"));         /* overlong '/' */
    ck_assert(!xml_text_valid("\xed\xa0\x80"));     /* surrogate */
    ck_assert(!xml_text_valid("\xf4\x90\x80\x80")); /* past U+10FFFF */
    ck_assert(!xml_text_valid("\xef\xbf\xbe"));     /* U+FFFE */
}
END_TEST

/* --- SEV-SNP --- */

START_TEST(test_snp_minimal)
{
    struct vm_spec s;
    spec_snp(&s);
    _cleanup_free_ char *xml = build_ok(&s);
    assert_schema_valid(xml);
    assert_contains(xml, "<type arch='x86_64' machine='q35'>hvm</type>");
    assert_contains(xml,
                    "<loader type='rom' readonly='yes'>/usr/share/ovmf/OVMF.amdsev.fd</loader>");
    assert_contains(xml, "<launchSecurity type='sev-snp'>");
    assert_contains(xml, "<policy>0x00030000</policy>");
    assert_lacks(xml, "<hostData");
    assert_lacks(xml, "<cbitpos");
    assert_lacks(xml, "<idBlock");
    assert_lacks(xml, "kernelHashes");
    vm_spec_free(&s);
}
END_TEST

START_TEST(test_snp_full)
{
    struct vm_spec s;
    spec_snp_full(&s);
    _cleanup_free_ char *xml = build_ok(&s);
    assert_schema_valid(xml);
    assert_contains(xml, "<launchSecurity type='sev-snp' kernelHashes='yes' authorKey='yes' "
                         "vcek='no'>");
    assert_contains(xml, "<cbitpos>51</cbitpos>");
    assert_contains(xml, "<reducedPhysBits>1</reducedPhysBits>");
    assert_contains(xml, "<hostData>AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=</hostData>");
    assert_contains(xml,
                    "<guestVisibleWorkarounds>AAECAwQFBgcICQoLDA0ODw==</guestVisibleWorkarounds>");
    assert_xpath(xml, "string(/domain/launchSecurity/idBlock)", s.snp.id_block);
    assert_xpath(xml, "string(/domain/launchSecurity/idAuth)", s.snp.id_auth);
    vm_spec_free(&s);
}
END_TEST

START_TEST(test_snp_host_data_only)
{
    struct vm_spec s;
    spec_snp(&s);
    s.snp.policy = 0x70000;
    s.snp.has_host_data = true;
    memset(s.snp.host_data, 0xff, sizeof(s.snp.host_data));
    _cleanup_free_ char *xml = build_ok(&s);
    assert_schema_valid(xml);
    assert_contains(xml, "<policy>0x00070000</policy>");
    assert_contains(xml, "<hostData>//////////////////////////////////////////8=</hostData>");
    vm_spec_free(&s);
}
END_TEST

/* --- TDX --- */

START_TEST(test_tdx_minimal)
{
    struct vm_spec s;
    spec_tdx(&s);
    _cleanup_free_ char *xml = build_ok(&s);
    assert_schema_valid(xml);
    assert_contains(xml, "<type arch='x86_64' machine='q35'>hvm</type>");
    assert_contains(xml,
                    "<loader type='rom' readonly='yes'>/usr/share/ovmf/OVMF.inteltdx.fd</loader>");
    assert_contains(xml, "<launchSecurity type='tdx'>");
    assert_contains(xml, "<ioapic driver='qemu'/>");
    assert_contains(xml, "<pmu state='off'/>");
    assert_contains(xml, "<smm state='off'/>");
    assert_contains(xml, "<cpu mode='host-passthrough'/>");
    assert_lacks(xml, "<policy");
    assert_lacks(xml, "<mrConfigId");
    assert_lacks(xml, "<quoteGenerationService");
    vm_spec_free(&s);
}
END_TEST

START_TEST(test_tdx_full)
{
    struct vm_spec s;
    spec_tdx_full(&s);
    _cleanup_free_ char *xml = build_ok(&s);
    assert_schema_valid(xml);
    assert_contains(xml, "<policy>0x10000001</policy>");
    assert_contains(xml, "<mrConfigId>AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKiss"
                         "LS4v</mrConfigId>");
    assert_xpath(xml, "string(/domain/launchSecurity/mrOwner)", s.tdx.mr_owner);
    assert_xpath(xml, "string(/domain/launchSecurity/mrOwnerConfig)", s.tdx.mr_owner_config);
    assert_contains(xml, "<quoteGenerationService path='/var/run/tdx-qgs/qgs.socket'/>");
    vm_spec_free(&s);
}
END_TEST

START_TEST(test_tdx_qgs_default_path)
{
    struct vm_spec s;
    spec_tdx(&s);
    s.tdx.quote_generation_service = true;
    s.tdx.has_policy = true;
    s.tdx.policy = 0x10000000;
    _cleanup_free_ char *xml = build_ok(&s);
    assert_schema_valid(xml);
    assert_contains(xml, "<quoteGenerationService/>");
    assert_contains(xml, "<policy>0x10000000</policy>");
    vm_spec_free(&s);
}
END_TEST

/* --- validation errors --- */

enum base { PLAIN, PLAIN_FULL, SNP, TDX };

struct bad_case {
    const char *what;
    enum base base;
    void (*mutate)(struct vm_spec *s);
    const char *want; /* a part of the message after "vm spec: " */
};

#define SET(field, value)                                                                          \
    do {                                                                                           \
        free(s->field);                                                                            \
        s->field = (value);                                                                        \
    } while (0)

static void no_name(struct vm_spec *s)
{
    SET(name, NULL);
}
static void empty_name(struct vm_spec *s)
{
    SET(name, xstrdup(""));
}
static void multiline_name(struct vm_spec *s)
{
    SET(name, xstrdup("a\nb"));
}
static void bad_utf8_name(struct vm_spec *s)
{
    SET(name, xstrdup("caf\xc3"));
}
static void no_kernel(struct vm_spec *s)
{
    SET(kernel, NULL);
}
static void relative_kernel(struct vm_spec *s)
{
    SET(kernel, xstrdup("vmlinuz"));
}
static void relative_initrd(struct vm_spec *s)
{
    SET(initrd, xstrdup("initrd.img"));
}
static void relative_image(struct vm_spec *s)
{
    SET(image, xstrdup("./rootfs.img"));
}
static void relative_firmware(struct vm_spec *s)
{
    SET(firmware, xstrdup("OVMF.fd"));
}
static void relative_console(struct vm_spec *s)
{
    SET(console_log, xstrdup("console.log"));
}
static void relative_emulator(struct vm_spec *s)
{
    SET(emulator, xstrdup("qemu"));
}
static void control_params(struct vm_spec *s)
{
    SET(kernel_params, xstrdup("quiet\x01"));
}
static void zero_vcpus(struct vm_spec *s)
{
    s->vcpus = 0;
}
static void zero_memory(struct vm_spec *s)
{
    s->memory_mib = 0;
}
static void xen(struct vm_spec *s)
{
    SET(domain_type, xstrdup("xen"));
}
static void empty_machine(struct vm_spec *s)
{
    SET(machine_type, xstrdup(""));
}
static void bad_tee(struct vm_spec *s)
{
    s->tee = (enum vm_tee)7;
}
static void bad_channel(struct vm_spec *s)
{
    s->agent_channel = (enum vm_agent_channel)9;
}
static void serial_no_socket(struct vm_spec *s)
{
    SET(agent_socket, NULL);
}
static void serial_relative_socket(struct vm_spec *s)
{
    SET(agent_socket, xstrdup("agent.sock"));
}
static void disk_no_path(struct vm_spec *s)
{
    SET(disks[0].path, NULL);
}
static void disk_relative(struct vm_spec *s)
{
    SET(disks[1].path, xstrdup("scratch.img"));
}
static void disk_bad_serial(struct vm_spec *s)
{
    SET(disks[0].serial, xstrdup("init/data"));
}
static void disk_long_serial(struct vm_spec *s)
{
    SET(disks[0].serial, xstrdup("abcdefghijklmnopqrstu"));
}
static void disk_empty_serial(struct vm_spec *s)
{
    SET(disks[0].serial, xstrdup(""));
}

static void too_many_disks(struct vm_spec *s)
{
    s->disks = xrealloc(s->disks, 26 * sizeof(*s->disks));
    for (size_t i = s->n_disks; i < 26; i++)
        s->disks[i] = (struct vm_disk){xasprintf("/d/%zu.img", i), NULL, false};
    s->n_disks = 26;
}

static void snp_no_firmware(struct vm_spec *s)
{
    SET(firmware, NULL);
}
static void snp_policy_zero(struct vm_spec *s)
{
    s->snp.policy = 0;
}
static void snp_id_block_95(struct vm_spec *s)
{
    SET(snp.id_block, b64_of_len(95));
    SET(snp.id_auth, b64_of_len(4096));
}
static void snp_id_block_alone(struct vm_spec *s)
{
    SET(snp.id_block, b64_of_len(96));
}
static void snp_id_auth_alone(struct vm_spec *s)
{
    SET(snp.id_auth, b64_of_len(4096));
}
static void snp_id_auth_short(struct vm_spec *s)
{
    SET(snp.id_block, b64_of_len(96));
    SET(snp.id_auth, b64_of_len(4095));
}
static void snp_gvw_17(struct vm_spec *s)
{
    SET(snp.guest_visible_workarounds, b64_of_len(17));
}
static void snp_gvw_garbage(struct vm_spec *s)
{
    SET(snp.guest_visible_workarounds, xstrdup("@@@@"));
}
static void snp_gvw_unpadded(struct vm_spec *s)
{
    SET(snp.guest_visible_workarounds, xstrdup("AAECAwQFBgcICQoLDA0ODw"));
}
static void snp_author_key_alone(struct vm_spec *s)
{
    s->snp.author_key = true;
}
static void tdx_no_firmware(struct vm_spec *s)
{
    SET(firmware, NULL);
}
static void tdx_policy_2(struct vm_spec *s)
{
    s->tdx.has_policy = true;
    s->tdx.policy = 0x2;
}
static void tdx_mr_owner_32(struct vm_spec *s)
{
    SET(tdx.mr_owner, b64_of_len(32));
}
static void tdx_mr_owner_config_bad(struct vm_spec *s)
{
    SET(tdx.mr_owner_config, xstrdup("a=bc"));
}
static void tdx_pc(struct vm_spec *s)
{
    SET(machine_type, xstrdup("pc"));
}
static void tdx_relative_qgs(struct vm_spec *s)
{
    SET(tdx.qgs_socket_path, xstrdup("qgs.socket"));
}

static void nic_no_tap(struct vm_spec *s)
{
    SET(nics[0].tap, NULL);
}
static void nic_long_tap(struct vm_spec *s)
{
    SET(nics[0].tap, xstrdup("cc0-0123456789ab"));
}
static void nic_slash_tap(struct vm_spec *s)
{
    SET(nics[0].tap, xstrdup("cc0/x"));
}
static void nic_multicast_mac(struct vm_spec *s)
{
    s->nics[1].mac[0] = 0x01;
}
static void nic_small_mtu(struct vm_spec *s)
{
    s->nics[0].mtu = 67;
}
static void nic_missing_array(struct vm_spec *s)
{
    for (size_t i = 0; i < s->n_nics; i++)
        free(s->nics[i].tap);
    SET(nics, NULL);
}

static const struct bad_case bad_cases[] = {
    {"NIC without tap", PLAIN_FULL, nic_no_tap, "nics[0].tap \"\": want 1 to 15 characters"},
    {"NIC tap too long", PLAIN_FULL, nic_long_tap, "want 1 to 15 characters"},
    {"NIC tap with /", PLAIN_FULL, nic_slash_tap, "nics[0].tap \"cc0/x\": not a network device"},
    {"NIC multicast MAC", PLAIN_FULL, nic_multicast_mac, "nics[1].mac: a multicast address"},
    {"NIC MTU", PLAIN_FULL, nic_small_mtu, "nics[0].mtu 67: want 68 to 65535"},
    {"NIC array", PLAIN_FULL, nic_missing_array, "n_nics is 2 but the array is missing"},
    {"no name", PLAIN, no_name, "name is required"},
    {"empty name", PLAIN, empty_name, "name is required"},
    {"multi-line name", PLAIN, multiline_name, "name: must be a single line"},
    {"bad UTF-8 name", PLAIN, bad_utf8_name, "name: not valid UTF-8"},
    {"no kernel", PLAIN, no_kernel, "kernel is required"},
    {"relative kernel", PLAIN, relative_kernel, "kernel \"vmlinuz\": must be an absolute path"},
    {"relative initrd", PLAIN, relative_initrd, "initrd \"initrd.img\": must be an absolute path"},
    {"relative image", PLAIN, relative_image, "image \"./rootfs.img\": must be an absolute path"},
    {"relative firmware", PLAIN, relative_firmware, "firmware \"OVMF.fd\": must be an absolute"},
    {"relative console", PLAIN, relative_console, "console_log \"console.log\": must be"},
    {"relative emulator", PLAIN, relative_emulator, "emulator \"qemu\": must be an absolute"},
    {"control character", PLAIN, control_params,
     "kernel_params: not valid UTF-8, or holds a "
     "control character"},
    {"zero vcpus", PLAIN, zero_vcpus, "vcpus must be at least 1"},
    {"zero memory", PLAIN, zero_memory, "memory_mib must be at least 1"},
    {"domain type", PLAIN, xen, "domain_type \"xen\""},
    {"empty machine", PLAIN, empty_machine, "machine_type"},
    {"unknown tee", PLAIN, bad_tee, "tee 7: unknown"},
    {"unknown channel", PLAIN, bad_channel, "agent_channel 9: unknown"},
    {"serial without socket", PLAIN_FULL, serial_no_socket,
     "agent_socket is required for the virtio-serial agent channel"},
    {"relative socket", PLAIN_FULL, serial_relative_socket, "agent_socket \"agent.sock\": must"},
    {"disk without path", PLAIN_FULL, disk_no_path, "disks[0].path is required"},
    {"relative disk", PLAIN_FULL, disk_relative, "disks[1].path \"scratch.img\": must be"},
    {"bad disk serial", PLAIN_FULL, disk_bad_serial, "disks[0].serial \"init/data\": only"},
    {"long disk serial", PLAIN_FULL, disk_long_serial,
     "disks[0].serial \"abcdefghijklmnopqrstu\": "
     "want 1 to 20 characters"},
    {"empty disk serial", PLAIN_FULL, disk_empty_serial, "disks[0].serial \"\": want 1 to 20"},
    {"too many disks", PLAIN_FULL, too_many_disks, "disks: 26 disks, at most 25 fit"},
    {"snp firmware", SNP, snp_no_firmware, "firmware is required for a SEV-SNP guest"},
    {"snp policy", SNP, snp_policy_zero, "snp.policy 0x0: bit 17 is reserved and must be set"},
    {"snp id_block length", SNP, snp_id_block_95,
     "snp.id_block: base64 decodes to 95 bytes, want 96"},
    {"snp id_block alone", SNP, snp_id_block_alone, "snp.id_block needs snp.id_auth"},
    {"snp id_auth alone", SNP, snp_id_auth_alone, "snp.id_auth needs snp.id_block"},
    {"snp id_auth length", SNP, snp_id_auth_short,
     "snp.id_auth: base64 decodes to 4095 bytes, want "
     "4096"},
    {"snp workarounds length", SNP, snp_gvw_17,
     "snp.guest_visible_workarounds: base64 decodes to "
     "17 bytes, want 16"},
    {"snp workarounds garbage", SNP, snp_gvw_garbage,
     "snp.guest_visible_workarounds: not valid "
     "base64"},
    {"snp workarounds unpadded", SNP, snp_gvw_unpadded,
     "snp.guest_visible_workarounds: not valid "
     "base64"},
    {"snp author key", SNP, snp_author_key_alone,
     "snp.author_key needs snp.id_block and "
     "snp.id_auth"},
    {"tdx firmware", TDX, tdx_no_firmware, "firmware is required for a TDX guest"},
    {"tdx policy", TDX, tdx_policy_2,
     "tdx.policy 0x2: only bit 0 (debug) and bit 28 "
     "(sept-ve-disable) are allowed"},
    {"tdx mr_owner", TDX, tdx_mr_owner_32, "tdx.mr_owner: base64 decodes to 32 bytes, want 48"},
    {"tdx mr_owner_config", TDX, tdx_mr_owner_config_bad, "tdx.mr_owner_config: not valid base64"},
    {"tdx machine", TDX, tdx_pc, "machine_type \"pc\": a TDX guest needs q35"},
    {"tdx qgs path", TDX, tdx_relative_qgs, "tdx.qgs_socket_path \"qgs.socket\": must be"},
};

START_TEST(test_validation_errors)
{
    const struct bad_case *c = &bad_cases[_i];
    struct vm_spec s;
    switch (c->base) {
    case PLAIN:
        spec_plain(&s);
        break;
    case PLAIN_FULL:
        spec_plain_full(&s);
        break;
    case SNP:
        spec_snp(&s);
        break;
    case TDX:
        spec_tdx(&s);
        break;
    }
    c->mutate(&s);
    struct error err = ERROR_INIT;
    char *xml = (char *)"untouched";
    ck_assert_int_eq(domain_xml_build(&s, &xml, &err), -1);
    ck_assert_ptr_null(xml);
    ck_assert_int_eq(err.code, GRPC_INVALID_ARGUMENT);
    ck_assert_msg(strncmp(err.msg, "vm spec: ", 9) == 0, "%s: message \"%s\"", c->what, err.msg);
    ck_assert_msg(strstr(err.msg, c->want) != NULL, "%s: message \"%s\" lacks \"%s\"", c->what,
                  err.msg, c->want);
    error_clear(&err);
    vm_spec_free(&s);
}
END_TEST

/* --- libvirt's test driver --- */

static void quiet(void *user, virErrorPtr e) {}

/* A plain domain XML starts on test:///default, metadata included. */
static void assert_test_driver_accepts(struct vm_spec *s)
{
    virSetErrorFunc(NULL, quiet);
    virConnectPtr conn = virConnectOpen("test:///default");
    ck_assert_ptr_nonnull(conn);
    _cleanup_free_ char *xml = build_ok(s);
    virDomainPtr dom = virDomainCreateXML(conn, xml, 0);
    ck_assert_msg(dom != NULL, "test driver rejects the XML: %s\n%s", virGetLastErrorMessage(),
                  xml);
    char *meta = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, DOMAIN_XML_METADATA_NS, 0);
    ck_assert_ptr_nonnull(meta);
    ck_assert_msg(strstr(meta, s->sandbox_id) != NULL, "metadata %s", meta);
    free(meta);
    ck_assert_int_eq(virDomainDestroy(dom), 0);
    virDomainFree(dom);
    virConnectClose(conn);
}

START_TEST(test_test_driver_plain)
{
    struct vm_spec s;
    spec_plain(&s);
    free(s.name);
    s.name = xasprintf("cocoon-xml-plain-%d", (int)getpid());
    assert_test_driver_accepts(&s);
    vm_spec_free(&s);

    spec_plain_full(&s);
    free(s.name);
    s.name = xasprintf("cocoon-xml-full-%d", (int)getpid());
    assert_test_driver_accepts(&s);
    vm_spec_free(&s);
}
END_TEST

/* --- memory --- */

/* A TEE guest above 2 GiB, with its init-data and an extension disk: one fixed memory size and
 * nothing for memory hot-plug, which hangs SNP and TDX guests at boot. */
START_TEST(test_tee_memory_is_fixed)
{
    void (*const fill[])(struct vm_spec *) = {spec_snp_full, spec_tdx_full};
    for (size_t i = 0; i < sizeof(fill) / sizeof(fill[0]); i++) {
        struct vm_spec s;
        fill[i](&s);
        s.memory_mib = 8192;
        s.vcpus = 4;
        s.image = xstrdup("/var/lib/cocoon/root.img");
        s.n_disks = 2;
        s.disks = xcalloc(2, sizeof(*s.disks));
        s.disks[0].path = xstrdup("/var/lib/cocoon/coco.img");
        s.disks[0].serial = xstrdup("extension-abcdefghij"); /* 20 bytes, virtio-blk's most */
        s.disks[0].readonly = true;
        s.disks[1].path = xstrdup("/run/cocoon/x/initdata.img");
        s.disks[1].serial = xstrdup("initdata");
        s.disks[1].readonly = true;
        _cleanup_free_ char *xml = build_ok(&s);
        assert_schema_valid(xml);
        assert_contains(xml, "<memory unit='MiB'>8192</memory>");
        assert_contains(xml, "<currentMemory unit='MiB'>8192</currentMemory>");
        assert_contains(xml, "<serial>extension-abcdefghij</serial>");
        assert_contains(xml, "<memballoon model='none'/>");
        assert_lacks(xml, "<maxMemory");
        assert_lacks(xml, "slots=");
        assert_lacks(xml, "<numa");
        assert_lacks(xml, "<memory model");
        assert_xpath(xml, "string(count(//memory))", "1");
        vm_spec_free(&s);
    }
}
END_TEST

static Suite *domain_xml_suite(void)
{
    Suite *s = suite_create("domain-xml");
    TCase *tc = tcase_create("plain");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_plain_minimal);
    tcase_add_test(tc, test_plain_full);
    tcase_add_test(tc, test_plain_without_sandbox_id);
    tcase_add_test(tc, test_escaping);
    tcase_add_test(tc, test_xml_text_valid);
    suite_add_tcase(s, tc);

    tc = tcase_create("snp");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_snp_minimal);
    tcase_add_test(tc, test_snp_full);
    tcase_add_test(tc, test_snp_host_data_only);
    suite_add_tcase(s, tc);

    tc = tcase_create("tdx");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_tdx_minimal);
    tcase_add_test(tc, test_tdx_full);
    tcase_add_test(tc, test_tdx_qgs_default_path);
    suite_add_tcase(s, tc);

    tc = tcase_create("memory");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_tee_memory_is_fixed);
    suite_add_tcase(s, tc);

    tc = tcase_create("validation");
    tcase_add_loop_test(tc, test_validation_errors, 0,
                        (int)(sizeof(bad_cases) / sizeof(bad_cases[0])));
    suite_add_tcase(s, tc);

    tc = tcase_create("test-driver");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_test_driver_plain);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_tap(domain_xml_suite());
}
