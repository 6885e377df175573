"""The app can never hang at exit once its terminal is gone.

Proves the watchdog (a signal while the main thread is stuck in a full driver queue
still ends the process, after stopping the sandbox) and that the driver's output file
survives a dead terminal so Textual's writer thread keeps draining its queue.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from textual.drivers._writer_thread import MAX_QUEUED_WRITES, WriterThread

from workbench.cli.tui import ExitWatchdog, TerminalOut


def _poll(predicate, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_watchdog_cleans_up_then_exits_with_128_plus_signum() -> None:
    cleaned, exits = threading.Event(), []
    dog = ExitWatchdog(cleaned.set, grace=0.05, exit=exits.append).start()
    dog.arm(signal.SIGHUP)
    _poll(lambda: bool(exits), "the watchdog to exit")
    assert cleaned.is_set()
    assert exits == [128 + signal.SIGHUP]


def test_watchdog_stands_down_on_a_normal_exit() -> None:
    exits: list[int] = []
    dog = ExitWatchdog(lambda: None, grace=0.05, exit=exits.append).start()
    dog.arm(signal.SIGTERM)
    dog.disarm()
    dog._thread.join(5)
    assert not dog._thread.is_alive() and exits == []


def test_watchdog_exits_even_when_cleanup_hangs() -> None:
    exits: list[int] = []
    dog = ExitWatchdog(threading.Event().wait, grace=0.05, exit=exits.append).start()
    dog.arm(signal.SIGTERM)
    _poll(lambda: bool(exits), "the watchdog to give up on cleanup")
    assert exits == [128 + signal.SIGTERM]


HUNG_APP = textwrap.dedent("""
    import signal, sys
    from queue import Queue
    from pathlib import Path
    from workbench.cli.tui import ExitWatchdog
    marker = Path(sys.argv[1])
    dog = ExitWatchdog(lambda: marker.write_text("sandbox stopped"), grace=0.2).start()
    signal.signal(signal.SIGHUP, lambda signum, _frame: dog.arm(signum))
    full = Queue(1)
    full.put("frame")
    print("blocked", flush=True)
    full.put(None)  # the hang: a writer queue with no reader left
""")


def test_a_process_blocked_in_a_full_driver_queue_still_exits_on_sighup(tmp_path: Path) -> None:
    marker = tmp_path / "cleanup"
    proc = subprocess.Popen([sys.executable, "-c", HUNG_APP, str(marker)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "blocked"
        proc.send_signal(signal.SIGHUP)
        _poll(lambda: proc.poll() is not None, "the hung process to exit")
        assert proc.returncode == 128 + signal.SIGHUP
        assert marker.read_text() == "sandbox stopped"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()


def test_writer_thread_keeps_draining_after_the_terminal_is_gone() -> None:
    read_fd, write_fd = os.pipe()
    os.close(read_fd)  # a terminal that is gone: every write fails (EPIPE, like EIO)
    out = TerminalOut(os.fdopen(write_fd, "w", buffering=1))
    writer = WriterThread(out)  # type: ignore[arg-type]
    writer.start()
    for _ in range(MAX_QUEUED_WRITES * 4):  # without TerminalOut the thread dies, put blocks
        writer.write("x" * 100 + "\n")
    stopper = threading.Thread(target=writer.stop, daemon=True)
    stopper.start()
    stopper.join(10)
    assert not stopper.is_alive(), "WriterThread.stop blocked"
    assert out.gone
