"""What the headless verbs print when nobody is looking at a terminal, and where a missing
profile is explained: through the real CLI in a child process with pipes."""

from __future__ import annotations

import os
import re
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


def _cells(row: str) -> list[str]:
    """The cells of one row of a Rich table as printed into a pipe."""
    return [cell.strip() for cell in re.split("[│┃]", row.strip().strip("│┃"))]


def test_alerts_are_a_table_a_row_per_finding_naming_its_node_once(make_sandbox) -> None:
    """``status`` and ``doctor`` print their findings as a table on stdout, one row each with
    the node in its own column and not again in the message: ``| grep NODE`` gives that
    node's findings whole, and nothing of them goes to stderr."""
    box = make_sandbox(minions=1, faults=["boot-error"])
    profile = str(box.profile_path)
    up = wb_json("up", "--profile", profile, expect=1)
    [(name, _)] = [(f["name"], f["error"]) for f in up["failed"]]
    for verb, status in ((["status"], 0), (["doctor", "--cloud-only"], 1)):
        result = _run([*verb, "--profile", profile])
        assert result.returncode == status, result.stderr
        header = next((ln for ln in result.stdout.splitlines() if "severity" in ln), None)
        assert header is not None, result.stdout
        assert _cells(header) == ["severity", "kind", "subject", "message", "fixes"]
        rows = [ln for ln in result.stdout.splitlines() if "instance-error" in ln]  # `| grep instance-error`
        assert len(rows) == 1, result.stdout
        severity, kind, subject, message, fixes = _cells(rows[0])
        assert (severity, kind, subject) == ("error", "instance-error", name)
        assert rows[0].count(name) == 1 and message.startswith("is in ERROR: ")
        assert "  $ openstack server show " in message and "recreate" in fixes  # one line in a pipe
        assert "instance-error" not in result.stderr
    wb_json("down", "--yes", "--profile", profile)
