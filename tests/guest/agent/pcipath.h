/* UpdateInterface's devicePath: the guest PCI path of the NIC ("02/00": slot 02 on the root bus,
 * a bridge there, slot 00 behind it), as kata-agent reads it (linux_abi.rs
 * pcipath_from_dev_tree_path, device/network_device_handler.rs wait_for_pci_net_interface). */
#pragma once

#include <net/if.h>
#include <stdbool.h>

#include "lib/error.h"

/* Parses path (INTERNAL "Invalid PCI path for network interface: ..." when it is not one),
 * resolves it through the PCI bridges in /sys and waits up to 3 s (kata-agent's default
 * hotplug_timeout) for a network interface of that device in /sys/class/net ("interface not
 * available: ..." otherwise). *netdev gets the name under the device's own `net` directory (a
 * VFIO NIC has one; a virtio-net NIC's is under its virtioN child) or "" when there is none. */
int pcipath_wait_netdev(const char *path, char netdev[IF_NAMESIZE], struct error *err);
