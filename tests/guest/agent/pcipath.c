#include "pcipath.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

#define HOTPLUG_TIMEOUT_MS 3000
#define POLL_MS 50
#define MAX_SLOTS 16
/* kata-agent: the first guest bus number of a pxb-pcie NUMA expander (a root complex of its own) */
#define PXB_PCIE_ROOT_BUS_MIN 0x20

struct slotfn {
    unsigned slot, fn;
};

/* n hex digits at s (1 <= n <= max_digits) into *v. */
static bool hex_field(const char *s, size_t n, size_t max_digits, unsigned *v)
{
    if (n == 0 || n > max_digits || strspn(s, "0123456789abcdefABCDEF") < n)
        return false;
    char buf[8];
    memcpy(buf, s, n);
    buf[n] = '\0';
    unsigned long x = strtoul(buf, NULL, 16);
    *v = (unsigned)x;
    return true;
}

/* One path element: "SS" or "SS.F", slot 00-1f, function 0-7 (kata-agent's pci::SlotFn). */
static bool parse_slotfn(const char *s, size_t n, struct slotfn *out)
{
    const char *dot = memchr(s, '.', n);
    size_t slot_len = dot ? (size_t)(dot - s) : n;
    out->fn = 0;
    if (!hex_field(s, slot_len, 2, &out->slot) || out->slot > 0x1f)
        return false;
    if (dot && (!hex_field(dot + 1, n - slot_len - 1, 1, &out->fn) || out->fn > 7))
        return false;
    return true;
}

/* "xx/yy" on root complex 00, or "<pxb bus>/xx/yy" (three or more elements, the first a bus
 * number of 0x20 or more) on root complex <pxb bus>. */
static int parse_path(const char *path, char root[3], struct slotfn *slots, size_t *n,
                      struct error *err)
{
    const char *p = path;
    unsigned rc;
    const char *first_end = strchr(p, '/');
    size_t segments = 1;
    for (const char *c = path; *c; c++)
        segments += *c == '/';
    strcpy(root, "00");
    if (segments >= 3 && hex_field(p, (size_t)(first_end - p), 2, &rc) &&
        rc >= PXB_PCIE_ROOT_BUS_MIN) {
        snprintf(root, 3, "%.*s", (int)(first_end - p), p);
        p = first_end + 1;
        segments--;
    }
    if (segments > MAX_SLOTS)
        return error_set(err, GRPC_INTERNAL,
                         "Invalid PCI path for network interface: \"%s\" has more than %d elements",
                         path, MAX_SLOTS);
    *n = 0;
    for (;;) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (!parse_slotfn(p, len, &slots[*n]))
            return error_set(
                err, GRPC_INTERNAL,
                "Invalid PCI path for network interface: \"%s\": \"%.*s\" is not a PCI "
                "slot (SS or SS.F, slot 00-1f, function 0-7)",
                path, (int)len, p);
        (*n)++;
        if (!end)
            return 0;
        p = end + 1;
    }
}

/* A bounded copy of a directory entry's name; false when it does not fit. */
static bool copy_name(char *out, size_t size, const char *name)
{
    size_t n = strlen(name);
    if (n >= size)
        return false;
    memcpy(out, name, n + 1);
    return true;
}

/* Whether dir (a bridge's pci_bus) has exactly one entry, its secondary bus ("0000:01"), put
 * in out. */
static bool single_entry(const char *dir, char *out, size_t size)
{
    DIR *d = opendir(dir);
    if (!d)
        return false;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && n++ == 0 &&
            !copy_name(out, size, e->d_name))
            n++;
    closedir(d);
    return n == 1;
}

/* pcipath_to_sysfs: "/0000:00:02.0/0000:01:00.0", each bridge's bus read from its pci_bus. */
static int resolve(const char *path, const char *root_dir, const struct slotfn *slots, size_t n,
                   char *rel, size_t rel_size, struct error *err)
{
    char bus[32] = "0000:00";
    rel[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        size_t used = strlen(rel);
        snprintf(rel + used, rel_size - used, "/%s:%02x.%x", bus, slots[i].slot, slots[i].fn);
        if (i + 1 == n)
            break;
        char bridge_bus[PATH_MAX];
        snprintf(bridge_bus, sizeof(bridge_bus), "%s%s/pci_bus", root_dir, rel);
        if (!single_entry(bridge_bus, bus, sizeof(bus)))
            return error_set(err, GRPC_INTERNAL,
                             "interface not available: PCI path %s: element %zu (%s%s) is not a "
                             "bridge with one bus in %s",
                             path, i, root_dir, rel, bridge_bus);
    }
    return 0;
}

/* wait_for_pci_net_interface's check_existing: a /sys/class/net entry whose target is under
 * devpath and has a net/ directory after it. */
static bool net_interface_exists(const char *devpath)
{
    DIR *d = opendir("/sys/class/net");
    if (!d)
        return false;
    char under[PATH_MAX + 2];
    snprintf(under, sizeof(under), "%s/", devpath);
    bool found = false;
    struct dirent *e;
    while (!found && (e = readdir(d))) {
        char link[PATH_MAX], target[PATH_MAX];
        snprintf(link, sizeof(link), "/sys/class/net/%s", e->d_name);
        ssize_t len = readlink(link, target, sizeof(target) - 1);
        if (len <= 0)
            continue;
        target[len] = '\0';
        const char *at = strstr(target, under);
        found = at && strstr(at + strlen(under), "net/");
    }
    closedir(d);
    return found;
}

int pcipath_wait_netdev(const char *path, char netdev[IF_NAMESIZE], struct error *err)
{
    char root[3];
    struct slotfn slots[MAX_SLOTS];
    size_t n = 0;
    if (parse_path(path, root, slots, &n, err) < 0)
        return -1;
    char root_dir[64], rel[MAX_SLOTS * 16], devpath[PATH_MAX];
    snprintf(root_dir, sizeof(root_dir), "/sys/devices/pci0000:%s", root);
    if (resolve(path, root_dir, slots, n, rel, sizeof(rel), err) < 0)
        return -1;
    snprintf(devpath, sizeof(devpath), "/devices/pci0000:%s%s", root, rel);
    for (int waited = 0; !net_interface_exists(devpath); waited += POLL_MS) {
        if (waited >= HOTPLUG_TIMEOUT_MS)
            return error_set(err, GRPC_INTERNAL,
                             "interface not available: no network interface of PCI device %s "
                             "(path %s) appeared in /sys/class/net within %d ms",
                             devpath, path, HOTPLUG_TIMEOUT_MS);
        sleep_ms(POLL_MS);
    }
    char net_dir[PATH_MAX];
    snprintf(net_dir, sizeof(net_dir), "%s%s/net", root_dir, rel);
    netdev[0] = '\0';
    DIR *d = opendir(net_dir);
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && !netdev[0] &&
            !copy_name(netdev, IF_NAMESIZE, e->d_name))
            netdev[0] = '\0';
    closedir(d);
    return 0;
}
