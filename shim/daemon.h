/* The shim daemon: serves containerd.task.v2.Task on the listener `start` passed as fd 3 (or on
 * -socket), logs to the bundle's `log` FIFO, publishes events, and exits after Shutdown once no
 * task is left. */
#pragma once

#include "shim/flags.h"

/* Returns the process exit code. */
int shim_serve(const struct shim_flags *f);
