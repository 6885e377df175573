#!/usr/bin/env python3
"""A stand-in for Kubernetes' build/release.sh (workbench sandbox; stdlib only).

Prints the phases and `+++ [MMDD HH:MM:SS]` status lines the real build prints
(build/common.sh, build/lib/release.sh, hack/lib/golang.sh) and writes a release tree:
_output/dockerized/bin/<os>/<arch>/, _output/release-stage/, _output/release-tars/.
Each run is a "rebuild": one or two binaries change a little, with shifted offsets.

Each "binary" is a program (build/fake-programs, stdlib Python run as a zipapp: a shebang,
then a zip holding the program, its identity and its version's flag table, and a stored
padding member that gives it a real binary's size). The version is KUBE_GIT_VERSION, or
KUBE_GIT_VERSION_FILE (hack/lib/version.sh's format), or build/fake-build.json's
"version", or v1.32.4. Kubernetes 1.10 and later ship no salt tars (cluster/saltbase was
removed in 1.10). Every build writes etcd's own release tar (etcd-v<etcd>-linux-amd64.tar.gz)
beside the Kubernetes tars so that a push carries it: the seed era's etcd (2.2.1) came as a
container image, and the sandbox has no container runtime.

Environment: KUBE_BUILD_PLATFORMS (space separated), KUBE_RELEASE_RUN_TESTS (y/n),
KUBE_FASTBUILD (true: linux/amd64 only when no platforms are given),
WORKBENCH_FAKE_BUILD_SECONDS (total time), WORKBENCH_FAKE_BUILD_FAIL=1 (or the file
build/.fake-build-fail) makes the go build fail, WORKBENCH_FAKE_BINARY_MB (size).
"""

import hashlib
import io
import json
import os
import random
import shutil
import sys
import tarfile
import time
import zipfile
import zlib
from pathlib import Path

KUBE_ROOT = Path(__file__).resolve().parent.parent
OUTPUT = KUBE_ROOT / "_output"
BIN = OUTPUT / "dockerized" / "bin"
STAGE = OUTPUT / "release-stage"
TARS = OUTPUT / "release-tars"
CONFIG_PATH = KUBE_ROOT / "build" / "fake-build.json"
STATE_PATH = OUTPUT / ".fake-build-state.json"
ALL_PLATFORMS = ["linux/amd64", "linux/arm", "linux/arm64", "linux/ppc64le", "darwin/amd64", "windows/amd64"]
SERVER = {"kube-apiserver": 0.24, "kube-controller-manager": 0.18, "kube-scheduler": 0.1,
          "kube-proxy": 0.09, "kubelet": 0.22, "kubectl": 0.17}
NODE = ("kube-proxy", "kubelet")
TARGETS = ["cmd/kube-proxy", "cmd/kube-apiserver", "cmd/kube-controller-manager", "cmd/kubelet",
           "cmd/kubemark", "cmd/hyperkube", "plugin/cmd/kube-scheduler"]
CLIENT_TARGETS = ["cmd/kubectl"]
TEST_PKGS = ["pkg/api", "pkg/apiserver", "pkg/client/cache", "pkg/kubelet", "pkg/kubelet/dockertools",
             "pkg/master", "pkg/proxy/iptables", "pkg/registry/pod/etcd", "pkg/util/wait"]
MARK = b"\xa5\x5a"  # content-defined cut mark for the rsyncable gzip
PROGRAMS = KUBE_ROOT / "build" / "fake-programs"
DEFAULT_VERSION = "v1.32.4"
ETCD_FOR = {"1.32": "3.5.16"}  # the etcd kubeadm pairs with each release (cmd/kubeadm/app/constants)
IMAGES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy")


def status(msg, *extra):
    print(f"+++ [{time.strftime('%m%d %H:%M:%S')}] {msg}", flush=True)
    for line in extra:
        print(f"    {line}", flush=True)


def pause(share):
    time.sleep(max(0.0, SECONDS * share))


def config():
    try:
        cfg = json.loads(CONFIG_PATH.read_text())
    except (OSError, ValueError):
        cfg = {}
    return cfg


CFG = config()
SECONDS = float(os.environ.get("WORKBENCH_FAKE_BUILD_SECONDS", CFG.get("seconds", 3.0)))
SIZE_MB = float(os.environ.get("WORKBENCH_FAKE_BINARY_MB", CFG.get("binary_mb", 24)))
SEED = str(CFG.get("seed", "kube"))


def version_from_file(path):
    """hack/lib/version.sh's KUBE_GIT_VERSION_FILE: KUBE_GIT_VERSION='v1.32.4' lines."""
    for line in Path(path).read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "KUBE_GIT_VERSION":
            return value.strip().strip("'\"")
    return ""


