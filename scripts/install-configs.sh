#!/bin/sh
# meson install script (configs/meson.build): copies each shipped configuration from
# SHARE_DIR/configs to ETC_DIR, never over a file the admin edited, the way dpkg treats conffiles.
#
#   install-configs.sh SHARE_DIR ETC_DIR FILE...
#
# For each FILE, ETC_DIR/FILE is
#   - written when it does not exist;
#   - left alone when it equals the shipped one;
#   - replaced by the shipped one when it still equals the copy an earlier install put there
#     (SHARE_DIR/installed/FILE): the admin did not touch it, so it follows the new release;
#   - otherwise kept, with a line saying where the new shipped one is.
# SHARE_DIR/installed/FILE records what was last copied. Honours DESTDIR, and meson's
# MESON_INSTALL_DRY_RUN (says what it would do).
set -eu

if [ $# -lt 3 ]; then
    echo "usage: $0 SHARE_DIR ETC_DIR FILE..." >&2
    exit 2
fi
share=${DESTDIR:-}$1
etc=${DESTDIR:-}$2
shift 2
dry=${MESON_INSTALL_DRY_RUN:-}

say() { echo "cocoon configs: $*" >&2; }

run() {
    if [ -n "$dry" ]; then
        say "would run: $*"
    else
        "$@"
    fi
}

run mkdir -p "$etc" "$share/installed"
for f in "$@"; do
    shipped=$share/configs/$f
    target=$etc/$f
    record=$share/installed/$f
    if [ ! -e "$target" ]; then
        run install -m 0644 "$shipped" "$target"
        say "installed $target"
    elif cmp -s "$target" "$shipped"; then
        say "up to date: $target"
    elif [ -e "$record" ] && cmp -s "$target" "$record"; then
        run install -m 0644 "$shipped" "$target"
        say "updated $target (it was the previous release's, unedited)"
    else
        say "kept $target: it was edited; the new shipped one is $shipped (diff -u them)"
        continue
    fi
    run install -m 0644 "$shipped" "$record"
done
