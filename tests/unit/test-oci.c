/* shim/oci: a `ctr run` config.json and a CRI container's config.json mapped field by field, every
 * strip Kata does before CreateContainer, wrong types and ranges named by path, an exec's Process,
 * an update's LinuxResources, annotations / task kind / sandbox id, reading the bundle's file,
 * and hostile input (truncations, byte flips, every value swapped for every JSON type). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/xalloc.h"
#include "annotations/pod.h"
#include "shim/oci.h"
#include "tests/common/run-tap.h"

/* Fixtures are written with ' for " to stay readable; q() turns them into JSON. */
static char *q(const char *s)
{
    char *r = xstrdup(s);
    for (char *p = r; *p; p++)
        if (*p == '\'')
            *p = '"';
    return r;
}

/* containerd 1.6 `ctr run docker.io/library/alpine:latest demo sh` (oci.populateDefaultUnixSpec,
 * trimmed to a few capabilities and mounts). */
static const char CTR_RUN[] =
    "{'ociVersion':'1.0.2-dev',"
    " 'process':{'user':{'uid':0,'gid':0},'args':['sh'],"
    "  'env':['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],'cwd':'/',"
    "  'capabilities':{'bounding':['CAP_CHOWN','CAP_KILL','CAP_AUDIT_WRITE'],"
    "   'effective':['CAP_CHOWN','CAP_KILL','CAP_AUDIT_WRITE'],"
    "   'permitted':['CAP_CHOWN','CAP_KILL','CAP_AUDIT_WRITE']},"
    "  'rlimits':[{'type':'RLIMIT_NOFILE','hard':1024,'soft':1024}],'noNewPrivileges':true},"
    " 'root':{'path':'rootfs'},"
    " 'mounts':["
    "  {'destination':'/proc','type':'proc','source':'proc','options':['nosuid','noexec','nodev']},"
    "  {'destination':'/dev','type':'tmpfs','source':'tmpfs',"
    "   'options':['nosuid','strictatime','mode=755','size=65536k']},"
    "  {'destination':'/dev/pts','type':'devpts','source':'devpts',"
    "   'options':['nosuid','noexec','newinstance','ptmxmode=0666','mode=0620','gid=5']},"
    "  {'destination':'/sys','type':'sysfs','source':'sysfs',"
    "   'options':['nosuid','noexec','nodev','ro']}],"
    " 'linux':{'resources':{'devices':[{'allow':false,'access':'rwm'}]},"
    "  'cgroupsPath':'/default/demo',"
    "  'namespaces':[{'type':'pid'},{'type':'ipc'},{'type':'uts'},{'type':'mount'},"
    "   {'type':'network'}],"
    "  'maskedPaths':['/proc/acpi','/proc/kcore','/sys/firmware'],"
    "  'readonlyPaths':['/proc/bus','/proc/sys']}}";

/* A CRI (containerd 1.6) application container, with everything runtime-spec has that the agent's
 * proto carries, plus members it does not (umask, ioPriority, domainname, unified, ...). */
