"""The embedded terminal against a real sandbox node: shells, resizes, several sessions."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from textual.app import App

from tests.tui.terminal_helpers import ShellApp, cluster_engine
from workbench.engine.facade import Engine
from workbench.tui.screens.terminal import TerminalScreen
from workbench.tui.terminal import TerminalView, key_to_bytes


@pytest.fixture
async def engine(make_sandbox: Callable[..., Any]) -> Any:
    async with cluster_engine(make_sandbox, minions=1) as eng:
        yield eng


async def wait_for(pilot: Any, view: TerminalView, text: str, timeout: float = 10.0) -> str:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while text not in view.text():
        if loop.time() > deadline:
            raise AssertionError(f"{text!r} never appeared; screen:\n{view.text()}")
        await pilot.pause(0.02)
    return view.text()


async def type_line(pilot: Any, view: TerminalView, line: str) -> None:
    view.send(line.encode() + b"\r")
    await pilot.pause()


def current_view(app: App[None]) -> TerminalView:
    screen = app.screen
    assert isinstance(screen, TerminalScreen)
    session = screen.current
    assert session is not None
    return session.view


async def test_hostname_is_rendered_and_keys_reach_the_shell(engine: Engine) -> None:
    master = engine.profile.master_name
    app = ShellApp(engine, master)
    async with app.run_test(size=(100, 30)) as pilot:
        view = current_view(app)
        await wait_for(pilot, view, "$")  # the node's prompt ([user@host ~]$)
        for key in ["h", "o", "s", "t", "n", "a", "m", "e", "enter"]:
            await pilot.press(key)  # through the real key path
        text = await wait_for(pilot, view, f"\n{master}")
        assert text.count(master) >= 1
        # The widget renders cells, not the remote's escape sequences.
        await type_line(pilot, view, "printf 'A\\033[31mRED\\033[0mB\\033]0;title\\007\\n'")
        text = await wait_for(pilot, view, "AREDB")
        assert "\x1b" not in text and "title" not in text.split("AREDB")[-1]
        y = next(i for i, line in enumerate(view.screen_buffer.display) if line.startswith("AREDB"))
        assert view.screen_buffer.buffer[y][1].fg == "red"
        rendered = "".join(seg.text for seg in view.render_line(y))
        assert rendered.startswith("AREDB") and "\x1b" not in rendered


async def test_pty_is_sized_to_the_widget_and_follows_resizes(engine: Engine) -> None:
    app = ShellApp(engine, engine.profile.master_name)
    async with app.run_test(size=(100, 30)) as pilot:
        view = current_view(app)
        await wait_for(pilot, view, "$")
        rows, cols = view.size.height, view.size.width
        await type_line(pilot, view, "stty size")
        await wait_for(pilot, view, f"{rows} {cols}")
        await pilot.resize_terminal(132, 43)
        await pilot.pause()
        assert (view.size.width, view.size.height) != (cols, rows)
        await type_line(pilot, view, "clear; stty size")
        await wait_for(pilot, view, f"{view.size.height} {view.size.width}")


async def test_several_sessions_at_once_and_closing(engine: Engine) -> None:
    minion = engine.profile.minion_name(0)
    app = ShellApp(engine, engine.profile.master_name)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        assert isinstance(screen, TerminalScreen)
        first = current_view(app)
        await wait_for(pilot, first, "$")
        second_session = await screen.open_session(minion)
        second = second_session.view
        await wait_for(pilot, second, "$")
        await type_line(pilot, second, "hostname")
        await wait_for(pilot, second, f"\n{minion}")
        assert len(screen.sessions) == 2 and screen.current is second_session
        await pilot.press("ctrl+pageup")
        assert current_view(app) is first
        await type_line(pilot, first, "echo still-$((40+2))")
        await wait_for(pilot, first, "still-42")
        process = second_session.process
        await pilot.press("ctrl+pagedown")
        await pilot.press("f12")  # closes the minion's session only
        assert len(screen.sessions) == 1 and second_session.closed
        await asyncio.wait_for(process.wait_closed(), 5)
        await pilot.press("f12")  # the last one: back to where we came from
        await pilot.pause()
        assert not isinstance(app.screen, TerminalScreen)


async def test_an_unknown_node_is_one_line_not_a_crash(engine: Engine) -> None:
    app = ShellApp(engine, "no-such-node")
    async with app.run_test(size=(100, 30)) as pilot:
        view = current_view(app)
        text = await wait_for(pilot, view, "cannot open a shell on no-such-node")
        assert "Traceback" not in text


def test_keys_translate_like_xterm() -> None:
    assert key_to_bytes("up", None) == b"\x1b[A"
    assert key_to_bytes("up", None, app_cursor=True) == b"\x1bOA"
    assert key_to_bytes("ctrl+c", "\x03") == b"\x03"
    assert key_to_bytes("ctrl+d", None) == b"\x04"
    assert key_to_bytes("enter", "\r") == b"\r"
    assert key_to_bytes("backspace", "\x7f") == b"\x7f"
    assert key_to_bytes("tab", "\t") == b"\t"
    assert key_to_bytes("escape", "\x1b") == b"\x1b"
    assert key_to_bytes("ctrl+right", None) == b"\x1b[1;5C"
    assert key_to_bytes("alt+b", None) == b"\x1bb"
    assert key_to_bytes("f5", None) == b"\x1b[15~"
    assert key_to_bytes("é", "é") == "é".encode()
    assert key_to_bytes("shift+f99", None) is None
