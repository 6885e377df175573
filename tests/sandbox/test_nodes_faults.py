"""The seed's node faults on namespaced nodes: token-regen out of band, salt-race at boot."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from workbench.sandbox.faults import FaultSet
from workbench.sandbox.nodes.image import salt_venv
from workbench.sandbox.nodes.rig import Rig, ZeroDelays


async def run(rig: Rig, server, command: str, **kw: object):  # type: ignore[no-untyped-def]
    async with await rig.connect(server) as conn:
        return await conn.run(command, **kw)


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
    salt_race: float = 1.0


MINION_CONF = "id: {name}\nmaster_type: disable\n"  # masterless: no lookup of a host named salt


@pytest.mark.skipif(salt_venv() is None, reason="Salt is not installed (README: .salt)")
async def test_salt_race_delays_the_salt_services_at_boot(tmp_path: Path) -> None:
    """Salt's own units (dnf's package, enabled by the user) start late at boot while the
    fault is on; a unit of the test does not."""
    rig = Rig(tmp_path, faults=FaultSet(["salt-race"]), delays=RaceDelays())
    try:
        server = rig.server("kubernetes-master")
        await rig.manager.boot(server)
        async with await rig.connect(server) as conn:
            await conn.run("sudo dnf -y install salt-minion", check=True)
            await conn.run("sudo sh -c 'mkdir -p /etc/salt/minion.d && cat > /etc/salt/minion.d/local.conf'",
                           input=MINION_CONF.format(name=server.name), check=True)
            await conn.run("sudo tee /etc/systemd/system/other.service >/dev/null", check=True,
                           input="[Service]\nExecStart=/bin/sleep 600\n[Install]\nWantedBy=multi-user.target\n")
            await conn.run("sudo systemctl enable salt-minion other", check=True)
        await rig.manager.reboot(server.id, hard=False)
        booted = time.monotonic()
        result = await run(rig, server, "systemctl is-active salt-minion other")
        assert result.stdout.split() == ["inactive", "active"]

        async def running() -> bool:
            return (await run(rig, server, "systemctl is-active salt-minion")).stdout == "active\n"

        await until(running)
        assert time.monotonic() - booted >= 1.0
        pid = (await run(rig, server, "systemctl show -P MainPID salt-minion", check=True)).stdout.strip()
        assert (await run(rig, server, f"ps -o args= -p {pid}")).stdout.strip().endswith("bin/salt-minion")
        rig.faults.set("salt-race", False)
        await rig.manager.reboot(server.id, hard=False)
        assert (await run(rig, server, "systemctl is-active salt-minion")).stdout == "active\n"
    finally:
        await rig.manager.close()
