"""Nodes provisioned by their own salt-call drive the sandbox's Kubernetes (KubeSim)."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path

import pytest

from workbench.sandbox.kube import KubeSim
from workbench.sandbox.nodes.rig import Rig, ZeroDelays

from .test_nodes_salt import known_token, provision_files, run


@pytest.fixture
async def rig(tmp_path: Path):
    delays = ZeroDelays(kubelet_heartbeat=0.05)
    kube = KubeSim(delays=delays)
    rig = Rig(tmp_path, delays=delays, services=kube)
    yield rig
    await rig.manager.close()
    await kube.close()


async def kubectl(rig: Rig, master, token: str, *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        "kubectl", f"--server=http://{master.fixed_ips[0]}:8080", f"--token={token}",
        "--request-timeout=5s", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode or 0, out.decode()


async def poll(check, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
async def test_highstates_bring_nodes_ready_and_token_regen_breaks_them(rig: Rig) -> None:
    master = rig.server("kubernetes-master")
    minion = rig.server("kubernetes-minion-1")
    await rig.manager.boot(master)
    await rig.manager.boot(minion)
    for server in (master, minion):
        provision_files(rig, server)
        result = await run(rig, server, "sudo salt-call --local state.highstate")
        assert result.exit_status == 0, result.stdout
    token = known_token(rig, master)

    async def ready() -> bool:
        status, out = await kubectl(rig, master, token, "get", "nodes", "-o", "json")
        if status != 0:
            return False
        conditions = {
            item["metadata"]["name"]: {c["type"]: c["status"] for c in item["status"]["conditions"]}
            for item in json.loads(out)["items"]
        }
        return conditions.get("kubernetes-minion-1", {}).get("Ready") == "True"

    await poll(ready)
    rig.faults.set("token-regen", True)
    result = await run(rig, master, "sudo salt-call --local state.highstate")
    assert result.exit_status == 0
    new_token = known_token(rig, master)
    assert new_token != token

    async def refused() -> bool:
        journal = await run(rig, minion, "journalctl -u kubelet --no-pager")
        return "the server has asked for the client to provide credentials" in journal.stdout

    await poll(refused)
