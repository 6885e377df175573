"""The log path under load: what it keeps, what the GC sees, a disk that does not take data."""

from __future__ import annotations

import gc
import os
import threading
import time
from pathlib import Path

from rich.cells import cell_len

from workbench.events import LogLine
from workbench.tui.log_file import LogFile
from workbench.tui.log_query import LogIngest, LogRecord
from workbench.tui.panes.logs import LogsPane, LogView

from .scenes import MASTER, MINION_1
from .waiting import until


def test_ingest_tags_each_line_and_makes_only_unsafe_text_safe() -> None:
    ingest = LogIngest()
    lines = [LogLine("salt", MASTER, "plain text"), LogLine("push", None, "tab\there", "stderr"),
             LogLine("kubelet\x1b[31m", MINION_1, "a\u2028b \x1b]0;title\x07c")]
    rows, shown = ingest(lines)
    assert rows[0][:4] == (MASTER, "salt", False, "plain text")
    assert shown[0] == LogRecord._make(rows[0]).display()
    assert rows[1][:4] == ("-", "push", True, "tab here") and shown[1][29] == "!"
    assert "\x1b" not in rows[2][1] and rows[2][3] == "a\ufffdb c"
    assert ingest.nodes == {MASTER, "-", MINION_1} and "salt" in ingest.sources
    assert [len(s.splitlines()) for s in shown] == [1, 1, 1]  # one display line each


async def test_the_pane_keeps_rows_the_collector_does_not_track(make_app, engine) -> None:
    app = make_app(max_log_lines=500)
    async with app.run_test(size=(120, 40)) as pilot:
        for i in range(1_200):
            engine.bus.publish(LogLine("salt", MASTER, f"line {i}", at=1_700_000_000.0 + i))
        logs = app.screen.query_one(LogsPane)
        await until(pilot, lambda: logs.received == 1_200, "lines")
        gc.collect()
        assert len(logs.rows) == 500 and logs.rows[-1][3] == "line 1199"
        assert not any(gc.is_tracked(row) for row in logs.rows)
        assert logs.records[0] == LogRecord(MASTER, "salt", False, "line 700", 1_700_000_700.0)
        view = logs.query_one(LogView)
        assert view.line_count == 500 and view.lines[-1].endswith("line 1199")


async def test_the_view_measures_wide_and_ascii_lines_as_they_arrive(make_app) -> None:
    """Measured in place, not by a thread worker per batch: the width is right at once."""
    app = make_app()
    async with app.run_test(size=(120, 40)):
        logs = app.screen.query_one(LogsPane)
        view = logs.query_one(LogView)
        logs.add_lines([LogLine("salt", MASTER, "x" * 300)])
        assert view.virtual_size.width == len(view.lines[0]) == 330
        logs.add_lines([LogLine("salt", MASTER, "日本語のログ" * 60), LogLine("salt", MASTER, "y")])
        assert view.virtual_size.width == cell_len(view.lines[1]) == 30 + 720


def _fifo(tmp_path: Path) -> Path:
    path = tmp_path / "slow.log"
    os.mkfifo(path)
    return path


def test_the_log_file_never_makes_the_caller_wait_for_the_disk(tmp_path: Path) -> None:
    """A FIFO nobody reads is a disk that takes nothing: writes return at once, lines past
    max_pending are left out and counted, and everything else arrives once it drains."""
    path = _fifo(tmp_path)
    log = LogFile(path, max_pending=100)
    rows = [("n", "salt", False, f"line {i}", 1_700_000_000.0) for i in range(60)]
    started = time.monotonic()
    log.write(rows)
    log.write(rows)  # 120 > 100: left out
    log.write(rows[:30])
    assert time.monotonic() - started < 0.5
    assert not log.flush(timeout=0.2)  # the writer is stuck in open(): no reader yet
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(path.read_bytes()))
    reader.start()
    assert log.flush(timeout=10)
    log.close()
    reader.join(timeout=10)
    text = got[0].decode()
    assert text.count("line ") == 90 and "60 lines not written: the disk fell behind" in text
    assert text.splitlines()[0].endswith(" n salt line 0")


def test_the_log_file_reports_a_failure_and_stops(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    log = LogFile(blocker / "workbench.log")  # its directory is a file
    log.write([LogRecord("n", "salt", True, "x", 0.0)])
    log.flush()
    assert log.failed is not None and "cannot write the log file" in log.failed
    log.write([LogRecord("n", "salt", True, "y", 0.0)])
    log.close()
