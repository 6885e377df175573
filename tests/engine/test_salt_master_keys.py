"""Minion keys in master mode, with a real salt-master and real salt-minions as workstation
daemons: a replaced node's new key (new instance id, fresh disk) replaces its old one. (A
forged key is tested on sandbox nodes: test_salt_master_sandbox.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from workbench.engine.salt_master.jobs import MasterSaltRunner
from workbench.engine.salt_master.keys import fingerprint
from workbench.engine.salt_master.setup import set_up

from .salt_master_env import HAVE_SALT, SaltWorld, world
from .test_ssh_servers import Node

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not HAVE_SALT, reason="salt or sshd is not installed")]


@pytest.fixture
def salt_world() -> Iterator[SaltWorld]:
    yield from world()


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