VERSION = (os.environ.get("KUBE_GIT_VERSION")
           or (version_from_file(os.environ["KUBE_GIT_VERSION_FILE"]) if os.environ.get("KUBE_GIT_VERSION_FILE") else "")
           or CFG.get("version") or DEFAULT_VERSION)
MINOR = tuple(int(x) for x in VERSION.lstrip("v").split("-")[0].split(".")[:2])
SEED_ERA = MINOR < (1, 10)  # salt tars and cluster/saltbase until 1.10
ETCD_VERSION = "2.2.1" if SEED_ERA else ETCD_FOR.get(f"{MINOR[0]}.{MINOR[1]}", "3.5.16")


def platforms():
    given = os.environ.get("KUBE_BUILD_PLATFORMS", "").split()
    if given:
        return given
    if os.environ.get("KUBE_FASTBUILD", "") == "true":
        return ["linux/amd64"]
    return list(ALL_PLATFORMS)


def binaries_for(platform):
    """(name, size in bytes) of what `make cross` leaves for one platform."""
    os_name = platform.split("/")[0]
    exe = ".exe" if os_name == "windows" else ""
    names = SERVER if os_name == "linux" else {"kubectl": SERVER["kubectl"]}
    if os_name == "windows":
        names = {"kubectl": SERVER["kubectl"], "kubelet": SERVER["kubelet"], "kube-proxy": SERVER["kube-proxy"]}
    return [(n + exe, max(4096, int(SIZE_MB * w * 1024 * 1024))) for n, w in names.items()]


def rng_for(*parts):
    return random.Random(hashlib.sha256("/".join(map(str, parts)).encode()).digest())


def fresh_binary(rng, size):
    """Random (code), low-entropy (tables, strings) and repeated (padding, copies) regions."""
    low = bytes.maketrans(bytes(range(256)), bytes((i % 16) + 0x60 for i in range(256)))
    out = bytearray(b"\x7fELF\x02\x01\x01" + bytes(9))
    while len(out) < size:
        kind = rng.random()
        n = rng.randint(16, 256) * 1024
        if kind < 0.55:
            out += rng.randbytes(n)
        elif kind < 0.85:
            out += rng.randbytes(n).translate(low)
        else:
            block = rng.randbytes(rng.choice((512, 4096)))
            out += block * (n // len(block))
    return bytes(out[:size])


def rebuilt(rng, data):
    """A few KiB inserted, deleted and overwritten at several places: offsets shift."""
    buf = bytearray(data)
    for _ in range(rng.randint(2, 4)):
        at = rng.randrange(0, max(1, len(buf) - 16384))
        n = rng.randint(1, 8) * 1024
        op = rng.choice(("insert", "delete", "overwrite"))
        if op == "insert":
            buf[at:at] = rng.randbytes(n)
        elif op == "delete":
            del buf[at:at + n]
        else:
            buf[at:at + 4096] = rng.randbytes(4096)
    return bytes(buf)


def flag_table():
    """The version's flag table, or None (accept every flag) when we hold none for it."""
    path = PROGRAMS / "flagtables" / f"v{MINOR[0]}.{MINOR[1]}.json"
    if not path.is_file():
        return None
    doc = json.loads(path.read_text())
    return doc["components"]


def identity(component):
    commit = hashlib.sha1(f"{SEED}/{VERSION}".encode()).hexdigest()
    return {"component": component, "gitVersion": VERSION, "gitCommit": commit,
            "buildDate": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(CFG.get("built", 0) or 1733300000)),
            "etcdVersion": ETCD_VERSION}


def program_members(component):
    """(arcname, bytes) of the program: its modules, the reused sandbox modules, its data."""
    out = []
    for src in sorted(PROGRAMS.rglob("*.py")):
        rel = src.relative_to(PROGRAMS).as_posix()
        out.append((rel, src.read_bytes()))
    table = flag_table()
    if table is not None:
        out.append(("flagtable.json", json.dumps(table, sort_keys=True).encode()))
    out.append(("identity.json", json.dumps(identity(component), sort_keys=True).encode()))
    return out


def zipapp(members, padding):
    """#!/usr/bin/env python3 + a zip (stored, fixed dates): Python runs it, zipimport reads
    only the central directory and the modules, so the padding costs nothing at start."""
    out = io.BytesIO()
    out.write(b"#!/usr/bin/env python3\n")
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        for name, data in members + [("padding.bin", padding)]:
            info = zipfile.ZipInfo(name, date_time=(2024, 12, 4, 0, 0, 0))
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return out.getvalue()


def old_padding(path):
    try:
        with zipfile.ZipFile(path) as zf:
            return zf.read("padding.bin")
    except (OSError, zipfile.BadZipFile, KeyError):
        return None


