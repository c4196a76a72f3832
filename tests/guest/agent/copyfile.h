/* CopyFile: the shim's way of putting files into the guest when nothing is shared. */
#pragma once

#include "kata/agent.pb-c.h"
#include "lib/error.h"

/* Writes one chunk at r->offset into "<path>.cocoon-tmp" (creating parent directories with
 * dir_mode), and renames it onto path once the chunk ending at file_size arrives, as Kata does.
 * A directory (S_IFDIR in file_mode) or a symlink (S_IFLNK, target in data) is made at once. */
int copy_file(const Grpc__CopyFileRequest *r, struct error *err);
