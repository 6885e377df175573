"""Daily use (issue 19): Esc backs out, ctrl+c cancels after asking, q asks while a pipeline
runs; failures and cancels stay on screen; follow, less-style search and navigation."""

from __future__ import annotations

import asyncio

from workbench.events import LogLine, PipelineFinished, PipelineStarted
from workbench.tui.panes.logs import LogsPane
from workbench.tui.screens.confirm import ConfirmScreen

from .scenes import INSTANCES, MASTER, MINION_1, NOW, log_lines
from .waiting import settle, until


def notes(app) -> list[str]:
    return [n.message for n in app._notifications]


def header(app) -> str:
    return str(app.screen.query_one("#header-running").render())


async def test_escape_backs_out_one_level_and_never_cancels(make_app, engine) -> None:
    engine.hold = asyncio.Event()
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        for line in log_lines():
            engine.bus.publish(line)
        logs = app.screen.query_one(LogsPane)
        await until(pilot, lambda: logs.received == 12, "log lines")
        await pilot.press("b")
        await until(pilot, lambda: engine.running == "build", "build running")
        logs.log_view.focus()
        await pilot.press("z")
        assert app.screen.maximized is logs
        await pilot.press("slash", "s", "a", "l", "t")
        assert logs.query_filter.term == "salt" and logs.searching
        await pilot.press("escape")  # closes and clears the search, nothing else
        assert not logs.searching and app.screen.maximized is not None
        await pilot.press("escape")  # restores the zoom
        assert app.screen.maximized is None
        await pilot.press("escape", "escape")  # nothing left to back out of
        await pilot.pause()
        assert engine.running == "build" and ("cancel",) not in engine.calls
        engine.hold.set()
        await settle(pilot)


async def test_a_cancelled_pipeline_is_shown_as_cancelled_not_failed(make_app, engine) -> None:
    engine.hold = asyncio.Event()
    engine.stage = "push"
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("r")
        await until(pilot, lambda: "push" in header(app), "redeploy at push")
        await pilot.press("ctrl+c")
        assert isinstance(app.screen, ConfirmScreen)
        body = str(app.screen.query_one("#confirm-body").render())
        assert "redeploy is running at stage push" in body
        await pilot.press("y")
        await settle(pilot)
        await until(pilot, lambda: "cancelled" in header(app), "the header to say cancelled")
        assert header(app) == "⊘ redeploy cancelled at push"
        assert "redeploy cancelled at push" in notes(app)
        assert not any("failed" in n for n in notes(app))
        logs = app.screen.query_one(LogsPane)
        assert any(r.text == "redeploy cancelled at push" for r in logs.records)


async def test_q_while_a_pipeline_runs_asks_and_names_the_stage(make_app, engine) -> None:
    engine.hold = asyncio.Event()
    engine.stage = "salt"
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("r")
        await until(pilot, lambda: "salt" in header(app), "redeploy at salt")
        await pilot.press("q")
        assert isinstance(app.screen, ConfirmScreen)
        assert "Cancel redeploy and quit?" in str(app.screen.query_one("#confirm-title").render())
        assert "at stage salt" in str(app.screen.query_one("#confirm-body").render())
        await pilot.press("q")  # a second q does not quit behind the question's back
        await pilot.press("n")
        await pilot.pause()
        assert app.is_running and engine.running == "redeploy"
        await pilot.press("q", "y")
        await pilot.pause()
    assert ("cancel",) in engine.calls
    assert app.return_code == 0


async def test_a_failure_stays_in_the_header_logs_and_file_until_the_next_run(make_app, engine) -> None:
    app = make_app()
    async with app.run_test(size=(160, 40)) as pilot:
        engine.bus.publish(PipelineStarted("redeploy", ("build", "push", "salt", "verify")))
        engine.bus.publish(PipelineFinished("redeploy", False, error="kubernetes-minion-1 is NotReady",
                                            failed_stage="verify", failed_nodes=(MINION_1,)))
        await until(pilot, lambda: "failed" in header(app), "the failure in the header")
        assert header(app) == "✗ redeploy failed at verify: kubernetes-minion-1 is NotReady"
        logs = app.screen.query_one(LogsPane)
        assert [r.text for r in logs.records] == ["redeploy failed at verify: kubernetes-minion-1 is NotReady"]
        assert app.log_file.flush()
        assert "redeploy failed at verify" in engine.state.log_path.read_text()
        await pilot.press("tab", "tab")  # keys and time do not clear it
        assert "✗ redeploy failed" in header(app)
        engine.bus.publish(PipelineStarted("push"))
        await until(pilot, lambda: "▶ push" in header(app), "the next run")
        engine.bus.publish(PipelineFinished("push", True))
        await until(pilot, lambda: header(app) == "idle", "idle after a success")


