"""Snapshots (120x40) of every pane, the help screen and an alert's detail; 80x24 of the
main screen, the help and a search in the instances table.

Events are deterministic (fixed names, times, a fixed clock). Update with
``pytest tests/tui/test_snapshots.py --snapshot-update`` only after looking at the report.
"""

from __future__ import annotations

import pytest

from workbench.tui.panes.alerts import AlertsPane
from workbench.tui.panes.logs import LogsPane

from .scenes import every_event, log_lines
from .waiting import until

SIZE = (120, 40)
PANES = ("build", "instances", "logs", "cluster", "alerts")


def feed(engine):
    async def run_before(pilot) -> None:
        for event in every_event():
            engine.bus.publish(event)
        logs = pilot.app.screen.query_one(LogsPane)
        await until(pilot, lambda: logs.received == len(log_lines()), "log lines")
        await until(pilot, lambda: pilot.app.screen.query_one(AlertsPane).table.row_count == 2, "alerts")
    return run_before


def test_main_screen(snap_compare, make_app, engine) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=feed(engine))


@pytest.mark.parametrize("pane", PANES)
def test_each_pane_zoomed(snap_compare, make_app, engine, pane) -> None:
    fed = feed(engine)

    async def run_before(pilot) -> None:
        await fed(pilot)
        screen = pilot.app.screen
        screen.maximize(screen.query_one(f"#{pane}"), container=False)
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)


def test_help_screen(snap_compare, make_app) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE, press=["question_mark"])


def test_alert_detail(snap_compare, make_app, engine) -> None:
    fed = feed(engine)

    async def run_before(pilot) -> None:
        await fed(pilot)
        pilot.app.screen.query_one(AlertsPane).table.focus()
        await pilot.press("down", "enter")

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)


@pytest.mark.parametrize("theme", ["workbench-light", "workbench-high-contrast"])
def test_main_screen_in_other_themes(snap_compare, make_app, engine, tmp_path, theme) -> None:
    from .engine_double import RecordingEngine

    engine = RecordingEngine(tmp_path / "t", theme=theme)
    assert snap_compare(make_app(engine=engine), terminal_size=SIZE, run_before=feed(engine))


@pytest.mark.parametrize("press", [(), ("question_mark",), ("slash", *"minion")], ids=["main", "help", "search"])
def test_small_terminal_80x24(snap_compare, make_app, engine, press) -> None:
    fed = feed(engine)

    async def run_before(pilot) -> None:
        await fed(pilot)
        await pilot.press(*press)

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=run_before)
