"""The real `workbench --sandbox` in a real terminal (tmux), driven by keys, end to end.

Starts `python -m workbench --sandbox --sandbox-dir TMP` in a detached tmux session on a
socket of its own, waits for the panes, presses up and redeploy, finds the Salt summary
and the cluster-info lines on the screen, opens a node shell, runs `hostname` and `vi`
(whose screen must go away again), quits with `q`, and checks that no process of ours is
left (the in-process sandbox's included).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Tmux:
    def __init__(self, socket: str) -> None:
        self.socket = socket
        self.seen: list[str] = []  # every screen captured, for what scrolled away
        self.app_pid: int | None = None  # the workbench we started in the pane

    def __call__(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null", *args],
                              capture_output=True, text=True, check=False, timeout=10)
        return done.stdout

    def screen(self) -> str:
        text = self("capture-pane", "-p")
        self.seen.append(text)
        return text

    def keys(self, *keys: str) -> None:
        self("send-keys", *keys)

    def wait(self, predicate: Callable[[str], bool], what: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.screen()
            if predicate(text):
                return text
            time.sleep(0.05)
        raise AssertionError(f"never saw {what} within {timeout:.0f} s; screen:\n{self.screen()}")

    def ever(self, text: str) -> bool:
        return any(text in screen for screen in self.seen)


def processes_of(sandbox_dir: Path, pid: int) -> list[str]:
    """Live processes that are the app or work inside the sandbox dir (node shells, builds)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cwd = os.readlink(f"/proc/{entry}/cwd")
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            continue
        if int(entry) == pid or cwd.startswith(str(sandbox_dir)) or str(sandbox_dir) in cmdline:
            found.append(f"{entry}: {cmdline[:120]}")
    return found


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    server = Tmux(f"wb-test-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        yield server
    finally:
        server("kill-server")  # only our own server, on our own socket
        _reap(server.app_pid)


def _reap(pid: int | None) -> None:
    """The terminal is gone (SIGHUP): the app must exit. If it has not within the deadline,
    kill it (its own session: tmux made it a session leader) and fail, never leave it."""
    if pid is None:
        return
    deadline = time.monotonic() + 20
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.05)
    if os.path.exists(f"/proc/{pid}") and Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
        os.killpg(pid, signal.SIGKILL)
        raise AssertionError(f"workbench (pid {pid}) did not exit when its terminal went away")


def test_workbench_in_tmux_up_redeploy_ssh_quit(tmux: Tmux, tmp_path: Path) -> None:
    sandbox_dir = (tmp_path / "sandbox").resolve()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    tmux("new-session", "-d", "-x", "120", "-y", "40", "-c", str(tmp_path),
         *[f"-e{k}={v}" for k, v in env.items() if k in ("PATH", "HOME", "LANG", "LC_ALL")],
         "--", sys.executable, "-m", "workbench", "--sandbox", "--sandbox-dir", str(sandbox_dir))
    pid = tmux.app_pid = int(tmux("display-message", "-p", "#{pane_pid}").strip())

    tmux.wait(lambda s: all(p in s for p in ("Build", "Instances", "Logs", "Cluster", "Alerts")), "the panes", 30)
    assert "SANDBOX" in tmux.screen()

    tmux.keys("u")
    tmux.wait(lambda s: s.count("ACTIVE") >= 3 and "3 instances" in s, "three ACTIVE instances", 60)
    tmux.wait(lambda s: " idle" in s.splitlines()[0], "up to finish", 30)

    tmux.keys("r")
    tmux.wait(lambda s: "Kubernetes master is running at" in s or "running at http" in s,
              "the cluster-info lines", 120)
    tmux.wait(lambda s: " idle" in s.splitlines()[0], "redeploy to finish", 30)
    # Three Salt summary blocks scroll through the Logs pane with the steps' commands after
    # them: / finds one (the view jumps to it) and shows the block around it.
    tmux.keys("Tab")  # from the instances to the logs: / searches the focused pane
    tmux.keys("/")
    for ch in "Succeeded:":
        tmux.keys(ch)
    tmux.keys("Enter")
    tmux.wait(lambda s: "Succeeded:" in s and "Failed:    0" in s, "a Salt summary found by /", 15)
    tmux.keys("Escape")
    tmux.wait(lambda s: "search:" not in s, "Esc clearing the search", 10)
    time.sleep(0.3)  # an Escape right before a key reads as Alt+key
    screen = tmux.screen()
    # the Cluster pane: its API server in the title, the nodes Ready first
    assert "Cluster · https://" in screen
    assert all(any(n in ln and " Ready " in ln for ln in screen.splitlines())
               for n in ("kubernetes-minion-1", "kubernetes-minion-2"))
    assert "failed" not in screen.splitlines()[0]

    tmux.keys("s")
    tmux.wait(lambda s: "kubernetes-master #1" in s and "~]$" in s.split("\n", 2)[-1], "a shell prompt", 30)
    tmux.keys("hostname", "Enter")
    tmux.wait(lambda s: any(line.strip() == "kubernetes-master" for line in s.splitlines()),
              "hostname's answer", 15)
    if shutil.which("vi"):  # QA: vi used to end the session ("connection lost: ...private")
        tmux.keys("vi notes.txt", "Enter")
        tmux.wait(lambda s: '"notes.txt"' in s and "hostname" not in s, "vi's screen", 15)
        tmux.keys(":q!", "Enter")
        tmux.wait(lambda s: "hostname" in s and '"notes.txt"' not in s, "the shell's screen back", 15)
        tmux.keys("echo still-$((40+2))", "Enter")
        tmux.wait(lambda s: any(line.strip() == "still-42" for line in s.splitlines()),
                  "the shell after vi", 15)
        assert not tmux.ever("connection lost")
    tmux.keys("F12")
    tmux.wait(lambda s: "Instances" in s and "#1" not in s, "the workbench again", 15)

    tmux.keys("q")
    deadline = time.monotonic() + 30
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.05)
    left = processes_of(sandbox_dir, pid)
    assert left == [], f"processes left behind: {left}"
