"""bench/salt_scale.py's sandbox flavour: N sandbox nodes (a master and N-1 minions, the
stock image), real Salt installed by the engine with the node's dnf, the workbench's own
tree and the fake build's release; each mode on its own fresh sandbox.

The sandbox runs as `workbench sandbox serve` in a subprocess, so this process's CPU is the
engine's alone. `workbench build`, `up` and `push` (the CLI) prepare the cluster; then the
salt stage's two steps (what `workbench salt` runs) are timed in this process, twice:
"first" (installs Salt; in master mode sets up master, minions and keys) and "again" (the
same highstate on the converged cluster: a developer's edit-push-salt loop). Provisioning
(``provision_s``, ``provision_connections``) and the state run on a fresh SSH pool
(``wall_s``, ``workstation_cpu_s``, ``workstation_connections``) are reported apart. Node memory and
CPU come from a sampler process that sums the Salt processes of each node's PID namespace,
among the descendants of our serve process only.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CLK = os.sysconf("SC_CLK_TCK")


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _tree(top: int) -> set[int]:
    """``top`` and its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = set(), [top]
    while todo:
        pid = todo.pop()
        found.add(pid)
        todo += children.get(pid, [])
    return found


def _salt_processes(top: int) -> dict[int, tuple[str, str, float, float]]:
    """pid -> (PID namespace, role, CPU s, PSS MB) of the Salt processes under ``top``."""
    found = {}
    for pid in _tree(top):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if "/opt/saltstack/salt/bin/" not in cmd:
                continue
            ns = os.readlink(f"/proc/{pid}/ns/pid")
            kb = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
                      if line.startswith("Pss:"))
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            role = "master" if "salt-master" in cmd or "salt-run" in cmd or re.search(r"bin/salt( |$)", cmd) else "node"
            found[pid] = (ns, role, (int(fields[11]) + int(fields[12])) / CLK, kb / 1024)
        except (OSError, StopIteration, ValueError, IndexError):
            continue
    return found


def _sample(top: int, before: dict[int, float], stop: Any, out: Any) -> None:
    """Peak Salt PSS per namespace (node) and the CPU each process used since ``before``."""
    peak: dict[str, float] = {}
    cpu: dict[int, tuple[str, float]] = {}
    masters: set[str] = set()
    while True:
        pss: dict[str, float] = {}
        for pid, (ns, role, seconds, mb) in _salt_processes(top).items():
            cpu[pid] = (ns, seconds - before.get(pid, 0.0))
            pss[ns] = pss.get(ns, 0.0) + mb
            if role == "master":
                masters.add(ns)
        for ns, mb in pss.items():
            peak[ns] = max(peak.get(ns, 0.0), mb)
        if stop.is_set():
            break
        time.sleep(0.2)
    per_ns: dict[str, float] = {}
    for ns, seconds in cpu.values():
        per_ns[ns] = per_ns.get(ns, 0.0) + seconds
    out.put((peak, per_ns, masters))


class Sampler:
    def __init__(self, top: int) -> None:
        self.stop = multiprocessing.Event()
        self.queue: multiprocessing.Queue[Any] = multiprocessing.Queue()
        before = {pid: seconds for pid, (_, _, seconds, _) in _salt_processes(top).items()}
        self.proc = multiprocessing.Process(target=_sample, args=(top, before, self.stop, self.queue))

    def __enter__(self) -> Sampler:
        self.proc.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.peak, self.cpu, self.masters = self.queue.get(timeout=120)
        self.proc.join(timeout=30)


def _cli(profile: Path, *args: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    done = subprocess.run([sys.executable, "-m", "workbench", "--profile", str(profile), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise SystemExit(f"workbench {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")


def _serve(state: Path, minions: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "sandbox", "serve", "--state-dir", str(state),
                             "--minions", str(minions), "--delay-scale", "0.01"], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "ready" not in line:
        proc.kill()
        raise SystemExit(f"sandbox did not start: {line!r}")
    return proc


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=30)


async def _salt_runs(profile_path: Path, top: int, nodes: int, mode: str) -> list[dict[str, Any]]:
    from workbench.engine import stages
    from workbench.engine.parts import Parts
    from workbench.engine.salt_master.mode import cluster_mode
    from workbench.engine.salt_master.runner import salt_runner
    from workbench.events import Bus
    from workbench.profile import load_profile
    from workbench.state import StateDir

    profile = load_profile(profile_path, environ={})
    rows = []
    for run in ("first", "again"):
        # provisioning (one SSH session per node in both modes: it writes each node's files),
        # then the state run on a fresh pool: what it alone connects to
        parts = Parts(profile, state=StateDir(profile.resolved_state_dir()), bus=Bus())
        try:
            active = await stages.active_nodes(parts, "salt", "salt")
            chosen = cluster_mode(profile, active)
            assert chosen == mode, chosen
            start = time.monotonic()
            unprovisioned = await stages.provision_nodes(parts, "salt", active, active, mode=chosen)
            provision_s, provision_connections = time.monotonic() - start, len(parts.ssh._entries)
        finally:
            await parts.close()
        parts = Parts(profile, state=StateDir(profile.resolved_state_dir()), bus=Bus())
        try:
            runner = salt_runner(profile, parts.ssh, parts.state, parts.bus, active, mode=chosen)
            cpu0, start = _cpu(), time.monotonic()
            with Sampler(top) as sampled:
                report = await runner.run([n for n in active if n.name not in unprovisioned])
                wall = time.monotonic() - start
                cpu = _cpu() - cpu0
                connections = len(parts.ssh._entries)
        finally:
            await parts.close()
        minion_ns = [ns for ns in sampled.peak if ns not in sampled.masters]
        master_ns = next(iter(sampled.masters), None)
        rows.append({
            "mode": mode, "nodes": nodes, "run": run, "wall_s": round(wall, 2),
            "slowest_node_s": round(max(r.seconds for r in report.runs), 2),
            "workstation_cpu_s": round(cpu, 2), "workstation_connections": connections,
            "node_rss_mb": round(max((sampled.peak[ns] for ns in minion_ns), default=0.0), 1),
            "master_rss_mb": round(sampled.peak.get(master_ns, 0.0), 1) if master_ns else None,
            "nodes_cpu_s": round(sum(sampled.cpu.get(ns, 0.0) for ns in minion_ns), 1),
            "master_cpu_s": round(sampled.cpu.get(master_ns, 0.0), 1) if master_ns else None,
            "provision_s": round(provision_s, 2), "provision_connections": provision_connections,
            "ok_nodes": sum(r.ok for r in report.runs), "flavour": "sandbox",
        })
    return rows


def run_sandbox(nodes: int, mode: str) -> list[dict[str, Any]]:
    """One fresh sandbox of ``nodes`` nodes; the salt stage twice in ``mode``."""
    with tempfile.TemporaryDirectory(prefix="wb-salt-scale-") as tmp:
        state = Path(tmp) / "sb"
        serve = _serve(state, nodes - 1)
        try:
            profile = state / "profile.toml"
            profile.write_text(profile.read_text() + f'\n[salt]\nmode = "{mode}"\njob_timeout = 3600\nping_timeout = 10\n')
            for verb in ("build", "up", "push"):
                _cli(profile, verb)
            return asyncio.run(_salt_runs(profile, serve.pid, nodes, mode))
        finally:
            _stop(serve)


if __name__ == "__main__":
    for row in run_sandbox(int(sys.argv[1]), sys.argv[2]):
        print(json.dumps(row), flush=True)
