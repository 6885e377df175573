"""Small asyncio helpers the engine's long-lived loops share."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

log = logging.getLogger(__name__)


async def stop_within(tasks: Sequence[asyncio.Task[object]], seconds: float) -> None:
    """Wait up to ``seconds`` for cancelled ``tasks`` to end; one that does not is logged and
    left behind, so closing the engine (quitting the app) never hangs on it."""
    if not tasks:
        return
    done, pending = await asyncio.wait(tasks, timeout=seconds)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            log.debug("task %s ended with %r while stopping", task.get_name(), task.exception())
    for task in pending:
        log.warning("task %s did not stop within %g s of its cancel; left behind", task.get_name(), seconds)
