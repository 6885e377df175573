"""End to end: the app on the real Engine against a fresh sandbox: up, then redeploy."""

from __future__ import annotations

import pytest

from workbench.events import PipelineFinished
from workbench.tui.app import WorkbenchApp
from workbench.tui.messages import EngineEvents
from workbench.tui.panes.cluster import ClusterPane
from workbench.tui.panes.instances import InstancesPane
from workbench.tui.panes.logs import LogsPane

from .waiting import settle, until

pytestmark = pytest.mark.slow


def finished(seen: list[object], pipeline: str) -> list[PipelineFinished]:
    return [e for m in seen if isinstance(m, EngineEvents) for e in m.events
            if isinstance(e, PipelineFinished) and e.pipeline == pipeline]


async def test_up_then_redeploy_from_the_keys(make_sandbox, tmp_path) -> None:
    from workbench.engine.facade import Engine
    from workbench.profile import load_profile
    from workbench.state import StateDir

    box = make_sandbox(minions=2)
    engine = Engine(load_profile(box.profile_path, environ={}), state=StateDir(tmp_path / "state"))
    seen: list[object] = []
    app = WorkbenchApp(engine)
    try:
        async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
            await pilot.press("u")
            await settle(pilot)
            await until(pilot, lambda: finished(seen, "up"), "up to finish", 60)
            assert finished(seen, "up")[0].ok, finished(seen, "up")[0].error
            table = app.screen.query_one(InstancesPane).table
            await until(pilot, lambda: table.row_count == 3, "three instances", 30)
            statuses = [str(table.get_cell(row, "status")) for row in table.rows]
            assert statuses == ["ACTIVE"] * 3

            await pilot.press("r")
            await settle(pilot)
            await until(pilot, lambda: finished(seen, "redeploy"), "redeploy to finish", 120)
            result = finished(seen, "redeploy")[0]
            assert result.ok, f"{result.failed_stage}: {result.error}"
            pipeline_cells = [str(table.get_cell(row, "pipeline")) for row in table.rows]
            assert all(cell.endswith("✓") for cell in pipeline_cells), pipeline_cells

            logs = app.screen.query_one(LogsPane)
            await until(pilot, lambda: any("Summary for" in r.text for r in logs.records), "a Salt summary")
            assert {"build", "salt"} <= logs.sources
            cluster = app.screen.query_one(ClusterPane)
            await until(pilot, lambda: cluster.info is not None and cluster.info.nodes, "cluster info", 60)
    finally:
        await engine.close()
    assert "Summary for" in engine.state.log_path.read_text()


async def test_the_alerts_pane_spares_nodes_still_booting(make_sandbox, tmp_path) -> None:
    """The engine's boot grace, as the TUI shows it: nodes created moments ago that cannot
    be reached yet (nothing listens on this profile's SSH port) are not unreachable alerts;
    the same engine, asked without the grace, finds them unreachable."""
    from dataclasses import replace

    from workbench.engine.doctor.core import diagnose
    from workbench.engine.facade import Engine
    from workbench.events import AlertsChanged
    from workbench.profile import load_profile
    from workbench.state import StateDir
    from workbench.tui.panes.alerts import AlertsPane

    box = make_sandbox(minions=1)
    profile = load_profile(box.profile_path, environ={})
    builder = Engine(profile, state=StateDir(tmp_path / "state"))
    try:
        await builder.up()
    finally:
        await builder.close()
    engine = Engine(replace(profile, ssh=replace(profile.ssh, port=2)), state=StateDir(tmp_path / "state"))
    seen: list[object] = []
    app = WorkbenchApp(engine)
    try:
        async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
            checked = lambda: [e for m in seen if isinstance(m, EngineEvents)  # noqa: E731
                               for e in m.events if isinstance(e, AlertsChanged)]
            await until(pilot, checked, "the watcher's first doctor run", 60)
            await settle(pilot)
            pane = app.screen.query_one(AlertsPane)
            assert not [a for a in pane.alerts if a.kind == "node-unreachable"], pane.alerts
            assert not [a for a in checked()[0].alerts if a.kind == "node-unreachable"]
            unreachable = await diagnose(engine.parts, ["node-unreachable"], boot_grace=0)
            assert sorted(a.subject for a in unreachable) == ["kubernetes-master", "kubernetes-minion-1"]
    finally:
        await engine.close()
