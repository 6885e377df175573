"""The doctor in master mode, with a real salt-master and real salt-minions as workstation
daemons (SaltPlace service="daemon"): a stopped minion is "not connected", a stopped master
"down", each fixed by its alert. (A stopped minion during a run, the boot race, and a forged
key are tested on sandbox nodes with systemd units: test_salt_master_sandbox.py.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from workbench.engine.doctor.core import apply_fix
from workbench.engine.salt_master.doctor import master_mode_checks
from workbench.engine.salt_master.jobs import MasterSaltRunner
from workbench.engine.salt_master.setup import set_up

from .salt_master_env import HAVE_SALT, SaltWorld, world

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not HAVE_SALT, reason="salt or sshd is not installed")]


@pytest.fixture
def salt_world() -> Iterator[SaltWorld]:
    yield from world()


async def test_doctor_names_a_stopped_master_and_minion_and_fixes_them(salt_world: SaltWorld) -> None:
    w = salt_world
    assert (await set_up(w.pool, w.master, w.minions, w.settings, w.state, place=w.place)).ok
    runner = MasterSaltRunner(w.pool, w.state, master=w.master, place=w.place, ping_timeout=3)
    assert await runner.wait_connected(w.minions, 90)
    assert await master_mode_checks(w.pool, w.master, w.minions, w.state, place=w.place, ping_timeout=3) == []

    two = w.minions[1]
    assert (await w.pool.run(two, w.place(two).stop("salt-minion"), timeout=60)).ok
    alerts = await master_mode_checks(w.pool, w.master, w.minions, w.state, place=w.place, ping_timeout=3)
    assert [(a.kind, a.subject) for a in alerts] == [("salt-minion-not-connected", two.name)]
    assert "manage.status" in alerts[0].command
    await apply_fix(alerts[0])
    assert await runner.wait_connected([two], 90) == {two.name}

    assert (await w.pool.run(w.master, w.place(w.master).stop("salt-master"), timeout=60)).ok
    report = await runner.run(w.minions)  # a run says so at once, for every node
    assert not report.ok and [a.kind for a in report.alerts] == ["salt-master-down"]
    assert all(r.error and "salt-master is not running" in r.error for r in report.runs)
    alerts = await master_mode_checks(w.pool, w.master, w.minions, w.state, place=w.place, ping_timeout=3)
    assert [(a.kind, a.subject, a.severity) for a in alerts] == [("salt-master-down", w.master.name, "critical")]
    said = await apply_fix(alerts[0])
    assert "restarted" in said
    assert await runner.wait_connected(w.minions, 120) == {m.name for m in w.minions}
