"""What a sandbox node costs: boot time, exec round trip and memory per node.

    .venv/bin/python bench/node_boot.py [--nodes 10] [--execs 50]

Runs against whichever ``workbench`` is importable, so the same script measures another
checkout too (``PYTHONPATH=/path/to/other/checkout``). Memory per node is the PSS of the
node's own processes (its init and children) plus what the sandbox process grew by per node.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from workbench.sandbox.nodes.rig import Rig


def pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def node_pids(node: object) -> list[int]:
    machine = getattr(node, "machine", None)
    if machine is None:
        return []
    pids = list(machine.pids())
    if machine.proc is not None:
        pids.append(machine.proc.pid)  # unshare / bwrap, waiting for the init
    return pids


async def main(nodes: int, execs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="node-boot-") as tmp:
        rig = Rig(Path(tmp))
        assert rig.manager is not None
        before = pss_kib(os.getpid())
        servers = [rig.server(f"bench-minion-{i}") for i in range(nodes)]
        boots = []
        started = time.perf_counter()
        for server in servers:
            t = time.perf_counter()
            await rig.manager.boot(server)
            boots.append(time.perf_counter() - t)
        serial = time.perf_counter() - started
        grown = pss_kib(os.getpid()) - before
        own = [sum(pss_kib(p) for p in node_pids(n)) for n in rig.manager.nodes.values()]
        async with await rig.connect(servers[0]) as conn:
            await conn.run("true", check=True)
            rtts = []
            for _ in range(execs):
                t = time.perf_counter()
                await conn.run("true", check=True)
                rtts.append(time.perf_counter() - t)
        t = time.perf_counter()
        await rig.manager.reboot(servers[0].id, hard=False)
        reboot = time.perf_counter() - t
        await rig.manager.close()
    print(f"nodes: {nodes}, booted one after another in {serial:.2f} s")
    print(f"boot per node: median {statistics.median(boots) * 1000:.0f} ms "
          f"(min {min(boots) * 1000:.0f}, max {max(boots) * 1000:.0f}); reboot {reboot * 1000:.0f} ms")
    print(f"exec round trip (`true` over one connection): median "
          f"{statistics.median(rtts) * 1000:.1f} ms, p90 {sorted(rtts)[int(len(rtts) * 0.9)] * 1000:.1f} ms")
    print(f"memory per node: own processes {statistics.mean(own) / 1024:.1f} MiB PSS, "
          f"sandbox process +{grown / nodes / 1024:.1f} MiB PSS")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--execs", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(main(args.nodes, args.execs))