def build_program(path, component, size, rng_parts, generation, changed):
    members = program_members(component)
    code = sum(len(d) + 2 * len(n) + 120 for n, d in members) + 200
    padding = old_padding(path) if path.exists() else None
    if padding is None:
        padding = fresh_binary(rng_for(SEED, *rng_parts), max(4096, size - code))
    elif changed:
        padding = rebuilt(rng_for(SEED, *rng_parts, generation), padding)
    data = zipapp(members, padding)
    if not path.exists() or path.read_bytes() != data:
        path.write_bytes(data)
    path.chmod(0o755)


def go_build(platform, generation, changed):
    out_dir = BIN / platform
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, size in binaries_for(platform):
        base = name.removesuffix(".exe")
        build_program(out_dir / name, base, size, (platform, name), generation, base in changed)
    if platform.startswith("linux/"):
        etcd_dir = OUTPUT / "etcd" / platform
        etcd_dir.mkdir(parents=True, exist_ok=True)
        build_program(etcd_dir / "etcd", "etcd", int(SIZE_MB * 0.1 * 1024 * 1024), (platform, "etcd"), 0, False)


def rsyncable_gzip(data):
    """gzip members cut where the content says so: unchanged regions compress identically."""
    out = io.BytesIO()
    pos, end = 0, len(data)
    while pos < end:
        cut = data.find(MARK, pos + 16384)
        cut = end if cut < 0 else cut + len(MARK)
        cut = min(cut, pos + 1024 * 1024)
        comp = zlib.compressobj(1, zlib.DEFLATED, 31)
        out.write(comp.compress(data[pos:cut]) + comp.flush())
        pos = cut
    return out.getvalue()


def make_tar(dest, files):
    """files: (arcname, source path or bytes)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for arcname, src in files:
            data = src if isinstance(src, bytes) else Path(src).read_bytes()
            info = tarfile.TarInfo(arcname)
            info.size = len(data)
            info.mode = 0o755 if not isinstance(src, bytes) else 0o644
            info.mtime = int(Path(src).stat().st_mtime) if not isinstance(src, bytes) else 0
            tar.addfile(info, io.BytesIO(data))
    dest.write_bytes(rsyncable_gzip(raw.getvalue()))


def stage_copy(src_dir, dest_dir, names):
    dest_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copyfile(src_dir / name, dest_dir / name)


def package(built):
    shutil.rmtree(STAGE, ignore_errors=True)
    shutil.rmtree(TARS, ignore_errors=True)
    TARS.mkdir(parents=True)
    status("Building tarball: src")
    status("Building tarball: manifests")
    for platform in built:
        tag = platform.replace("/", "-")
        if not platform.startswith("linux"):
            status(f"Starting tarball: client {tag}")
    status("Waiting on tarballs")
    full = []
    for platform in built:
        tag = platform.replace("/", "-")
        src = BIN / platform
        names = [n for n, _ in binaries_for(platform)]
        client = [n for n in names if n.startswith("kubectl")]
        stage_copy(src, STAGE / "client" / tag / "kubernetes" / "client" / "bin", client)
        make_tar(TARS / f"kubernetes-client-{tag}.tar.gz",
                 [(f"kubernetes/client/bin/{n}", src / n) for n in client])
        full += [(f"kubernetes/platforms/{platform}/{n}", src / n) for n in client]
        node_bins = NODE if SEED_ERA else (*NODE, "kubectl")
        node = [n for n in names if n.removesuffix(".exe") in node_bins]
        if node:
            status(f"Building tarball: node {tag}")
            stage_copy(src, STAGE / "node" / tag / "kubernetes" / "node" / "bin", node)
            make_tar(TARS / f"kubernetes-node-{tag}.tar.gz",
                     [(f"kubernetes/node/bin/{n}", src / n) for n in node])
        if platform.startswith("linux/"):
            status(f"Building tarball: server {tag}")
            stage_copy(src, STAGE / "server" / tag / "kubernetes" / "server" / "bin", names)
            tar = TARS / f"kubernetes-server-{tag}.tar.gz"
            tags = [] if SEED_ERA else [(f"kubernetes/server/bin/{n}.docker_tag", (VERSION + "\n").encode())
                                        for n in IMAGES]
            make_tar(tar, [(f"kubernetes/server/bin/{n}", src / n) for n in names] + tags
                     + [("kubernetes/version", (VERSION + "\n").encode())])
            full.append((f"kubernetes/server/{tar.name}", tar))
            etcd_tar(platform)
    if not SEED_ERA:
        status("Building tarball: final")
        make_tar(TARS / "kubernetes.tar.gz", [("kubernetes/version", (VERSION + "\n").encode()),
                                              ("kubernetes/README.md", b"# Kubernetes (workbench sandbox build)\n")])
        return
    status("Building tarball: salt")
    salt_root = KUBE_ROOT / "cluster" / "saltbase"
    salt = [(f"kubernetes/saltbase/{p.relative_to(salt_root)}", p)
            for p in sorted(salt_root.rglob("*")) if p.is_file()]
    shutil.copytree(salt_root, STAGE / "salt" / "kubernetes" / "saltbase")
    make_tar(TARS / "kubernetes-salt.tar.gz", salt)
    status("Building tarball: final")
    make_tar(TARS / "kubernetes.tar.gz", [*full, ("kubernetes/version", (VERSION + "\n").encode())])


def etcd_tar(platform):
    """etcd's own release layout: etcd-v<ver>-<os>-<arch>/{etcd,README.md}."""
    tag = platform.replace("/", "-")
    top = f"etcd-v{ETCD_VERSION}-{tag}"
    make_tar(TARS / f"{top}.tar.gz", [(f"{top}/etcd", OUTPUT / "etcd" / platform / "etcd"),
                                      (f"{top}/README.md", b"# etcd (workbench sandbox build)\n")])


