"""Every process a node's sessions start, so a dead node leaves none behind.

Sessions run in their own process group and carry SANDBOX_NODE=<server id> in their
environment; killing a node kills the groups, then any stray process (a daemon that
left its group) still carrying the marker.
"""

from __future__ import annotations

import contextlib
import os
import signal
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

    def kill_all(self) -> None:
        for pgid in list(self._groups):
            self.kill_group(pgid)
        self._groups.clear()
        for pid in self.strays():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

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
