"""Errors that tell the fix (issue 19): one line on stderr, through the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .test_cloud_cli_helpers import REPO, edited_profile, wb, wb_json


def _one_line(proc: subprocess.CompletedProcess[str], status: int = 2) -> str:
    assert proc.returncode == status, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    return proc.stderr.strip()


def test_an_unknown_key_says_so_with_a_did_you_mean_and_its_line(tmp_path: Path) -> None:
    profile = tmp_path / "profile.toml"
    profile.write_text('[cloud]\nname = "x"\n\n[cluster]\nname = "k"\nminon = 3\n')
    line = _one_line(wb("status", "--profile", str(profile)))
    assert line.startswith(f"workbench: {profile}:6: cluster.minon: unknown key; did you mean 'minions'?"), line

    profile.write_text('[cloud]\nname = "x"\n[clustr]\nname = "k"\n')
    line = _one_line(wb("status", "--profile", str(profile)))
    assert line.startswith(f"workbench: {profile}:3: clustr: unknown key; did you mean 'cluster'?"), line

    profile.write_text('[ssh]\nzzz = 1\n')  # nothing close: the known keys, no guess
    line = _one_line(wb("status", "--profile", str(profile)))
    assert f"{profile}:2: ssh.zzz: unknown key (known: user, " in line and "did you mean" not in line


def test_a_missing_cloud_lists_the_clouds_found_and_where(tmp_path: Path) -> None:
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text("clouds:\n  devstack:\n    auth:\n      auth_url: http://127.0.0.1:9/v3\n"
                      "  lab:\n    auth:\n      auth_url: http://127.0.0.1:9/v3\n")
    profile = tmp_path / "profile.toml"
    profile.write_text(f'[cloud]\nname = "devstak"\nclouds_yaml = "{clouds}"\n')
    line = _one_line(wb("status", "--profile", str(profile)))
    assert "cloud.name: a cloud defined in clouds.yaml: 'devstak' is not" in line, line
    assert f"found: devstack ({clouds}), lab ({clouds})" in line


def test_no_profile_at_all_suggests_the_sandbox_and_how_to_write_one(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "WORKBENCH_"))}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / "cfg"))
    proc = subprocess.run([sys.executable, "-m", "workbench", "status"], cwd=tmp_path, env=env, text=True,
                          capture_output=True, stdin=subprocess.DEVNULL, timeout=120)
    line = _one_line(proc)
    assert "run `workbench --sandbox`" in line
    assert f"write a profile at {home / 'cfg' / 'workbench' / 'profile.toml'}" in line
    assert REPO.exists()


def test_a_missing_ssh_key_names_the_key_file(make_sandbox, tmp_path: Path) -> None:
    box = make_sandbox(minions=0)
    assert wb_json("up", "--profile", str(box.profile_path))["ok"]
    key = Path(box.profile_path).parent / "workbench_key"
    gone = tmp_path / "moved-away.pem"
    profile = edited_profile(box, tmp_path, {str(key): str(gone)})
    proc = wb("ssh", "--profile", str(profile), "kubernetes-master", "--", "true")
    assert proc.returncode != 0
    assert f"ssh.private_key: an existing private key file; {gone} does not exist" in proc.stderr, proc.stderr
    wb_json("down", "--yes", "--profile", str(box.profile_path))
