"""Master mode end to end with a real salt-master and two real salt-minions, driven through
the real SSHPool and a real sshd: configured idempotently, keys accepted only when read from
the minion itself, the highstate run as one master job streamed from the event bus, with
the same per-state records as ``salt-call --local`` on the same tree."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from workbench.engine.salt.output import parse_output
from workbench.engine.salt_master.jobs import MasterSaltRunner
from workbench.engine.salt_master.keys import fingerprint, master_keys
from workbench.engine.salt_master.setup import set_up
from workbench.events import Bus, LogLine, StageFinished, StageProgress

from .salt_master_env import HAVE_SALT, SaltWorld, make_pool, our_pids, world

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not HAVE_SALT, reason="salt or sshd is not installed")]


@pytest.fixture
def salt_world() -> Iterator[SaltWorld]:
    yield from world()


async def test_master_mode_runs_the_highstate_as_one_job_like_masterless(salt_world: SaltWorld) -> None:
    w = salt_world
    first = await set_up(w.pool, w.master, w.minions, w.settings, w.state, place=w.place)
    assert first.ok, first.errors
    assert [c.changed for c in first.configured] == [True, True, True]
    assert [k.action for k in first.keys] == ["accepted", "accepted"] and not first.alerts
    on_disk = {m.name: fingerprint((Path(w.place(m).pki_dir("salt-minion")) / "minion.pub").read_text())
               for m in w.minions}
    accepted = {k.minion: k.fingerprint for k in await master_keys(w.pool, w.master, w.place(w.master))
                if k.state == "accepted"}
    assert accepted == on_disk

    again = await set_up(w.pool, w.master, w.minions, w.settings, w.state, place=w.place)
    assert [c.changed for c in again.configured] == [False, False, False]
    assert [k.action for k in again.keys] == ["kept", "kept"]
    master_pid = w.pid(w.master, "salt-master")
    assert master_pid is not None

    # the run: a fresh pool, so what the job needs is visible: one connection, to the master
    pool = make_pool(w.tmp, w.sshd, [w.master, *w.minions])
    bus = Bus()
    runner = MasterSaltRunner(pool, w.state, bus, master=w.master, place=w.place,
                              ping_timeout=3, race_wait=60, job_timeout=120)
    try:
        assert await runner.wait_connected(w.minions, 60) == {m.name for m in w.minions}
        report = await runner.run(w.minions)
        assert set(pool._entries) == {w.master.name}
    finally:
        await pool.close()
    assert report.ok, report.to_json()
    assert w.pid(w.master, "salt-master") == master_pid  # unchanged config: not restarted
    deadline = time.monotonic() + 30  # the event listener ends with its channel
    while (listeners := [p for p in our_pids(w.tmp) if b"state.event" in Path(f"/proc/{p}/cmdline").read_bytes()]):
        assert time.monotonic() < deadline, f"salt-run state.event outlived the run: {listeners}"
        await asyncio.sleep(0.2)
    for run in report.runs:
        assert [s.id for s in run.states] == ["probe-file", "probe-cmd", "probe-done"]
        assert run.changed == 3 and not run.retried
        assert (w.tmp / "out" / f"{run.node}.txt").read_text().strip() == f"hello {run.node}"
    doc = report.to_json()
    assert set(doc) == {"nodes", "ok", "wall_s", "alerts"}
    assert {n["name"] for n in doc["nodes"]} == {m.name for m in w.minions}

    second = await MasterSaltRunner(w.pool, w.state, bus, master=w.master, place=w.place,
                                    ping_timeout=3, job_timeout=120).run(w.minions)
    assert second.ok and [r.changed for r in second.runs] == [0, 0]

    # masterless on the same tree gives the same records
    for node, run in zip(w.minions, second.runs, strict=True):
        place = w.place(node)
        local = await w.pool.run(node, place.salt(
            "salt-call", "--local", f"--file-root={w.settings.file_roots[0]}",
            f"--pillar-root={w.settings.pillar_roots[0]}", "state.highstate", "--out=json"), timeout=120)
        states = parse_output(local.stdout)
        assert [(s.id, s.function, s.result, s.changed) for s in states] == [
            (s.id, s.function, s.result, s.changed) for s in run.states]

    await _progress_streams_and_a_failed_state_names_its_node(w)


async def _progress_streams_and_a_failed_state_names_its_node(w: SaltWorld) -> None:
    """(Same world: one salt-master and its minions per test file are costly on 2 cores.)"""
    (w.tmp / "out" / "fail-2").write_text("")
    bus = Bus()
    got: list[object] = []
    bus.add_listener(got.append)
    runner = MasterSaltRunner(w.pool, w.state, bus, master=w.master, place=w.place, ping_timeout=3, job_timeout=120)
    assert await runner.wait_connected(w.minions, 60)
    report = await runner.run(w.minions)
    one, two = report.runs
    assert one.ok and not two.ok
    assert two.error is not None and "probe-broken" in two.error
    assert report.failed_nodes == ("kubernetes-minion-2",)
    assert runner.last_failed() == ["kubernetes-minion-2"]
    progress = [e for e in got if isinstance(e, StageProgress)]
    assert {(e.node, e.done, e.total) for e in progress} >= {
        ("kubernetes-minion-1", 3, 3), ("kubernetes-minion-2", 4, 4)}
    assert [e.detail for e in progress if e.node == "kubernetes-minion-2"] == [
        "probe-file", "probe-cmd", "probe-done", "probe-broken"]
    finished = {e.node: e.ok for e in got if isinstance(e, StageFinished)}
    assert finished == {"kubernetes-minion-1": True, "kubernetes-minion-2": False}
    lines = [e.text for e in got if isinstance(e, LogLine) and e.node == "kubernetes-minion-2"]
    assert any("ID: probe-broken" in line for line in lines)
