"""Minion keys in master mode, with a real salt-master and real salt-minions: a forged
minion (another salt-minion process using a node's id, with its own key) is never
accepted, and is reported; a replaced node's new key replaces its old one."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from workbench.engine.doctor.core import apply_fix
from workbench.engine.salt_master.config import configure, master_config
from workbench.engine.salt_master.doctor import master_mode_checks
from workbench.engine.salt_master.jobs import MasterSaltRunner
from workbench.engine.salt_master.keys import MasterKey, fingerprint, master_keys
from workbench.engine.salt_master.setup import set_up

from .salt_master_env import HAVE_SALT, SaltWorld, world
from .test_ssh_servers import Node

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not HAVE_SALT, reason="salt or sshd is not installed")]


@pytest.fixture
def salt_world() -> Iterator[SaltWorld]:
    yield from world()


async def _keys_until(w: SaltWorld, want: str, within: float = 90) -> list[MasterKey]:
    deadline = time.monotonic() + within
    while True:
        keys = await master_keys(w.pool, w.master, w.place(w.master))
        if any(f"{k.state}:{k.minion}" == want for k in keys) or time.monotonic() > deadline:
            return keys
        await asyncio.sleep(0.3)


async def test_a_forged_minion_key_is_never_accepted_and_is_reported(salt_world: SaltWorld) -> None:
    w = salt_world
    victim = w.minions[0]
    mplace = w.place(w.master)
    await configure(w.pool, w.master, mplace, "salt-master", master_config(w.settings, mplace))
    forger = w.start_forger(victim.name)  # knocks first: its key is the pending one
    try:
        keys = await _keys_until(w, f"pending:{victim.name}")
        forged = next(k.fingerprint for k in keys if k.minion == victim.name and k.state == "pending")

        setup = await set_up(w.pool, w.master, w.minions, w.settings, w.state, place=w.place)
        assert setup.ok, setup.errors
        own = fingerprint((Path(w.place(victim).pki_dir("salt-minion")) / "minion.pub").read_text())
        assert own != forged
        outcome = next(k for k in setup.keys if k.node == victim.name)
        assert (outcome.action, outcome.fingerprint) == ("accepted", own)
        assert [k.fingerprint for k in outcome.forged] == [forged]
        assert [(a.kind, a.subject) for a in setup.alerts] == [("salt-key-mismatch", victim.name)]

        # the node's own minion answers jobs; the forger keeps knocking and is denied
        runner = MasterSaltRunner(w.pool, w.state, master=w.master, place=w.place, ping_timeout=3)
        assert await runner.wait_connected(w.minions, 90) == {m.name for m in w.minions}
        keys = await _keys_until(w, f"denied:{victim.name}")
        mine = {(k.state, k.fingerprint) for k in keys if k.minion == victim.name}
        assert mine == {("accepted", own), ("denied", forged)}
        forger_pki = w.tmp / "forger" / "root" / "pki"
        assert (forger_pki / "minion.pub").exists()
        assert not (forger_pki / "minion_master.pub").exists()  # written only on an accepted login
        assert (Path(w.place(victim).pki_dir("salt-minion")) / "minion_master.pub").exists()

        # the doctor sees the stranger's key under the node's id; the fix keeps only the node's
        alerts = await master_mode_checks(w.pool, w.master, w.minions, w.state, place=w.place, ping_timeout=3)
        assert [(a.kind, a.subject) for a in alerts] == [("salt-key-mismatch", victim.name)]
        assert "salt-key" in alerts[0].command and alerts[0].fixes
        said = await apply_fix(alerts[0])
        assert victim.name in said and "own key" in said
        accepted = {k.minion: k.fingerprint for k in await master_keys(w.pool, w.master, mplace) if k.state == "accepted"}
        assert accepted[victim.name] == own
    finally:
        forger.terminate()
        forger.wait(timeout=30)


async def test_a_replaced_node_s_new_key_replaces_its_old_one(salt_world: SaltWorld) -> None:
    w = salt_world
    node = w.minions[1]
    first = await set_up(w.pool, w.master, w.minions, w.settings, w.state, place=w.place)
    assert first.ok, first.errors
    old = next(k.fingerprint for k in first.keys if k.node == node.name)
    # the instance is replaced: a new instance id, a fresh disk (no minion keys), same name
    pid = w.pid(node, "salt-minion")
    assert pid is not None
    assert (await w.pool.run(node, w.place(node).stop("salt-minion"), timeout=60)).ok
    for path in Path(w.place(node).pki_dir("salt-minion")).iterdir():
        path.unlink()
    replaced = Node(node.name, "id-minion-2-new", node.role, node.fixed_ip, node.floating_ip)
    again = await set_up(w.pool, w.master, [w.minions[0], replaced], w.settings, w.state, place=w.place)
    assert again.ok, again.errors
    outcome = next(k for k in again.keys if k.node == node.name)
    new = fingerprint((Path(w.place(node).pki_dir("salt-minion")) / "minion.pub").read_text())
    assert (outcome.action, outcome.fingerprint, outcome.instance_changed) == ("replaced", new, True)
    assert new != old and not again.alerts
    runner = MasterSaltRunner(w.pool, w.state, master=w.master, place=w.place, ping_timeout=3)
    assert await runner.wait_connected([replaced], 90) == {node.name}
