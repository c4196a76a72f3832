#include "caps.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/log.h"

/* Numbers from linux/capability.h; the names the OCI spec uses. */
static const char *const cap_names[] = {
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
};

static uint64_t mask_of(char **names, size_t n)
{
    uint64_t m = 0;
    for (size_t i = 0; i < n; i++) {
        size_t c = 0;
        while (c < sizeof(cap_names) / sizeof(cap_names[0]) && strcmp(cap_names[c], names[i]))
            c++;
        if (c < sizeof(cap_names) / sizeof(cap_names[0]))
            m |= 1ULL << c;
        else
            log_warn("%s is not a cap", names[i]);
    }
    return m;
}

void caps_from_spec(const Grpc__LinuxCapabilities *c, struct caps *out)
{
    memset(out, 0, sizeof(*out));
    if (!c)
        return;
    out->present = true;
    out->bounding = mask_of(c->bounding, c->n_bounding);
    out->effective = mask_of(c->effective, c->n_effective);
    out->inheritable = mask_of(c->inheritable, c->n_inheritable);
    out->permitted = mask_of(c->permitted, c->n_permitted);
    out->ambient = mask_of(c->ambient, c->n_ambient);
}

/* --- in the child: system calls only --- */

struct capsets {
    uint64_t effective, permitted, inheritable;
};

static int get_sets(struct capsets *s)
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d) < 0)
        return -1;
    s->effective = d[0].effective | (uint64_t)d[1].effective << 32;
    s->permitted = d[0].permitted | (uint64_t)d[1].permitted << 32;
    s->inheritable = d[0].inheritable | (uint64_t)d[1].inheritable << 32;
    return 0;
}

static int set_sets(const struct capsets *s)
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2] = {
        {(uint32_t)s->effective, (uint32_t)s->permitted, (uint32_t)s->inheritable},
        {(uint32_t)(s->effective >> 32), (uint32_t)(s->permitted >> 32),
         (uint32_t)(s->inheritable >> 32)},
    };
    return (int)syscall(SYS_capset, &h, d);
}

int caps_reset_effective(void)
{
    struct capsets s;
    if (get_sets(&s) < 0)
        return -1;
    s.effective = s.permitted;
    return set_sets(&s);
}

static int fail(char *msg, size_t msg_len, const char *what)
{
    snprintf(msg, msg_len, "capabilities: %s: %s", what, strerror(errno));
    return -1;
}

int caps_apply(const struct caps *c, char *msg, size_t msg_len)
{
    if (!c->present)
        return 0;
    /* every capability the kernel knows that the bounding set does not keep */
    for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
        if (cap >= 64 || !(c->bounding & (1ULL << cap)))
            if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
                return fail(msg, msg_len, "drop from the bounding set");
    /* one set at a time, as the caps crate does for rustjail */
    struct capsets s;
    if (get_sets(&s) < 0)
        return fail(msg, msg_len, "capget");
    s.effective = c->effective;
    if (set_sets(&s) < 0)
        return fail(msg, msg_len, "set the effective set");
    s.permitted = c->permitted;
    if (set_sets(&s) < 0)
        return fail(msg, msg_len, "set the permitted set");
    s.inheritable = c->inheritable;
    if (set_sets(&s) < 0)
        return fail(msg, msg_len, "set the inheritable set");
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) == 0)
        for (int cap = 0; cap < 64; cap++)
            if (c->ambient & (1ULL << cap))
                (void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0);
    return 0;
}