def fail_requested():
    return os.environ.get("WORKBENCH_FAKE_BUILD_FAIL") == "1" or (KUBE_ROOT / "build" / ".fake-build-fail").exists()


def fail():
    err = sys.stderr
    print("# k8s.io/kubernetes/pkg/kubelet", file=err)
    print("pkg/kubelet/kubelet.go:2417: undefined: syncLoopIterationFake", file=err)
    print("pkg/kubelet/kubelet.go:2431: cannot use podCfg (type *config.PodConfig) as type string in argument to kl.run", file=err)
    print("!!! Error in /go/src/k8s.io/kubernetes/hack/lib/golang.sh:435", file=err)
    print("  'go install \"${goflags[@]:+${goflags[@]}}\" -ldflags \"${goldflags}\" \"${nonstatics[@]:+${nonstatics[@]}}\"' exited with status 2", file=err)
    print("Call stack:", file=err)
    print("  1: /go/src/k8s.io/kubernetes/hack/lib/golang.sh:435 kube::golang::build_binaries_for_platform(...)", file=err)
    print("  2: /go/src/k8s.io/kubernetes/hack/lib/golang.sh:582 kube::golang::build_binaries(...)", file=err)
    print("  3: hack/build-cross.sh:28 main(...)", file=err)
    print("Exiting with status 1", file=err)
    print("!!! Error in build/../build/common.sh:555", file=err)
    print("  '\"${docker_cmd[@]}\" \"$@\"' exited with status 1", file=err)
    print("Call stack:", file=err)
    print("  1: build/../build/common.sh:555 kube::build::run_build_command(...)", file=err)
    print("  2: build/release.sh:36 main(...)", file=err)
    print("Exiting with status 1", file=err, flush=True)
    sys.exit(1)


def main():
    wanted = platforms()
    run_tests = os.environ.get("KUBE_RELEASE_RUN_TESTS", "y") not in ("n", "N", "no", "false")
    try:
        state = json.loads(STATE_PATH.read_text())
    except (OSError, ValueError):
        state = {}
    generation = int(state.get("generation", 0)) + 1
    tag = hashlib.sha1(str(KUBE_ROOT).encode()).hexdigest()[:10]
    status("Verifying Prerequisites....")
    pause(0.04)
    status(f"Building Docker image kube-build:build-{tag}.")
    pause(0.1)
    status(f"Creating data container kube-build-data-{tag}")
    status("Syncing sources to container")
    pause(0.04)
    status("Running build command....")
    pick = rng_for(SEED, "changed", generation)
    changed = set(pick.sample(sorted(SERVER), pick.randint(1, 2)))
    weights = [3 if p.startswith("linux") else 1 for p in wanted]
    for platform, weight in zip(wanted, weights):
        targets = TARGETS + CLIENT_TARGETS if platform.startswith("linux") else CLIENT_TARGETS
        status(f"Building go targets for {platform}:", *targets)
        if fail_requested():
            pause(0.1)
            fail()
        go_build(platform, generation, changed)
        pause(0.5 * weight / sum(weights))
    if run_tests:
        status("Running build command....")
        status("Running tests without code coverage")
        for pkg in TEST_PKGS:
            pause(0.5 / len(TEST_PKGS))
            print(f"ok  \tk8s.io/kubernetes/{pkg}\t{random.uniform(0.05, 9):.3f}s", flush=True)
        status("Running integration test cases")
        pause(0.15)
    status("Syncing out of container")
    pause(0.04)
    package(wanted)
    pause(0.05)
    OUTPUT.mkdir(exist_ok=True)
    STATE_PATH.write_text(json.dumps({"generation": generation, "platforms": wanted}) + "\n")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
