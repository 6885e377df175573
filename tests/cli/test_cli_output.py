"""What the headless verbs print when nobody is looking at a terminal, and where a missing
profile is explained: through the real CLI in a child process with pipes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .test_cloud_cli_helpers import REPO, wb_json


def _run(args: list[str], *, cwd: Path = REPO, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "WORKBENCH_"))}
    return subprocess.run(
        [sys.executable, "-m", "workbench", *args], cwd=cwd, env={**base, **(env or {})},
        text=True, stdin=subprocess.DEVNULL, capture_output=True, timeout=120,  # pipes, not a tty
    )


def test_status_into_a_pipe_never_cuts_names_or_addresses(make_sandbox) -> None:
    box = make_sandbox(minions=2)
    profile = str(box.profile_path)
    doc = wb_json("up", "--profile", profile)
    assert doc["ok"] is True
    # a narrow COLUMNS must not matter either: nobody reads a pipe at 80 columns
    status = _run(["status", "--profile", profile], env={"COLUMNS": "60"})
    assert status.returncode == 0, status.stderr
    out = status.stdout
    assert "…" not in out and "..." not in out
    for inst in doc["instances"]:
        line = next((ln for ln in out.splitlines() if f" {inst['name']} " in ln), None)
        assert line is not None, f"{inst['name']} not printed whole:\n{out}"
        for value in (inst["fixed_ip"], inst["floating_ip"], inst["id"]):
            assert value in line, f"{value} cut from {line!r}"
    wb_json("down", "--yes", "--profile", profile)


def test_no_profile_anywhere_says_where_it_looked_and_which_field(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    result = _run(["status"], cwd=tmp_path, env={"HOME": str(home), "XDG_CONFIG_HOME": str(home / "cfg")})
    assert result.returncode == 2, result.stderr
    assert result.stdout == "" and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    line = result.stderr.strip()
    assert "(profile)" not in line
    assert line.startswith("workbench: no profile found (searched --profile, $WORKBENCH_PROFILE, ./workbench.toml, ")
    assert str(home / "cfg" / "workbench" / "profile.toml") in line
    assert "and no OS_CLOUD/OS_AUTH_URL: cloud: " in line


def test_alert_lines_name_their_node_once(make_sandbox) -> None:
    box = make_sandbox(minions=1, faults=["boot-error"])
    profile = str(box.profile_path)
    up = wb_json("up", "--profile", profile, expect=1)
    [(name, _)] = [(f["name"], f["error"]) for f in up["failed"]]
    for verb in (["status"], ["doctor", "--cloud-only"]):
        result = _run([*verb, "--profile", profile])
        lines = [ln for ln in result.stdout.splitlines() if "instance-error" in ln]
        assert lines, result.stdout + result.stderr
        assert all(ln.count(name) == 1 for ln in lines), lines
        assert f"instance-error: {name} is in ERROR" in lines[0]
    wb_json("down", "--yes", "--profile", profile)
