#!/usr/bin/python3
"""A small CRI v1 client for the e2e tests: the calls the kubelet makes, one per command.

    cri.py [--endpoint unix:///PATH] [--proto API_PROTO] [--gen-dir DIR] [--timeout SECONDS]
           [--field PATH] CMD ...

    version                          RuntimeService.Version (JSON)
    status                           RuntimeService.Status, conditions and info (JSON)
    runp POD [--runtime HANDLER]     RunPodSandbox; prints the pod id
    stopp POD_ID / rmp POD_ID        StopPodSandbox / RemovePodSandbox
    inspectp [-v] POD_ID             PodSandboxStatus (JSON: state, network.ip, ...; -v adds info)
    pods [-q]                        ListPodSandbox (JSON list; -q: ids only)
    statsp POD_ID                    PodSandboxStats (JSON)
    create POD_ID CONTAINER POD      CreateContainer (POD is the pod's config again, as the
                                     kubelet sends it); prints the container id
    start ID / rm ID                 StartContainer / RemoveContainer
    stop ID TIMEOUT                  StopContainer, TIMEOUT seconds before SIGKILL
    inspect [-v] ID                  ContainerStatus (JSON: state, exit_code, reason, message, ...)
    ps [--pod POD_ID] [-a] [-q]      ListContainers (running ones unless -a; JSON list; -q: ids)
    stats ID                         ContainerStats (JSON)
    exec-sync ID TIMEOUT -- CMD...   ExecSync: the command's stdout on stdout, its stderr on
                                     stderr, its exit code as ours (TIMEOUT 0: none)
    pull IMAGE [--pod POD]           ImageService.PullImage; prints the image ref
    images                           ListImages (JSON list)
    image-status IMAGE               ImageStatus (JSON); exits 1 when the image is not there
    rmi IMAGE                        RemoveImage
    gen                              only compiles api.proto; prints the dir of the Python code

For the benchmarks (tests/bench/run-cri-bench.sh), timed in one process so that Python's start
is not part of the figures; each prints JSON:
    pod-start POD CONTAINER [--runtime HANDLER]
                                     RunPodSandbox, CreateContainer, StartContainer, then
                                     ContainerStatus until RUNNING: ids and milliseconds of each
                                     step (the pod stays; stopp/rmp it)
    exec-bench ID N -- CMD...        N ExecSyncs (exit code 0 expected): milliseconds of each

POD and CONTAINER are JSON objects in CRI's field names (PodSandboxConfig, ContainerConfig:
metadata, hostname, log_directory, dns_config, linux.security_context.namespace_options, image,
command, args, mounts, log_path, ...), given as a file name, `-` for stdin, or the JSON text
itself when it starts with `{`. Fields of type bytes (envs[].value in Debian's api.proto) are
given as text. --field PATH prints only that part of a JSON answer (dotted,
list indices as numbers: `--field network.ip inspectp POD`), strings and numbers bare.

api.proto (--proto or $CRI_PROTO: k8s.io/cri-api/pkg/apis/runtime/v1/api.proto, e.g. from
Debian's golang-k8s-cri-api-dev) is compiled at run time with grpc_tools.protoc into
--gen-dir/$CRI_GEN_DIR (default: cri-py next to the .proto), one subdir per content hash; field
options protoc 3.6 (grpc_tools 1.14) does not know (debug_redact, gogoproto) are stripped first.

Every call has a deadline of --timeout seconds ($CRI_TIMEOUT, default 30), plus the CRI timeout
for stop and exec-sync. A failed call prints `cri.py: METHOD: CODE: message` and exits 1
(exec-sync: 125, since the command's own exit codes pass through).
"""

import argparse
import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import time

EXEC_FAILED = 125


def die(msg, code=1):
    print(f"cri.py: {msg}", file=sys.stderr)
    sys.exit(code)


def strip_unknown_options(text):
    """api.proto without what protoc 3.6 rejects: gogoproto imports/options and debug_redact."""
    text = re.sub(r'(?m)^\s*import\s+"[^"]*gogo\.proto";\s*$', "", text)
    text = re.sub(r"(?m)^\s*option\s+\(gogoproto\.[^;]*;\s*$", "", text)

    def field_options(m):
        keep = [o.strip() for o in m.group(1).split(",")
                if o.strip() and not o.strip().startswith(("(gogoproto.", "debug_redact"))]
        return " [" + ", ".join(keep) + "]" if keep else ""

    return re.sub(r"\s*\[([^\]\n]*)\](?=\s*;)", field_options, text)


