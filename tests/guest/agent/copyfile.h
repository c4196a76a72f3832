/* CopyFile: the shim's way of putting files into the guest when nothing is shared. */
#pragma once

#include "kata/agent.pb-c.h"
#include "lib/error.h"

/* kata-agent 4.x's do_copy_file. The path must be under /run/kata-containers/shared/containers/
 * and is resolved inside that directory (openat2 RESOLVE_IN_ROOT): neither ".." nor a symlink
 * leads out of it. Missing parents are made with dir_mode & 0777 and the immediate parent is
 * given uid/gid. file_mode's type bits decide: S_IFDIR makes a directory (an existing one is
 * kept), S_IFLNK a symlink to `data`, anything else a regular file written at `offset` into a
 * temporary file that is renamed onto path once it holds file_size bytes. At offset 0 whatever
 * was at path is removed first (a directory is kept for S_IFDIR). */
int copy_file(const Grpc__CopyFileRequest *r, struct error *err);
