"""What a sandbox node costs: boot time, exec round trip and memory per node.

    .venv/bin/python bench/node_boot.py [--nodes 10] [--execs 50] [--salt]

``--salt`` boots the image with real Salt (fedora-21-cloud-salt) and adds: `salt-call
--local test.ping` in a node against the same command run on the workstation (the peer,
same Salt venv, same run), and memory per node with Salt's salt-minion unit running.

Runs against whichever ``workbench`` is importable, so the same script measures another
checkout too (``PYTHONPATH=/path/to/other/checkout``). Memory per node is the PSS of the
node's own processes (its init and children) plus what the sandbox process grew by per node.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from workbench.sandbox.nodes.image import salt_venv
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


PING = "salt-call --local test.ping --out=quiet"
MINION_CONF = "id: {name}\nmaster_type: disable\n"


async def salt_figures(rig: Rig, servers: list, tmp: Path, runs: int = 5) -> list[str]:
    """test.ping in a node vs on the workstation; PSS per node with salt-minion running."""
    venv = salt_venv()
    assert venv is not None and rig.manager is not None
    env = {**os.environ, "PATH": f"{venv}/bin:{os.environ['PATH']}"}
    config = tmp / "salt-peer"
    (config / "etc").mkdir(parents=True)
    (config / "etc/minion").write_text(f"root_dir: {config}\nfile_client: local\nid: peer\n")
    peer, node = [], []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([f"{venv}/bin/salt-call", "-c", str(config / "etc"), "--local", "test.ping",
                        "--out=quiet"], check=True, env=env, capture_output=True)
        peer.append(time.perf_counter() - t)
    async with await rig.connect(servers[0]) as conn:
        for _ in range(runs):
            t = time.perf_counter()
            await conn.run(f"sudo {PING}", check=True)
            node.append(time.perf_counter() - t)
    starts = []
    for server in servers:
        async with await rig.connect(server) as conn:
            await conn.run("sudo sh -c 'mkdir -p /etc/salt/minion.d && cat > /etc/salt/minion.d/local.conf'",
                           input=MINION_CONF.format(name=server.name), check=True)
            t = time.perf_counter()
            await conn.run("sudo systemctl start salt-minion", check=True)  # returns on READY=1
            starts.append(time.perf_counter() - t)
    await asyncio.sleep(2)  # the minion's worker processes settle
    own = [sum(pss_kib(p) for p in node_pids(n)) for n in rig.manager.nodes.values()]
    p, n = statistics.median(peer), statistics.median(node)
    return [f"salt-call --local test.ping: in a node median {n * 1000:.0f} ms, on the workstation "
            f"(peer) {p * 1000:.0f} ms, ratio {n / p:.2f}",
            f"systemctl start salt-minion (Type=notify, until READY=1): median "
            f"{statistics.median(starts) * 1000:.0f} ms",
            f"memory per node with salt-minion running: {statistics.mean(own) / 1024:.1f} MiB PSS"]


async def main(nodes: int, execs: int, salt: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="node-boot-") as tmp:
        rig = Rig(Path(tmp))
        assert rig.manager is not None
        before = pss_kib(os.getpid())
        image = "fedora-21-cloud-salt" if salt else "fedora-21-cloud"
        servers = [dataclasses.replace(rig.server(f"bench-minion-{i}"), image=image) for i in range(nodes)]
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
        extra = await salt_figures(rig, servers, Path(tmp)) if salt else []
        await rig.manager.close()
    print(f"image: {image}; nodes: {nodes}, booted one after another in {serial:.2f} s")
    print(f"boot per node: median {statistics.median(boots) * 1000:.0f} ms "
          f"(min {min(boots) * 1000:.0f}, max {max(boots) * 1000:.0f}); reboot {reboot * 1000:.0f} ms")
    print(f"exec round trip (`true` over one connection): median "
          f"{statistics.median(rtts) * 1000:.1f} ms, p90 {sorted(rtts)[int(len(rtts) * 0.9)] * 1000:.1f} ms")
    print(f"memory per node: own processes {statistics.mean(own) / 1024:.1f} MiB PSS, "
          f"sandbox process +{grown / nodes / 1024:.1f} MiB PSS")
    for line in extra:
        print(line)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--execs", type=int, default=50)
    parser.add_argument("--salt", action="store_true", help="the image with real Salt; Salt's figures too")
    args = parser.parse_args()
    asyncio.run(main(args.nodes, args.execs, args.salt))
