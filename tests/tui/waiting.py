"""Poll the app with a deadline (no fixed sleeps): the pump delivers every ~25 ms."""

from __future__ import annotations

import time
from collections.abc import Callable

from textual.pilot import Pilot


async def until(pilot: Pilot, condition: Callable[[], object], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.01)
    await pilot.pause()


async def settle(pilot: Pilot) -> None:
    """Workers done and their messages handled."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
