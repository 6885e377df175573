"""Panes render what the engine publishes on a real Bus."""

from __future__ import annotations

from textual.widgets import DataTable, Log

from workbench.events import LogLine
from workbench.tui.messages import EngineEvents, PendingLines
from workbench.tui.panes.alerts import AlertsPane
from workbench.tui.panes.build import BuildPane
from workbench.tui.panes.cluster import ClusterPane
from workbench.tui.panes.instances import InstancesPane
from workbench.tui.panes.logs import LogsPane

from .scenes import ALERTS, BUILD, CLUSTER, INSTANCES, MASTER, MINION_1, MINION_2, STAGES, log_lines
from .waiting import until


def cells(table: DataTable, column: str) -> list[str]:
    return [str(table.get_cell(row, column)) for row in table.rows]


async def test_every_pane_renders_bus_events(make_app, engine) -> None:
    seen: list[object] = []
    app = make_app()
    async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
        for event in [INSTANCES, CLUSTER, ALERTS, *STAGES, *BUILD, *log_lines(8)]:
            engine.bus.publish(event)
        logs = app.screen.query_one(LogsPane)
        await until(pilot, lambda: logs.received == 8, "log lines")
        instances = app.screen.query_one(InstancesPane)
        await until(pilot, lambda: instances.table.row_count == 3, "instances")

        table = instances.table
        assert cells(table, "name") == [MASTER, MINION_1, MINION_2]
        assert cells(table, "status") == ["ACTIVE", "ACTIVE", "ERROR"]
        assert cells(table, "age") == ["3h", "2h", "2m"]
        assert cells(table, "floating IP") == ["127.10.0.5", "127.10.0.6", "-"]
        assert cells(table, "pipeline") == ["salt ✓", "salt…", ""]

        cluster = app.screen.query_one(ClusterPane)
        nodes = cluster.query_one("#cluster-nodes", DataTable)
        assert cells(nodes, "status") == ["Ready", "NotReady,SchedulingDisabled"]
        assert cells(nodes, "roles") == ["<none>", "<none>"]
        pods = cluster.query_one("#cluster-pods", DataTable)
        assert cells(pods, "status") == ["Running", "CrashLoopBackOff"]
        assert cells(pods, "restarts") == ["0", "7 (2m10s ago)"]
        assert "1/2 nodes ready" in str(cluster.border_subtitle)

        alerts = app.screen.query_one(AlertsPane)
        assert cells(alerts.table, "severity") == ["ERROR", "WARNING"]  # worst first

        build = app.screen.query_one(BuildPane)
        assert build.percent == 62.5 and build.eta == 95.0
        assert list(build.stages) == ["prepare", "compile", "package"]

        log = logs.query_one(Log)
        assert log.line_count == 8
        assert log.lines[0].startswith(MASTER) and "salt" in log.lines[0]
        assert "redeploy · salt" in str(app.screen.query_one("#header-running").render())

    assert any(isinstance(m, EngineEvents) for m in seen)
    assert any(isinstance(m, PendingLines) for m in seen)


async def test_resolved_alerts_disappear(make_app, engine) -> None:
    from workbench.events import AlertsChanged

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        alerts = app.screen.query_one(AlertsPane)
        engine.bus.publish(ALERTS)
        await until(pilot, lambda: alerts.table.row_count == 2, "two alerts")
        engine.bus.publish(AlertsChanged((ALERTS.alerts[0],)))
        await until(pilot, lambda: alerts.table.row_count == 1, "one alert left")
        assert cells(alerts.table, "kind") == ["leaked-port"]


async def test_header_shows_sandbox_and_cluster(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)):
        assert app.screen.query_one("#badge-sandbox").display
        assert not app.screen.query_one("#badge-readonly").display
        assert "kubernetes" in str(app.screen.query_one("#header-cluster").render())


async def test_layout_fits_100x30(make_app, engine) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        engine.bus.publish(INSTANCES)
        await until(pilot, lambda: app.screen.query_one(InstancesPane).table.row_count == 3, "instances")
        for pane_id in ("build", "instances", "logs", "cluster", "alerts"):
            region = app.screen.query_one(f"#{pane_id}").region
            assert region.width >= 30 and region.height >= 6, (pane_id, region)


async def test_log_lines_are_shown_as_text(make_app, engine, tmp_path) -> None:
    app = make_app()
    evil = "\x1b]0;pwned\x07\x1b[2J\x1b[31mred\x1b[0m \x9b31m bell\x07 \ud800 tab\tend"
    async with app.run_test(size=(120, 40)) as pilot:
        engine.bus.publish(LogLine("kubelet", MINION_1, evil))
        engine.bus.publish(LogLine("salt", MASTER, "x" * 1_000_000))
        logs = app.screen.query_one(LogsPane)
        await until(pilot, lambda: logs.received == 2, "lines")
        first, second = logs.query_one(Log).lines
        assert "\x1b" not in first and "\x07" not in first and "\x9b" not in first
        assert "pwned" not in first and "red" in first and "tab    end" in first
        assert "\ufffd" in first  # the lone surrogate
        assert len(second) < 2_200 and second.endswith("chars cut]")
    logged = engine.state.log_path.read_text()
    assert "\x1b" not in logged and "red" in logged and MINION_1 in logged
