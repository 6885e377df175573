"""Benchmark: the logs pane under 50,000 lines/s, key-to-frame latency and memory.

The app runs for real in a pseudo-terminal (Textual's Linux driver, its input thread,
its renderer) in a child process. Inside it a feeder publishes LogLine events on the
Bus at the target rate, the same path node output takes (bus -> pump, batched every
25 ms -> ``Log.write_lines``). The parent writes key bytes to the pty the way a person
types (so the child's input thread parses them) and times until the frame showing the
result arrives: ``F`` toggles the logs pane between "follow" and "paused", and the
new word can only appear after the key was handled and a frame rendered.

    .venv/bin/python bench/tui_logs.py [--rate 50000] [--seconds 10] [--repeat 3]

Ends with one JSON line: {"lines_per_s", "p50_ms", "p99_ms", "peak_rss_mb"} (with
``--repeat``, the median of each and a ``spread`` of min/max p99, and the load average).
Stderr has the child's diagnostics per round: its main thread's CPU seconds per second,
garbage collector pauses (all, and full collections), how late a 5 ms timer fired (the
loop was busy that long) and resident memory when the feed starts and ends.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import gc
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


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child(rate: int, seconds: float, result_path: Path) -> None:
    sys.path.insert(0, str(REPO))
    from workbench.events import LogLine
    from workbench.tui.app import WorkbenchApp
    from workbench.tui.panes.logs import LogsPane
    from workbench.tui.screens.main import MainScreen

    engine = BenchEngine(Path(tempfile.mkdtemp(prefix="wb-bench-")))
    handled: list[float] = []  # when each F reached its action (CLOCK_MONOTONIC, as the parent's)
    toggle = MainScreen.action_toggle_follow

    def timed_toggle(screen: MainScreen) -> None:
        handled.append(time.monotonic())
        toggle(screen)

    MainScreen.action_toggle_follow = timed_toggle  # type: ignore[method-assign]
    stats: dict[str, float] = {"published": 0, "fed_seconds": 0.0}
    nodes = [f"kubernetes-minion-{i}" for i in range(1, 9)] + ["kubernetes-master"]
    sources = ["salt", "push", "kubelet", "build"]

    pauses: list[float] = []  # garbage collector pauses, seconds
    full_pauses: list[float] = []  # of them, the full (generation 2) collections
    gc_started = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gc_started[0] = time.perf_counter()
            return
        pauses.append(time.perf_counter() - gc_started[0])
        if info["generation"] == 2:
            full_pauses.append(pauses[-1])

    stalls: list[float] = []  # how late a 5 ms timer fired: the loop was busy that long

    async def watch_loop() -> None:
        while True:
            asked = time.perf_counter()
            await asyncio.sleep(0.005)
            stalls.append(time.perf_counter() - asked - 0.005)

    async def feed() -> None:
        gc.callbacks.append(on_gc)
        watcher = asyncio.get_running_loop().create_task(watch_loop())
        cpu_start = time.thread_time()
        process_start = time.process_time()
        stats["rss_start_mb"] = _rss_mb()
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
        stats["main_cpu_share"] = (time.thread_time() - cpu_start) / stats["fed_seconds"]
        stats["process_cpu_share"] = (time.process_time() - process_start) / stats["fed_seconds"]
        watcher.cancel()
        gc.callbacks.remove(on_gc)
        stats["gc_max_ms"] = max(pauses, default=0.0) * 1000
        stats["gc_total_ms"] = sum(pauses) * 1000
        stats["gc_full"] = len(full_pauses)
        stats["gc_full_max_ms"] = max(full_pauses, default=0.0) * 1000
        stats["gc_objects_k"] = len(gc.get_objects()) / 1000
        stalls.sort()
        stats["stall_p99_ms"] = stalls[int(0.99 * (len(stalls) - 1))] * 1000 if stalls else 0.0
        stats["stall_max_ms"] = max(stalls, default=0.0) * 1000
        stats["rss_end_mb"] = _rss_mb()
        stats["handled"] = handled  # type: ignore[assignment]
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
    sent: list[float] = []  # when each key was written
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
            sent.append(time.monotonic())
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
    # each key's latency split at its action: input thread and message queue, then frame
    to_action = [(h - k) * 1000 for k, h in zip(sent, stats["handled"], strict=False)]
    to_frame = [lat - a for lat, a in zip(latencies, to_action, strict=False)]
    for name, values in (("key_to_action", sorted(to_action)), ("action_to_frame", sorted(to_frame))):
        if values:
            stats[f"{name}_p50_ms"] = statistics.median(values)
            stats[f"{name}_max_ms"] = values[-1]
    latencies.sort()
    p99_index = min(len(latencies) - 1, max(0, round(0.99 * len(latencies)) - 1))
    return {
        "lines_per_s": round(stats["received"] / stats["fed_seconds"]),
        "p50_ms": round(statistics.median(latencies), 1),
        "p99_ms": round(latencies[p99_index], 1),
        "peak_rss_mb": round(stats["peak_rss_mb"], 1),
        "samples": len(latencies),
        "published_per_s": round(stats["published"] / stats["fed_seconds"]),
        "diagnostics": {k: round(stats[k], 2) for k in (
            "main_cpu_share", "process_cpu_share", "gc_max_ms", "gc_total_ms", "gc_full", "gc_full_max_ms", "gc_objects_k",
            "stall_p99_ms", "stall_max_ms", "rss_start_mb", "rss_end_mb", "key_to_action_p50_ms",
            "key_to_action_max_ms", "action_to_frame_p50_ms", "action_to_frame_max_ms") if k in stats},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=50_000, help="log lines per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=1, help="rounds; the summary gives medians")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.rate, args.seconds, args.result)
        return 0
    rounds = []
    for _ in range(max(1, args.repeat)):
        figures = parent(args.rate, args.seconds)
        print(f"samples={figures.pop('samples')} published_per_s={figures.pop('published_per_s')} "
              f"{json.dumps(figures.pop('diagnostics'))}", file=sys.stderr)
        if args.repeat > 1:
            print(json.dumps(figures), file=sys.stderr)
        rounds.append(figures)
    if len(rounds) == 1:
        print(json.dumps(rounds[0]))
        return 0
    summary: dict[str, object] = {k: round(statistics.median(r[k] for r in rounds), 1) for k in rounds[0]}
    p99s = sorted(r["p99_ms"] for r in rounds)
    summary["spread"] = {"p99_ms_min": p99s[0], "p99_ms_max": p99s[-1], "rounds": len(rounds)}
    summary["load_average"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
