/* The node commands of cocoonctl (cmd/cocoonctl-install.c, cmd/cocoonctl-check.c): each takes
 * argv from its command's name on and returns the exit status. */
#pragma once

/* Where `meson install` puts cocoon's configurations (meson.build sets it from sysconfdir):
 * the default of `install containerd --cocoon-dir`. */
#ifndef COCOON_SYSCONF_DIR
#define COCOON_SYSCONF_DIR "/etc/cocoon"
#endif

int cocoonctl_install(int argc, char *argv[]);
int cocoonctl_check(int argc, char *argv[]);
