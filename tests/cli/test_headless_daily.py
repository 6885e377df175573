"""Headless verbs for scripts (issue 19): results on stdout, progress on stderr, a JSON
error object, ``--version``, ``-q``, ``workbench.log``; ``down`` asks, refuses without a
terminal unless ``--yes``, and ``--dry-run`` lists. Through the real CLI in child processes."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import time
from pathlib import Path

from .test_cloud_cli_helpers import REPO, ours, sdk, wb, wb_json


def _on_a_terminal(args: list[str], answer: str) -> tuple[int, str, str]:
    """The CLI with a pseudo-terminal as stdin (stdout and stderr piped); types ``answer``
    once the question is on stderr."""
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    proc = subprocess.Popen([sys.executable, "-m", "workbench", *args], cwd=REPO, env=env, stdin=slave,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    os.close(slave)
    try:
        os.write(master, answer.encode())  # the tty buffers it until input() reads it
        out, err = proc.communicate(timeout=120)
    finally:
        os.close(master)
    return proc.returncode, out, err


def test_down_asks_refuses_without_a_terminal_and_dry_run_lists(make_sandbox) -> None:
    box = make_sandbox(minions=1)
    profile = str(box.profile_path)
    up = wb("up", "--profile", profile, "--json", "-q")
    assert up.returncode == 0 and up.stderr == "", up.stderr  # -q: nothing on stderr
    created = json.loads(up.stdout)["created"]
    conn = sdk(box)
    before = ours(conn)
    assert len(before["servers"]) == 2

    refused = wb("down", "--profile", profile)  # stdin is a pipe here
    assert refused.returncode == 1 and refused.stdout == ""
    assert "pass --yes to delete, or --dry-run" in refused.stderr and refused.stderr.count("\n") == 1
    assert ours(conn) == before

    plan = wb_json("down", "--dry-run", "--profile", profile)
    assert plan["ok"] is True and plan["dry_run"] is True
    assert sorted(s.split(" (")[0] for s in plan["would_delete"]["servers"]) == sorted(created)
    assert len(plan["would_delete"]["floating_ips"]) == 2
    human = wb("down", "--dry-run", "--profile", profile)
    assert human.returncode == 0 and all(f"server {name} (" in human.stdout for name in created)
    assert ours(conn) == before

    status, out, err = _on_a_terminal(["down", "--profile", profile], "n\n")
    assert status == 1 and "[y/N]" in err and "nothing deleted" in err
    assert all(name in err for name in created)  # the question lists what would go
    assert ours(conn) == before

    status, out, err = _on_a_terminal(["down", "--profile", profile], "y\n")
    assert status == 0, err
    assert out.startswith("down: freed 2 servers")
    assert ours(conn) == {"servers": [], "ports": [], "floating_ips": []}


def test_results_on_stdout_progress_on_stderr_and_the_log_file(make_sandbox) -> None:
    box = make_sandbox(minions=1)
    profile = str(box.profile_path)
    up = wb("up", "--profile", profile, "--json")
    assert up.returncode == 0
    doc = json.loads(up.stdout)  # one document, whatever went to stderr
    assert doc["ok"] is True
    assert "up boot kubernetes-minion-1" in up.stderr  # --json without -q: progress still on stderr

    status = wb("status", "--profile", profile)
    assert status.returncode == 0
    minion_lines = [ln for ln in status.stdout.splitlines() if "minion" in ln]  # `| grep minion`
    assert len(minion_lines) == 1 and "kubernetes-minion-1" in minion_lines[0] and "ACTIVE" in minion_lines[0]
    assert "minion" not in status.stderr

    from workbench.profile import load_profile

    log = Path(load_profile(profile).resolved_state_dir()) / "workbench.log"
    deadline = time.monotonic() + 5
    while not (log.exists() and "kubernetes-minion-1" in log.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "kubernetes-minion-1" in log.read_text()  # the headless up appended its lines
    wb_json("down", "--yes", "--profile", profile)


def test_a_failing_run_prints_one_json_document_with_an_error_object(tmp_path: Path) -> None:
    bad = tmp_path / "profile.toml"
    bad.write_text("[cluster]\nminions = 'many'\n")
    proc = wb("status", "--profile", str(bad), "--json")
    assert proc.returncode == 2
    doc = json.loads(proc.stdout)
    assert doc["ok"] is False and doc["error"]["kind"] == "profile"
    assert "minions" in doc["error"]["message"] and str(bad) in doc["error"]["message"]
    assert proc.stderr.startswith("workbench: ") and proc.stderr.count("\n") == 1


def test_a_failed_verb_document_has_an_error_object(make_sandbox) -> None:
    box = make_sandbox(minions=1, faults=["boot-error"])
    profile = str(box.profile_path)
    up = wb_json("up", "--profile", profile, expect=1)
    [failed] = up["failed"]
    assert up["error"]["kind"] == "failed" and failed["name"] in up["error"]["message"]
    wb_json("down", "--yes", "--profile", profile)


def test_version() -> None:
    proc = wb("--version")
    assert proc.returncode == 0
    from importlib.metadata import version

    assert proc.stdout.strip() == f"workbench {version('workbench')}"
