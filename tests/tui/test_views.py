"""Log filter/search/follow, zoom and tab, themes, alert detail and fix, palette, help."""

from __future__ import annotations

from textual.widgets import Log

from workbench.events import LogLine
from workbench.tui.bindings import all_bindings, markdown_table
from workbench.tui.panes.alerts import AlertsPane
from workbench.tui.panes.logs import LogsPane
from workbench.tui.screens.alert_detail import AlertDetailScreen
from workbench.tui.screens.confirm import ConfirmScreen
from workbench.tui.screens.help import HelpScreen

from .scenes import ALERTS, MASTER, MINION_1, log_lines
from .waiting import settle, until


async def _with_lines(pilot, engine, count: int = 40) -> LogsPane:
    for line in log_lines(count):
        engine.bus.publish(line)
    logs = pilot.app.screen.query_one(LogsPane)
    await until(pilot, lambda: logs.received == count, "log lines")
    return logs


async def test_filter_by_node_and_source_and_search(make_app, engine) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        logs = await _with_lines(pilot, engine)
        logs.log_view.focus()
        await pilot.press("slash")
        assert app.focused is not None and app.focused.id == "log-search"
        await pilot.press(*f"node:{MASTER}", "enter")
        lines = logs.query_one(Log).lines
        assert len(lines) == 10 and all(line.startswith(MASTER) for line in lines)
        assert app.focused is not None and app.focused.id == "log-view"
        assert "filter: node:" in str(logs.border_subtitle)

        logs.set_query("source:push 21")  # source filter plus a search term
        lines = logs.query_one(Log).lines  # the filter hides lines, the search term does not
        assert len(lines) == 10 and all(" push " in line for line in lines)
        assert logs.match_count == 1 and "1 match · n/N" in str(logs.border_subtitle)
        # the term is highlighted in the rendered line
        at = next(i for i, line in enumerate(lines) if "line 21:" in line)
        logs.query_one(Log).scroll_to(y=0, animate=False)
        await pilot.pause()
        rendered = logs.query_one(Log).render_line(at)
        assert any(seg.text == "21" and seg.style and seg.style.bgcolor for seg in rendered)

        await pilot.press("slash", "ctrl+a", "ctrl+k", "enter")  # empty query clears it
        assert logs.query_one(Log).line_count == 40


async def test_follow_off_keeps_the_scroll_position(make_app, engine) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        logs = await _with_lines(pilot, engine, 200)
        log = logs.query_one(Log)
        assert log.scroll_y == log.max_scroll_y > 0  # following
        await pilot.press("F")
        assert "paused" in str(logs.border_subtitle)
        log.scroll_to(y=10, animate=False)
        await pilot.pause()
        for line in log_lines(50):
            engine.bus.publish(LogLine(line.source, line.node, "more " + line.text))
        await until(pilot, lambda: logs.received == 250, "more lines")
        assert log.scroll_y == 10
        await pilot.press("F")
        await pilot.pause()
        assert log.scroll_y == log.max_scroll_y


async def test_log_memory_is_capped(make_app, engine) -> None:
    app = make_app(max_log_lines=100)
    async with app.run_test(size=(120, 40)) as pilot:
        logs = await _with_lines(pilot, engine, 250)
        assert logs.query_one(Log).line_count == 100 and len(logs.records) == 100
    assert engine.state.log_path.read_text().count("\n") == 250  # the file keeps everything


async def test_zoom_and_tab_between_panes(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert app.focused is not None and app.focused.id == "instances-table"
        await pilot.press("tab")
        assert app.focused.id == "log-view"
        await pilot.press("z")
        assert screen.maximized is screen.query_one("#logs")
        await pilot.press("tab")  # zoomed: tab shows the next pane full screen
        assert screen.maximized is screen.query_one("#cluster")
        await pilot.press("z")
        assert screen.maximized is None
        await pilot.press("tab", "tab")
        assert app.focused.id == "build"
        await pilot.press("shift+tab")
        assert app.focused.id == "alerts-table"


async def test_theme_key_cycles_workbench_themes(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        assert app.theme == "workbench-dark"
        seen = []
        for _ in range(3):
            await pilot.press("t")
            seen.append(app.theme)
        assert sorted(seen) == ["workbench-dark", "workbench-high-contrast", "workbench-light"]
        assert app.theme_variables["wb-sev-error"] == app.get_theme(app.theme).variables["wb-sev-error"]


async def test_profile_theme_is_used(tmp_path, make_app) -> None:
    from .engine_double import RecordingEngine

    app = make_app(engine=RecordingEngine(tmp_path / "s", theme="workbench-light"))
    async with app.run_test(size=(120, 40)):
        assert app.theme == "workbench-light"
        assert app.screen.styles.background.hex.lower() == "#f6f7f9"


async def test_alert_detail_then_fix_after_confirm(make_app, engine) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        engine.bus.publish(ALERTS)
        alerts = app.screen.query_one(AlertsPane)
        await until(pilot, lambda: alerts.table.row_count == 2, "alerts")
        alerts.table.focus()
        await pilot.press("down", "enter")  # the second row: the leaked port (warning)
        assert isinstance(app.screen, AlertDetailScreen)
        detail = app.screen
        text = " ".join(str(w.render()) for w in detail.query("Static"))
        assert "openstack port delete port-7f3a" in text
        assert "Delete the port so the IP can be reused" in text
        await pilot.press("f")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await settle(pilot)
        assert ("fix", "leaked-port", "port-7f3a", "delete") in engine.calls
        assert any(n.message == "fixed: port-7f3a" for n in app._notifications)


async def test_fix_key_on_selected_alert_can_be_cancelled(make_app, engine) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        engine.bus.publish(ALERTS)
        await until(pilot, lambda: app.screen.query_one(AlertsPane).table.row_count == 2, "alerts")
        await pilot.press("f")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")
        await settle(pilot)
        assert not [c for c in engine.calls if c[0] == "fix"]


async def test_help_lists_every_binding(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        assert len(app.screen.rows) == len(all_bindings())
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


def test_every_binding_has_id_description_tooltip_and_the_readme_table() -> None:
    ids = [b.id for b in all_bindings()]
    assert len(ids) == len(set(ids)) and all(ids)
    assert all(b.description and b.tooltip for b in all_bindings())
    table = markdown_table()
    for key in ("`b`", "`u`", "`p`", "`r`", "`a`", "`d`", "`f`", "`s`", "`S`", "`Esc`", "`Ctrl+c`", "`/`",
                "`z`", "`t`", "`?`", "`q`", "`Ctrl+p`", "`Tab`"):
        assert f"| {key} |" in table, key


async def test_palette_offers_every_action(make_app, engine) -> None:
    from workbench.tui.commands import WorkbenchCommands

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        engine.bus.publish(LogLine("salt", MINION_1, "x"))
        await until(pilot, lambda: app.screen.query_one(LogsPane).received == 1, "a line")
        provider = WorkbenchCommands(app.screen)
        names = [name for name, _, _ in provider._commands()]
        for wanted in ("Build (b)", "Redeploy (r)", "Down (d)", "Help (?)", "Theme: workbench-light",
                       f"Logs: only node {MINION_1}", "Logs: only source salt"):
            assert wanted in names
        hits = [hit async for hit in provider.search("redeploy")]
        assert hits and "Redeploy" in str(hits[0].text)
        await hits[0].command()
        await settle(pilot)
        assert ("redeploy",) in engine.calls


def test_readme_keys_section_is_the_generated_table() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Keys", 1)[1].split("\n## ", 1)[0]
    assert markdown_table() in section, "README Keys table is stale: python -m workbench.tui.bindings --markdown"