def load_api(proto, gen_root):
    """Imports api_pb2 and api_pb2_grpc, compiling them first when they are not cached."""
    try:
        src = open(proto, encoding="utf-8").read()
    except OSError as e:
        die(f"cannot read api.proto ({proto}): {e.strerror}; give --proto or $CRI_PROTO")
    text = strip_unknown_options(src)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    gen = os.path.join(gen_root, digest)
    if not os.path.exists(os.path.join(gen, "api_pb2_grpc.py")):
        tmp = f"{gen}.tmp{os.getpid()}"
        os.makedirs(tmp, exist_ok=True)
        with open(os.path.join(tmp, "api.proto"), "w", encoding="utf-8") as f:
            f.write(text)
        r = subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", tmp,
                            "--python_out", tmp, "--grpc_python_out", tmp, "api.proto"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            die(f"grpc_tools.protoc failed on {proto} (install python3-grpc-tools):\n{r.stderr}")
        try:
            os.rename(tmp, gen)
        except OSError:  # another run got there first
            subprocess.run(["rm", "-rf", tmp])
    sys.path.insert(0, gen)
    try:
        import grpc  # noqa: F401 (only checked here; Client uses it)
        import api_pb2
        import api_pb2_grpc
    except ImportError as e:
        die(f"{e} (run with Debian's /usr/bin/python3; apt-get install python3-grpcio)")
    return gen, api_pb2, api_pb2_grpc


def read_json(arg):
    try:
        if arg.lstrip().startswith("{"):
            obj = json.loads(arg)
        elif arg == "-":
            obj = json.load(sys.stdin)
        else:
            with open(arg, encoding="utf-8") as f:
                obj = json.load(f)
    except OSError as e:
        die(f"cannot read {arg}: {e.strerror}")
    except ValueError as e:
        die(f"{arg[:60]}: not JSON: {e}")
    if not isinstance(obj, dict):
        die(f"{arg[:60]}: not a JSON object")
    return obj


def bytes_as_text(obj, desc):
    """obj with the strings given for bytes fields base64-encoded, as ParseDict wants them.

    Debian's api.proto (0.36) declares KeyValue.value (envs) as bytes; JSON would want base64
    there, the configs here give text.
    """
    if not isinstance(obj, dict):
        return obj
    out = {}
    for key, value in obj.items():
        f = desc.fields_by_name.get(key) or desc.fields_by_camelcase_name.get(key)
        if f is not None and f.type == f.TYPE_BYTES:
            def enc(v):
                return base64.b64encode(v.encode()).decode() if isinstance(v, str) else v
            value = [enc(v) for v in value] if isinstance(value, list) else enc(value)
        elif (f is not None and f.type == f.TYPE_MESSAGE
              and not f.message_type.GetOptions().map_entry):
            if isinstance(value, list):
                value = [bytes_as_text(v, f.message_type) for v in value]
            else:
                value = bytes_as_text(value, f.message_type)
        out[key] = value
    return out


class Client:
    def __init__(self, args, pb, pb_grpc):
        import grpc
        self.grpc, self.pb = grpc, pb
        self.timeout = args.timeout
        target = args.endpoint
        if target.startswith("/"):
            target = "unix://" + target
        self.channel = grpc.insecure_channel(target)
        self.runtime = pb_grpc.RuntimeServiceStub(self.channel)
        self.images = pb_grpc.ImageServiceStub(self.channel)

    def msg(self, name, fields):
        """A request message from a dict in CRI's field names (or its JSON names)."""
        from google.protobuf import json_format
        message = getattr(self.pb, name)()
        try:
            return json_format.ParseDict(bytes_as_text(fields, message.DESCRIPTOR), message)
        except json_format.ParseError as e:
            die(f"{name}: {e}")

    def call(self, service, method, request, extra=0, fail_code=1):
        try:
            return getattr(service, method)(request, timeout=self.timeout + extra)
        except self.grpc.RpcError as e:
            die(f"{method}: {e.code().name}: {e.details()}", fail_code)


def to_dict(message):
    from google.protobuf import json_format
    return json_format.MessageToDict(message, preserving_proto_field_name=True,
                                     including_default_value_fields=True)


FIELD = ""  # --field: print only this dotted path of the JSON output


def dump(obj):
    for key in FIELD.split(".") if FIELD else []:
        try:
            obj = obj[int(key)] if isinstance(obj, list) else obj[key]
        except (KeyError, IndexError, ValueError, TypeError):
            die(f"--field {FIELD}: no {key!r} in the answer")
    if isinstance(obj, (str, int, float)) and not isinstance(obj, bool):
        print(obj)
    else:
        print(json.dumps(obj, indent=2, sort_keys=True))


def status_dict(resp, verbose):
    out = to_dict(resp.status)
    if verbose:
        info = {}
        for k, v in resp.info.items():
            try:
                info[k] = json.loads(v)
            except ValueError:
                info[k] = v
        out["info"] = info
    return out


