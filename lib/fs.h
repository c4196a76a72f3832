/* Small file-system helpers the shim, cocoonctl and the tests share. */
#pragma once

#include "lib/error.h"

/* Removes path and everything under it, without following symlinks or crossing mount points.
 * A path that does not exist is success. */
int fs_remove_tree(const char *path, struct error *err);
