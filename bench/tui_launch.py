"""Launch to first full frame of `workbench --sandbox`, in a real terminal (tmux).

Each run starts `python -m workbench --sandbox --sandbox-dir DIR` in a detached tmux
session of its own (own socket), records when the app's driver writes the first frame
holding every pane (and whether ``openstack`` was imported by then), and when tmux shows
it; then presses ``q`` and checks that no process of the run is left. The first run
creates the sandbox's state and is reported apart (a newcomer's very first launch).

    python bench/tui_launch.py [--runs 5] [--cols 120 --rows 40]

Ends with one JSON line: {"runs", "first_frame_ms_p50", "first_frame_ms_min",
"first_frame_ms_max", "tmux_seen_ms_p50", "first_run_ms", "openstack_before_first_frame",
"leftover_processes", "target_ms"}.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_MS = 600
PANES = ("Build", "Instances", "Logs", "Cluster", "Alerts")
_ANSI = re.compile(r"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b[()][A-Za-z0-9]|\x1b[=>]")


def child(out: str, argv: list[str]) -> int:
    """Run workbench with the driver watched: note the first write that completes a frame."""
    started = time.time()
    Path(out + ".pid").write_text(str(os.getpid()))
    from textual.drivers import linux_driver

    original = linux_driver.LinuxDriver.write
    seen: dict[str, object] = {"done": False, "text": ""}

    def write(self: linux_driver.LinuxDriver, data: str) -> None:
        original(self, data)
        if not seen["done"]:
            seen["text"] = str(seen["text"]) + _ANSI.sub("", data)
            if all(name in str(seen["text"]) for name in PANES):
                seen["done"] = True
                at = time.time()
                Path(out + ".tmp").write_text(json.dumps({
                    "at": at, "started": started,
                    "openstack": "openstack" in sys.modules, "modules": len(sys.modules),
                }))
                os.replace(out + ".tmp", out)  # the parent never reads half a file

    linux_driver.LinuxDriver.write = write  # type: ignore[method-assign]
    from workbench.cli import main

    return main(argv)


def tmux(socket: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["tmux", "-L", socket, "-f", "/dev/null", *args],
                          capture_output=True, text=True, check=False)


def ours(sandbox_dir: Path, pids: set[int]) -> list[int]:
    """Processes of this run: the app itself, or anything working in the sandbox dir."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            cwd = os.readlink(f"/proc/{entry}/cwd")
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state == "Z":
            continue
        if pid in pids or cwd.startswith(str(sandbox_dir)) or str(sandbox_dir) in cmdline:
            found.append(pid)
    return found


def one_run(sandbox_dir: Path, cols: int, rows: int, timeout: float = 30.0) -> dict[str, object]:
    socket = f"wb-launch-{os.getpid()}-{time.monotonic_ns()}"
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "frame.json")
        command = [sys.executable, os.path.abspath(__file__), "--child", out, "--",
                   "--sandbox", "--sandbox-dir", str(sandbox_dir)]
        start = time.time()
        tmux(socket, "new-session", "-d", "-x", str(cols), "-y", str(rows), "--", *command)
        try:
            deadline = time.monotonic() + timeout
            seen_at = None
            while time.monotonic() < deadline:
                if seen_at is None:
                    screen = tmux(socket, "capture-pane", "-p").stdout
                    if all(name in screen for name in PANES):
                        seen_at = time.time()
                if seen_at is not None and os.path.exists(out):
                    break
                time.sleep(0.005)
            else:
                raise SystemExit(f"no full frame within {timeout:.0f} s:\n{tmux(socket, 'capture-pane', '-p').stdout}")
            frame = json.loads(Path(out).read_text())
            pid = int(Path(out + ".pid").read_text())
            tmux(socket, "send-keys", "q")
            deadline = time.monotonic() + timeout
            while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
                time.sleep(0.02)
            leftover = ours(sandbox_dir, {pid})
        finally:
            tmux(socket, "kill-server")
    return {
        "first_frame_ms": round((frame["at"] - start) * 1000, 1),
        "interpreter_to_frame_ms": round((frame["at"] - frame["started"]) * 1000, 1),
        "tmux_seen_ms": round((seen_at - start) * 1000, 1),
        "openstack": frame["openstack"],
        "leftover": leftover,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cols", type=int, default=120)
    parser.add_argument("--rows", type=int, default=40)
    parser.add_argument("--child", metavar="OUT", help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.child:
        return child(args.child, [a for a in rest if a != "--"])
    if shutil.which("tmux") is None:
        print("tmux is not installed", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="wb-launch-") as tmp:
        sandbox_dir = Path(tmp) / "sandbox"
        first = one_run(sandbox_dir, args.cols, args.rows)
        print(f"first run (creates the sandbox): {first['first_frame_ms']} ms")
        runs = [one_run(sandbox_dir, args.cols, args.rows) for _ in range(args.runs)]
    for i, r in enumerate(runs, 1):
        print(f"run {i}: first frame {r['first_frame_ms']} ms (tmux shows it at {r['tmux_seen_ms']} ms),"
              f" openstack loaded: {r['openstack']}, leftover: {r['leftover']}")
    frames = [float(r["first_frame_ms"]) for r in runs]  # type: ignore[arg-type]
    doc = {
        "runs": len(runs),
        "first_frame_ms_p50": round(statistics.median(frames), 1),
        "first_frame_ms_min": min(frames),
        "first_frame_ms_max": max(frames),
        "tmux_seen_ms_p50": round(statistics.median(float(r["tmux_seen_ms"]) for r in runs), 1),  # type: ignore[arg-type]
        "first_run_ms": first["first_frame_ms"],
        "openstack_before_first_frame": any(r["openstack"] for r in [first, *runs]),
        "leftover_processes": sorted({p for r in [first, *runs] for p in r["leftover"]}),  # type: ignore[attr-defined]
        "target_ms": TARGET_MS,
    }
    print(json.dumps(doc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
