"""A minion that is down in master mode, with a real salt-master and real salt-minions:
stopped before the run (the boot race), it is started over SSH and the run goes on; hung
(not answering), it is named within the timeout with a salt-minion-down alert whose fix
restarts it over SSH and runs the state again. The doctor sees a stopped master."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest

from workbench.engine.doctor.core import apply_fix
from workbench.engine.salt_master.doctor import master_mode_checks
from workbench.engine.salt_master.jobs import MasterSaltRunner
from workbench.engine.salt_master.setup import set_up

from .salt_master_env import HAVE_SALT, SaltWorld, our_pids, world

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not HAVE_SALT, reason="salt or sshd is not installed")]


@pytest.fixture
def salt_world() -> Iterator[SaltWorld]:
    yield from world()


def _minion_pids(w: SaltWorld, name: str) -> list[int]:
    return our_pids(w.tmp / "nodes" / name)


async def test_a_down_minion_is_started_named_and_fixed_by_its_alert(salt_world: SaltWorld) -> None:
    w = salt_world
    one, two = w.minions
    assert (await set_up(w.pool, w.master, w.minions, w.settings, w.state, place=w.place)).ok
    runner = MasterSaltRunner(w.pool, w.state, master=w.master, place=w.place,
                              ping_timeout=3, race_wait=60, job_timeout=120)
    assert await runner.wait_connected(w.minions, 90) == {one.name, two.name}

    # the boot race: salt-minion not running when the run starts
    assert (await w.pool.run(two, w.place(two).stop("salt-minion"), timeout=60)).ok
    assert not _minion_pids(w, two.name)
    report = await runner.run(w.minions)
    assert report.ok, report.to_json()
    assert [(r.node, r.retried) for r in report.runs] == [(one.name, False), (two.name, True)]
    assert _minion_pids(w, two.name) and not report.alerts

    # hung: its processes stopped; starting it again is no cure (it "runs")
    pids = _minion_pids(w, two.name)
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    runner.race_wait = 5
    began = time.monotonic()
    report = await runner.run(w.minions)
    assert time.monotonic() - began < 60
    first, second = report.runs
    assert first.ok and not second.ok
    assert second.error is not None and two.name in second.error and "not connected" in second.error
    assert [(a.kind, a.subject) for a in report.alerts] == [("salt-minion-down", two.name)]
    assert runner.last_failed() == [two.name]
    alert = report.alerts[0]
    assert "salt-minion" in alert.command and alert.fixes
    runner.race_wait = 90
    said = await apply_fix(alert)
    assert said.startswith(f"restarted salt-minion on {two.name}; state run ok"), said
    assert not set(pids) & set(_minion_pids(w, two.name))
    assert runner.last_failed() == []


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
