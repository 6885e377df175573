"""Full-screen programs in the embedded terminal, on a real sandbox node.

`vi` used to end the session ("select_graphic_rendition() got an unexpected keyword
argument 'private'"); `vi` and `less` must leave the shell's screen as it was (the
alternate screen), `top` must leave a working session, and the escape sequences pyte has no grammar for must neither
kill the session nor leak onto the screen.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from typing import Any

import pytest
from textual.app import App

from tests.tui.terminal_helpers import ShellApp, cluster_engine
from workbench.engine.facade import Engine
from workbench.tui.screens.terminal import TerminalScreen
from workbench.tui.terminal import TerminalView


@pytest.fixture
async def engine(make_sandbox: Callable[..., Any]) -> Any:
    async with cluster_engine(make_sandbox, minions=0) as eng:
        yield eng


async def until(pilot: Any, view: TerminalView, check: Callable[[str], bool], what: str,
                timeout: float = 15.0) -> str:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check(view.text()):
        if loop.time() > deadline:
            raise AssertionError(f"{what} never happened; screen:\n{view.text()}")
        await pilot.pause(0.02)
    return view.text()


def at_prompt(text: str) -> bool:
    """The shell waits for a command: its last line is a prompt ("...#" or "...$")."""
    return text.rstrip().endswith(("#", "$"))


async def shell_ready(app: App[None], pilot: Any) -> tuple[TerminalScreen, TerminalView]:
    screen = app.screen
    assert isinstance(screen, TerminalScreen)
    session = screen.current
    assert session is not None
    await until(pilot, session.view, at_prompt, "the prompt")
    return screen, session.view


async def mark_screen(pilot: Any, view: TerminalView, word: str) -> str:
    """Print a marker (computed by the shell, so the typed command never matches it)."""
    view.send(f"echo {word}-$((6*7))\r".encode())
    return await until(pilot, view, lambda t: f"\n{word}-42" in t, f"{word}-42")


async def leave_and_check(pilot: Any, screen: TerminalScreen, view: TerminalView,
                          before: str, inside: str) -> None:
    """The shell's screen is back as it was, and the session still answers."""
    text = await until(pilot, view, lambda t: inside not in t and "main-42" in t,
                       "the shell's screen coming back")
    assert not view.screen_buffer.in_alternate_screen
    kept = before.splitlines()
    kept = kept[: kept.index("main-42") + 1]  # everything up to the marker, as it was
    assert text.splitlines()[: len(kept)] == kept
    view.send(b"echo alive-$((40+2))\r")
    await until(pilot, view, lambda t: "\nalive-42" in t, "the shell answering afterwards")
    assert screen.current is not None and not screen.current.closed
    assert "connection lost" not in view.text()


async def test_sequences_pyte_cannot_parse_neither_kill_nor_leak(engine: Engine) -> None:
    app = ShellApp(engine, engine.profile.master_name)
    async with app.run_test(size=(100, 30)) as pilot:
        screen, view = await shell_ready(app, pilot)
        before = await mark_screen(pilot, view, "main")
        # xterm modifyOtherKeys (CSI > 4;2 m) and its query (CSI ? 4 m), a private SGR-like
        # CSI ? ... m, too many parameters, DECSTR (CSI ! p), an XTGETTCAP DCS, colon SGR,
        # a secondary DA (CSI > c): all inside the alternate screen, until a line is read.
        view.send(b"printf '\\033[?1049h\\033[>4;2m\\033[?4m\\033[?1;2m\\033[2J\\033[H"
                  b"\\033[1;2;3;4;5A\\033[!p\\033P+q544e\\033\\\\\\033[4:3m\\033[>cALT-%s"
                  b"\\033[0m' $((2*21)); read line; printf '\\033[?1049l'\r")
        text = await until(pilot, view, lambda t: "ALT-42" in t, "the alternate screen")
        assert view.screen_buffer.in_alternate_screen
        assert "main-42" not in text  # a blank screen, not the shell's
        assert text.lstrip().startswith("ALT-42"), text  # no DCS payload, no stray "p"
        cell = view.screen_buffer.buffer[0][0]
        assert not cell.underscore, "CSI > 4;2 m was read as SGR 4 (underline)"
        view.send(b"\r")
        await leave_and_check(pilot, screen, view, before, "ALT-42")


@pytest.mark.skipif(shutil.which("vi") is None, reason="no vi on this machine")
async def test_vi_edits_a_file_and_restores_the_screen(engine: Engine) -> None:
    app = ShellApp(engine, engine.profile.master_name)
    async with app.run_test(size=(100, 30)) as pilot:
        screen, view = await shell_ready(app, pilot)
        before = await mark_screen(pilot, view, "main")
        view.send(b"vi notes.txt\r")
        await until(pilot, view, lambda t: "notes.txt" in t.splitlines()[-1] and "main-42" not in t,
                    "vi's screen")
        assert view.screen_buffer.in_alternate_screen
        for key in ["i", "h", "i", "escape"]:
            await pilot.press(key)  # the real key path
        view.send(b":wq\r")
        await leave_and_check(pilot, screen, view, before, "notes.txt\" [New")
        view.send(b"cat notes.txt\r")
        await until(pilot, view, lambda t: "\nhi\n" in t, "the file vi wrote")


@pytest.mark.skipif(shutil.which("top") is None, reason="no top on this machine")
async def test_top_runs_and_the_session_survives_it(engine: Engine) -> None:
    """procps top draws on the main screen (xterm's terminfo or not, it never sends
    DECSET 1049), so what it leaves is what a real xterm shows too: the session goes on."""
    app = ShellApp(engine, engine.profile.master_name)
    async with app.run_test(size=(100, 30)) as pilot:
        screen, view = await shell_ready(app, pilot)
        await mark_screen(pilot, view, "main")
        view.send(b"top -d 0.2\r")
        await until(pilot, view, lambda t: "load average" in t and "PID" in t, "top's screen")
        await pilot.press("q")
        await until(pilot, view, at_prompt, "the prompt after top")
        view.send(b"clear; echo alive-$((40+2))\r")
        await until(pilot, view, lambda t: "alive-42" in t.splitlines() and "load average" not in t,
                    "the shell answering after top")
        assert screen.current is not None and not screen.current.closed
        assert "connection lost" not in view.text()


@pytest.mark.skipif(shutil.which("less") is None, reason="no less on this machine")
async def test_less_pages_and_restores_the_screen(engine: Engine) -> None:
    app = ShellApp(engine, engine.profile.master_name)
    async with app.run_test(size=(100, 30)) as pilot:
        screen, view = await shell_ready(app, pilot)
        before = await mark_screen(pilot, view, "main")
        view.send(b"seq 1000 2000 | less\r")
        await until(pilot, view, lambda t: t.startswith("1000\n1001") and "main-42" not in t, "less")
        await pilot.press("space")
        await until(pilot, view, lambda t: "1030" in t and "1000\n" not in t, "the next page")
        await pilot.press("q")
        await leave_and_check(pilot, screen, view, before, "1030")