def main():
    ap = argparse.ArgumentParser(prog="cri.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoint", default=os.environ.get("CRI_ENDPOINT", ""))
    ap.add_argument("--proto", default=os.environ.get("CRI_PROTO", ""))
    ap.add_argument("--gen-dir", default=os.environ.get("CRI_GEN_DIR", ""))
    ap.add_argument("--timeout", type=float, default=float(os.environ.get("CRI_TIMEOUT", "30")))
    ap.add_argument("--field", default="", metavar="PATH")
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="CMD")

    def cmd(name, *params):
        p = sub.add_parser(name)
        for prm in params:
            p.add_argument(prm)
        return p

    for name in ("version", "status", "images", "gen"):
        cmd(name)
    cmd("pods").add_argument("-q", action="store_true")
    cmd("runp", "pod").add_argument("--runtime", default="", metavar="HANDLER")
    for name in ("stopp", "rmp", "statsp"):
        cmd(name, "pod_id")
    cmd("inspectp", "pod_id").add_argument("-v", action="store_true")
    cmd("create", "pod_id", "container", "pod")
    for name in ("start", "rm", "stats"):
        cmd(name, "id")
    cmd("stop", "id").add_argument("stop_timeout", type=int, metavar="TIMEOUT")
    cmd("inspect", "id").add_argument("-v", action="store_true")
    p = cmd("ps")
    p.add_argument("--pod", default="")
    p.add_argument("-a", action="store_true")
    p.add_argument("-q", action="store_true")
    p = cmd("exec-sync", "id")
    p.add_argument("exec_timeout", type=int, metavar="TIMEOUT")
    p.add_argument("argv", nargs=argparse.REMAINDER)
    cmd("pod-start", "pod", "container").add_argument("--runtime", default="", metavar="HANDLER")
    p = cmd("exec-bench", "id")
    p.add_argument("n", type=int)
    p.add_argument("argv", nargs=argparse.REMAINDER)
    cmd("pull", "image").add_argument("--pod", default="")
    cmd("image-status", "image")
    cmd("rmi", "image")
    args = ap.parse_args()
    global FIELD
    FIELD = args.field

    if not args.proto:
        die("no api.proto: give --proto or set $CRI_PROTO (tests/e2e/lib/debs.sh: debs_cri_api)")
    gen_root = args.gen_dir or os.path.join(os.path.dirname(os.path.abspath(args.proto)), "cri-py")
    gen, pb, pb_grpc = load_api(args.proto, gen_root)
    if args.cmd == "gen":
        print(gen)
        return
    if not args.endpoint:
        die("no endpoint: give --endpoint unix:///PATH or set $CRI_ENDPOINT")

    c = Client(args, pb, pb_grpc)
    rt, im, m = c.runtime, c.images, c.msg
    a = args

    if a.cmd == "version":
        dump(to_dict(c.call(rt, "Version", m("VersionRequest", {}))))
    elif a.cmd == "status":
        r = c.call(rt, "Status", m("StatusRequest", {"verbose": True}))
        dump({"status": to_dict(r.status), "info": dict(r.info)})
    elif a.cmd == "runp":
        r = c.call(rt, "RunPodSandbox", m("RunPodSandboxRequest", {
            "config": read_json(a.pod), "runtime_handler": a.runtime}))
        print(r.pod_sandbox_id)
    elif a.cmd == "stopp":
        c.call(rt, "StopPodSandbox", m("StopPodSandboxRequest", {"pod_sandbox_id": a.pod_id}))
    elif a.cmd == "rmp":
        c.call(rt, "RemovePodSandbox", m("RemovePodSandboxRequest", {"pod_sandbox_id": a.pod_id}))
    elif a.cmd == "inspectp":
        r = c.call(rt, "PodSandboxStatus", m("PodSandboxStatusRequest", {
            "pod_sandbox_id": a.pod_id, "verbose": a.v}))
        dump(status_dict(r, a.v))
    elif a.cmd == "pods":
        r = c.call(rt, "ListPodSandbox", m("ListPodSandboxRequest", {}))
        if a.q:
            for x in r.items:
                print(x.id)
        else:
            dump([to_dict(x) for x in r.items])
    elif a.cmd == "statsp":
        r = c.call(rt, "PodSandboxStats", m("PodSandboxStatsRequest", {"pod_sandbox_id": a.pod_id}))
        dump(to_dict(r.stats))
    elif a.cmd == "create":
        r = c.call(rt, "CreateContainer", m("CreateContainerRequest", {
            "pod_sandbox_id": a.pod_id, "config": read_json(a.container),
            "sandbox_config": read_json(a.pod)}))
        print(r.container_id)
    elif a.cmd == "start":
        c.call(rt, "StartContainer", m("StartContainerRequest", {"container_id": a.id}))
    elif a.cmd == "stop":
        t = a.stop_timeout
        c.call(rt, "StopContainer", m("StopContainerRequest", {"container_id": a.id, "timeout": t}),
               extra=t)
    elif a.cmd == "rm":
        c.call(rt, "RemoveContainer", m("RemoveContainerRequest", {"container_id": a.id}))
    elif a.cmd == "inspect":
        r = c.call(rt, "ContainerStatus", m("ContainerStatusRequest", {
            "container_id": a.id, "verbose": a.v}))
        dump(status_dict(r, a.v))
    elif a.cmd == "ps":
        flt = {"pod_sandbox_id": a.pod} if a.pod else {}
        if not a.a:
            flt["state"] = {"state": "CONTAINER_RUNNING"}
        r = c.call(rt, "ListContainers", m("ListContainersRequest", {"filter": flt}))
        if a.q:
            for x in r.containers:
                print(x.id)
        else:
            dump([to_dict(x) for x in r.containers])
    elif a.cmd == "stats":
        r = c.call(rt, "ContainerStats", m("ContainerStatsRequest", {"container_id": a.id}))
        dump(to_dict(r.stats))
    elif a.cmd == "exec-sync":
        argv = a.argv[1:] if a.argv[:1] == ["--"] else a.argv
        if not argv:
            die("exec-sync: no command (exec-sync ID TIMEOUT -- CMD ARGS...)", EXEC_FAILED)
        t = a.exec_timeout
        r = c.call(rt, "ExecSync", m("ExecSyncRequest", {"container_id": a.id, "cmd": argv,
                                                         "timeout": t}),
                   extra=t, fail_code=EXEC_FAILED)
        sys.stdout.buffer.write(r.stdout)
        sys.stdout.flush()
        sys.stderr.buffer.write(r.stderr)
        sys.stderr.flush()
        sys.exit(r.exit_code & 0xFF if r.exit_code >= 0 else EXEC_FAILED)
    elif a.cmd == "pull":
        req = {"image": {"image": a.image}}
        if a.pod:
            req["sandbox_config"] = read_json(a.pod)
        r = c.call(im, "PullImage", m("PullImageRequest", req), extra=300)
        print(r.image_ref)
    elif a.cmd == "images":
        r = c.call(im, "ListImages", m("ListImagesRequest", {}))
        dump([to_dict(x) for x in r.images])
    elif a.cmd == "image-status":
        r = c.call(im, "ImageStatus", m("ImageStatusRequest", {"image": {"image": a.image}}))
        if not r.HasField("image"):
            die(f"image-status: {a.image}: no such image")
        dump(to_dict(r.image))
    elif a.cmd == "pod-start":
        pod = read_json(a.pod)
        t0 = time.monotonic()
        r = c.call(rt, "RunPodSandbox", m("RunPodSandboxRequest", {
            "config": pod, "runtime_handler": a.runtime}))
        pod_id, t1 = r.pod_sandbox_id, time.monotonic()
        r = c.call(rt, "CreateContainer", m("CreateContainerRequest", {
            "pod_sandbox_id": pod_id, "config": read_json(a.container), "sandbox_config": pod}))
        cid, t2 = r.container_id, time.monotonic()
        c.call(rt, "StartContainer", m("StartContainerRequest", {"container_id": cid}))
        t3 = time.monotonic()
        while True:
            r = c.call(rt, "ContainerStatus", m("ContainerStatusRequest", {"container_id": cid}))
            if r.status.state == pb.CONTAINER_RUNNING:
                break
            if time.monotonic() - t0 > c.timeout:
                die(f"pod-start: container {cid} is not running after {c.timeout} s")
            time.sleep(0.001)
        t4 = time.monotonic()
        ms = lambda a_, b_: round((b_ - a_) * 1000, 3)
        dump({"pod_id": pod_id, "container_id": cid, "runp_ms": ms(t0, t1),
              "create_ms": ms(t1, t2), "start_ms": ms(t2, t3), "total_ms": ms(t0, t4)})
    elif a.cmd == "exec-bench":
        argv = a.argv[1:] if a.argv[:1] == ["--"] else a.argv
        req = m("ExecSyncRequest", {"container_id": a.id, "cmd": argv, "timeout": 0})
        out = []
        for _ in range(a.n):
            t0 = time.monotonic()
            r = c.call(rt, "ExecSync", req)
            out.append(round((time.monotonic() - t0) * 1000, 3))
            if r.exit_code != 0:
                die(f"exec-bench: {argv} exited {r.exit_code}: {r.stderr!r}")
        dump({"ms": out})
    elif a.cmd == "rmi":
        c.call(im, "RemoveImage", m("RemoveImageRequest", {"image": {"image": a.image}}))


if __name__ == "__main__":
    main()
