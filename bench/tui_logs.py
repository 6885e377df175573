"""Benchmark: the logs pane under 50,000 lines/s, key-to-frame latency and memory.

The app runs for real in a pseudo-terminal (Textual's Linux driver, its input thread,
its renderer) in a child process. Inside it a feeder publishes LogLine events on the
Bus at the target rate, the same path node output takes (bus -> pump, batched every
25 ms -> ``Log.write_lines``). The parent writes key bytes to the pty the way a person
types (so the child's input thread parses them) and times until the frame showing the
result arrives: ``F`` toggles the logs pane between "follow" and "paused", and the
new word can only appear after the key was handled and a frame rendered.

    .venv/bin/python bench/tui_logs.py [--rate 50000] [--seconds 10]

Ends with one JSON line: {"lines_per_s", "p50_ms", "p99_ms", "peak_rss_mb"}.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import json
import os
import resource
import select
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

COLS, ROWS = 120, 40
REPO = Path(__file__).resolve().parents[1]


# -- child: the app with a feeder ------------------------------------------------------
class BenchEngine:
    """Just enough of the Engine facade to show the app; pipelines are not exercised."""

    def __init__(self, state_dir: Path) -> None:
        from workbench.events import Bus
        from workbench.profile import Profile
        from workbench.state import StateDir

        self.profile = Profile(sandbox=True)
        self.bus = Bus()
        self.state = StateDir(state_dir).ensure()
        self.running: str | None = None

    async def start(self) -> None:
        pass

    def cancel(self) -> None:
        pass


def child(rate: int, seconds: float, result_path: Path) -> None:
    sys.path.insert(0, str(REPO))
    from workbench.events import LogLine
    from workbench.tui.app import WorkbenchApp
    from workbench.tui.panes.logs import LogsPane

    engine = BenchEngine(Path(tempfile.mkdtemp(prefix="wb-bench-")))
    stats: dict[str, float] = {"published": 0, "fed_seconds": 0.0}
    nodes = [f"kubernetes-minion-{i}" for i in range(1, 9)] + ["kubernetes-master"]
    sources = ["salt", "push", "kubelet", "build"]

    async def feed() -> None:
        tick = 0.01
        per_tick = max(1, int(rate * tick))
        publish = engine.bus.publish
        start = time.monotonic()
        n = 0
        next_at = start
        while time.monotonic() - start < seconds:
            for _ in range(per_tick):
                publish(LogLine(sources[n % 4], nodes[n % 9],
                                f"[{n:09d}] state.apply: file.managed /srv/kubernetes/x{n % 97}.yaml Result: True"))
                n += 1
            next_at += tick
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        stats["published"] = n
        stats["fed_seconds"] = time.monotonic() - start
        logs = app.screen.query_one(LogsPane)
        stats["received"] = logs.received
        stats["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        result_path.write_text(json.dumps(stats))

    class BenchApp(WorkbenchApp):
        def on_ready(self) -> None:  # after the first frame
            self._feeder = asyncio.get_running_loop().create_task(feed())

    app = BenchApp(engine)
    app.run()


# -- parent: keys in, frames out -------------------------------------------------------
class PtyWatcher(threading.Thread):
    """Reads the child's output; reports when a word appears after it was armed."""

    def __init__(self, fd: int) -> None:
        super().__init__(daemon=True)
        self.fd = fd
        self.lock = threading.Lock()
        self.word: str | None = None
        self.armed_at = 0.0
        self.found = threading.Event()
        self.latency = 0.0
        self.tail = ""
        self.seen_text = ""  # the first frames, to know the app is up
        self.closed = False

    def arm(self, word: str) -> None:
        with self.lock:
            self.word, self.tail = word, ""
            self.found.clear()
            self.armed_at = time.monotonic()

    def run(self) -> None:
        while True:
            try:
                ready, _, _ = select.select([self.fd], [], [], 0.5)
                if not ready:
                    continue
                chunk = os.read(self.fd, 1 << 16)
            except OSError:
                break
            if not chunk:
                break
            now = time.monotonic()
            text = chunk.decode("utf-8", "replace")
            with self.lock:
                if len(self.seen_text) < 200_000:
                    self.seen_text += text
                if self.word is not None:
                    data = self.tail + text
                    if self.word in data:
                        self.latency = now - self.armed_at
                        self.word = None
                        self.found.set()
                    self.tail = data[-64:]
        self.closed = True


def parent(rate: int, seconds: float) -> dict[str, float]:
    result_path = Path(tempfile.mkdtemp(prefix="wb-bench-")) / "result.json"
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(COLS), "LINES": str(ROWS)}
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", "--rate", str(rate), "--seconds", str(seconds),
         "--result", str(result_path)],
        stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True, close_fds=True,
    )
    os.close(slave)
    watcher = PtyWatcher(master)
    watcher.start()
    latencies: list[float] = []
    try:
        deadline = time.monotonic() + 30
        while "Logs" not in watcher.seen_text or "follow" not in watcher.seen_text:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"the app did not show its panes: {watcher.seen_text[-500:]!r}")
            time.sleep(0.05)
        started = time.monotonic()
        word = "paused"
        while time.monotonic() - started < seconds and not result_path.exists():
            watcher.arm(word)
            os.write(master, b"F")
            if not watcher.found.wait(5.0):
                raise SystemExit(f"no frame showed {word!r} within 5 s of the key")
            latencies.append(watcher.latency * 1000)
            word = "follow" if word == "paused" else "paused"
            time.sleep(0.1)  # a person's pace, and room for the log to flow between keys
        deadline = time.monotonic() + seconds + 30
        while not result_path.exists():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("the child did not report its figures")
            time.sleep(0.05)
        os.write(master, b"q")
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    stats = json.loads(result_path.read_text())
    latencies.sort()
    p99_index = min(len(latencies) - 1, max(0, round(0.99 * len(latencies)) - 1))
    return {
        "lines_per_s": round(stats["received"] / stats["fed_seconds"]),
        "p50_ms": round(statistics.median(latencies), 1),
        "p99_ms": round(latencies[p99_index], 1),
        "peak_rss_mb": round(stats["peak_rss_mb"], 1),
        "samples": len(latencies),
        "published_per_s": round(stats["published"] / stats["fed_seconds"]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=50_000, help="log lines per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.rate, args.seconds, args.result)
        return 0
    figures = parent(args.rate, args.seconds)
    print(f"samples={figures.pop('samples')} published_per_s={figures.pop('published_per_s')}",
          file=sys.stderr)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
