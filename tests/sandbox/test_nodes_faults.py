"""The seed's node faults on namespaced nodes: token-regen out of band, salt-race at boot."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

from workbench.sandbox.faults import FaultSet
from workbench.sandbox.nodes.rig import Rig, ZeroDelays


async def run(rig: Rig, server, command: str):  # type: ignore[no-untyped-def]
    async with await rig.connect(server) as conn:
        return await conn.run(command)


async def until(check, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


def test_token_regen_rewrites_the_masters_token_file_out_of_band(seed_cluster) -> None:
    """On a cluster the workbench provisioned with kube-up's tree: switching the fault on
    gives the master's known_tokens.csv a new kubelet token, with no Salt run; only the
    kubelet's row changes."""
    from tests.seedcluster import MASTER, kubelet_row, regen_token, restore

    c = seed_cluster
    before = kubelet_row(c)
    assert before == c.state.cluster_token()
    other_rows = [r for r in c.ssh(MASTER, "sudo cat /srv/kubernetes/known_tokens.csv").splitlines() if ",kubelet," not in r]
    runs = c.ssh(MASTER, "sudo journalctl -u kube-apiserver --no-pager | wc -l")
    try:
        token = regen_token(c)
        assert token != before and len(token) == 32 and token.isalnum()
        after = c.ssh(MASTER, "sudo cat /srv/kubernetes/known_tokens.csv").splitlines()
        assert [r for r in after if ",kubelet," not in r] == other_rows
        assert c.ssh(MASTER, "sudo journalctl -u kube-apiserver --no-pager | wc -l") == runs  # out of band: nothing restarted
    finally:
        restore(c)


@dataclass(frozen=True)
class RaceDelays(ZeroDelays):
    salt: float = 1.0


async def test_salt_race_delays_the_salt_services_at_boot(tmp_path: Path) -> None:
    rig = Rig(tmp_path, faults=FaultSet(["salt-race"]), delays=RaceDelays())
    try:
        master = rig.server("kubernetes-master")
        await rig.manager.boot(master)
        booted = time.monotonic()
        assert (await run(rig, master, "systemctl is-active salt-minion")).stdout == "inactive\n"

        async def running() -> bool:
            return (await run(rig, master, "systemctl is-active salt-minion")).stdout == "active\n"

        await until(running)
        assert time.monotonic() - booted >= 1.0
        rig.faults.set("salt-race", False)
        await rig.manager.reboot(master.id, hard=False)
        assert (await run(rig, master, "systemctl is-active salt-minion")).stdout == "active\n"
    finally:
        await rig.manager.close()
