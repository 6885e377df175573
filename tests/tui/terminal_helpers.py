"""What the embedded-terminal tests share: an app holding one TerminalScreen, and an
Engine with a cluster up on a fresh sandbox."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from textual.app import App

from workbench.engine.facade import Engine
from workbench.events import Bus
from workbench.profile import load_profile
from workbench.tui.screens.terminal import TerminalScreen


class ShellApp(App[None]):
    def __init__(self, engine: Engine, node: str) -> None:
        super().__init__()
        self.engine = engine
        self.node = node

    def on_mount(self) -> None:
        self.push_screen(TerminalScreen(self.engine, self.node))


@asynccontextmanager
async def cluster_engine(make_sandbox: Callable[..., Any], minions: int) -> AsyncIterator[Engine]:
    box = make_sandbox(minions=minions)
    engine = Engine(load_profile(box.profile_path, environ={}), bus=Bus())
    await engine.up()
    try:
        yield engine
    finally:
        await engine.close()
