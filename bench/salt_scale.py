"""Salt at scale: the same highstate on N nodes, masterless (``salt-call --local`` on every
node over its own SSH connection) and master mode (one job on a real salt-master over one
SSH connection, returns streamed from its event bus).

    .venv/bin/python bench/salt_scale.py --flavour sandbox --nodes 10 25   # sandbox nodes
    .venv/bin/python bench/salt_scale.py --nodes 10 25 50                   # local flavour

Sandbox flavour (bench/salt_scale_sandbox.py): N sandbox nodes (master included) on a fresh
sandbox per mode, real Salt installed by the engine, the salt stage timed twice ("first":
provisioning and set-up; "again": the converged cluster).

Local flavour: every node is a loopback address of one real OpenSSH sshd, with its own Salt
config, pki, sockets and logs (tests/engine/salt_master_env.py), real salt-master and
salt-minions from the venv. The engine reaches them through the real SSHPool. One JSON line
per run: {"mode", "nodes", "wall_s", "slowest_node_s", "workstation_cpu_s",
"workstation_connections", "node_rss_mb", ...}. workstation_cpu_s is this process's own CPU
(the engine's side); node_rss_mb is the largest node's Salt memory (PSS, sampled every
0.2 s by a separate process); nodes_cpu_s / master_cpu_s are the CPU the nodes' and the
master's Salt processes used during the run (daemons: only what they used after it began).
Every process started is stopped by pid.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import resource
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.engine.salt_master_env import SaltWorld, make_pool, world
from workbench.engine.salt.output import parse_output
from workbench.engine.salt_master.jobs import MasterSaltRunner
from workbench.engine.salt_master.setup import set_up

CLK = 100  # os.sysconf("SC_CLK_TCK") on Linux


def _processes(root: str, names: list[str]) -> dict[int, tuple[str, float, float]]:
    """Salt processes of the nodes under ``root``: pid -> (node, CPU seconds so far, PSS MB)."""
    found: dict[int, tuple[str, float, float]] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().decode(errors="replace")
            if root not in cmd:
                continue
            node = next((n for n in names if f"/nodes/{n}/" in cmd), None)
            if node is None:
                continue
            kb = next(int(line.split()[1]) for line in (proc / "smaps_rollup").read_text().splitlines()
                      if line.startswith("Pss:"))
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            found[int(proc.name)] = (node, (int(fields[11]) + int(fields[12])) / CLK, kb / 1024)
        except (OSError, StopIteration, ValueError, IndexError):
            continue
    return found


def _sample(root: str, names: list[str], before: dict[int, float], stop: Any, out: Any) -> None:
    """In its own process: peak PSS per node, and the CPU each process used since ``before``
    (the daemons' start-up before the run does not count), until ``stop`` is set."""
    peak: dict[str, float] = {}
    cpu: dict[int, tuple[str, float]] = {}
    while True:
        pss: dict[str, float] = {}
        for pid, (node, seconds, mb) in _processes(root, names).items():
            cpu[pid] = (node, seconds - before.get(pid, 0.0))
            pss[node] = pss.get(node, 0.0) + mb
        for node, mb in pss.items():
            peak[node] = max(peak.get(node, 0.0), mb)
        if stop.is_set():
            break
        time.sleep(0.2)
    per_node: dict[str, float] = {}
    for node, seconds in cpu.values():
        per_node[node] = per_node.get(node, 0.0) + seconds
    out.put((peak, per_node))


class Sampler:
    def __init__(self, w: SaltWorld) -> None:
        self.names = [w.master.name, *(m.name for m in w.minions)]
        self.stop = multiprocessing.Event()
        self.queue: multiprocessing.Queue[Any] = multiprocessing.Queue()
        before = {pid: seconds for pid, (_, seconds, _) in _processes(str(w.tmp), self.names).items()}
        self.proc = multiprocessing.Process(target=_sample, args=(str(w.tmp), self.names, before, self.stop, self.queue))

    def __enter__(self) -> Sampler:
        self.proc.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.peak, self.cpu = self.queue.get(timeout=60)
        self.proc.join(timeout=30)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def masterless(w: SaltWorld) -> dict[str, Any]:
    pool = make_pool(w.tmp, w.sshd, [w.master, *w.minions])
    for node in w.minions:  # what the masterless path needs on a node: a local file client
        conf = Path(w.place(node).config_dir)
        conf.mkdir(parents=True, exist_ok=True)
        (conf / "minion").write_text("".join(f"{k}: {v}\n" for k, v in w.place(node).paths("salt-minion").items())
                                     + f"id: {node.name}\nfile_client: local\n")

    async def one(node: Any) -> tuple[bool, float]:
        place = w.place(node)
        result = await pool.run(node, place.salt(
            "salt-call", "--local", f"--file-root={w.settings.file_roots[0]}",
            f"--pillar-root={w.settings.pillar_roots[0]}", "state.highstate", "--out=json"), timeout=1800)
        states = parse_output(result.stdout)
        return result.exit_status == 0 and bool(states) and all(s.result is not False for s in states), result.seconds

    cpu0, start = _cpu(), time.monotonic()
    with Sampler(w) as sampled:
        runs = await asyncio.gather(*(one(n) for n in w.minions))
        wall = time.monotonic() - start
        cpu = _cpu() - cpu0
        connections = len(pool._entries)
    await pool.close()
    return _row("masterless", w, wall, max(s for _, s in runs), cpu, connections, sampled,
                sum(ok for ok, _ in runs))


async def master(w: SaltWorld) -> dict[str, Any]:
    up = await set_up(w.pool, w.master, w.minions, w.settings, w.state, place=w.place, key_wait=600)
    if not up.ok:
        raise SystemExit(f"master mode set-up failed: {up.errors[:3]}")
    waiter = MasterSaltRunner(w.pool, w.state, master=w.master, place=w.place, ping_timeout=10)
    connected = await waiter.wait_connected(w.minions, 600)
    if len(connected) != len(w.minions):
        raise SystemExit(f"only {len(connected)} of {len(w.minions)} minions connected")
    await w.pool.close()
    pool = make_pool(w.tmp, w.sshd, [w.master, *w.minions])
    runner = MasterSaltRunner(pool, w.state, master=w.master, place=w.place, ping_timeout=10, job_timeout=1800)
    cpu0 = _cpu()
    with Sampler(w) as sampled:
        report = await runner.run(w.minions)
        cpu = _cpu() - cpu0
        connections = len(pool._entries)
    await pool.close()
    return _row("master", w, report.wall_s, max(r.seconds for r in report.runs), cpu, connections, sampled,
                sum(r.ok for r in report.runs))


def _row(mode: str, w: SaltWorld, wall: float, slowest: float, cpu: float, connections: int,
         sampled: Sampler, ok: int) -> dict[str, Any]:
    minions = [m.name for m in w.minions]
    return {
        "mode": mode, "nodes": len(minions), "wall_s": round(wall, 2), "slowest_node_s": round(slowest, 2),
        "workstation_cpu_s": round(cpu, 2), "workstation_connections": connections,
        "node_rss_mb": round(max(sampled.peak.get(n, 0.0) for n in minions), 1),
        "master_rss_mb": round(sampled.peak.get(w.master.name, 0.0), 1),
        "nodes_cpu_s": round(sum(sampled.cpu.get(n, 0.0) for n in minions), 1),
        "master_cpu_s": round(sampled.cpu.get(w.master.name, 0.0), 1),
        "ok_nodes": ok, "flavour": "local",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[10, 25, 50])
    parser.add_argument("--modes", nargs="+", default=["masterless", "master"], choices=["masterless", "master"])
    parser.add_argument("--flavour", choices=["local", "sandbox"], default="local")
    args = parser.parse_args()
    failed = False
    if args.flavour == "sandbox":
        from bench.salt_scale_sandbox import run_sandbox

        for nodes in args.nodes:
            for mode in args.modes:
                for row in run_sandbox(nodes, mode):
                    print(json.dumps(row), flush=True)
                    failed |= row["ok_nodes"] != nodes
        return 1 if failed else 0
    for nodes in args.nodes:
        for mode in args.modes:
            gen = world(nodes)
            w = next(gen)
            try:
                row = asyncio.run(masterless(w) if mode == "masterless" else master(w))
            finally:
                gen.close()
            print(json.dumps(row), flush=True)
            failed |= row["ok_nodes"] != nodes
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
