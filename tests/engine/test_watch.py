"""The engine's watch loops against a real sandbox: how soon an out-of-band delete shows,
and the first doctor run always announcing itself (QA: 8-28 s, and no first event)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from tests.realcluster import bring_up
from workbench.engine import watch
from workbench.engine.facade import Engine
from workbench.events import AlertsChanged, Bus, Event, InstancesChanged
from workbench.profile import load_profile


class Recorder:
    """Every event the engine publishes, with the monotonic time it was published."""

    def __init__(self, bus: Bus) -> None:
        self.events: list[tuple[float, Event]] = []
        bus.add_listener(lambda event: self.events.append((time.monotonic(), event)))

    async def first(self, match: Callable[[Event], bool], what: str, since: float = 0.0,
                    timeout: float = 20.0) -> tuple[float, Event]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for at, event in list(self.events):
                if at >= since and match(event):
                    return at, event
            await asyncio.sleep(0.02)
        raise AssertionError(f"no {what} within {timeout} s; saw {[type(e).__name__ for _, e in self.events]}")


def engine_for(box: Any) -> Engine:
    return Engine(load_profile(box.profile_path, environ={}), bus=Bus())


async def test_first_doctor_run_publishes_alerts_even_when_it_finds_none(make_sandbox: Callable[..., Any]) -> None:
    engine = engine_for(make_sandbox(minions=1))
    seen = Recorder(engine.bus)
    try:
        await engine.start()
        _, event = await seen.first(lambda e: isinstance(e, AlertsChanged), "AlertsChanged")
        assert isinstance(event, AlertsChanged)
        assert event.alerts == ()  # a clean cloud, no cluster yet: nothing to say, said once
        # Without instances the inventory is paced slowly: nothing can vanish.
        assert engine.inventory.slow == watch.IDLE_POLL_S
    finally:
        await engine.close()
    assert sum(isinstance(e, AlertsChanged) for _, e in seen.events) == 1


async def test_a_server_deleted_behind_our_back_shows_within_seconds(make_sandbox: Callable[..., Any]) -> None:
    box = make_sandbox(minions=1)
    await asyncio.to_thread(bring_up, box)  # a running cluster: the watch reads its API server too
    engine = engine_for(box)
    seen = Recorder(engine.bus)
    minion = engine.profile.minion_name(0)
    try:
        await engine.start()
        await seen.first(lambda e: isinstance(e, AlertsChanged), "the first doctor run")
        assert engine.inventory.slow == watch.CLUSTER_POLL_S
        assert engine.inventory.fast == watch.FAST_POLL_S

        await asyncio.to_thread(box.set_fault, "out-of-band-delete", True, minion)
        deleted = time.monotonic()
        gone_at, _ = await seen.first(
            lambda e: isinstance(e, InstancesChanged) and minion not in {i.name for i in e.instances},
            f"InstancesChanged without {minion}", since=deleted)
        alert_at, _ = await seen.first(
            lambda e: isinstance(e, AlertsChanged)
            and any(a.kind == "instance-missing" and minion in a.subject for a in e.alerts),
            f"an instance-missing alert for {minion}", since=deleted)
    finally:
        await engine.close()
    print(f"out-of-band delete: gone from the inventory after {gone_at - deleted:.2f} s,"
          f" alert after {alert_at - deleted:.2f} s")
    assert gone_at - deleted <= watch.CLUSTER_POLL_S + 1.5
    assert alert_at - deleted <= watch.CLUSTER_POLL_S + 5.0
