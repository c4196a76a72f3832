#!/usr/bin/env python3
"""Turns the e2e busybox image into a pod sandbox ("pause") image, offline.

    mkpause.py BUSYBOX.tar OUT.tar [--name REF]

BUSYBOX.tar is the OCI image-layout tarball tests/e2e/lib/mkimage.py writes. OUT.tar has the same
layer and a config whose entrypoint sleeps until SIGTERM or SIGINT and then exits 0, as the
kubernetes pause binary does:

    /bin/sh -c 'trap "exit 0" TERM INT; while :; do sleep 3600 & wait $!; done'

(the shell is the sandbox's PID 1, so only signals it traps reach it; `wait` lets the trap run at
once). `ctr images import OUT.tar` names the image REF. Like mkimage.py, OUT.tar is kept when
OUT.tar.stamp says it was built from the same input, script and name.
"""

import argparse
import hashlib
import io
import json
import os
import sys
import tarfile

DEFAULT_NAME = "localhost/cocoon-cri-pause:1"
SCRIPT = 'trap "exit 0" TERM INT; while :; do sleep 3600 & wait $!; done'


def dumps(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def add(tar, name, mode, data=None):
    info = tarfile.TarInfo(name)
    info.mode, info.mtime, info.uid, info.gid = mode, 0, 0, 0
    info.uname = info.gname = "root"
    if data is None:
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
    else:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def build(src, name):
    blobs = {}
    with tarfile.open(src) as t:
        for m in t.getmembers():
            if m.isfile():
                blobs[m.name] = t.extractfile(m).read()
    index = json.loads(blobs["index.json"])
    if len(index.get("manifests", [])) != 1:
        sys.exit(f"mkpause: {src}: want an index of one manifest")
    entry = index["manifests"][0]

    def blob(digest):
        return blobs["blobs/sha256/" + digest.split(":", 1)[1]]

    def put(data):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        blobs["blobs/sha256/" + digest.split(":", 1)[1]] = data
        return digest, len(data)

    manifest = json.loads(blob(entry["digest"]))
    old_config, old_manifest = manifest["config"]["digest"], entry["digest"]
    config = json.loads(blob(old_config))
    config["config"]["Entrypoint"] = ["/bin/sh", "-c", SCRIPT]
    config["config"].pop("Cmd", None)
    config["config"]["StopSignal"] = "SIGTERM"
    manifest["config"]["digest"], manifest["config"]["size"] = put(dumps(config))
    entry["digest"], entry["size"] = put(dumps(manifest))
    entry["annotations"] = {"io.containerd.image.name": name,
                            "org.opencontainers.image.ref.name": name.rsplit(":", 1)[-1]}
    for old in (old_config, old_manifest):
        del blobs["blobs/sha256/" + old.split(":", 1)[1]]
    blobs["index.json"] = dumps(index)

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        add(t, "oci-layout", 0o644, blobs.pop("oci-layout"))
        add(t, "index.json", 0o644, blobs.pop("index.json"))
        add(t, "blobs", 0o755)
        add(t, "blobs/sha256", 0o755)
        for path in sorted(blobs):
            add(t, path, 0o644, blobs[path])
    return buf.getvalue()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("busybox_tar")
    ap.add_argument("out")
    ap.add_argument("--name", default=DEFAULT_NAME)
    args = ap.parse_args()

    h = hashlib.sha256()
    for path in (args.busybox_tar, os.path.abspath(__file__)):
        h.update(open(path, "rb").read())
    h.update(args.name.encode())
    stamp = h.hexdigest() + "\n"
    try:
        if os.path.exists(args.out) and open(args.out + ".stamp").read() == stamp:
            return
    except OSError:
        pass

    data = build(args.busybox_tar, args.name)
    tmp = f"{args.out}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, args.out)
    with open(args.out + ".stamp.tmp", "w") as f:
        f.write(stamp)
    os.replace(args.out + ".stamp.tmp", args.out + ".stamp")


if __name__ == "__main__":
    main()
