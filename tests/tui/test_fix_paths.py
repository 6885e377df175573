"""One fix, two front ends: ``workbench doctor --fix KIND --yes`` and the TUI's fix key both
run it through the Engine, so both publish the same pipeline events and write the same
history (stale-vagrant-machine: a real alert on a real sandbox, its fix repeatable)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from workbench import cli
from workbench.cli import render
from workbench.engine import Engine, Parts
from workbench.events import Event, PipelineFinished, PipelineStarted, StageFinished, StageStarted
from workbench.profile import load_profile
from workbench.tui.app import WorkbenchApp
from workbench.tui.panes.alerts import AlertsPane

from .waiting import settle, until

KIND = "stale-vagrant-machine"
PIPELINE_EVENTS = (PipelineStarted, StageStarted, StageFinished, PipelineFinished)


def stale_machine(kube_root: Path, name: str) -> Path:
    """A Vagrant machine whose server no longer exists (what the fix removes)."""
    machine = kube_root / ".vagrant" / "machines" / name
    (machine / "openstack").mkdir(parents=True)
    (machine / "openstack" / "id").write_text("0b5e7a0c-0000-4000-8000-00000000dead\n")
    return machine


def shape(events: list[Event]) -> list[tuple[Any, ...]]:
    """The pipeline events, without their timings."""
    out: list[tuple[Any, ...]] = []
    for e in events:
        if isinstance(e, PipelineStarted):
            out.append(("started", e.pipeline, e.stages))
        elif isinstance(e, StageStarted):
            out.append(("stage", e.pipeline, e.stage, e.node))
        elif isinstance(e, StageFinished):
            out.append(("stage done", e.pipeline, e.stage, e.node, e.ok, e.error))
        elif isinstance(e, PipelineFinished):
            out.append(("finished", e.pipeline, e.ok, e.error, e.failed_stage, e.failed_nodes))
    return out


def last_fix(history: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    entry = dict(history["pipelines"][-1])
    entry.pop("at"), entry.pop("seconds")
    entry["stages"] = [{k: v for k, v in s.items() if k != "seconds"} for s in entry["stages"]]
    return entry


@pytest.mark.slow
async def test_cli_and_tui_fix_publish_the_same_events_and_history(make_sandbox, monkeypatch, capsys) -> None:
    box = make_sandbox(minions=0)
    profile = load_profile(box.profile_path, environ={})
    assert profile.kube.root is not None

    # headless, in process (a thread: the verb runs its own event loop)
    machine = stale_machine(profile.kube.root, "cli")
    headless: list[Event] = []
    made = render.parts

    def watched(args: Any) -> Parts:
        parts = made(args)
        parts.bus.add_listener(headless.append)
        return parts

    monkeypatch.setattr(render, "parts", watched)
    status = await asyncio.to_thread(
        cli.main, ["doctor", "--fix", KIND, "--yes", "--json", "--profile", str(box.profile_path)])
    assert status == 0, capsys.readouterr().err
    assert not machine.exists()
    engine = Engine(profile)
    cli_history = last_fix(engine.state.history())

    # the TUI: the fix key on the alert the watcher found, confirmed
    machine = stale_machine(profile.kube.root, "cli")  # the same subject, so the same stage name
    tui: list[Event] = []
    engine.bus.add_listener(tui.append)
    app = WorkbenchApp(engine)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            pane = app.screen.query_one(AlertsPane)
            await until(pilot, lambda: any(a.kind == KIND for a in pane.alerts), "the stale machine's alert", 30)
            await pilot.press("f")
            await settle(pilot)
            await pilot.press("y")
            await until(pilot, lambda: any(isinstance(e, PipelineFinished) and e.pipeline == "fix" for e in tui),
                        "the fix pipeline", 30)
            await settle(pilot)
    finally:
        await engine.close()
    assert not machine.exists()

    expected = [
        ("started", "fix", (f"{KIND}:remove",)),
        ("stage", "fix", f"{KIND}:remove", None),
        ("stage done", "fix", f"{KIND}:remove", None, True, None),
        ("finished", "fix", True, None, None, ()),
    ]
    assert shape(headless) == expected
    assert shape([e for e in tui if isinstance(e, PIPELINE_EVENTS) and e.pipeline == "fix"]) == expected
    assert last_fix(engine.state.history()) == cli_history == {
        "pipeline": "fix", "ok": True, "stages": [{"stage": f"{KIND}:remove", "ok": True}]}
