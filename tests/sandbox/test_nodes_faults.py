"""The seed's node faults on namespaced nodes: token-regen out of band, salt-race at boot."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

from workbench.sandbox.faults import FaultSet
from workbench.sandbox.nodes.rig import Rig, ZeroDelays

from .test_nodes_salt import boot_cluster, known_token, provision_files, run


async def until(check, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_token_regen_rewrites_the_masters_token_file_out_of_band(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    try:
        master, _ = await boot_cluster(rig)
        await provision_files(rig, master)
        pillar = "pillar='{\"kubelet_token\": \"StableTokenStableToken0123456789\"}'"
        assert (await run(rig, master, f"sudo salt-call state.highstate {pillar}")).exit_status == 0
        assert known_token(rig, master) == "StableTokenStableToken0123456789"
        rig.faults.set("token-regen", True, server="kubernetes-master")
        rig.manager.refresh_faults()  # what the cloud does when a fault is switched

        async def regenerated() -> bool:
            return known_token(rig, master) != "StableTokenStableToken0123456789"

        await until(regenerated)  # no Salt run: the file changed under the cluster
        token = known_token(rig, master)
        assert len(token) == 32 and token.isalnum()
    finally:
        await rig.manager.close()


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
