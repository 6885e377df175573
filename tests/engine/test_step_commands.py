"""Each pipeline step logs the command a person could run, once, before it runs; long
steps say what they wait for (Engine against the sandbox)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from workbench.engine.facade import Engine
from workbench.engine.heartbeat import Heartbeat
from workbench.events import Bus, LogLine, StageFinished, StageProgress, StageStarted
from workbench.profile import load_profile


async def test_up_salt_and_verify_show_their_commands_once_before_running(make_sandbox: Callable[..., Any]) -> None:
    box = make_sandbox(minions=1)
    engine = Engine(load_profile(box.profile_path, environ={}), bus=Bus())
    seen: list[Any] = []
    engine.bus.add_listener(seen.append)
    try:
        await engine.up()
    finally:
        await engine.close()
    cmds = [(i, e) for i, e in enumerate(seen) if isinstance(e, LogLine) and e.source == "cmd"]
    texts = [e.text for _, e in cmds]
    creates = [t for t in texts if " server create " in t]
    assert len(creates) == 2 and all(t.startswith("$ openstack --os-cloud sandbox server create") for t in creates)
    assert any("v4-fixed-ip=" + engine.profile.cluster.master_ip in t for t in creates)
    connect = [t for t in texts if t.endswith(" true")]
    assert len(connect) == 2 and all(t.startswith("$ ssh -p ") for t in connect)
    # once each, and before the step's own work
    assert len(texts) == len(set(texts))
    started = next(i for i, e in enumerate(seen) if isinstance(e, StageStarted) and e.stage == "instances"
                   and e.node is None)
    first_boot = next(i for i, e in enumerate(seen) if isinstance(e, StageStarted) and e.node)
    assert started < cmds[0][0] < first_boot
    token = engine.state.cluster_token()
    assert all(token not in t for t in texts)


async def test_a_long_stage_says_what_it_waits_for_and_for_how_long() -> None:
    bus = Bus()
    now = [0.0]
    beat = Heartbeat(bus, "redeploy", "salt", quiet=0.01, every=0.01, clock=lambda: now[0])
    lines: list[str] = []
    bus.add_listener(lambda e: lines.append(e.text) if isinstance(e, LogLine) else None)
    bus.publish(StageStarted("redeploy", "salt", "kubernetes-master"))
    bus.publish(StageStarted("redeploy", "salt", "kubernetes-minion-1"))
    bus.publish(StageFinished("redeploy", "salt", "kubernetes-master"))
    bus.publish(StageProgress("redeploy", "salt", "kubernetes-minion-1", detail="state 12 of 40"))
    now[0] = 12.0
    task = asyncio.create_task(beat.run())
    while not lines:
        await asyncio.sleep(0.005)
    task.cancel()
    beat.close()
    assert lines[0] == ("redeploy salt: 12 s so far, waiting for kubernetes-minion-1 "
                        "(kubernetes-minion-1: state 12 of 40)")
