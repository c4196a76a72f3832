#!/usr/bin/env python3
"""Adds one layer of small files to an OCI image-layout tarball and writes the result as an OCI
image-layout directory (what `skopeo copy oci:DIR:TAG ...` reads).

    add-layer.py IN.tar OUT_DIR --tag TAG --file PATH=CONTENT [--file PATH=CONTENT]...

IN.tar is an image layout with one image (tests/e2e/lib/mkimage.py writes one). The new layer is
a gzip tar holding each PATH (relative to the root; parent directories are added) as a 0644
regular file with CONTENT; the image's config gets its diff_id and a history entry, the manifest
gets the layer. OUT_DIR must not exist.
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"


def dumps(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def add_member(tar, name, kind, mode, data=b""):
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = kind, mode, 0
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def layer_tar(files):
    buf = io.BytesIO()
    dirs = set()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, content in files:
            parts = path.split("/")
            for i in range(1, len(parts)):
                d = "/".join(parts[:i])
                if d not in dirs:
                    dirs.add(d)
                    add_member(tar, d, tarfile.DIRTYPE, 0o755)
            add_member(tar, path, tarfile.REGTYPE, 0o644, content)
    return buf.getvalue()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("input")
    ap.add_argument("out_dir")
    ap.add_argument("--tag", required=True)
    ap.add_argument("--file", action="append", required=True, metavar="PATH=CONTENT")
    args = ap.parse_args()

    files = []
    for spec in args.file:
        path, sep, content = spec.partition("=")
        path = path.strip("/")
        if not sep or not path or any(p in ("", ".", "..") for p in path.split("/")):
            sys.exit(f"add-layer: --file {spec!r}: want PATH=CONTENT with a relative PATH")
        files.append((path, content.encode()))

    blobs = {}
    with tarfile.open(args.input) as t:
        def read(name):
            f = t.extractfile(name)
            if f is None:
                sys.exit(f"add-layer: {args.input}: {name} is missing")
            return f.read()

        index = json.loads(read("index.json"))
        if len(index.get("manifests", [])) != 1:
            sys.exit(f"add-layer: {args.input}: want an index of one manifest")
        for m in t.getmembers():
            if m.isfile() and m.name.startswith("blobs/sha256/"):
                blobs["sha256:" + m.name.rsplit("/", 1)[1]] = read(m.name)

    old = index["manifests"][0]
    manifest = json.loads(blobs[old["digest"]])
    config = json.loads(blobs[manifest["config"]["digest"]])

    tar = layer_tar(files)
    layer = gzip.compress(tar, compresslevel=6, mtime=0)
    layer_digest = "sha256:" + hashlib.sha256(layer).hexdigest()
    blobs[layer_digest] = layer
    config["rootfs"]["diff_ids"].append("sha256:" + hashlib.sha256(tar).hexdigest())
    config.setdefault("history", []).append(
        {"created_by": "add-layer.py " + " ".join(p for p, _ in files)})
    config_data = dumps(config)
    config_digest = "sha256:" + hashlib.sha256(config_data).hexdigest()
    blobs[config_digest] = config_data
    manifest["config"] = {"mediaType": CONFIG_TYPE, "digest": config_digest,
                          "size": len(config_data)}
    manifest["layers"].append({"mediaType": LAYER_TYPE, "digest": layer_digest,
                               "size": len(layer)})
    manifest_data = dumps(manifest)
    manifest_digest = "sha256:" + hashlib.sha256(manifest_data).hexdigest()
    blobs[manifest_digest] = manifest_data

    index["manifests"] = [{
        "mediaType": MANIFEST_TYPE, "digest": manifest_digest, "size": len(manifest_data),
        "platform": old.get("platform", {"architecture": "amd64", "os": "linux"}),
        "annotations": {"org.opencontainers.image.ref.name": args.tag},
    }]
    os.makedirs(os.path.join(args.out_dir, "blobs", "sha256"))
    for digest, data in blobs.items():
        with open(os.path.join(args.out_dir, "blobs", "sha256", digest.split(":", 1)[1]),
                  "wb") as f:
            f.write(data)
    with open(os.path.join(args.out_dir, "oci-layout"), "wb") as f:
        f.write(dumps({"imageLayoutVersion": "1.0.0"}))
    with open(os.path.join(args.out_dir, "index.json"), "wb") as f:
        f.write(dumps(index))


if __name__ == "__main__":
    main()
