#!/usr/bin/env python3
"""The RuntimeClasses and the runtimes that serve them agree (TAP on stdout).

  check-runtime-handlers.py CONFIGS_DIR

Reads CONFIGS_DIR/runtimeclasses.yaml, the containerd snippets containerd-cocoon.toml (config
version 2) and containerd2-cocoon.toml (version 3), and the CRI-O drop-in crio-cocoon.conf, and
checks that
  - every RuntimeClass's handler is a runtime of each snippet, and every runtime of a snippet is
    the handler of a RuntimeClass (a class without a runtime leaves its pods pending with
    "no runtime for handler"; a runtime without a class is unreachable from Kubernetes);
  - each runtime is cocoon's (io.containerd.cocoon.v2; CRI-O: runtime_type "vm") and names the
    same configuration in all three (ConfigPath, runtime_config_path): cocoon-X uses
    /etc/cocoon/cocoon-X.toml, which configs/ ships, and cocoon-X-debug uses
    /etc/cocoon/debug-X/cocoon.toml, whose drop-in configs/cocoon-X-debug.toml ships;
  - every class has overhead.podFixed memory and cpu and a nodeSelector, and a debug class has its
    base class's (the debug switches change the guest's log and console, not its size or node).
The YAML is read with a parser for the subset the file uses (block mappings, scalars, comments,
"---" between documents): python3-yaml is not needed.
"""

import os
import re
import sys
import tomllib

SHIM_TYPE = "io.containerd.cocoon.v2"


def yaml_documents(text):
    """The documents of a YAML stream of nested block mappings with scalar values."""
    docs, root, stack = [], None, None
    for raw in text.splitlines() + ["---"]:
        line = re.sub(r"\s+#.*$", "", raw) if not raw.lstrip().startswith("#") else ""
        if line.strip() == "---":
            if root:
                docs.append(root)
            root, stack = {}, None
            continue
        if not line.strip():
            continue
        if root is None:
            root = {}
        if stack is None:
            stack = [(-1, root)]
        indent = len(line) - len(line.lstrip(" "))
        m = re.match(r"^\s*([^:]+?):(?:\s+(.*))?$", line)
        if not m:
            raise ValueError("runtimeclasses.yaml: cannot read line %r" % raw)
        key, value = m.group(1).strip().strip("\"'"), m.group(2)
        while stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1]
        if value is None or value == "":
            parent[key] = {}
            stack.append((indent, parent[key]))
        else:
            parent[key] = value.strip().strip("\"'")
    return docs


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def check(self, ok, what, detail=""):
        self.n += 1
        if not ok:
            self.failed += 1
        print("%s %d - %s%s" % ("ok" if ok else "not ok", self.n, what,
                                "" if ok or not detail else ": " + detail))


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: check-runtime-handlers.py CONFIGS_DIR")
    d = sys.argv[1]
    t = Tap()

    with open(os.path.join(d, "runtimeclasses.yaml")) as f:
        docs = yaml_documents(f.read())
    classes = {}
    for doc in docs:
        if doc.get("kind") != "RuntimeClass":
            continue
        classes[doc.get("metadata", {}).get("name")] = doc
    t.check(len(classes) == len(docs) and len(classes) >= 3, "runtimeclasses.yaml: %d "
            "RuntimeClasses, uniquely named" % len(classes), "%d documents" % len(docs))
    handlers = {}
    for name, rc in sorted(classes.items()):
        t.check(rc.get("apiVersion") == "node.k8s.io/v1" and rc.get("handler") == name,
                "RuntimeClass %s: node.k8s.io/v1, handler %s" % (name, name),
                "apiVersion %s, handler %s" % (rc.get("apiVersion"), rc.get("handler")))
        handlers[rc.get("handler")] = rc

    with open(os.path.join(d, "containerd-cocoon.toml"), "rb") as f:
        v2 = tomllib.load(f)["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"]
    with open(os.path.join(d, "containerd2-cocoon.toml"), "rb") as f:
        v3 = tomllib.load(f)["plugins"]["io.containerd.cri.v1.runtime"]["containerd"]["runtimes"]
    with open(os.path.join(d, "crio-cocoon.conf"), "rb") as f:
        crio = tomllib.load(f)["crio"]["runtime"]["runtimes"]

    for label, runtimes in (("containerd-cocoon.toml", v2), ("containerd2-cocoon.toml", v3),
                            ("crio-cocoon.conf", crio)):
        t.check(set(runtimes) == set(handlers), "%s: its runtimes are the RuntimeClasses' "
                "handlers" % label, "runtimes %s, handlers %s" % (sorted(runtimes),
                                                                 sorted(handlers)))

    for h in sorted(handlers):
        m = re.fullmatch(r"cocoon-([a-z]+)(-debug)?", h)
        if not m:
            t.check(False, "handler %s is cocoon-TEE or cocoon-TEE-debug" % h)
            continue
        tee, debug = m.group(1), bool(m.group(2))
        if debug:
            want = "/etc/cocoon/debug-%s/cocoon.toml" % tee
            ships = "cocoon-%s-debug.toml" % tee
        else:
            want = "/etc/cocoon/cocoon-%s.toml" % tee
            ships = "cocoon-%s.toml" % tee
        t.check(os.path.isfile(os.path.join(d, ships)), "%s: configs/%s exists" % (h, ships))
        paths = {}
        for label, runtimes, key, typ_key, typ in (
                ("containerd-cocoon.toml", v2, "ConfigPath", "runtime_type", SHIM_TYPE),
                ("containerd2-cocoon.toml", v3, "ConfigPath", "runtime_type", SHIM_TYPE),
                ("crio-cocoon.conf", crio, "runtime_config_path", "runtime_type", "vm")):
            r = runtimes.get(h, {})
            paths[label] = (r.get("options", {}) if key == "ConfigPath" else r).get(key)
            t.check(r.get(typ_key) == typ, "%s: %s runtime_type %s" % (h, label, typ),
                    "got %s" % r.get(typ_key))
        t.check(set(paths.values()) == {want}, "%s: every runtime names %s" % (h, want),
                str(paths))
        rc = handlers[h]
        fixed = rc.get("overhead", {}).get("podFixed", {})
        t.check(bool(fixed.get("memory")) and bool(fixed.get("cpu")),
                "%s: overhead.podFixed memory and cpu" % h, str(fixed))
        sel = rc.get("scheduling", {}).get("nodeSelector", {})
        t.check(bool(sel), "%s: scheduling.nodeSelector" % h)
        if debug:
            base = handlers.get("cocoon-%s" % tee, {})
            t.check(base.get("overhead") == rc.get("overhead") and
                    base.get("scheduling") == rc.get("scheduling"),
                    "%s: the overhead and nodeSelector of cocoon-%s" % (h, tee))

    print("1..%d" % t.n)
    return 1 if t.failed else 0


if __name__ == "__main__":
    sys.exit(main())
