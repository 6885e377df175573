"""The state dir's log file: every line the logs pane receives, size-capped.

Lines arrive redacted: the bus redacts every ``LogLine`` before delivery. Writing happens
on a thread of its own, never on the event loop: at 50,000 lines/s the formatting alone is
a few milliseconds a batch, and a disk that stalls (writeback throttling while a 1 GB
push lands) must not freeze the keys. If the disk falls further behind than
``max_pending`` lines, later lines are left out of the file and a line says how many.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TextIO

MAX_BYTES = 32 * 1024 * 1024
MAX_PENDING = 200_000  # lines waiting for the disk (~4 s at 50,000 lines/s)

Row = Sequence[object]  # (node, source, stderr, text, at): a log_query Row or LogRecord


class LogFile:
    """Appends batches; rotates to ``<name>.1`` past ``max_bytes`` so disk use stays bounded."""

    def __init__(self, path: Path, max_bytes: int = MAX_BYTES, max_pending: int = MAX_PENDING) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.max_pending = max_pending
        self._file: TextIO | None = None
        self._size = 0
        self.failed: str | None = None
        self._stamp_second = -1
        self._stamp_text = ""
        self._batches: deque[list[Row]] = deque()
        self._pending = 0  # lines queued, not yet written
        self._skipped = 0  # lines left out since the last marker
        self._busy = False  # the writer holds a batch it took from the queue
        self._closing = False
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    # -- the event loop's side: never waits for the disk --------------------------------
    def write(self, records: Iterable[Row]) -> None:
        batch = records if isinstance(records, list) else list(records)
        if self.failed or not batch:
            return
        with self._cond:
            if self._closing:
                return
            if self._pending + len(batch) > self.max_pending:
                self._skipped += len(batch)
                return
            self._batches.append(batch)
            self._pending += len(batch)
            self._cond.notify()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="workbench-log-file", daemon=True)
                self._thread.start()

    def flush(self, timeout: float = 10.0) -> bool:
        """Waits until every queued line is written (tests, shutdown); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._batches or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def close(self) -> None:
        """Writes what is queued, then closes the file; later writes are ignored."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=10)
        if self._file is not None and (thread is None or not thread.is_alive()):
            self._file.close()
            self._file = None

    # -- the writer thread ---------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._batches and not self._closing:
                    self._cond.wait()
                if not self._batches:  # closing, and everything is written
                    return
                batches = list(self._batches)
                self._batches.clear()
                skipped, self._skipped = self._skipped, 0
                self._busy = True
            try:
                if not self.failed:
                    self._write(batches, skipped)
            finally:
                with self._cond:
                    self._pending -= sum(map(len, batches))
                    self._busy = False
                    self._cond.notify_all()

    def _write(self, batches: list[list[Row]], skipped: int) -> None:
        try:
            if self._file is None:
                self._file = self._open()
            parts = [self._format(batch) for batch in batches]
            if skipped:
                stamp = self._stamp(time.time())
                parts.append(f"{stamp} - workbench ! … {skipped} lines not written: the disk fell behind\n")
            chunk = "".join(parts)
            self._file.write(chunk)
            self._file.flush()
            self._size += len(chunk)
            if self._size > self.max_bytes:
                self._rotate()
        except OSError as exc:
            self.failed = f"{self.path}: cannot write the log file ({exc.strerror})"

    def _format(self, batch: list[Row]) -> str:
        tags: dict[tuple[object, object, object], str] = {}
        out = []
        for node, source, stderr, text, at in batch:
            key = (node, source, stderr)
            tag = tags.get(key)
            if tag is None:
                tag = tags[key] = f" {node} {source}{' !' if stderr else ''} "
            out.append(f"{self._stamp(at)}{tag}{text}\n")  # type: ignore[arg-type]
        return "".join(out)

    def _open(self) -> TextIO:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._size = os.fstat(fd).st_size
        return os.fdopen(fd, "a", encoding="utf-8", errors="replace", buffering=1 << 20)

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


def read_tail(path: Path, count: int, max_bytes: int = 256 * 1024) -> list[tuple[str, str, bool, str, float]]:
    """The last ``count`` lines of a log file written by ``LogFile``, as rows (node, source,
    stderr, text, at): what the logs pane shows again after a relaunch. Unparsable lines
    are skipped; a missing or unreadable file gives none."""
    try:
        with open(path, "rb") as file:
            size = file.seek(0, os.SEEK_END)
            file.seek(max(0, size - max_bytes))
            data = file.read().decode("utf-8", "replace")
    except OSError:
        return []
    lines = data.splitlines()
    if len(data) >= max_bytes and lines:
        lines = lines[1:]  # the first may be cut
    rows = []
    for line in lines[-count:]:
        parts = line.split(" ", 3)
        if len(parts) < 3:
            continue
        stamp, node, source = parts[:3]
        rest = parts[3] if len(parts) == 4 else ""
        try:
            at = time.mktime(time.strptime(stamp, "%Y-%m-%dT%H:%M:%S"))
        except ValueError:
            continue
        stderr = rest.startswith("! ") or rest == "!"
        rows.append((node, source, stderr, rest[2:] if stderr else rest, at))
    return rows