static const char CRI_CONTAINER[] =
    "{'ociVersion':'1.0.2-dev',"
    " 'process':{'terminal':false,'consoleSize':{'height':40,'width':120},"
    "  'user':{'uid':1000,'gid':3000,'umask':18,'additionalGids':[3000,2000],'username':'app'},"
    "  'args':['/bin/sh','-c','sleep 3600'],"
    "  'env':['PATH=/usr/local/bin:/usr/bin:/bin','HOSTNAME=web-0',"
    "   'KUBERNETES_SERVICE_HOST=10.96.0.1'],"
    "  'cwd':'/srv',"
    "  'capabilities':{'bounding':['CAP_CHOWN','CAP_NET_BIND_SERVICE','CAP_KILL'],"
    "   'effective':['CAP_CHOWN','CAP_NET_BIND_SERVICE'],'inheritable':['CAP_KILL'],"
    "   'permitted':['CAP_CHOWN','CAP_NET_BIND_SERVICE','CAP_KILL'],"
    "   'ambient':['CAP_NET_BIND_SERVICE']},"
    "  'rlimits':[{'type':'RLIMIT_NOFILE','hard':1048576,'soft':1024},"
    "   {'type':'RLIMIT_MEMLOCK','hard':18446744073709551615,'soft':9223372036854775808}],"
    "  'noNewPrivileges':true,'apparmorProfile':'cri-containerd.apparmor.d',"
    "  'oomScoreAdj':-997,'selinuxLabel':'system_u:system_r:container_t:s0:c1,c2',"
    "  'ioPriority':{'class':'IOPRIO_CLASS_IDLE'}},"
    " 'root':{'path':'rootfs','readonly':true},"
    " 'hostname':'web-0','domainname':'cluster.local',"
    " 'mounts':["
    "  {'destination':'/proc','type':'proc','source':'proc','options':['nosuid','noexec','nodev']},"
    "  {'destination':'/etc/hosts','type':'bind',"
    "   'source':'/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/5c0d/hosts',"
    "   'options':['rbind','rprivate','rw']},"
    "  {'destination':'/var/run/secrets/kubernetes.io/serviceaccount','type':'bind',"
    "   'source':'/var/lib/kubelet/pods/8f1e/volumes/kubernetes.io~projected/kube-api-access',"
    "   'options':['rbind','rprivate','ro'],"
    "   'uidMappings':[{'containerID':0,'hostID':1000,'size':1}]}],"
    " 'hooks':{'prestart':[{'path':'/usr/bin/nvidia-hook','args':['nvidia-hook','prestart'],"
    "   'env':['A=1'],'timeout':5}],"
    "  'createRuntime':[{'path':'/usr/libexec/oci/hooks.d/x'}],'poststop':[{'path':'/bin/true'}]},"
    " 'annotations':{'io.kubernetes.cri.container-type':'container',"
    "  'io.kubernetes.cri.container-name':'web',"
    "  'io.kubernetes.cri.image-name':'registry.example.com/web:1.0',"
    "  'io.kubernetes.cri.sandbox-id':'5c0d2f7a',"
    "  'io.kubernetes.cri.sandbox-name':'web-0','io.kubernetes.cri.sandbox-namespace':'default',"
    "  'io.katacontainers.config.agent.policy':'cGFja2FnZSBhZ2VudF9wb2xpY3k=',"
    "  'io.katacontainers.config.hypervisor.cc_init_data':'H4sIAAAAAAAAA0s=',"
    "  'io.katacontainers.config.hypervisor.default_vcpus':'2'},"
    " 'linux':{"
    "  'uidMappings':[{'containerID':0,'hostID':100000,'size':65536}],"
    "  'gidMappings':[{'containerID':0,'hostID':200000,'size':65536}],"
    "  'sysctl':{'net.ipv4.ip_unprivileged_port_start':'0','kernel.shm_rmid_forced':'1'},"
    "  'resources':{"
    "   'devices':[{'allow':false,'access':'rwm'},"
    "    {'allow':true,'type':'c','major':1,'minor':3,'access':'rwm'}],"
    "   'memory':{'limit':268435456,'reservation':134217728,'swap':536870912,'kernel':-1,"
    "    'kernelTCP':0,'swappiness':60,'disableOOMKiller':true,'useHierarchy':true},"
    "   'cpu':{'shares':512,'quota':50000,'period':100000,'realtimeRuntime':-1,"
    "    'realtimePeriod':1000000,'cpus':'0-3','mems':'0','idle':0},"
    "   'pids':{'limit':4096},"
    "   'blockIO':{'weight':500,'leafWeight':300,"
    "    'weightDevice':[{'major':8,'minor':0,'weight':200,'leafWeight':100}],"
    "    'throttleReadBpsDevice':[{'major':8,'minor':0,'rate':1048576}]},"
    "   'hugepageLimits':[{'pageSize':'2MB','limit':1073741824},{'pageSize':'1GB','limit':0}],"
    "   'network':{'classID':1048577,'priorities':[{'name':'eth0','priority':500}]},"
    "   'unified':{'memory.high':'200000000'}},"
    "  'cgroupsPath':'kubepods-burstable-pod8f1e.slice:cri-containerd:9a7b',"
    "  'namespaces':[{'type':'pid','path':'/proc/4242/ns/pid'},"
    "   {'type':'ipc','path':'/proc/4242/ns/ipc'},{'type':'uts','path':'/proc/4242/ns/uts'},"
    "   {'type':'mount'},{'type':'network','path':'/var/run/netns/cni-1234'},"
    "   {'type':'cgroup'},{'type':'time'},{'type':'user','path':'/proc/4242/ns/user'}],"
    "  'devices':[{'path':'/dev/fuse','type':'c','major':10,'minor':229,'fileMode':438,"
    "   'uid':0,'gid':0}],"
    "  'seccomp':{'defaultAction':'SCMP_ACT_ERRNO','defaultErrnoRet':1,"
    "   'architectures':['SCMP_ARCH_X86_64','SCMP_ARCH_X86'],"
    "   'flags':['SECCOMP_FILTER_FLAG_SPEC_ALLOW'],"
    "   'syscalls':[{'names':['accept','read'],'action':'SCMP_ACT_ALLOW'},"
    "    {'names':['clone'],'action':'SCMP_ACT_ERRNO','errnoRet':38,"
    "     'args':[{'index':0,'value':2114060288,'valueTwo':0,'op':'SCMP_CMP_MASKED_EQ'}]}]},"
    "  'rootfsPropagation':'rslave',"
    "  'maskedPaths':['/proc/acpi','/proc/kcore','/sys/firmware'],"
    "  'readonlyPaths':['/proc/bus','/proc/sys'],"
    "  'mountLabel':'system_u:object_r:container_file_t:s0:c1,c2',"
    "  'intelRdt':{'closID':'guaranteed','l3CacheSchema':'L3:0=7f0;1=1f','memBwSchema':'MB:0=20'},"
    "  'personality':{'domain':'LINUX'}}}";

/* --- helpers --- */

static Grpc__Spec *spec_ok(const char *fixture)
{
    _cleanup_free_ char *json = q(fixture);
    struct error err = ERROR_INIT;
    Grpc__Spec *spec = NULL;
    int rc = oci_spec_from_json(json, strlen(json), &spec, NULL, &err);
    ck_assert_msg(rc == 0, "oci_spec_from_json: %s", err.msg);
    ck_assert_ptr_nonnull(spec);
    ck_assert(protobuf_c_message_check(&spec->base));
    return spec;
}

static void spec_free(Grpc__Spec *spec)
{
    protobuf_c_message_free_unpacked(&spec->base, NULL);
}

/* The conversion fails with INVALID_ARGUMENT and exactly msg. */
static void spec_fails(const char *fixture, const char *msg)
{
    _cleanup_free_ char *json = q(fixture);
    struct error err = ERROR_INIT;
    Grpc__Spec *spec = (Grpc__Spec *)1;
    ck_assert_int_eq(oci_spec_from_json(json, strlen(json), &spec, NULL, &err), -1);
    ck_assert_ptr_null(spec);
    ck_assert_int_eq(err.code, GRPC_INVALID_ARGUMENT);
    ck_assert_str_eq(err.msg, msg);
    error_clear(&err);
}

/* The n strings v are exactly the NULL-terminated arguments. */
static void assert_strv(char **v, size_t n, ...)
{
    va_list ap;
    va_start(ap, n);
    size_t i = 0;
    for (const char *s; (s = va_arg(ap, const char *)); i++) {
        ck_assert_msg(i < n, "only %zu strings, wanted %s", n, s);
        ck_assert_str_eq(v[i], s);
    }
    va_end(ap);
    ck_assert_uint_eq(i, n);
}

static const char *map_get(Grpc__Spec__AnnotationsEntry **e, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(e[i]->key, key) == 0)
            return e[i]->value;
    return NULL;
}

static const char *sysctl_get(Grpc__Linux *l, const char *key)
{
    for (size_t i = 0; i < l->n_sysctl; i++)
        if (strcmp(l->sysctl[i]->key, key) == 0)
            return l->sysctl[i]->value;
    return NULL;
}

/* Packs m, unpacks it, packs the copy: both encodings must be the same bytes. */
static ProtobufCMessage *round_trip(const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    _cleanup_free_ uint8_t *a = xmalloc(n + 1), *b = xmalloc(n + 1);
    ck_assert_uint_eq(protobuf_c_message_pack(m, a), n);
    ProtobufCMessage *copy = protobuf_c_message_unpack(m->descriptor, NULL, n, a);
    ck_assert_ptr_nonnull(copy);
    ck_assert_uint_eq(protobuf_c_message_get_packed_size(copy), n);
    ck_assert_uint_eq(protobuf_c_message_pack(copy, b), n);
    ck_assert_mem_eq(a, b, n);
    return copy;
}

