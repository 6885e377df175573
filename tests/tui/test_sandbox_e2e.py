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
