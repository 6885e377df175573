"""Every process a node's sessions start, so a dead node leaves none behind.

Sessions run in their own process group and carry SANDBOX_NODE=<server id> in their
environment; killing a node kills the groups, then any stray process (a daemon that
left its group) still carrying the marker.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path

MARKER = "SANDBOX_NODE"


class ProcessTracker:
    def __init__(self, server_id: str) -> None:
        self.server_id = server_id
        self._groups: set[int] = set()

    def add(self, pid: int) -> None:
        self._groups.add(pid)

    def discard(self, pid: int) -> None:
        self._groups.discard(pid)

    def kill_group(self, pgid: int, sig: int = signal.SIGKILL) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)

    async def kill_all(self, deadline_s: float = 10.0) -> list[int]:
        """SIGKILL the groups and the strays, and wait until none is alive (a signalled
        process dies when the kernel next runs it; a session still spawning adds one late).
        Returns the pids still alive at the deadline (none, unless stuck in the kernel)."""
        for pgid in list(self._groups):
            self.kill_group(pgid)
        self._groups.clear()
        deadline = time.monotonic() + deadline_s
        while True:
            alive = self.strays()
            if not alive or time.monotonic() > deadline:
                return alive
            for pid in alive:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            await asyncio.sleep(0.02)

    def strays(self) -> list[int]:
        """Live processes carrying this node's marker."""
        needle = f"{MARKER}={self.server_id}".encode()
        found: list[int] = []
        me = os.getpid()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == me:
                continue
            try:
                environ = (entry / "environ").read_bytes()
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if needle in environ.split(b"\0") and ") Z " not in stat:
                found.append(int(entry.name))
        return found