async def test_follow_pauses_on_scroll_up_resumes_on_end_and_survives_a_resize(make_app, engine) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        for i in range(300):
            engine.bus.publish(LogLine("salt", MASTER, f"state {i}", at=NOW + i))
        logs = app.screen.query_one(LogsPane)
        view = logs.log_view
        await until(pilot, lambda: logs.received == 300, "300 lines")
        await until(pilot, lambda: view.is_vertical_scroll_end, "the view at the bottom")
        await pilot.resize_terminal(80, 24)
        await until(pilot, lambda: view.is_vertical_scroll_end, "still at the bottom after shrinking")
        await pilot.resize_terminal(160, 48)
        await until(pilot, lambda: view.is_vertical_scroll_end, "still at the bottom after growing")
        assert logs.follow
        view.focus()
        await pilot.press("pageup")
        assert not logs.follow and logs.border_title == "Logs (paused)"
        assert "paused" in str(logs.border_subtitle)
        top = view.scroll_y
        engine.bus.publish(LogLine("salt", MASTER, "while paused"))
        await until(pilot, lambda: logs.received == 301, "one more line")
        assert view.scroll_y == top  # paused: the view stays where the user put it
        await pilot.press("end")
        assert logs.follow and logs.border_title == "Logs"
        await until(pilot, lambda: view.is_vertical_scroll_end, "at the bottom again")


async def test_search_as_you_type_with_n_and_N_and_no_matches(make_app, engine) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        for i in range(200):
            engine.bus.publish(LogLine("salt", MASTER, f"state {i}" + (" needle" if i in (20, 90, 150) else "")))
        logs = app.screen.query_one(LogsPane)
        await until(pilot, lambda: logs.received == 200, "200 lines")
        await pilot.press("tab")  # from the instances to the logs: / searches the focused pane
        await pilot.press("slash", *"needle")
        assert logs.match_count == 3 and "3 matches" in str(logs.border_subtitle)
        assert logs.log_view.lines[logs._match_line].endswith("state 20 needle")  # the first as you type
        await pilot.press("enter")
        assert len(logs.log_view.lines) == 200  # a search highlights, it does not hide lines
        await pilot.press("n")
        assert logs.log_view.lines[logs._match_line].endswith("state 90 needle")
        await pilot.press("n", "n")
        assert logs.log_view.lines[logs._match_line].endswith("state 20 needle")  # wraps
        await pilot.press("N")
        assert logs.log_view.lines[logs._match_line].endswith("state 150 needle")
        await pilot.press("slash", "x", "y", "z")
        assert "no matches" in str(logs.border_subtitle)
        await pilot.press("enter", "n")
        assert any("no matches for" in n for n in notes(app))
        await pilot.press("escape")
        assert not logs.query_filter.active and "search" not in str(logs.border_subtitle)


async def test_keys_typed_in_one_burst_search_then_move(make_app, engine) -> None:
    """A terminal delivers fast typing in one read: "/needle", enter and n arrive before the
    prompt has handled any of them. The whole word is searched, n goes to the pane (the next
    match), not into the prompt; a burst ending in Esc leaves no search behind."""
    from textual import events

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        for i in range(200):
            engine.bus.publish(LogLine("salt", MASTER, f"state {i}" + (" needle" if i in (20, 90, 150) else "")))
        logs = app.screen.query_one(LogsPane)
        await until(pilot, lambda: logs.received == 200, "200 lines")
        logs.log_view.focus()
        await pilot.pause()

        def burst(*keys: str) -> None:
            for key in keys:
                app.post_message(events.Key(key, {"slash": "/", "enter": "\r", "escape": "\x1b"}.get(key, key)))

        burst("slash", *"needle", "enter", "n")
        await until(pilot, lambda: not logs.prompt.display, "the prompt closed")
        await settle(pilot)
        assert logs.query_filter.term == "needle" and app.focused is logs.log_view
        assert logs.log_view.lines[logs._match_line].endswith("state 90 needle")  # n: the second
        burst("slash", *"xyz", "escape")
        await until(pilot, lambda: not logs.prompt.display, "the prompt closed again")
        await settle(pilot)
        assert not logs.query_filter.active and app.focused is logs.log_view


