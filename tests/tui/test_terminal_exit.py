"""A node shell's tab closes itself when the shell exits, and the last one returns to the
workbench; a shell that failed keeps its tab with the reason (real sandbox node)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.app import App

from tests.tui.terminal_helpers import cluster_engine
from workbench.engine.facade import Engine
from workbench.tui.screens.terminal import TerminalScreen

from .test_terminal import current_view, type_line, wait_for


class TwoScreens(App[None]):
    """A main screen under the terminal screen, as in the workbench."""

    def __init__(self, engine: Engine, node: str) -> None:
        super().__init__()
        self.engine, self.node = engine, node

    def on_mount(self) -> None:
        self.push_screen(TerminalScreen(self.engine, self.node))


@pytest.fixture
async def engine(make_sandbox: Callable[..., Any]) -> Any:
    async with cluster_engine(make_sandbox, minions=0) as eng:
        yield eng


async def test_exit_closes_the_tab_and_the_last_returns_and_a_failure_stays(engine: Engine) -> None:
    master = engine.profile.master_name
    app = TwoScreens(engine, master)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        assert isinstance(screen, TerminalScreen)
        first = current_view(app)
        await wait_for(pilot, first, "$")
        await screen.open_session(master)
        second = current_view(app)
        await wait_for(pilot, second, "$")
        await type_line(pilot, second, "exit 3")  # a failure: the tab stays and says why
        await wait_for(pilot, second, "[the shell exited with status 3; F12 closes this tab]")
        assert len(screen.sessions) == 2 and screen.current is not None and screen.current.closed
        await pilot.press("f12")
        await pilot.pause()
        assert len(screen.sessions) == 1
        await type_line(pilot, current_view(app), "exit")  # the last one, fine: back to the workbench
        loop_deadline = 100
        while app.screen is screen and loop_deadline:
            await pilot.pause(0.05)
            loop_deadline -= 1
        assert app.screen is not screen and not screen.sessions
