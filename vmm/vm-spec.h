/* What the shim wants launched: a VM described independently of libvirt. The domain XML
 * builder (domain-xml.h) turns it into libvirt XML; nothing here knows containerd or Kata. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum vm_tee {
    VM_TEE_NONE, /* a plain VM: development and tests */
    VM_TEE_SNP,  /* AMD SEV-SNP: <launchSecurity type='sev-snp'> */
    VM_TEE_TDX,  /* Intel TDX: <launchSecurity type='tdx'> */
};

enum vm_agent_channel {
    VM_AGENT_VSOCK,  /* <vsock model='virtio'><cid auto='yes'/></vsock>; production */
    VM_AGENT_SERIAL, /* virtio-serial port "agent.channel.0" on a unix socket; no vhost-vsock */
};

#define VM_SNP_HOST_DATA_LEN 32
#define VM_TDX_MR_CONFIG_ID_LEN 48
#define VM_AGENT_SERIAL_NAME "agent.channel.0"

struct vm_snp {
    uint64_t policy; /* required by libvirt; CoCo default 0x30000 */
    bool has_cbitpos;
    unsigned cbitpos;
    bool has_reduced_phys_bits;
    unsigned reduced_phys_bits;
    char *guest_visible_workarounds; /* base64 of 16 bytes, or NULL */
    char *id_block;                  /* base64 of 96 bytes, or NULL; needs id_auth too */
    char *id_auth;                   /* base64 of 4096 bytes, or NULL */
    bool has_host_data;
    uint8_t host_data[VM_SNP_HOST_DATA_LEN]; /* the init-data digest, fitted */
    bool kernel_hashes; /* kernelHashes='yes' (direct kernel boot + AmdSev OVMF) */
    bool author_key;    /* authorKey='yes' */
    bool vcek_disabled; /* vcek='no' */
};

struct vm_tdx {
    bool has_policy;
    uint64_t policy; /* only bit 0 (debug) and bit 28 (SEPT_VE_DISABLE) */
    bool has_mr_config_id;
    uint8_t mr_config_id[VM_TDX_MR_CONFIG_ID_LEN]; /* the init-data digest, fitted */
    char *mr_owner;                                /* base64 of 48 bytes, or NULL */
    char *mr_owner_config;                         /* base64 of 48 bytes, or NULL */
    bool quote_generation_service;                 /* <quoteGenerationService path=...> */
    char *qgs_socket_path;                         /* NULL: libvirt's default */
};

struct vm_disk {
    char *path;   /* a raw image file on the host */
    char *serial; /* e.g. "initdata"; NULL for none */
    bool readonly;
};

/* A virtio-net NIC on an existing tap of the host (<interface type='ethernet'>, managed='no':
 * libvirt opens the tap and changes nothing about it). */
struct vm_nic {
    char *tap;      /* the tap's name in libvirtd's network namespace */
    uint8_t mac[6]; /* the guest NIC's */
    unsigned mtu;   /* 0: libvirt's default */
};

/* The QEMU user-network NIC's MAC, fixed so that the test guest's /init can tell it from the
 * pod's NICs. */
#define VM_USER_NETWORK_MAC "52:54:00:c0:c0:01"

struct vm_spec {
    char *name;         /* libvirt domain name; derived from the sandbox id */
    char *sandbox_id;   /* recorded in <metadata> so a dead shim's domain can be found */
    char *domain_type;  /* "kvm" in production, "qemu" for TCG; NULL means "kvm" */
    char *emulator;     /* QEMU binary, or NULL for libvirt's default */
    char *machine_type; /* "q35" (TEE guests) or "pc"; NULL means "q35" */
    unsigned vcpus;
    unsigned memory_mib;

    char *kernel; /* direct kernel boot */
    char *initrd; /* NULL if none */
    char *image;  /* root disk image (raw, read-only, virtio-blk), or NULL */
    char *kernel_params;
    char *firmware; /* loaded as ROM (SNP and TDX require it), or NULL */

    enum vm_tee tee;
    struct vm_snp snp;
    struct vm_tdx tdx;

    struct vm_disk *disks; /* extra disks, e.g. the init-data disk */
    size_t n_disks;

    enum vm_agent_channel agent_channel;
    char *agent_socket;  /* VM_AGENT_SERIAL: host path of the channel's unix socket */
    char *console_log;   /* serial console written to this file, or NULL */
    bool user_network;   /* QEMU user networking (guest reaches the host's loopback at 10.0.2.2) */
    struct vm_nic *nics; /* the pod's network */
    size_t n_nics;
};

void vm_spec_free(struct vm_spec *spec); /* frees the members, not spec itself */

/* The domain name for a sandbox: "cocoon-" + the sandbox id with every character outside
 * [A-Za-z0-9_.-] replaced by '_'. Caller frees. */
char *vmm_domain_name(const char *sandbox_id);
