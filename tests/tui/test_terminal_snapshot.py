"""Snapshot of the embedded terminal (120x40): colours, bold, reverse, cursor, tabs.

The remote side is a fixed byte stream (the widget under test is the renderer), so the
picture is deterministic; the live path is covered against sandbox nodes in
test_terminal.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

from textual.app import App
from textual.widgets import ContentSwitcher

from workbench.tui.screens.terminal import TerminalScreen

SCREEN_BYTES = (
    b"\x1b]0;an escape that must not reach the real terminal\x07\x1b[2J\x1b[H"
    b"\x1b[1;32mroot@kubernetes-master\x1b[0m:\x1b[1;34m~\x1b[0m# ls --color /srv\r\n"
    b"\x1b[1;34mkube-release\x1b[0m  \x1b[1;34mkubernetes\x1b[0m  \x1b[1;34msalt\x1b[0m  "
    b"\x1b[01;31mkubernetes-server-linux-amd64.tar.gz\x1b[0m\r\n"
    b"\x1b[1;32mroot@kubernetes-master\x1b[0m:\x1b[1;34m~\x1b[0m# systemctl is-active kubelet\r\n"
    b"\x1b[7m active \x1b[27m \x1b[38;5;208m256-colour\x1b[0m \x1b[38;2;0;200;120mtruecolour\x1b[0m\r\n"
    b"\x1b[4munderlined\x1b[0m \x1b[3mitalic\x1b[0m \x1b[9mstruck\x1b[0m \xff\xfe invalid utf-8\r\n"
    b"\x1b[1;32mroot@kubernetes-master\x1b[0m:\x1b[1;34m~\x1b[0m# "
)


class CannedShell:
    """A PTY process that prints a fixed screen, then waits like an idle shell."""

    def __init__(self) -> None:
        self.stdin = self
        self.stdout = self
        self._sent = False
        self._closed = asyncio.Event()

    def write(self, data: bytes) -> None:
        pass

    async def read(self, n: int) -> bytes:
        if not self._sent:
            self._sent = True
            return SCREEN_BYTES
        await self._closed.wait()
        return b""

    def change_terminal_size(self, cols: int, rows: int) -> None:
        pass

    def close(self) -> None:
        self._closed.set()


class CannedEngine:
    async def open_shell(self, node_name: str, cols: int, rows: int) -> Any:
        return CannedShell()

    def node_names(self) -> list[str]:
        return ["kubernetes-master", "kubernetes-minion-1"]


class TerminalApp(App[None]):
    def on_mount(self) -> None:
        self.push_screen(TerminalScreen(CannedEngine(), "kubernetes-master"))


def test_embedded_terminal_snapshot(snap_compare: Any) -> None:
    async def settle(pilot: Any) -> None:
        screen = pilot.app.screen
        while screen.current is None or "invalid utf-8" not in screen.current.view.text():
            await pilot.pause(0.02)
        first = screen.current
        await screen.open_session("kubernetes-minion-1")
        while "invalid utf-8" not in screen.current.view.text():
            await pilot.pause(0.02)
        await pilot.press("ctrl+pageup")
        # the switch is a message away from the key, and the first view must be laid out
        # again before it paints: wait for both (under load a bare pause() was too early)
        switcher = screen.query_one(ContentSwitcher)
        while switcher.current != first.view.id or not first.view.region.area:
            await pilot.pause(0.02)
        await pilot.wait_for_scheduled_animations()  # the tab underline slides
        await pilot.pause()

    assert snap_compare(TerminalApp(), terminal_size=(120, 40), run_before=settle)


async def test_opening_a_tab_never_resizes_the_ones_already_open() -> None:
    """A transient resize of a hidden tab is not harmless: shrinking a terminal deletes lines
    from its top (as xterm does), so the first tab came back blank after a second opened.
    Each Resized message is the view telling its PTY about a new size."""
    resized: list[tuple[str | None, int, int]] = []

    class Recording(TerminalScreen):
        def on_terminal_view_resized(self, event: Any) -> None:
            resized.append((event.view.id, event.cols, event.rows))
            super().on_terminal_view_resized(event)

    class App2(App[None]):
        def on_mount(self) -> None:
            self.push_screen(Recording(CannedEngine(), "kubernetes-master"))

    app = App2()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        while screen.current is None or "invalid utf-8" not in screen.current.view.text():
            await pilot.pause(0.02)
        first = screen.current
        sized = [r for r in resized if r[0] == first.view.id]
        for _ in range(3):
            await screen.open_session("kubernetes-minion-1")
            while "invalid utf-8" not in screen.current.view.text():
                await pilot.pause(0.02)
        await pilot.pause()
        assert [r for r in resized if r[0] == first.view.id] == sized
        assert "invalid utf-8" in first.view.text()
