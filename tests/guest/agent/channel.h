/* Where the agent's ttrpc connection comes from. */
#pragma once

#include "lib/error.h"

/* Opens the virtio-serial port named `name` (/dev/vportNpM whose
 * /sys/class/virtio-ports/vportNpM/name is `name`), waiting up to 30 s for it to appear: there is
 * no udev in the guest, so no /dev/virtio-ports/ symlink either. */
int channel_open_serial(const char *name, struct error *err);

/* A listening AF_VSOCK socket on (VMADDR_CID_ANY, port). */
int channel_listen_vsock(unsigned port, struct error *err);
