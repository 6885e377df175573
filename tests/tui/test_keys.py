"""Keys turn into engine calls; one pipeline at a time; readonly refuses every change."""

from __future__ import annotations

import asyncio

import pytest

from workbench.tui.screens.confirm import ConfirmScreen
from workbench.tui.screens.help import HelpScreen

from .scenes import ALERTS, INSTANCES, MINION_1
from .waiting import settle, until


def notes(app) -> list[str]:
    return [n.message for n in app._notifications]


@pytest.mark.parametrize(("key", "call"), [
    ("b", ("build",)), ("u", ("up", None)), ("p", ("push", False)),
    ("r", ("redeploy",)), ("a", ("salt", True)),
])
async def test_pipeline_keys_call_the_engine(make_app, engine, key, call) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press(key)
        await settle(pilot)
        assert engine.calls == [("start",), call]
        assert "idle" in str(app.screen.query_one("#header-running").render())


async def test_second_pipeline_is_refused_and_ctrl_c_cancels_after_asking(make_app, engine) -> None:
    engine.hold = asyncio.Event()
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("b")
        await until(pilot, lambda: engine.running == "build", "build running")
        await pilot.press("u")
        await pilot.pause()
        assert ("up", None) not in engine.calls
        assert any("build is running" in n for n in notes(app))
        assert "build" in str(app.screen.query_one("#header-running").render())
        await pilot.press("escape")  # backs out, never cancels
        await pilot.pause()
        assert ("cancel",) not in engine.calls and engine.running == "build"
        await pilot.press("ctrl+c")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")  # keep it running
        await pilot.pause()
        assert ("cancel",) not in engine.calls and engine.running == "build"
        await pilot.press("ctrl+c", "y")
        await settle(pilot)
        assert ("cancel",) in engine.calls
        assert engine.running is None
        assert any(n == "cancelled" for n in notes(app))


async def test_down_asks_first(make_app, engine) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        engine.bus.publish(INSTANCES)
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await settle(pilot)
        assert ("down",) not in engine.calls
        await pilot.press("d")
        await pilot.press("y")
        await settle(pilot)
        assert ("down",) in engine.calls


async def test_readonly_refuses_every_change(make_app, engine) -> None:
    app = make_app(readonly=True)
    async with app.run_test(size=(120, 40)) as pilot:
        engine.bus.publish(INSTANCES)
        engine.bus.publish(ALERTS)
        await until(pilot, lambda: app.screen.query_one("#alerts-table").row_count == 2, "alerts")
        for key in ("b", "u", "p", "r", "a", "d", "f", "s", "S"):
            await pilot.press(key)
        await settle(pilot)
        assert engine.calls == [("start",)]
        assert not isinstance(app.screen, ConfirmScreen)
        refused = [n for n in notes(app) if n.startswith("readonly:")]
        assert len(refused) == 9
        assert app.screen.query_one("#badge-readonly").display


async def test_keymap_from_profile_remaps_by_id(tmp_path, make_app) -> None:
    from .engine_double import RecordingEngine

    engine = RecordingEngine(tmp_path / "s", keymap={"build": "B", "nonsense": "x"})
    app = make_app(engine=engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("b")
        await settle(pilot)
        assert ("build",) not in engine.calls
        await pilot.press("B")
        await settle(pilot)
        assert ("build",) in engine.calls
        assert any("nonsense: no such binding id" in n for n in notes(app))
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        rows = [row[0] for row in app.screen.rows[:3]]
        assert rows[0] == "B"


async def test_ssh_without_a_selected_node_says_so(make_app, engine) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("S")
        await pilot.pause()
        assert any("no node selected" in n for n in notes(app))


async def test_system_ssh_uses_the_selected_node(make_app, engine) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        engine.bus.publish(INSTANCES)
        await until(pilot, lambda: app.screen.query_one("#instances-table").row_count == 3, "instances")
        await pilot.press("down")
        await pilot.press("S")
        await pilot.pause()
        # Headless cannot suspend: the app says so, after asking the engine for the argv.
        assert ("system_ssh_argv", MINION_1) in engine.calls
        assert any("cannot suspend" in n for n in notes(app))
        from workbench.tui.panes.logs import LogsPane

        assert [(r.source, r.text) for r in app.screen.query_one(LogsPane).records] == [("cmd", "$ true")]


async def test_quit_key_exits(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0