/* --- whole documents --- */

START_TEST(test_ctr_run)
{
    Grpc__Spec *s = spec_ok(CTR_RUN);
    ck_assert_str_eq(s->version, "1.0.2-dev");
    Grpc__Process *p = s->process;
    ck_assert_ptr_nonnull(p);
    ck_assert(!p->terminal);
    ck_assert_ptr_null(p->consolesize);
    ck_assert_uint_eq(p->user->uid, 0);
    ck_assert_uint_eq(p->user->n_additionalgids, 0);
    ck_assert_str_eq(p->user->username, "");
    assert_strv(p->args, p->n_args, "sh", NULL);
    assert_strv(p->env, p->n_env,
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", NULL);
    ck_assert_str_eq(p->cwd, "/");
    assert_strv(p->capabilities->bounding, p->capabilities->n_bounding, "CAP_CHOWN", "CAP_KILL",
                "CAP_AUDIT_WRITE", NULL);
    ck_assert_uint_eq(p->capabilities->n_inheritable, 0);
    ck_assert_uint_eq(p->capabilities->n_ambient, 0);
    ck_assert_uint_eq(p->n_rlimits, 1);
    ck_assert_str_eq(p->rlimits[0]->type, "RLIMIT_NOFILE");
    ck_assert_uint_eq(p->rlimits[0]->hard, 1024);
    ck_assert_uint_eq(p->rlimits[0]->soft, 1024);
    ck_assert(p->nonewprivileges);
    ck_assert_int_eq(p->oomscoreadj, 0);
    ck_assert_str_eq(s->root->path, "rootfs");
    ck_assert(!s->root->readonly);
    ck_assert_str_eq(s->hostname, "");
    ck_assert_uint_eq(s->n_mounts, 4);
    ck_assert_str_eq(s->mounts[2]->destination, "/dev/pts");
    ck_assert_str_eq(s->mounts[2]->type, "devpts");
    ck_assert_str_eq(s->mounts[2]->source, "devpts");
    assert_strv(s->mounts[2]->options, s->mounts[2]->n_options, "nosuid", "noexec", "newinstance",
                "ptmxmode=0666", "mode=0620", "gid=5", NULL);
    ck_assert_ptr_null(s->hooks);
    ck_assert_uint_eq(s->n_annotations, 0);
    Grpc__Linux *l = s->linux;
    ck_assert_str_eq(l->cgroupspath, "/default/demo");
    /* resources.devices stripped; the message itself stays */
    ck_assert_ptr_nonnull(l->resources);
    ck_assert_uint_eq(l->resources->n_devices, 0);
    ck_assert_ptr_null(l->resources->devices);
    /* network and pid dropped (the agent gives each container its pid namespace) */
    ck_assert_uint_eq(l->n_namespaces, 3);
    const char *want[] = {"ipc", "uts", "mount"};
    for (size_t i = 0; i < 3; i++) {
        ck_assert_str_eq(l->namespaces[i]->type, want[i]);
        ck_assert_str_eq(l->namespaces[i]->path, "");
    }
    assert_strv(l->maskedpaths, l->n_maskedpaths, "/proc/acpi", "/proc/kcore", "/sys/firmware",
                NULL);
    assert_strv(l->readonlypaths, l->n_readonlypaths, "/proc/bus", "/proc/sys", NULL);
    ck_assert_ptr_null(l->seccomp);
    ck_assert_ptr_null(s->solaris);
    ck_assert_ptr_null(s->windows);

    ProtobufCMessage *copy = round_trip(&s->base);
    Grpc__Spec *c = (Grpc__Spec *)copy;
    ck_assert_str_eq(c->mounts[3]->destination, "/sys");
    ck_assert_uint_eq(c->linux->n_namespaces, 3);
    protobuf_c_message_free_unpacked(copy, NULL);
    spec_free(s);
}
END_TEST

START_TEST(test_cri_container_fields)
{
    Grpc__Spec *s = spec_ok(CRI_CONTAINER);
    ck_assert_str_eq(s->version, "1.0.2-dev");
    Grpc__Process *p = s->process;
    ck_assert(!p->terminal);
    ck_assert_uint_eq(p->consolesize->height, 40);
    ck_assert_uint_eq(p->consolesize->width, 120);
    ck_assert_uint_eq(p->user->uid, 1000);
    ck_assert_uint_eq(p->user->gid, 3000);
    ck_assert_uint_eq(p->user->n_additionalgids, 2);
    ck_assert_uint_eq(p->user->additionalgids[0], 3000);
    ck_assert_uint_eq(p->user->additionalgids[1], 2000);
    ck_assert_str_eq(p->user->username, "app");
    assert_strv(p->args, p->n_args, "/bin/sh", "-c", "sleep 3600", NULL);
    assert_strv(p->env, p->n_env, "PATH=/usr/local/bin:/usr/bin:/bin", "HOSTNAME=web-0",
                "KUBERNETES_SERVICE_HOST=10.96.0.1", NULL);
    ck_assert_str_eq(p->cwd, "/srv");
    Grpc__LinuxCapabilities *caps = p->capabilities;
    assert_strv(caps->bounding, caps->n_bounding, "CAP_CHOWN", "CAP_NET_BIND_SERVICE", "CAP_KILL",
                NULL);
    assert_strv(caps->effective, caps->n_effective, "CAP_CHOWN", "CAP_NET_BIND_SERVICE", NULL);
    assert_strv(caps->inheritable, caps->n_inheritable, "CAP_KILL", NULL);
    assert_strv(caps->permitted, caps->n_permitted, "CAP_CHOWN", "CAP_NET_BIND_SERVICE", "CAP_KILL",
                NULL);
    assert_strv(caps->ambient, caps->n_ambient, "CAP_NET_BIND_SERVICE", NULL);
    ck_assert_uint_eq(p->n_rlimits, 2);
    ck_assert_str_eq(p->rlimits[0]->type, "RLIMIT_NOFILE");
    ck_assert_uint_eq(p->rlimits[0]->hard, 1048576);
    ck_assert_uint_eq(p->rlimits[0]->soft, 1024);
    ck_assert_str_eq(p->rlimits[1]->type, "RLIMIT_MEMLOCK");
    ck_assert(p->rlimits[1]->hard == UINT64_MAX);                    /* RLIM_INFINITY, exactly */
    ck_assert(p->rlimits[1]->soft == UINT64_C(9223372036854775808)); /* INT64_MAX + 1 */
    ck_assert(p->nonewprivileges);
    ck_assert_str_eq(p->apparmorprofile, "cri-containerd.apparmor.d");
    ck_assert_int_eq(p->oomscoreadj, -997);
    /* the guest has no SELinux: kata-agent and genpolicy refuse a label */
    ck_assert_str_eq(p->selinuxlabel, "");

    ck_assert_str_eq(s->root->path, "rootfs");
    ck_assert(s->root->readonly);
    ck_assert_str_eq(s->hostname, "web-0");
    ck_assert_uint_eq(s->n_mounts, 3);
    ck_assert_str_eq(s->mounts[1]->destination, "/etc/hosts");
    ck_assert_str_eq(s->mounts[1]->type, "bind");
    ck_assert_str_eq(s->mounts[1]->source,
                     "/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/5c0d/hosts");
    assert_strv(s->mounts[2]->options, s->mounts[2]->n_options, "rbind", "rprivate", "ro", NULL);

    ck_assert_uint_eq(s->n_annotations, 7);
    ck_assert_str_eq(map_get(s->annotations, s->n_annotations, "io.kubernetes.cri.container-type"),
                     "container");
    ck_assert_str_eq(map_get(s->annotations, s->n_annotations, "io.kubernetes.cri.image-name"),
                     "registry.example.com/web:1.0");
    ck_assert_str_eq(map_get(s->annotations, s->n_annotations,
                             "io.katacontainers.config.hypervisor.default_vcpus"),
                     "2");

    Grpc__Linux *l = s->linux;
    ck_assert_uint_eq(l->n_uidmappings, 1);
    ck_assert_uint_eq(l->uidmappings[0]->containerid, 0);
    ck_assert_uint_eq(l->uidmappings[0]->hostid, 100000);
    ck_assert_uint_eq(l->uidmappings[0]->size, 65536);
    ck_assert_uint_eq(l->n_gidmappings, 1);
    ck_assert_uint_eq(l->gidmappings[0]->hostid, 200000);
    ck_assert_uint_eq(l->n_sysctl, 2);
    ck_assert_str_eq(sysctl_get(l, "net.ipv4.ip_unprivileged_port_start"), "0");
    ck_assert_str_eq(sysctl_get(l, "kernel.shm_rmid_forced"), "1");
    Grpc__LinuxResources *r = l->resources;
    ck_assert_int_eq(r->memory->limit, 268435456);
    ck_assert_int_eq(r->memory->reservation, 134217728);
    ck_assert_int_eq(r->memory->swap, 536870912);
    ck_assert_int_eq(r->memory->kernel, -1);
    ck_assert_int_eq(r->memory->kerneltcp, 0);
    ck_assert_uint_eq(r->memory->swappiness, 60);
    ck_assert(r->memory->disableoomkiller);
    ck_assert_uint_eq(r->cpu->shares, 512);
    ck_assert_int_eq(r->cpu->quota, 50000);
    ck_assert_uint_eq(r->cpu->period, 100000);
    ck_assert_int_eq(r->cpu->realtimeruntime, -1);
    ck_assert_uint_eq(r->cpu->realtimeperiod, 1000000);
    ck_assert_uint_eq(r->n_hugepagelimits, 2);
    ck_assert_str_eq(r->hugepagelimits[0]->pagesize, "2MB");
    ck_assert_uint_eq(r->hugepagelimits[0]->limit, 1073741824);
    ck_assert_str_eq(r->hugepagelimits[1]->pagesize, "1GB");
    ck_assert_str_eq(l->cgroupspath, "kubepods-burstable-pod8f1e.slice:cri-containerd:9a7b");
    ck_assert_uint_eq(l->n_devices, 1);
    ck_assert_str_eq(l->devices[0]->path, "/dev/fuse");
    ck_assert_str_eq(l->devices[0]->type, "c");
    ck_assert_int_eq(l->devices[0]->major, 10);
    ck_assert_int_eq(l->devices[0]->minor, 229);
    ck_assert_uint_eq(l->devices[0]->filemode, 438);
    ck_assert_uint_eq(l->devices[0]->uid, 0);
    ck_assert_str_eq(l->rootfspropagation, "rslave");
    assert_strv(l->maskedpaths, l->n_maskedpaths, "/proc/acpi", "/proc/kcore", "/sys/firmware",
                NULL);
    assert_strv(l->readonlypaths, l->n_readonlypaths, "/proc/bus", "/proc/sys", NULL);
    ck_assert_str_eq(l->mountlabel, "");
    ck_assert_str_eq(l->intelrdt->l3cacheschema, "L3:0=7f0;1=1f");
    spec_free(s);
}
END_TEST

START_TEST(test_cri_container_strips)
{
    Grpc__Spec *s = spec_ok(CRI_CONTAINER);
    ck_assert_ptr_null(s->hooks);
    ck_assert_ptr_null(
        map_get(s->annotations, s->n_annotations, "io.katacontainers.config.agent.policy"));
    ck_assert_ptr_null(map_get(s->annotations, s->n_annotations,
                               "io.katacontainers.config.hypervisor.cc_init_data"));
    Grpc__Linux *l = s->linux;
    ck_assert_ptr_null(l->seccomp);
    Grpc__LinuxResources *r = l->resources;
    ck_assert_uint_eq(r->n_devices, 0);
    ck_assert_ptr_null(r->pids);
    ck_assert_ptr_null(r->blockio);
    ck_assert_ptr_null(r->network);
    ck_assert_str_eq(r->cpu->cpus, "");
    ck_assert_str_eq(r->cpu->mems, "");
    /* network, cgroup, time and pid gone; the rest kept in order with their paths emptied */
    ck_assert_uint_eq(l->n_namespaces, 4);
    const char *want[] = {"ipc", "uts", "mount", "user"};
    for (size_t i = 0; i < 4; i++) {
        ck_assert_str_eq(l->namespaces[i]->type, want[i]);
        ck_assert_str_eq(l->namespaces[i]->path, "");
    }

    /* the stripped tree survives the wire */
    Grpc__Spec *c = (Grpc__Spec *)round_trip(&s->base);
    ck_assert_uint_eq(c->n_annotations, 7);
    ck_assert_ptr_null(c->hooks);
    ck_assert_ptr_null(c->linux->seccomp);
    ck_assert_str_eq(c->linux->resources->cpu->cpus, "");
    ck_assert(c->process->rlimits[1]->hard == UINT64_MAX);
    ck_assert_int_eq(c->process->oomscoreadj, -997);
    ck_assert_uint_eq(c->linux->n_namespaces, 4);
    protobuf_c_message_free_unpacked(&c->base, NULL);
    spec_free(s);

    /* a pid namespace with a path (containerd: shareProcessNamespace) is what the facts say;
     * one without a path is a new namespace per container */
    struct oci_spec_facts facts = {.pid_shared = false};
    struct error err = ERROR_INIT;
    _cleanup_free_ char *json = q(CRI_CONTAINER);
    ck_assert_int_eq(oci_spec_from_json(json, strlen(json), &s, &facts, &err), 0);
    ck_assert(facts.pid_shared);
    /* ... and so is the network namespace's path, the pod's network (pod-net.h) */
    ck_assert(facts.has_net_ns);
    ck_assert_str_eq(facts.net_ns, "/var/run/netns/cni-1234");
    spec_free(s);
    oci_spec_facts_clear(&facts);
    _cleanup_free_ char *ctr = q(CTR_RUN);
    facts.pid_shared = true;
    ck_assert_int_eq(oci_spec_from_json(ctr, strlen(ctr), &s, &facts, &err), 0);
    ck_assert(!facts.pid_shared);
    ck_assert(facts.has_net_ns); /* a new, empty one */
    ck_assert_ptr_null(facts.net_ns);
    spec_free(s);
    oci_spec_facts_clear(&facts);
    /* no entry at all: the host's network (hostNetwork) */
    ck_assert_int_eq(oci_spec_from_json("{\"linux\":{}}", 12, &s, &facts, &err), 0);
    ck_assert(!facts.has_net_ns);
    spec_free(s);
    /* without facts nothing leaks (ASan) */
    ck_assert_int_eq(oci_spec_from_json(json, strlen(json), &s, NULL, &err), 0);
    spec_free(s);
}
END_TEST

/* A pod's pause container: only the annotations differ from the container's handling. */
START_TEST(test_minimal_and_nulls)
{
    Grpc__Spec *s = spec_ok("{}");
    ck_assert_str_eq(s->version, "");
    ck_assert_ptr_null(s->process);
    ck_assert_ptr_null(s->linux);
    spec_free(s);
    /* null is "not set", as in Go */
    s = spec_ok("{'ociVersion':null,'process':null,'mounts':null,'annotations':null,"
                "'linux':{'resources':null,'namespaces':null,'seccomp':null}}");
    ck_assert_str_eq(s->version, "");
    ck_assert_ptr_null(s->process);
    ck_assert_uint_eq(s->n_mounts, 0);
    ck_assert_ptr_nonnull(s->linux);
    ck_assert_ptr_null(s->linux->resources);
    spec_free(s);
    /* empty arrays and objects */
    s = spec_ok("{'mounts':[],'annotations':{},'process':{'args':[],'user':{}},"
                "'linux':{'namespaces':[{'type':'network','path':'/x'}],'sysctl':{}}}");
    ck_assert_uint_eq(s->n_mounts, 0);
    ck_assert_uint_eq(s->n_annotations, 0);
    ck_assert_uint_eq(s->process->n_args, 0);
    ck_assert_uint_eq(s->process->user->uid, 0);
    ck_assert_uint_eq(s->linux->n_namespaces, 0);
    ck_assert_ptr_null(s->linux->namespaces);
    spec_free(s);
    /* names match ignoring case, as Go's encoding/json matches them; ociVersion is Version */
    s = spec_ok("{'ociVersion':'1.1.0','Version':'x','HOSTNAME':'h',"
                "'process':{'OOMScoreAdj':5,'Terminal':true}}");
    ck_assert_str_eq(s->version, "1.1.0");
    ck_assert_str_eq(s->hostname, "h");
    ck_assert_int_eq(s->process->oomscoreadj, 5);
    ck_assert(s->process->terminal);
    spec_free(s);
    /* big literals are rewritten only outside strings */
    s = spec_ok("{'hostname':'18446744073709551615','mounts':[{'destination':"
                "'\\\\\\'18446744073709551615','options':['x\\\\','18446744073709551615']}]}");
    ck_assert_str_eq(s->hostname, "18446744073709551615");
    ck_assert_str_eq(s->mounts[0]->destination, "\\\"18446744073709551615");
    assert_strv(s->mounts[0]->options, s->mounts[0]->n_options, "x\\", "18446744073709551615",
                NULL);
    spec_free(s);
    /* integer limits of each width */
    s = spec_ok("{'process':{'oomScoreAdj':-9223372036854775808,'user':{'uid':4294967295},"
                "'rlimits':[{'hard':18446744073709551615,'soft':0}]},"
                "'linux':{'resources':{'memory':{'limit':9223372036854775807}}}}");
    ck_assert(s->process->oomscoreadj == INT64_MIN);
    ck_assert_uint_eq(s->process->user->uid, UINT32_MAX);
    ck_assert(s->linux->resources->memory->limit == INT64_MAX);
    spec_free(s);
}
END_TEST

START_TEST(test_wrong_types)
{
    spec_fails("{'process':{'args':['sh',7]}}",
               "config.json: process.args[1]: expected a string, got 7");
    spec_fails("{'process':{'args':'sh'}}",
               "config.json: process.args: expected an array, got a string");
    spec_fails("{'process':{'user':{'uid':-1}}}",
               "config.json: process.user.uid: expected an integer from 0 to 4294967295, got -1");
    spec_fails("{'process':{'user':{'uid':4294967296}}}",
               "config.json: process.user.uid: expected an integer from 0 to 4294967295, got "
               "4294967296");
    spec_fails("{'process':{'user':{'additionalGids':[1,'2']}}}",
               "config.json: process.user.additionalGids[1]: expected an integer from 0 to "
               "4294967295, got a string");
    spec_fails("{'process':{'terminal':'yes'}}",
               "config.json: process.terminal: expected true or false, got a string");
    spec_fails("{'process':{'noNewPrivileges':1}}",
               "config.json: process.noNewPrivileges: expected true or false, got 1");
    spec_fails("{'process':{'oomScoreAdj':1.5}}",
               "config.json: process.oomScoreAdj: expected an integer from -9223372036854775808 "
               "to 9223372036854775807, got a number");
    spec_fails("{'process':{'rlimits':[{'type':'RLIMIT_NOFILE','hard':-1}]}}",
               "config.json: process.rlimits[0].hard: expected an integer from 0 to "
               "18446744073709551615, got -1");
    spec_fails("{'linux':{'resources':{'memory':{'limit':18446744073709551615}}}}",
               "config.json: linux.resources.memory.limit: expected an integer from "
               "-9223372036854775808 to 9223372036854775807, got 18446744073709551615");
    spec_fails("{'hostname':9223372036854775808}",
               "config.json: hostname: expected a string, got 9223372036854775808");
    spec_fails("{'ociVersion':true}", "config.json: ociVersion: expected a string, got true");
    spec_fails("{'mounts':{}}", "config.json: mounts: expected an array, got an object");
    spec_fails("{'mounts':[{'destination':'/a'},{'options':[null]}]}",
               "config.json: mounts[1].options[0]: expected a string, got null");
    spec_fails("{'process':[]}", "config.json: process: expected an object, got an array");
    spec_fails("{'annotations':{'a':'b','c':1}}",
               "config.json: annotations.c: expected a string, got 1");
    spec_fails("{'annotations':['a']}",
               "config.json: annotations: expected an object, got an array");
    spec_fails("{'linux':{'sysctl':{'k':false}}}",
               "config.json: linux.sysctl.k: expected a string, got false");
    spec_fails("{'linux':{'namespaces':[{'type':'pid','path':{}}]}}",
               "config.json: linux.namespaces[0].path: expected a string, got an object");
    /* what is stripped later is still checked: containerd would have refused it too */
    spec_fails("{'linux':{'seccomp':{'syscalls':[{'names':['x'],'errnoRet':-1}]}}}",
               "config.json: linux.seccomp.syscalls[0].errnoRet: expected an integer from 0 to "
               "4294967295, got -1");
    spec_fails("{'hooks':{'prestart':[{'path':'/x','timeout':'5'}]}}",
               "config.json: hooks.prestart[0].timeout: expected an integer from "
               "-9223372036854775808 to 9223372036854775807, got a string");
    spec_fails("{'linux':{'resources':{'devices':[{'major':'8'}]}}}",
               "config.json: linux.resources.devices[0].major: expected an integer from "
               "-9223372036854775808 to 9223372036854775807, got a string");
    /* the JSON spelling of the member is the one named */
    spec_fails("{'Process':{'USER':{'UID':'0'}}}",
               "config.json: Process.USER.UID: expected an integer from 0 to 4294967295, got a "
               "string");
}
END_TEST

START_TEST(test_bad_documents)
{
    spec_fails("[]", "config.json: expected a JSON object, got an array");
    spec_fails("'spec'", "config.json: invalid JSON at line 1, column 6: '[' or '{' expected near "
                         "'\"spec\"'");
    spec_fails("{'hostname':'a\\u0000b'}",
               "config.json: line 1: a string holds \\u0000, which is not allowed");
    spec_fails("{'x':1,\n'process':{'rlimits':[{'hard':18446744073709551616}]}}",
               "config.json: invalid JSON at line 2, column 50: too big integer near "
               "'18446744073709551616'");

    struct error err = ERROR_INIT;
    Grpc__Spec *s = NULL;
    ck_assert_int_eq(oci_spec_from_json("", 0, &s, NULL, &err), -1);
    ck_assert_int_eq(err.code, GRPC_INVALID_ARGUMENT);
    ck_assert_msg(strncmp(err.msg, "config.json: invalid JSON at line 1", 35) == 0, "%s", err.msg);
    ck_assert_int_eq(oci_spec_from_json(NULL, 0, &s, NULL, &err), -1);
    ck_assert_ptr_null(s);
    /* len, not NUL, ends the text */
    ck_assert_int_eq(oci_spec_from_json("{}garbage", 2, &s, NULL, &err), 0);
    spec_free(s);
    ck_assert_int_eq(oci_spec_from_json("{\"hostname\":\"a\0b\"}", 18, &s, NULL, &err), -1);
    ck_assert_ptr_null(s);

    /* past the size limit: refused before parsing */
    size_t big = OCI_MAX_JSON_SIZE + 1;
    char *text = xmalloc(big);
    memset(text, ' ', big);
    text[0] = '{';
    text[big - 1] = '}';
    ck_assert_int_eq(oci_spec_from_json(text, big, &s, NULL, &err), -1);
    ck_assert_str_eq(err.msg, "config.json: 16777217 bytes is more than the limit of 16 MiB");
    /* at the limit: fine */
    ck_assert_int_eq(oci_spec_from_json(text, big - 1, &s, NULL, &err), -1); /* no closing brace */
    text[big - 2] = '}';
    ck_assert_int_eq(oci_spec_from_json(text, big - 1, &s, NULL, &err), 0);
    spec_free(s);
    free(text);

    /* nesting deeper than jansson's parser allows */
    size_t depth = 100000;
    text = xmalloc(2 * depth + 16);
    /* Byte by byte: GCC 12 with -fsanitize misjudges memset's bounds here (-Warray-bounds). */
    size_t n = (size_t)sprintf(text, "{\"x\":");
    for (size_t i = 0; i < depth; i++)
        text[n++] = '[';
    for (size_t i = 0; i < depth; i++)
        text[n++] = ']';
    text[n++] = '}';
    ck_assert_int_eq(oci_spec_from_json(text, n, &s, NULL, &err), -1);
    ck_assert_msg(strstr(err.msg, "maximum parsing depth"), "%s", err.msg);
    free(text);
    error_clear(&err);
}
END_TEST

/* A large but valid document: 50000 env entries and 20000 annotations. */
START_TEST(test_large_document)
{
    struct buf_s {
        char *p;
        size_t len, cap;
    } b = {xmalloc(1 << 20), 0, 1 << 20};
#define PUT(...)                                                                                   \
    do {                                                                                           \
        char tmp[128];                                                                             \
        size_t k = (size_t)snprintf(tmp, sizeof(tmp), __VA_ARGS__);                                \
        if (b.len + k + 1 > b.cap)                                                                 \
            b.p = xrealloc(b.p, b.cap *= 2);                                                       \
        memcpy(b.p + b.len, tmp, k + 1);                                                           \
        b.len += k;                                                                                \
    } while (0)
    PUT("{\"process\":{\"env\":[");
    for (int i = 0; i < 50000; i++)
        PUT("%s\"VAR_%d=%d\"", i ? "," : "", i, i * 7);
    PUT("]},\"annotations\":{");
    for (int i = 0; i < 20000; i++)
        PUT("%s\"example.com/key-%d\":\"value-%d\"", i ? "," : "", i, i);
    PUT("}}");
#undef PUT
    struct error err = ERROR_INIT;
    Grpc__Spec *s = NULL;
    ck_assert_int_eq(oci_spec_from_json(b.p, b.len, &s, NULL, &err), 0);
    ck_assert_uint_eq(s->process->n_env, 50000);
    ck_assert_str_eq(s->process->env[49999], "VAR_49999=349993");
    ck_assert_uint_eq(s->n_annotations, 20000);
    ck_assert_str_eq(map_get(s->annotations, s->n_annotations, "example.com/key-12345"),
                     "value-12345");
    spec_free(s);

    struct pod_annotations a;
    ck_assert_int_eq(pod_annotations_from_json(b.p, b.len, &a, &err), 0);
    ck_assert_uint_eq(a.len, 20000);
    ck_assert_str_eq(annotation_get(a.items, a.len, "example.com/key-19999"), "value-19999");
    pod_annotations_free(&a);
    free(b.p);
}
END_TEST

/* --- hostile input: never a crash, a leak or a message without its document --- */

static void convert_any(const char *text, size_t len, bool annotations_too)
{
    struct error err = ERROR_INIT;
    Grpc__Spec *s = NULL;
    if (oci_spec_from_json(text, len, &s, NULL, &err) == 0) {
        ck_assert(protobuf_c_message_check(&s->base));
        spec_free(s);
    } else {
        ck_assert_ptr_null(s);
        ck_assert_int_eq(err.code, GRPC_INVALID_ARGUMENT);
        ck_assert_msg(strncmp(err.msg, "config.json: ", 13) == 0, "%s", err.msg);
    }
    struct pod_annotations a;
    if (annotations_too) {
        if (pod_annotations_from_json(text, len, &a, &err) == 0)
            pod_annotations_free(&a);
        else
            ck_assert_ptr_null(a.items);
    }
    error_clear(&err);
}

START_TEST(test_truncations_and_flips)
{
    _cleanup_free_ char *json = q(CRI_CONTAINER);
    size_t len = strlen(json);
    for (size_t n = 0; n < len; n += n < 512 ? 1 : 5) /* cut everywhere near the start */
        convert_any(json, n, true);
    uint32_t x = 12345;
    _cleanup_free_ char *copy = xmalloc(len);
    static const char bytes[] = "{}[]\",:0-9e.\\ntfu\x01\xff";
    for (int i = 0; i < 1500; i++) {
        memcpy(copy, json, len);
        for (int k = 0; k < 1 + i % 4; k++) {
            x = x * 1103515245 + 12345;
            size_t at = (x >> 8) % len;
            x = x * 1103515245 + 12345;
            copy[at] = bytes[(x >> 16) % (sizeof(bytes) - 1)];
        }
        convert_any(copy, len, true);
    }
}
END_TEST

/* Replaces the nth value of the tree (pre-order, root excluded) with `with`; true if there was
 * one. */
static bool replace_nth(json_t *node, size_t *n, json_t *with)
{
    if (json_is_object(node)) {
        for (void *it = json_object_iter(node); it; it = json_object_iter_next(node, it)) {
            if ((*n)-- == 0) {
                json_object_iter_set(node, it, with);
                return true;
            }
            if (replace_nth(json_object_iter_value(it), n, with))
                return true;
        }
    } else if (json_is_array(node)) {
        for (size_t i = 0; i < json_array_size(node); i++) {
            if ((*n)-- == 0) {
                json_array_set(node, i, with);
                return true;
            }
            if (replace_nth(json_array_get(node, i), n, with))
                return true;
        }
    }
    return false;
}

/* In place: every `from` in s becomes `to`, which is no longer. */
static void replace_all(char *s, const char *from, const char *to)
{
    size_t nf = strlen(from), nt = strlen(to);
    for (char *p; (p = strstr(s, from));) {
        memcpy(p, to, nt);
        memmove(p + nt, p + nf, strlen(p + nf) + 1);
    }
}

START_TEST(test_every_value_every_type)
{
    _cleanup_free_ char *json = q(CRI_CONTAINER);
    /* the test's own jansson cannot load integers above INT64_MAX */
    replace_all(json, "18446744073709551615", "1");
    replace_all(json, "9223372036854775808", "2");
    json_t *root = json_loads(json, 0, NULL);
    ck_assert_ptr_nonnull(root);
    json_t *values[] = {
        json_object(),  json_array(), json_string("x"), json_integer(-1),
        json_real(2.5), json_true(),  json_null(),      json_pack("{s:[i]}", "args", 3)};
    size_t nv = sizeof(values) / sizeof(*values), tried = 0;
    for (size_t i = 0;; i++) {
        bool more = false;
        for (size_t v = 0; v < nv; v++) {
            json_t *copy = json_deep_copy(root);
            size_t n = i;
            more = replace_nth(copy, &n, values[v]);
            if (more) {
                char *text = json_dumps(copy, JSON_COMPACT);
                convert_any(text, strlen(text), false);
                free(text);
                tried++;
            }
            json_decref(copy);
        }
        if (!more)
            break;
    }
    ck_assert_uint_gt(tried, 2000);
    for (size_t v = 0; v < nv; v++)
        json_decref(values[v]);
    json_decref(root);
}
END_TEST

/* --- exec process and update resources --- */

START_TEST(test_exec_process)
{
    /* what containerd puts in ExecProcessRequest.spec for `crictl exec -it web-0 sh` */
    _cleanup_free_ char *json =
        q("{'terminal':true,'consoleSize':{'height':24,'width':80},"
          "'user':{'uid':1000,'gid':1000,'additionalGids':[10,1000]},"
          "'args':['sh'],'env':['PATH=/usr/bin:/bin','TERM=xterm'],'cwd':'/srv',"
          "'capabilities':{'bounding':['CAP_KILL'],'effective':['CAP_KILL'],"
          "'permitted':['CAP_KILL']},'noNewPrivileges':false,"
          "'apparmorProfile':'cri-containerd.apparmor.d','oomScoreAdj':1000,"
          "'rlimits':[{'type':'RLIMIT_CORE','hard':0,'soft':0}]}");
    struct error err = ERROR_INIT;
    Grpc__Process *p = NULL;
    ck_assert_int_eq(oci_process_from_json(json, strlen(json), &p, &err), 0);
    ck_assert(p->terminal);
    ck_assert_uint_eq(p->consolesize->height, 24);
    ck_assert_uint_eq(p->consolesize->width, 80);
    ck_assert_uint_eq(p->user->uid, 1000);
    ck_assert_uint_eq(p->user->n_additionalgids, 2);
    ck_assert_uint_eq(p->user->additionalgids[0], 10);
    assert_strv(p->args, p->n_args, "sh", NULL);
    assert_strv(p->env, p->n_env, "PATH=/usr/bin:/bin", "TERM=xterm", NULL);
    ck_assert_str_eq(p->cwd, "/srv");
    assert_strv(p->capabilities->permitted, p->capabilities->n_permitted, "CAP_KILL", NULL);
    ck_assert(!p->nonewprivileges);
    ck_assert_str_eq(p->apparmorprofile, "cri-containerd.apparmor.d");
    ck_assert_int_eq(p->oomscoreadj, 1000);
    ck_assert_str_eq(p->rlimits[0]->type, "RLIMIT_CORE");
    Grpc__Process *c = (Grpc__Process *)round_trip(&p->base);
    ck_assert(c->terminal);
    ck_assert_str_eq(c->env[1], "TERM=xterm");
    protobuf_c_message_free_unpacked(&c->base, NULL);

    /* what ExecProcess carries: Kata's cmdToKataProcess, with noNewPrivileges */
    p->nonewprivileges = true;
    p->selinuxlabel = xstrdup("system_u:system_r:container_t:s0");
    p->user->username = xstrdup("app");
    oci_strip_exec_process(p);
    ck_assert(p->terminal);
    ck_assert_ptr_null(p->consolesize);
    ck_assert_uint_eq(p->user->uid, 1000);
    ck_assert_uint_eq(p->user->gid, 1000);
    ck_assert_uint_eq(p->user->n_additionalgids, 2);
    ck_assert_str_eq(p->user->username, "");
    assert_strv(p->args, p->n_args, "sh", NULL);
    ck_assert_uint_eq(p->n_env, 2);
    ck_assert_str_eq(p->cwd, "/srv");
    ck_assert(p->nonewprivileges);
    ck_assert_ptr_null(p->capabilities); /* the agent gives the exec the container's */
    ck_assert_uint_eq(p->n_rlimits, 0);
    ck_assert_str_eq(p->apparmorprofile, "");
    ck_assert_str_eq(p->selinuxlabel, "");
    ck_assert_int_eq(p->oomscoreadj, 0);
    c = (Grpc__Process *)round_trip(&p->base);
    protobuf_c_message_free_unpacked(&c->base, NULL);
    protobuf_c_message_free_unpacked(&p->base, NULL);

    _cleanup_free_ char *bad = q("{'args':['sh',{}]}");
    ck_assert_int_eq(oci_process_from_json(bad, strlen(bad), &p, &err), -1);
    ck_assert_ptr_null(p);
    ck_assert_str_eq(err.msg, "process: args[1]: expected a string, got an object");
    ck_assert_int_eq(oci_process_from_json("[1]", 3, &p, &err), -1);
    ck_assert_str_eq(err.msg, "process: expected a JSON object, got an array");
    error_clear(&err);
}
END_TEST

START_TEST(test_update_resources)
{
    /* UpdateTaskRequest.resources for `crictl update --memory 256m --cpu-quota 50000 ...` */
    _cleanup_free_ char *json =
        q("{'devices':[{'allow':false,'access':'rwm'}],"
          "'memory':{'limit':268435456,'swap':268435456},"
          "'cpu':{'shares':512,'quota':50000,'period':100000,'cpus':'0-1','mems':'0'},"
          "'pids':{'limit':100},'blockIO':{'weight':10},"
          "'hugepageLimits':[{'pageSize':'2MB','limit':0}],"
          "'network':{'classID':1},'unified':{'memory.high':'1'}}");
    struct error err = ERROR_INIT;
    Grpc__LinuxResources *r = NULL;
    ck_assert_int_eq(oci_resources_from_json(json, strlen(json), &r, &err), 0);
    ck_assert_int_eq(r->memory->limit, 268435456);
    ck_assert_int_eq(r->memory->swap, 268435456);
    ck_assert_uint_eq(r->cpu->shares, 512);
    ck_assert_int_eq(r->cpu->quota, 50000);
    ck_assert_uint_eq(r->cpu->period, 100000);
    ck_assert_str_eq(r->cpu->cpus, "");
    ck_assert_str_eq(r->cpu->mems, "");
    ck_assert_uint_eq(r->n_hugepagelimits, 1);
    ck_assert_str_eq(r->hugepagelimits[0]->pagesize, "2MB");
    ck_assert_uint_eq(r->n_devices, 0);
    ck_assert_ptr_null(r->pids);
    ck_assert_ptr_null(r->blockio);
    ck_assert_ptr_null(r->network);
    Grpc__LinuxResources *c = (Grpc__LinuxResources *)round_trip(&r->base);
    ck_assert_int_eq(c->memory->limit, 268435456);
    protobuf_c_message_free_unpacked(&c->base, NULL);
    protobuf_c_message_free_unpacked(&r->base, NULL);

    _cleanup_free_ char *bad = q("{'memory':{'limit':'256m'}}");
    ck_assert_int_eq(oci_resources_from_json(bad, strlen(bad), &r, &err), -1);
    ck_assert_ptr_null(r);
    ck_assert_str_eq(err.msg, "resources: memory.limit: expected an integer from "
                              "-9223372036854775808 to 9223372036854775807, got a string");
    error_clear(&err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("oci");
    TCase *tc = tcase_create("spec");
    tcase_add_test(tc, test_ctr_run);
    tcase_add_test(tc, test_cri_container_fields);
    tcase_add_test(tc, test_cri_container_strips);
    tcase_add_test(tc, test_minimal_and_nulls);
    tcase_add_test(tc, test_wrong_types);
    tcase_add_test(tc, test_bad_documents);
    tcase_add_test(tc, test_large_document);
    suite_add_tcase(s, tc);
    tc = tcase_create("hostile");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_truncations_and_flips);
    tcase_add_test(tc, test_every_value_every_type);
    suite_add_tcase(s, tc);
    tc = tcase_create("parts");
    tcase_add_test(tc, test_exec_process);
    tcase_add_test(tc, test_update_resources);
    suite_add_tcase(s, tc);
    return run_tap(s);
}
