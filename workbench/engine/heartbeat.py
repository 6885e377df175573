"""Long stages are never silent: once a stage has run QUIET_S, a line every EVERY_S says
what it is waiting for (the nodes still at work, the latest progress) and for how long."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from workbench.events import Bus, Event, LogLine, StageFinished, StageProgress, StageStarted

QUIET_S = 5.0
EVERY_S = 10.0


class Heartbeat:
    """Follows one stage's events on the bus; ``run`` logs while the stage lasts."""

    def __init__(self, bus: Bus, pipeline: str, stage: str, *, quiet: float = QUIET_S,
                 every: float = EVERY_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.bus, self.pipeline, self.stage = bus, pipeline, stage
        self.quiet, self.every, self.clock = quiet, every, clock
        self.started = clock()
        self.pending: dict[str, str] = {}  # node -> its step ("boot", "salt", ...)
        self.detail = ""
        self._remove = bus.add_listener(self._on_event)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, StageStarted) and event.node:
            self.pending[event.node] = event.stage
        elif isinstance(event, StageFinished) and event.node:
            self.pending.pop(event.node, None)
        elif isinstance(event, StageProgress) and event.detail:
            self.detail = f"{event.node}: {event.detail}" if event.node else event.detail

    def text(self) -> str:
        elapsed = self.clock() - self.started
        if self.pending:
            nodes = sorted(self.pending)
            shown = ", ".join(nodes[:4]) + (f" and {len(nodes) - 4} more" if len(nodes) > 4 else "")
            waiting = f"waiting for {shown}"
        else:
            waiting = "still running"
        detail = f" ({self.detail})" if self.detail else ""
        return f"{self.pipeline} {self.stage}: {elapsed:.0f} s so far, {waiting}{detail}"

    async def run(self) -> None:
        await asyncio.sleep(self.quiet)
        while True:
            self.bus.publish(LogLine("pipeline", None, self.text(), "info"))
            await asyncio.sleep(self.every)

    def close(self) -> None:
        self._remove()