async def test_search_in_the_tables_as_you_type_with_n_N_no_matches_and_esc(make_app, engine) -> None:
    """/ searches the focused table (instances, alerts) as the logs are searched: the cursor
    goes to the first match as you type, the words are marked, n/N move (wrapping), the
    subtitle counts or says "no matches", Esc clears; the logs' search is left alone."""
    from workbench.tui.panes.alerts import AlertsPane
    from workbench.tui.panes.instances import InstancesPane
    from workbench.tui.themes import match_style

    from .scenes import ALERTS, MINION_2

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        engine.bus.publish(INSTANCES)
        engine.bus.publish(ALERTS)
        pane = app.screen.query_one(InstancesPane)
        table = pane.table
        await until(pilot, lambda: table.row_count == 3, "instances")
        table.focus()
        await pilot.press("slash", *"minion")
        assert app.focused is pane.prompt and pane.search_term == "minion"
        assert table.cursor_row == 1  # the first match from the cursor (the master is row 0)
        assert str(pane.border_subtitle) == "search: minion (2 matches · n/N)"
        marked = match_style(app.theme_variables)
        name = table.get_cell_at((1, 0))
        assert [name.plain[s.start:s.end] for s in name.spans if s.style == marked] == ["minion"]
        await pilot.press("enter")
        assert app.focused is table and not pane.prompt.display and pane.searching
        await pilot.press("n")
        assert table.get_row_at(table.cursor_row)[0].plain == MINION_2
        await pilot.press("n")
        assert table.get_row_at(table.cursor_row)[0].plain == MINION_1  # wraps
        await pilot.press("N")
        assert table.get_row_at(table.cursor_row)[0].plain == MINION_2
        await pilot.press("slash", *"xyz")  # the prompt opens with the search kept: "minionxyz"
        assert "no matches" in str(pane.border_subtitle) and table.cursor_row == 2
        await pilot.press("enter", "n")
        assert any("no matches for 'minionxyz'" in n for n in notes(app))
        await pilot.press("escape")  # the screen's Esc: the focused table's search goes
        assert not pane.searching and str(pane.border_subtitle) == "3 instances"
        assert not [s for s in table.get_cell_at((1, 0)).spans if s.style == marked]

        alerts = app.screen.query_one(AlertsPane)
        alerts.table.focus()
        await pilot.press("slash", *"PORT")
        assert app.focused is alerts.prompt and alerts.match_count == 1
        assert alerts.selected_alert is not None and alerts.selected_alert.kind == "leaked-port"
        await pilot.press("escape")  # Esc in the prompt: closes it and clears the search
        assert app.focused is alerts.table and not alerts.searching and alerts.match_count == 0
        assert not app.screen.query_one(LogsPane).searching and not pane.searching

        app.screen.query_one("#cluster").focus()  # a pane without a search: / goes to the logs
        await pilot.press("slash")
        assert app.focused is not None and app.focused.id == "log-search"


async def test_j_k_g_G_move_in_tables_and_logs(make_app, engine) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        engine.bus.publish(INSTANCES)
        table = app.screen.query_one("#instances-table")
        await until(pilot, lambda: table.row_count == 3, "instances")
        table.focus()
        await pilot.press("j")
        assert table.cursor_row == 1
        await pilot.press("G")
        assert table.cursor_row == 2
        await pilot.press("k", "k")
        assert table.cursor_row == 0
        await pilot.press("ctrl+d")
        assert table.cursor_row == 2
        await pilot.press("ctrl+u", "g")
        assert table.cursor_row == 0
        for i in range(300):
            engine.bus.publish(LogLine("salt", MASTER, f"state {i}"))
        logs = app.screen.query_one(LogsPane)
        await until(pilot, lambda: logs.received == 300, "lines")
        logs.log_view.focus()
        await pilot.pause()
        await pilot.press("g")
        assert logs.log_view.scroll_y == 0 and not logs.follow
        await pilot.press("j", "j")
        assert logs.log_view.scroll_y == 2
        await pilot.press("ctrl+d")
        assert logs.log_view.scroll_y > 2
        await pilot.press("G")
        assert logs.follow
        await until(pilot, lambda: logs.log_view.is_vertical_scroll_end, "the bottom")


async def test_timestamps_toggle_and_export_of_the_filtered_view(make_app, engine) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        for line in log_lines():
            engine.bus.publish(line)
        logs = app.screen.query_one(LogsPane)
        await until(pilot, lambda: logs.received == 12, "lines")
        first = logs.log_view.lines[0]
        await pilot.press("T")
        assert logs.log_view.lines[0].endswith(first) and logs.log_view.lines[0][2] == ":"
        await pilot.press("T")
        logs.set_query(f"node:{MASTER}")
        await pilot.press("E")
        [exported] = list(engine.state.root.glob("logs-*.txt"))
        text = exported.read_text().splitlines()
        assert len(text) == 3 and all(line.startswith(MASTER) for line in text)
        assert any(str(engine.state.log_path) in n and str(exported) in n for n in notes(app))


