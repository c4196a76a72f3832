#!/usr/bin/env python3
"""Builds the e2e tests' busybox image as an OCI image-layout tarball, offline.

    mkimage.py OUT.tar [--name REF] [--busybox PATH]

One gzip layer: the static busybox as /bin/busybox, one symlink per applet (`busybox --list`),
/etc/passwd and /etc/group (root, nobody), and empty tmp, proc, sys, dev, root. Everything is
written with fixed times and owners, so the same busybox gives the same bytes. OUT.tar is kept
when OUT.tar.stamp says it was built from the same busybox, script and name (the e2e tests cache
it in the build dir); `ctr images import OUT.tar` then names the image REF.
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import struct
import subprocess
import sys
import tarfile

DEFAULT_NAME = "docker.io/library/busybox-local:latest"
MTIME = 0  # fixed: reproducible layers and digests


def is_static_elf(data):
    """True for an ELF with no PT_INTERP (no dynamic loader): it runs in an empty rootfs."""
    if data[:4] != b"\x7fELF" or data[4] != 2:  # ELFCLASS64 only: this is for x86_64
        return False
    endian = "<" if data[5] == 1 else ">"
    phoff, = struct.unpack_from(endian + "Q", data, 0x20)
    phentsize, phnum = struct.unpack_from(endian + "HH", data, 0x36)
    for i in range(phnum):
        p_type, = struct.unpack_from(endian + "I", data, phoff + i * phentsize)
        if p_type == 3:  # PT_INTERP
            return False
    return True


def add(tar, name, kind, mode, data=b"", target=""):
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = kind, mode, MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    if kind == tarfile.SYMTYPE:
        info.linkname = target
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def layer_tar(busybox, applets):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d, mode in (("bin", 0o755), ("etc", 0o755), ("dev", 0o755), ("proc", 0o555),
                        ("sys", 0o555), ("tmp", 0o1777), ("root", 0o700)):
            add(tar, d, tarfile.DIRTYPE, mode)
        add(tar, "bin/busybox", tarfile.REGTYPE, 0o755, busybox)
        for a in applets:
            add(tar, "bin/" + a, tarfile.SYMTYPE, 0o777, target="busybox")
        add(tar, "etc/passwd", tarfile.REGTYPE, 0o644,
            b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
        add(tar, "etc/group", tarfile.REGTYPE, 0o644, b"root:x:0:\nnogroup:x:65534:\n")
    return buf.getvalue()


def blob(blobs, data, media_type):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    blobs[digest] = data
    return {"mediaType": media_type, "digest": digest, "size": len(data)}


def dumps(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def build(busybox_path, name):
    busybox = open(busybox_path, "rb").read()
    if not is_static_elf(busybox):
        sys.exit(f"mkimage: {busybox_path} is not a static x86_64 ELF (install busybox-static)")
    out = subprocess.run([busybox_path, "--list"], check=True, capture_output=True, text=True)
    applets = sorted({a for a in out.stdout.split() if a and a != "busybox" and "/" not in a})
    if not applets:
        sys.exit(f"mkimage: `{busybox_path} --list` printed no applets")

    tar = layer_tar(busybox, applets)
    blobs = {}
    layer = blob(blobs, gzip.compress(tar, compresslevel=6, mtime=MTIME),
                 "application/vnd.oci.image.layer.v1.tar+gzip")
    config = blob(blobs, dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar).hexdigest()]},
    }), "application/vnd.oci.image.config.v1+json")
    manifest = blob(blobs, dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config, "layers": [layer],
    }), "application/vnd.oci.image.manifest.v1+json")
    manifest["platform"] = {"architecture": "amd64", "os": "linux"}
    manifest["annotations"] = {"io.containerd.image.name": name,
                               "org.opencontainers.image.ref.name": name.rsplit(":", 1)[-1]}
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [manifest]}

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        add(t, "oci-layout", tarfile.REGTYPE, 0o644, dumps({"imageLayoutVersion": "1.0.0"}))
        add(t, "index.json", tarfile.REGTYPE, 0o644, dumps(index))
        add(t, "blobs", tarfile.DIRTYPE, 0o755)
        add(t, "blobs/sha256", tarfile.DIRTYPE, 0o755)
        for digest in sorted(blobs):
            add(t, "blobs/sha256/" + digest.split(":", 1)[1], tarfile.REGTYPE, 0o644, blobs[digest])
    return buf.getvalue()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--name", default=DEFAULT_NAME)
    ap.add_argument("--busybox", default="/bin/busybox")
    args = ap.parse_args()

    h = hashlib.sha256()
    for path in (args.busybox, os.path.abspath(__file__)):
        h.update(open(path, "rb").read())
    h.update(args.name.encode())
    stamp = h.hexdigest() + "\n"
    stamp_path = args.out + ".stamp"
    try:
        if os.path.exists(args.out) and open(stamp_path).read() == stamp:
            return
    except OSError:
        pass

    data = build(args.busybox, args.name)
    tmp = f"{args.out}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, args.out)
    with open(stamp_path + ".tmp", "w") as f:
        f.write(stamp)
    os.replace(stamp_path + ".tmp", stamp_path)


if __name__ == "__main__":
    main()
