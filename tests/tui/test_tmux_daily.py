"""Daily use in a real terminal (tmux, 80x24) on the embedded sandbox: the footer shows
? Help; up shows its commands; ctrl+c asks and the header then says cancelled (not
failed) until the next run; Esc never cancels; / searches the logs and the tables, n/N
move; a shell's exit closes its tab; PageUp/k pause the logs, End/G follow; ctrl+f fixes
every alert of a kind; q quits."""

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


def test_80x24_table_search_shell_exit_follow_and_fixing_a_kind_at_once(tmux: Tmux, tmp_path: Path) -> None:  # noqa: F811
    """In a real terminal at 80x24: / in the instances table with n/N picks the node s opens
    a shell on; the shell's exit closes its tab and brings the main screen back; PageUp or k
    pauses the logs, End or G follows again; two minions deleted out of band are fixed at
    once from the alerts pane (ctrl+f, one confirmation listing both)."""
    sandbox_dir = (tmp_path / "sandbox").resolve()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    tmux("new-session", "-d", "-x", "80", "-y", "24", "-c", str(tmp_path),
         *[f"-e{k}={v}" for k, v in env.items() if k in ("PATH", "HOME", "LANG", "LC_ALL")],
         "--", sys.executable, "-m", "workbench", "--sandbox", "--sandbox-dir", str(sandbox_dir))
    pid = tmux.app_pid = int(tmux("display-message", "-p", "#{pane_pid}").strip())
    tmux.wait(lambda s: all(p in s for p in ("Build", "Instances", "Logs", "Alerts")), "the panes", 30)
    tmux.keys("u")
    tmux.wait(lambda s: "3 instances" in s and " idle" in s.splitlines()[0], "up to finish", 90)

    tmux.keys("/")
    for ch in "minion":
        tmux.keys(ch)
    tmux.wait(lambda s: "search: minion (2 matches · n/N)" in s, "the table search as typed", 10)
    tmux.keys("Enter", "n")  # minion-1 as typed, then n: minion-2
    for node, key in (("kubernetes-minion-2", None), ("kubernetes-minion-1", "N")):
        if key:
            tmux.keys(key)
        tmux.keys("s")
        tmux.wait(lambda s, node=node: f"{node} #" in s and "~]$" in s, f"a shell on {node}", 30)
        tmux.keys("exit", "Enter")  # the tab closes itself; the last one brings the panes back
        tmux.wait(lambda s: "Instances" in s and "~]$" not in s, "the main screen after exit", 15)
    tmux.keys("Escape")
    tmux.wait(lambda s: "search:" not in s, "Esc clearing the table search", 10)
    time.sleep(0.3)  # an Escape right before a key reads as Alt+key

    tmux.keys("Tab", "PageUp")  # to the logs; scrolling up pauses following
    tmux.wait(lambda s: "Logs (paused)" in s and "End follows" in s, "the logs paused", 10)
    tmux.keys("End")
    tmux.wait(lambda s: "Logs (paused)" not in s and "follow ─" in s, "the logs following again", 10)
    tmux.keys("k")  # as in less: up a line pauses too, G follows again
    tmux.wait(lambda s: "Logs (paused)" in s, "the logs paused by k", 10)
    tmux.keys("G")
    tmux.wait(lambda s: "Logs (paused)" not in s and "follow ─" in s, "the logs following after G", 10)

    import openstack
    import openstack.config

    config = openstack.config.OpenStackConfig(
        config_files=[str(sandbox_dir / "clouds.yaml")], load_envvars=False, load_yaml_config=True,
        vendor_files=[], secure_files=[],
    )
    conn = openstack.connection.Connection(config=config.get_one(cloud="sandbox"))
    for name in ("kubernetes-minion-1", "kubernetes-minion-2"):  # as someone in Horizon would
        conn.compute.delete_server(conn.compute.find_server(name).id)
    tmux.wait(lambda s: s.count("instance-missing") == 2, "two instance-missing alerts", 60)
    tmux.keys("Tab", "Tab", "C-f")  # logs -> cluster -> alerts; fix every alert of this kind
    screen = tmux.wait(lambda s: "Fix all 2 instance-missing alert(s)?" in s, "one confirmation", 10)
    assert "kubernetes-minion-1: recreate" in screen and "kubernetes-minion-2: recreate" in screen
    tmux.keys("y")
    tmux.wait(lambda s: "no alerts" in s and "3 instances" in s, "both minions back", 120)
    assert {s.name for s in conn.compute.servers() if s.status == "ACTIVE"} >= {
        "kubernetes-master", "kubernetes-minion-1", "kubernetes-minion-2"}

    tmux.keys("q")
    deadline = time.monotonic() + 30
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_of(sandbox_dir, pid) == []
