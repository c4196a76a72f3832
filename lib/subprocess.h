/* posix_spawn for the shim's children (the publish binary, loggers, cocoon-vm). */
#pragma once

#include <spawn.h>

/* Initialises attr so that the child starts with no signal blocked and every signal at its
 * default action: the shim's threads block signals and the shim ignores SIGPIPE, and a child
 * would otherwise inherit both. */
void spawn_attr_init_clean(posix_spawnattr_t *attr);
