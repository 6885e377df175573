"""Daily use in a real terminal (tmux, 80x24) on the embedded sandbox: the footer shows
? Help; up shows its commands; ctrl+c asks and the header then says cancelled (not
failed) until the next run; Esc never cancels; / searches the logs; q quits."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from .test_tmux import Tmux, processes_of, pytestmark, tmux  # noqa: F401  (fixture, skip mark)


def test_80x24_cancel_asks_and_says_cancelled_and_search_finds(tmux: Tmux, tmp_path: Path) -> None:  # noqa: F811
    sandbox_dir = (tmp_path / "sandbox").resolve()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    tmux("new-session", "-d", "-x", "80", "-y", "24", "-c", str(tmp_path),
         *[f"-e{k}={v}" for k, v in env.items() if k in ("PATH", "HOME", "LANG", "LC_ALL")],
         "--", sys.executable, "-m", "workbench", "--sandbox", "--sandbox-dir", str(sandbox_dir))
    pid = tmux.app_pid = int(tmux("display-message", "-p", "#{pane_pid}").strip())
    screen = tmux.wait(lambda s: all(p in s for p in ("Build", "Instances", "Logs", "Alerts")), "the panes", 30)
    assert "? Help" in screen.splitlines()[-1] and "q Quit" in screen.splitlines()[-1]

    tmux.keys("u")
    tmux.wait(lambda s: "▶ up" in s.splitlines()[0], "up running", 30)
    tmux.keys("Escape")  # backs out; never cancels
    tmux.keys("C-c")
    tmux.wait(lambda s: "Cancel up?" in s, "the cancel question", 10)
    tmux.keys("y")
    tmux.wait(lambda s: "⊘ up cancelled" in s.splitlines()[0], "the header to say cancelled", 60)
    assert "failed" not in tmux.screen().splitlines()[0]
    assert tmux.ever("$ openstack --os-cloud sandbox server create")  # the step's command, shown first

    tmux.keys("Tab")  # from the instances to the logs: / searches the focused pane
    tmux.keys("/")
    for ch in "cancelled":  # typed fast: none may be lost to the search box's focus arriving late
        tmux.keys(ch)
    tmux.wait(lambda s: "search: cancelled (1 match" in s or "search: cancelled (2 match" in s,
              "the search as typed", 10)
    tmux.keys("Escape")
    tmux.wait(lambda s: "search:" not in s, "Esc to clear the search", 10)
    time.sleep(0.3)  # an Escape right before a key reads as Alt+key in a terminal
    tmux.keys("q")
    deadline = time.monotonic() + 30
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_of(sandbox_dir, pid) == []
