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

TOKENS = "StableTokenStableToken0123456789,kubelet,kubelet\nAdminTokenAdminToken0123456789a,admin,admin\n"


async def until(check, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def run(rig: Rig, server, command: str, **kw: object):
    async with await rig.connect(server) as conn:
        return await conn.run(command, **kw)


def kubelet_token(rig: Rig, master) -> str:
    text = (rig.manager.root / master.id / "root/srv/kubernetes/known_tokens.csv").read_text()
    return next(line.split(",")[0] for line in text.splitlines() if line.endswith(",kubelet,kubelet"))


async def test_token_regen_rewrites_the_masters_token_file_out_of_band(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    try:
        master = rig.server("kubernetes-master")
        await rig.manager.boot(master)
        # what the engine's provisioning leaves on the master (the sandbox writes no tokens)
        await run(rig, master, "sudo sh -c 'mkdir -p /srv/kubernetes && cat > /srv/kubernetes/known_tokens.csv'",
                  input=TOKENS, check=True)
        assert kubelet_token(rig, master) == "StableTokenStableToken0123456789"
        rig.faults.set("token-regen", True, server="kubernetes-master")
        rig.manager.refresh_faults()  # what the cloud does when a fault is switched

        async def regenerated() -> bool:
            return kubelet_token(rig, master) != "StableTokenStableToken0123456789"

        await until(regenerated)  # no Salt run: the file changed under the cluster
        token = kubelet_token(rig, master)
        assert len(token) == 32 and token.isalnum()
        text = (await run(rig, master, "sudo cat /srv/kubernetes/known_tokens.csv", check=True)).stdout
        assert text == TOKENS.replace("StableTokenStableToken0123456789", token)  # only that token
    finally:
        await rig.manager.close()


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
