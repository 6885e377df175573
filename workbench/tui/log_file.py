"""The state dir's log file: every line the logs pane receives, size-capped.

Lines arrive redacted: the bus redacts every ``LogLine`` before delivery.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from workbench.tui.log_query import LogRecord

MAX_BYTES = 32 * 1024 * 1024


class LogFile:
    """Appends batches; rotates to ``<name>.1`` past ``max_bytes`` so disk use stays bounded."""

    def __init__(self, path: Path, max_bytes: int = MAX_BYTES) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._file: TextIO | None = None
        self._size = 0
        self.failed: str | None = None
        self._stamp_second = -1
        self._stamp_text = ""

    def _open(self) -> TextIO:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        handle = os.fdopen(fd, "a", encoding="utf-8", errors="replace")
        self._size = handle.tell()
        return handle

    def write(self, records: Iterable[LogRecord]) -> None:
        if self.failed:
            return
        try:
            if self._file is None:
                self._file = self._open()
            chunk = "".join(
                f"{self._stamp(r.at)} {r.node} {r.source}{' !' if r.stderr else ''} {r.text}\n"
                for r in records
            )
            self._file.write(chunk)
            self._file.flush()
            self._size += len(chunk)
            if self._size > self.max_bytes:
                self._rotate()
        except OSError as exc:
            self.failed = f"{self.path}: cannot write the log file ({exc.strerror})"

    def _stamp(self, at: float) -> str:
        second = int(at)
        if second != self._stamp_second:
            self._stamp_second = second
            self._stamp_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(second))
        return self._stamp_text

    def _rotate(self) -> None:
        assert self._file is not None
        self._file.close()
        os.replace(self.path, self.path.with_name(self.path.name + ".1"))
        self._file = self._open()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
