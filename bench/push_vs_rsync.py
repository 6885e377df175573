#!/usr/bin/env python3
"""workbench push vs rsync -a: a rebuild of a release tree to 3 nodes on loopback.

Makes a release tree (binaries mixing random, low-entropy and repeated regions, plus a
random tarball) and a rebuild (two binaries with KiB-sized inserts, deletes and
overwrites), starts one OpenSSH sshd per node on 127.x.y.z, warms up (every destination
gets the first build), then measures the rebuild with: rsync -a to the nodes one after
another (the seed's kube-push), rsync -a to all in parallel, workbench push --direct and
workbench push (relay). The two pushes use separate node sets so neither reuses the
other's chunks. Every wall time includes opening the SSH connections. rsync runs over
OpenSSH with aes128-gcm (the cipher makes no measurable difference: ~1.6 MB travels).

``--repeat N`` measures every method N times after one settling round that is not counted
(see run()), each round a rebuild (the tree alternates
between the two builds), in rotating order, and prints the median and the spread.
``--verbose`` adds per-node phase timings, the agents' time per activity and CPU, and per
method the kernel writeback (/proc/vmstat nr_written, peak Dirty/Writeback) and the whole
machine's CPU use (/proc/stat: other work on the machine shows up there).

    .venv/bin/python bench/push_vs_rsync.py --size 256M [--repeat 3] [--verbose]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import mmap
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.engine.test_push_sshd import SSHDNode, start_nodes, stop_nodes  # noqa: E402
from workbench.engine.push.runner import push, start_manifest  # noqa: E402
from workbench.events import Bus  # noqa: E402
from workbench.profile import (  # noqa: E402
    ClusterSection,
    KubeSection,
    PathsSection,
    Profile,
    PushSection,
    SSHSection,
)
from workbench.state import StateDir  # noqa: E402

BINARIES = {"kube-apiserver": 0.24, "kube-controller-manager": 0.18, "kubelet": 0.22,
            "kubectl": 0.17, "kube-scheduler": 0.10, "kube-proxy": 0.09}
TARBALL_SHARE = 0.15
VERBOSE = False
VERIFY = "full"
SWAP = False
LOW = bytes.maketrans(bytes(range(256)), bytes(b % 16 for b in range(256)))


def parse_size(text: str) -> int:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMG]?)i?B?", text.strip(), re.I)
    if not m:
        raise argparse.ArgumentTypeError(f"--size: a size like 256M or 1G, not {text!r}")
    return int(float(m.group(1)) * {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[m.group(2).upper()])


def binary(rng: random.Random, size: int) -> bytes:
    parts: list[bytes] = []
    total = 0
    while total < size:
        n = rng.randint(4 << 10, 512 << 10)
        kind = rng.random()
        if kind < 0.45:
            part = rng.randbytes(n)  # code and compressed data
        elif kind < 0.75:
            part = rng.randbytes(n).translate(LOW)  # tables, strings: low entropy
        elif parts:
            src = rng.choice(parts)
            part = src[: n]  # repeated regions
        else:
            part = bytes(n)
        parts.append(part)
        total += len(part)
    return b"".join(parts)[:size]


def make_tree(root: Path, size: int, seed: int = 42) -> None:
    rng = random.Random(seed)
    tree = root / "tree"
    (tree / "bin").mkdir(parents=True, exist_ok=True)
    for name, share in BINARIES.items():
        (tree / "bin" / name).write_bytes(binary(rng, int(size * (1 - TARBALL_SHARE) * share)))
    (tree / "kubernetes-server-linux-amd64.tar.gz").write_bytes(rng.randbytes(int(size * TARBALL_SHARE)))


def rebuild(root: Path, seed: int = 7) -> int:
    """Two binaries change the way a rebuild changes them; returns the bytes genuinely new."""
    rng = random.Random(seed)
    new = 0
    for name in ("kube-apiserver", "kubelet"):
        path = root / "tree" / "bin" / name
        data = bytearray(path.read_bytes())
        for _ in range(3):
            at, n = rng.randrange(len(data)), rng.randint(1 << 10, 8 << 10)
            data[at:at] = rng.randbytes(n)
            new += n
            at = rng.randrange(len(data) - (9 << 10))
            del data[at : at + rng.randint(1 << 10, 8 << 10)]
        for _ in range(6):
            at = rng.randrange(len(data) - 4096)
            data[at : at + 4096] = rng.randbytes(4096)
            new += 4096
        path.write_bytes(bytes(data))
    return new


def rsync_argv(src: Path, node: SSHDNode, dest: str) -> list[str]:
    ssh = " ".join(node.ssh_argv())
    return ["rsync", "-a", "--stats", "-e", ssh, f"{src}/", f"root@{node.address}:{node.home}/{dest}/"]


def _sent(stats: str) -> int:
    m = re.search(r"Total bytes sent: ([\d,]+)", stats)
    return int(m.group(1).replace(",", "")) if m else 0


def _meminfo() -> dict[str, int]:
    with open("/proc/meminfo") as f:
        return {k: int(v.split()[0]) << 10 for k, v in (line.split(":", 1) for line in f)}


def _cpu_ticks() -> list[int]:
    """user nice system idle iowait irq softirq steal, summed over all CPUs (/proc/stat)."""
    with open("/proc/stat") as f:
        return [int(x) for x in f.readline().split()[1:9]]


def _pages_written() -> int:
    with open("/proc/vmstat") as f:
        return next((int(line.split()[1]) for line in f if line.startswith("nr_written ")), 0)


@contextmanager
def disk_watch(label: str) -> Iterator[None]:
    """With --verbose on Linux: peak Dirty/Writeback (/proc/meminfo, every 10 ms) and the
    pages the kernel wrote back (/proc/vmstat nr_written) while ``label`` ran."""
    if not VERBOSE or not os.path.exists("/proc/vmstat"):
        yield
        return
    peak = {"Dirty": 0, "Writeback": 0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.01):
            m = _meminfo()
            for k in peak:
                peak[k] = max(peak[k], m[k])

    written, ticks, t0 = _pages_written(), _cpu_ticks(), time.perf_counter()
    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        end = _meminfo()
        hz, wall = os.sysconf("SC_CLK_TCK"), time.perf_counter() - t0
        used = [(b - a) / hz for a, b in zip(ticks, _cpu_ticks(), strict=True)]
        say(f"  [{label}] CPU seconds over {wall:.2f} s wall on {os.cpu_count()} CPUs: user {used[0] + used[1]:.2f}, "
            f"system {used[2] + used[5] + used[6]:.2f}, idle {used[3]:.2f}, iowait {used[4]:.2f}, steal {used[7]:.2f}")
        say(f"  [{label}] written back during the run {(_pages_written() - written) * 4096 / 1e6:.0f} MB; "
            f"peak Dirty {peak['Dirty'] / 1e6:.0f} MB, peak Writeback {peak['Writeback'] / 1e6:.0f} MB; "
            f"Dirty at the end {end['Dirty'] / 1e6:.0f} MB")


def timed(label: str, run: Callable[[], tuple[float, int]]) -> tuple[float, int]:
    with disk_watch(label):
        return run()


def rsync_sequential(src: Path, nodes: list[SSHDNode], dest: str) -> tuple[float, int]:
    t0 = time.perf_counter()
    sent = 0
    for node in nodes:
        out = subprocess.run(rsync_argv(src, node, dest), check=True, capture_output=True, text=True)
        sent += _sent(out.stdout)
    return time.perf_counter() - t0, sent


def rsync_parallel(src: Path, nodes: list[SSHDNode], dest: str) -> tuple[float, int]:
    t0 = time.perf_counter()
    procs = [subprocess.Popen(rsync_argv(src, n, dest), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for n in nodes]
    sent = 0
    for p in procs:
        out, err = p.communicate()
        if p.returncode:
            raise RuntimeError(f"rsync failed: {err.strip()}")
        sent += _sent(out)
    return time.perf_counter() - t0, sent


def profile_for(root: Path, nodes: list[SSHDNode]) -> Profile:
    return _profile(root, nodes, VERIFY, SWAP)


def _profile(root: Path, nodes: list[SSHDNode], verify: str, swap: bool = False) -> Profile:
    return Profile(
        cluster=ClusterSection(name="kubernetes", minions=len(nodes) - 1, master_ip=nodes[0].address),
        ssh=SSHSection(user="root"),
        kube=KubeSection(root=root),
        paths=PathsSection(release_dir="push", salt_tree="salt"),
        push=PushSection(include_tars=False, include_salt=False, extra=("tree",), verify=verify, swap=swap),
    )


async def workbench_push(root: Path, nodes: list[SSHDNode], state: StateDir, *, direct: bool) -> tuple[float, int]:
    t0 = time.perf_counter()
    profile = profile_for(root, nodes)
    manifest = start_manifest(profile, state)  # chunking overlaps the SSH handshakes
    conns = await asyncio.gather(*(n.connect() for n in nodes))
    t1 = time.perf_counter()
    try:
        names = ["kubernetes-master"] + [f"kubernetes-minion-{i}" for i in range(1, len(nodes))]
        targets = {name: (None, c) for name, c in zip(names, conns, strict=True)}
        report = await push(profile, state, targets, bus=Bus(), direct=direct, manifest=manifest)
    finally:
        t2 = time.perf_counter()
        for c in conns:
            c.close()
    if VERBOSE:
        say(f"  connect {t1 - t0:.3f} s, push() {t2 - t1:.3f} s (report {report.seconds:.3f} s)")
        for n in report.nodes:
            say(f"  {n.name} {n.via}: " + " ".join(f"{k}={v:.3f}" for k, v in n.phases.items()
                                                  if not k.startswith("agent_") or k in ("agent_seconds", "agent_plan")))
            agent = {k[6:]: v for k, v in n.phases.items() if k.startswith("agent_t_") or k.startswith("agent_cpu")}
            if agent:
                say("    agent " + " ".join(f"{k}={v:.3f}" for k, v in agent.items()))
    if not report.ok:
        raise RuntimeError(f"push failed: {[n.error for n in report.nodes if not n.ok]}")
    return time.perf_counter() - t0, report.bytes_from_workstation


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=parse_size, default=1 << 30, help="release tree size (default 1G)")
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--workdir", type=Path, help="keep files here (default: a temp dir, removed)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="measure every method this many times (a rebuild each round, rotating order); "
                         "the table shows the median and the spread")
    ap.add_argument("--verbose", action="store_true", help="print each node's phase timings")
    ap.add_argument("--floor", action="store_true",
                    help="also time, alone, what no push can skip, and print the floor they add up to")
    ap.add_argument("--swap", action="store_true",
                    help="push.swap for both pushes (RENAME_EXCHANGE instead of rename over the old file)")
    ap.add_argument("--verify", choices=("full", "delta"), default="full",
                    help="push.verify for both pushes (default full: sha256 of every byte a node writes)")
    args = ap.parse_args()
    global VERBOSE, VERIFY, SWAP
    VERBOSE, VERIFY, SWAP = args.verbose, args.verify, args.swap
    with tempfile.TemporaryDirectory(prefix="push-bench-", dir=args.workdir) as tmp:
        return run(Path(tmp), args.size, args.nodes, max(1, args.repeat), args.floor)


METHODS = ("rsync sequential", "rsync parallel", "push --direct", "push relay")
CHANGED = ("kube-apiserver", "kubelet")  # the binaries rebuild() edits


def run(work: Path, size: int, n: int, repeat: int = 1, floor: bool = False) -> int:
    root = work / "kube-root"
    load = os.getloadavg()[0]  # others' work on this machine skews every figure
    t = time.perf_counter()
    make_tree(root, size)
    say(f"tree of {size / 2**20:.0f} MiB made in {time.perf_counter() - t:.1f} s")
    names = ["kubernetes-master"] + [f"kubernetes-minion-{i}" for i in range(1, n)]
    rsync_nodes = start_nodes(work / "rsync", names)
    direct_nodes = start_nodes(work / "direct", names)
    relay_nodes = start_nodes(work / "relay", names)
    times: dict[str, list[float]] = {m: [] for m in METHODS}
    floor_s = 0.0
    sent: dict[str, int] = {}
    try:
        src = root / "tree"
        state_d, state_r = StateDir(work / "state-direct"), StateDir(work / "state-relay")
        methods: dict[str, Callable[[], tuple[float, int]]] = {
            "rsync sequential": lambda: rsync_sequential(src, rsync_nodes, "seq"),
            "rsync parallel": lambda: rsync_parallel(src, rsync_nodes, "par"),
            "push --direct": lambda: asyncio.run(workbench_push(root, direct_nodes, state_d, direct=True)),
            "push relay": lambda: asyncio.run(workbench_push(root, relay_nodes, state_r, direct=False)),
        }
        t = time.perf_counter()
        rsync_parallel(src, rsync_nodes, "seq")  # warm-up: every destination gets build 1
        rsync_parallel(src, rsync_nodes, "par")
        first_direct, _ = asyncio.run(workbench_push(root, direct_nodes, state_d, direct=True))
        first_relay, _ = asyncio.run(workbench_push(root, relay_nodes, state_r, direct=False))
        say(f"warm-up (first build everywhere) {time.perf_counter() - t:.1f} s; first push of the whole "
            f"tree: --direct {first_direct:.2f} s, relay {first_relay:.2f} s")
        os.sync()
        nochange, _ = asyncio.run(workbench_push(root, direct_nodes, state_d, direct=True))
        builds = [work / "build-1", work / "build-2"]
        _save(src, builds[0])
        new = rebuild(root)
        _save(src, builds[1])
        # Round 0 settles and is not counted: on a VM, the first rounds write into guest memory
        # the host has never backed (a host page fault per fresh page: measured here, the same
        # push took 1.2-1.4 s in the first rounds and 0.6 s after, and rsync likewise)
        for r in range(repeat + 1):
            if r:  # each round is a rebuild: the nodes hold the other build
                _restore(builds[(r + 1) % 2], src)
            order = METHODS[r % len(METHODS):] + METHODS[: r % len(METHODS)]  # no method always first
            took: dict[str, float] = {}
            for name in order:
                os.sync()  # each method starts without the previous one's writeback
                took[name], sent[name] = timed(name, methods[name])
            if r:
                for name in METHODS:
                    times[name].append(took[name])
            say(f"round {r}{' (settling, not counted)' if not r else ''}: "
                + ", ".join(f"{m} {took[m]:.2f} s" for m in METHODS))
        verify(src, direct_nodes + relay_nodes, rsync_nodes)
        if floor:
            floor_s = measure_floor(src, work, n, nochange_runs(root, direct_nodes, state_d))
    finally:
        stop_nodes(rsync_nodes + direct_nodes + relay_nodes)
    med = {m: statistics.median(v) for m, v in times.items()}
    seq_s, par_s, direct_s, relay_s = (med[m] for m in METHODS)
    best = min(direct_s, relay_s)
    labels = ("rsync -a, nodes one after another", "rsync -a, nodes in parallel",
              "workbench push --direct", "workbench push (relay)")
    say(f"\nrebuild of a {size / 2**20:.0f} MiB tree to {n} nodes ({new / 1e3:.0f} KB genuinely new); "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}; "
        f"1-min load average before the bench {load:.2f}")
    say(f"{'method':<36}{'median s':>9}{'min-max s':>14}{'MB from workstation':>22}   ({repeat} run(s) each)")
    for label, m in zip(labels, METHODS, strict=True):
        say(f"{label:<36}{med[m]:>9.2f}{min(times[m]):>7.2f}-{max(times[m]):<6.2f}{sent[m] / 1e6:>22.2f}")
    say(f"workbench push with nothing changed: {nochange:.3f} s (connections included); push.verify = {VERIFY}, push.swap = {SWAP}")
    say(f"best workbench / rsync sequential = {best / seq_s:.3f}; / rsync parallel = {best / par_s:.3f}")
    print(json.dumps({
        "size_bytes": size, "nodes": n, "rsync_sequential_s": round(seq_s, 3),
        "rsync_parallel_s": round(par_s, 3), "direct_s": round(direct_s, 3), "relay_s": round(relay_s, 3),
        "ratio_vs_rsync_sequential": round(best / seq_s, 3), "ratio_vs_rsync_parallel": round(best / par_s, 3),
        "relay_bytes_from_workstation": sent["push relay"], "nochange_s": round(nochange, 3), "verify": VERIFY, "swap": SWAP,
        "runs": {m: [round(x, 3) for x in v] for m, v in times.items()},
        **({"floor_s": round(floor_s, 3)} if floor else {}),
    }))
    return 0


def nochange_runs(root: Path, nodes: list[SSHDNode], state: StateDir) -> float:
    return statistics.median(asyncio.run(workbench_push(root, nodes, state, direct=True))[0] for _ in range(3))


def _best(f: Callable[[], object], times: int = 3) -> float:
    best = float("inf")
    for _ in range(times):
        t = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t)
    return best


def measure_floor(src: Path, work: Path, n: int, nochange: float) -> float:
    """The parts of a rebuild's push that no implementation can skip, each timed alone on
    this machine (best of 3), and what they add up to with n nodes on the CPUs there are:
    the fixed cost (connect, start agents, compare: a push with nothing changed), cutting
    the changed files into chunks (the workstation cannot know what changed without reading
    them), and per node, writing every byte of each changed file into a new file (kernel
    copy: what the old-or-new guarantee costs on a filesystem without reflinks) plus, with
    verify = full, the CRC of the bytes copied from the old file."""
    from workbench.engine.push.manifest import chunk_file

    changed = [src / "bin" / name for name in CHANGED]
    nbytes = sum(p.stat().st_size for p in changed)
    manifest = _best(lambda: [chunk_file(p) for p in changed])

    def copy_all(check: bool) -> None:
        """As the agent does it: the temp file allocated whole, then the kernel copies (delta)
        or each MiB is checked and written from the old file's mapping (full)."""
        for p in changed:
            s, d = os.open(p, os.O_RDONLY), os.open(work / "floor.tmp", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                size = os.fstat(s).st_size
                os.posix_fallocate(d, 0, size)
                if check:
                    with mmap.mmap(s, 0, prot=mmap.PROT_READ) as m:
                        view, crc = memoryview(m), 0
                        for at in range(0, size, 1 << 20):
                            part = view[at : at + (1 << 20)]
                            crc = zlib.crc32(part, crc)
                            written = 0
                            while written < len(part):
                                written += os.pwrite(d, part[written:], at + written)
                            part.release()
                        view.release()
                    continue
                done = 0
                while done < size:
                    done += os.copy_file_range(s, d, size - done, done, done)
            finally:
                os.close(s)
                os.close(d)
                os.unlink(work / "floor.tmp")

    copy, full = _best(lambda: copy_all(False)), _best(lambda: copy_all(True))
    cpus = os.cpu_count() or 1
    per_node = full if VERIFY == "full" else copy
    total = nochange + manifest + per_node * n / min(n, cpus)
    say(f"\nfloor ({VERIFY}): nothing-changed push {nochange:.3f} s + chunking the {len(changed)} changed files "
        f"({nbytes / 1e6:.0f} MB) {manifest:.3f} s + per node rewriting them {copy:.3f} s (kernel copy), "
        f"{full:.3f} s checked from a mapping (full), x {n} nodes / {min(n, cpus)} CPUs = {total:.2f} s "
        f"(an upper bound on the floor: the agents start while the workstation chunks)")
    return total


def _save(src: Path, to: Path) -> None:
    to.mkdir(exist_ok=True)
    for name in CHANGED:
        shutil.copyfile(src / "bin" / name, to / name)


def _restore(build: Path, src: Path) -> None:
    for name in CHANGED:  # a new file, as a build writes it: new inode and mtime
        tmp = src / "bin" / f".{name}.tmp"
        shutil.copyfile(build / name, tmp)
        os.replace(tmp, src / "bin" / name)


def verify(src: Path, push_nodes: list[SSHDNode], rsync_nodes: list[SSHDNode]) -> None:
    """Every node holds the rebuild, byte for byte (cmp, no trust in either tool)."""
    for path in sorted(p for p in src.rglob("*") if p.is_file()):
        rel = path.relative_to(src)
        copies = [n.home / "push" / "tree" / rel for n in push_nodes]
        copies += [n.home / d / rel for n in rsync_nodes for d in ("seq", "par")]
        for copy in copies:
            subprocess.run(["cmp", "-s", str(path), str(copy)], check=True)


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
