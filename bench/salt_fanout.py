"""Salt fan-out: one state on N sandbox nodes at once; wall time vs the slowest node's own.

    .venv/bin/python bench/salt_fanout.py --nodes 50

Starts a sandbox with N minions (boots near instant, Salt at its realistic pace), brings
the cluster up with the engine, puts a release and the salt tree on every node, opens the
SSH connections, then runs the highstate on every minion at once. The last line of output
is one JSON object: {"nodes": N, "wall_s": ..., "slowest_node_s": ..., ...}.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench.engine.cloud import CloudClient, up
from workbench.engine.salt.runner import SaltRunner
from workbench.engine.ssh.pool import SSHPool
from workbench.events import Bus
from workbench.profile import Profile, load_profile
from workbench.sandbox.core import Delays, SandboxThread
from workbench.state import StateDir


def seed_tar(profile: Profile) -> bytes:
    """A small server release tar and the fake KUBE_ROOT's salt tree, as node paths."""
    assert profile.kube.root is not None
    release = io.BytesIO()
    with tarfile.open(fileobj=release, mode="w:gz") as tar:
        for name in ("kube-apiserver", "kubelet", "kube-proxy", "kubectl"):
            data = f"#!/bin/sh\necho {name}\n".encode()
            info = tarfile.TarInfo(f"kubernetes/server/bin/{name}")
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo(f"{profile.paths.release_dir}/kubernetes-server-linux-amd64.tar.gz")
        info.size = len(release.getvalue())
        tar.addfile(info, io.BytesIO(release.getvalue()))
        tar.add(profile.kube.root / "cluster" / "saltbase" / "salt", arcname=profile.paths.salt_tree)
    return out.getvalue()


async def bench(box: SandboxThread, nodes: int) -> dict[str, object]:
    profile = load_profile(box.profile_path, environ={})
    state = StateDir(profile.resolved_state_dir()).ensure()
    bus = Bus()
    client = CloudClient(profile, bus=bus)
    t0 = time.monotonic()
    cluster = await up(client, state, bus, timeout=300)
    up_s = time.monotonic() - t0
    minions = [i for i in cluster.instances if i.role == "minion"]
    pool = SSHPool(profile, state, console=client.console_output, bus=bus)
    try:
        t1 = time.monotonic()
        conns = await pool.connect_all(cluster.instances)
        connect_s = time.monotonic() - t1
        failed = [name for name, c in conns.items() if isinstance(c, Exception)]
        payload = seed_tar(profile)
        await asyncio.gather(*(pool.run(m, "tar -xf -", input=payload, check=True) for m in minions))
        report = await SaltRunner(pool, state, bus, pipeline="bench").run(minions)
    finally:
        await pool.close()
    slowest = max(r.seconds for r in report.runs)
    # what Salt itself reports (sum of state durations): the node-side floor
    salt_own = max(sum(st.duration_ms for st in r.states) / 1000 for r in report.runs)
    return {
        "nodes": nodes, "wall_s": round(report.wall_s, 3), "slowest_node_s": round(slowest, 3),
        "overhead_s": round(report.wall_s - slowest, 3), "slowest_salt_reported_s": round(salt_own, 3), "ok_nodes": sum(r.ok for r in report.runs),
        "connect_all_s": round(connect_s, 3), "up_s": round(up_s, 3), "unreachable": failed,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10, help="minions to run the state on")
    parser.add_argument("--salt-seconds", type=float, default=2.0, help="how long one node's highstate takes")
    args = parser.parse_args()
    delays = Delays(boot=0.05, delete=0.01, salt=args.salt_seconds, build=0.1,
                    kubelet_heartbeat=1.0, ssh_slow=0.0, api_slow=0.0)
    from workbench.sandbox.cloud import keys

    # a project whose quota fits the cluster (the sandbox's default is a small project's)
    need = args.nodes + 1
    keys.QUOTAS.update(instances=max(keys.QUOTAS["instances"], need),
                       cores=max(keys.QUOTAS["cores"], 4 * need), ram=max(keys.QUOTAS["ram"], 8192 * need))
    with tempfile.TemporaryDirectory(prefix="salt-fanout-") as tmp:
        box = SandboxThread(tmp, minions=args.nodes, delays=delays).start(timeout=120)
        try:
            result = asyncio.run(bench(box, args.nodes))
        finally:
            box.stop()
    print(json.dumps(result))
    return 0 if result["ok_nodes"] == args.nodes else 1


if __name__ == "__main__":
    sys.exit(main())
