"""A recording stand-in for the Engine facade: the TUI is under test here, not the engine.

It has a real Bus and a real StateDir; each call is recorded and announced on the bus
the way the engine does (PipelineStarted / PipelineFinished), so the panes see real events.
It is an ``EngineAPI`` (mypy checks that at the bottom; ``test_engine_double.py`` compares
its signatures with the real Engine's).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from workbench.errors import Cancelled, PipelineBusy, PipelineFailed
from workbench.events import Bus, PipelineFinished, PipelineStarted, StageStarted
from workbench.models import Alert
from workbench.profile import ClusterSection, Profile
from workbench.state import StateDir
from workbench.tui.engine_api import EngineAPI


class RecordingEngine:
    def __init__(self, state_dir: Path, *, sandbox: bool = True, keymap: dict[str, str] | None = None,
                 theme: str = "workbench-dark") -> None:
        from workbench.profile import UISection

        self.profile = Profile(
            sandbox=sandbox, cluster=ClusterSection(name="kubernetes"), keymap=keymap or {},
            ui=UISection(theme=theme),
        )
        self.bus = Bus()
        self.state = StateDir(state_dir).ensure()
        self.running: str | None = None
        self.calls: list[tuple[Any, ...]] = []
        self.hold: asyncio.Event | None = None  # set to make pipelines wait until released
        self.fix_result = "fixed"
        self.stage: str | None = None  # announce this stage when a pipeline starts
        self.failing_fixes: set[str] = set()  # subjects whose fix fails

    async def start(self) -> None:
        self.calls.append(("start",))

    async def _pipeline(self, name: str, *args: Any) -> None:
        if self.running:
            raise PipelineBusy(f"{self.running} is running")
        self.calls.append((name, *args))
        self.running = name
        self.bus.publish(PipelineStarted(name, (self.stage,) if self.stage else ()))
        if self.stage:
            self.bus.publish(StageStarted(name, self.stage))
        try:
            if self.hold is not None:
                await self.hold.wait()
            if self.running is None:
                raise Cancelled(f"{name} cancelled")
            self.bus.publish(PipelineFinished(name, ok=True))
        except Cancelled:
            self.bus.publish(PipelineFinished(name, ok=False, error="cancelled", failed_stage=self.stage,
                                              cancelled=True))
            raise
        finally:
            self.running = None

    async def build(self) -> None:
        await self._pipeline("build")

    async def up(self, minions: int | None = None) -> None:
        await self._pipeline("up", minions)

    async def push(self, direct: bool = False) -> None:
        await self._pipeline("push", direct)

    async def salt(self, failed_only: bool = False) -> None:
        await self._pipeline("salt", failed_only)

    async def redeploy(self) -> None:
        await self._pipeline("redeploy")

    async def down(self) -> None:
        await self._pipeline("down")

    async def refresh(self) -> None:
        self.calls.append(("refresh",))

    def cancel(self) -> None:
        self.calls.append(("cancel",))
        self.running = None
        if self.hold is not None:
            self.hold.set()

    async def fix(self, alert: Alert, fix_name: str | None = None) -> str:
        self.calls.append(("fix", alert.kind, alert.subject, fix_name))
        if alert.subject in self.failing_fixes:
            raise PipelineFailed("fix", f"{alert.kind}:fix", "the node did not answer", (alert.subject,))
        return f"{self.fix_result}: {alert.subject}"

    async def open_shell(self, node_name: str, cols: int, rows: int) -> Any:
        raise NotImplementedError

    def node_names(self) -> list[str]:
        return [self.profile.master_name]

    def system_ssh_argv(self, node_name: str) -> list[str]:
        self.calls.append(("system_ssh_argv", node_name))
        return ["true"]

    async def close(self) -> None:
        self.calls.append(("close",))


def _double_conforms(engine: RecordingEngine) -> EngineAPI:
    return engine  # mypy: the double offers everything the TUI calls