async def test_at_80x24_the_footer_has_help_toasts_spare_the_alerts_and_help_is_whole(make_app, engine) -> None:
    from textual.widgets import Footer
    from textual.widgets._footer import FooterKey
    from textual.widgets._toast import Toast

    from workbench.tui.bindings import all_bindings
    from workbench.tui.screens.help import HelpScreen

    from .scenes import ALERTS

    app = make_app()
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        engine.bus.publish(ALERTS)
        await until(pilot, lambda: app.screen.query_one("#alerts-table").row_count == 2, "alerts")
        keys = {k.description: k.region for k in app.screen.query_one(Footer).query(FooterKey) if k.region.width}
        assert "Help" in keys and "Quit" in keys and keys["Quit"].right <= 80
        for i in range(3):
            app.notify(f"note {i}: " + "x" * 60, timeout=30)
        await until(pilot, lambda: len(app.screen.query(Toast)) == 3, "three toasts")
        alerts = app.screen.query_one("#alerts-table").region
        assert all(not t.region.overlaps(alerts) for t in app.screen.query(Toast))
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.pause()
        table, scroll = app.screen.query_one("#help-table"), app.screen.query_one("#help-scroll")
        assert table.virtual_size.width <= scroll.scrollable_content_region.width  # wraps, never cut
        assert len(app.screen.rows) == len(all_bindings())


async def test_a_relaunch_reloads_recent_lines_remembers_the_theme_and_the_last_build(tmp_path) -> None:
    from workbench.tui.app import WorkbenchApp

    from .engine_double import RecordingEngine

    engine = RecordingEngine(tmp_path / "s")
    engine.state.append_history("build", {"seconds": 252.0, "ok": True, "at": NOW})
    first = WorkbenchApp(engine, clock=lambda: NOW)
    async with first.run_test(size=(120, 40)) as pilot:
        engine.bus.publish(LogLine("salt", MASTER, "before the relaunch", "stderr"))
        logs = first.screen.query_one(LogsPane)
        await until(pilot, lambda: logs.received == 1, "a line")
        await pilot.press("t")
        chosen = first.theme
        assert chosen != "workbench-dark"
        assert first.log_file.flush()

    again = RecordingEngine(tmp_path / "s")
    second = WorkbenchApp(again, clock=lambda: NOW)
    async with second.run_test(size=(120, 40)) as pilot:
        logs = second.screen.query_one(LogsPane)
        await until(pilot, lambda: logs.received == 1, "the reloaded line")
        [record] = logs.records
        assert (record.node, record.source, record.stderr, record.text) == (MASTER, "salt", True, "before the relaunch")
        assert second.theme == chosen
        stages = str(second.screen.query_one("#build-stages").render())
        assert "last build took 4m12s" in stages


async def test_fix_all_of_a_kind_asks_once_listing_them_and_a_failure_spares_the_others(make_app, engine) -> None:
    from dataclasses import replace

    from workbench.events import AlertsChanged

    from .scenes import PORT_ALERT, TOKEN_ALERT

    ports = [replace(PORT_ALERT, subject=f"port-{n}") for n in ("a1", "b2", "c3")]
    engine.failing_fixes = {"port-b2"}
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        engine.bus.publish(AlertsChanged((*ports, TOKEN_ALERT)))
        table = app.screen.query_one("#alerts-table")
        await until(pilot, lambda: table.row_count == 4, "alerts")
        table.focus()
        while app.screen.query_one("AlertsPane").selected_alert.kind != "leaked-port":
            await pilot.press("j")
        await pilot.press("ctrl+f")
        assert isinstance(app.screen, ConfirmScreen)
        assert "Fix all 3 leaked-port alert(s)?" in str(app.screen.query_one("#confirm-title").render())
        body = str(app.screen.query_one("#confirm-body").render())
        assert all(f"port-{n}: delete" in body for n in ("a1", "b2", "c3")) and "token" not in body
        await pilot.press("y")
        await settle(pilot)
        fixed = [c for c in engine.calls if c[0] == "fix"]
        assert [c[2] for c in fixed] == ["port-a1", "port-b2", "port-c3"]  # one at a time, all of them
        assert "leaked-port: 2 of 3 fixed" in notes(app)
        assert any("port-b2" in n and "did not answer" in n for n in notes(app))


async def test_the_cluster_pane_says_its_age_and_empties_after_down(make_app, engine) -> None:
    """(Booting nodes are left out of the alerts by the engine's diagnose, which the TUI's
    watcher runs: test_sandbox_e2e.py and tests/cli/test_doctor_boot_grace.py.)"""
    from workbench.events import ClusterInfoChanged

    from .scenes import CLUSTER

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        engine.bus.publish(CLUSTER)
        cluster = app.screen.query_one("ClusterPane")
        await until(pilot, lambda: cluster.info is not None, "cluster info")
        assert "0s ago" in str(cluster.border_subtitle) and "127.9.0.2:8080" in str(cluster.border_title)
        engine.bus.publish(ClusterInfoChanged(None))  # the watch after down
        await until(pilot, lambda: cluster.info is None, "the pane emptied")
        assert app.screen.query_one("#cluster-empty").display
