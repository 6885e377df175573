"""A server still being deleted is going away, not present: ``up`` right after a delete waits
for it to go and creates it again (it used to plan "0 to create", then fail with
"disappeared while ACTIVE")."""

from __future__ import annotations

import dataclasses

from workbench.engine.cloud import up
from workbench.events import LogLine
from workbench.sandbox.core import Delays

from .test_cloud_helpers import sdk, setup

SLOW_DELETE = dataclasses.replace(Delays().scale(0.01), delete=1.0)


async def test_up_right_after_a_delete_waits_for_it_and_recreates(make_sandbox) -> None:
    box = make_sandbox(minions=1, delays=SLOW_DELETE)
    _, state, bus, client = setup(box, minions=1)
    first = await up(client, state, bus)
    assert first.ok
    old = {i.name: i for i in first.instances}["kubernetes-minion-1"]
    conn = sdk(box)
    conn.compute.delete_server(old.id)  # as someone else would, just before our up
    going = conn.compute.get_server(old.id)
    assert going.task_state == "deleting" and going.status == "ACTIVE"  # the race window

    logs: list[str] = []
    bus.add_listener(lambda e: logs.append(e.text) if isinstance(e, LogLine) else None)
    again = await up(client, state, bus)
    assert again.ok, again.failed
    assert again.created == ("kubernetes-minion-1",)
    now = {i.name: i for i in again.instances}["kubernetes-minion-1"]
    assert now.id != old.id and now.status == "ACTIVE" and now.fixed_ip == old.fixed_ip
    assert any("being deleted" in line and old.id in line for line in logs), logs
    assert any("1 to create" in line for line in logs), logs
