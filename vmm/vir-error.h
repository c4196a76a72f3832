/* libvirt's thread-local last error -> struct error. Internal to vmm/. */
#pragma once

#include "lib/error.h"

/* Sets err to "<context>: libvirt: <libvirt's message>" (just "libvirt: ..." when context is
 * NULL) with a gRPC code that fits libvirt's error code. Returns -1. */
int vir_error(struct error *err, const char *context);

/* libvirt's last error code in this thread (VIR_ERR_OK when there is none). */
int vir_last_error_code(void);
