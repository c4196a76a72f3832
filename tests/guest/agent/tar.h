/* Unpacking an image layer (a tar, gzipped or not) onto a root directory, OCI-style: whiteouts
 * (.wh.NAME, .wh..wh..opq) remove what earlier layers put there. Every path is resolved with
 * openat2(RESOLVE_IN_ROOT), so a layer's symlinks cannot lead outside the root. */
#pragma once

#include "lib/error.h"

int tar_extract(int root_fd, int layer_fd, struct error *err);
