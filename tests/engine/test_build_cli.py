"""`workbench build --json` on the fake KUBE_ROOT, through the real CLI entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from workbench.sandbox.kuberoot import SEED_VERSION, set_build_failure, write_kube_root


def workbench(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WORKBENCH_FAKE_BUILD_SECONDS": "0.2"}
    env.pop("KUBE_ROOT", None)
    return subprocess.run([sys.executable, "-m", "workbench", *args], capture_output=True, text=True,
                          env=env, cwd=tmp, timeout=120)


def profile(tmp: Path, platforms: str = '["linux/amd64"]') -> Path:
    root = write_kube_root(tmp / "kube", size_mb=1, build_seconds=0.2, version=SEED_VERSION)
    path = tmp / "profile.toml"
    path.write_text(f'state_dir = "{tmp / "state"}"\n[kube]\nroot = "{root}"\nplatforms = {platforms}\n')
    return path


def test_build_json_ok(tmp_path: Path) -> None:
    done = workbench(tmp_path, "build", "--profile", str(profile(tmp_path)), "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["ok"] is True and doc["seconds"] > 0
    assert [s["name"] for s in doc["stages"]] == ["prerequisites", "build image", "go linux/amd64", "packaging"]
    assert "_output/release-tars/kubernetes-server-linux-amd64.tar.gz" in doc["artifacts"]
    assert not any("arm" in a or "darwin" in a for a in doc["artifacts"])
    assert doc["alerts"] == []


def test_build_json_failure(tmp_path: Path) -> None:
    path = profile(tmp_path)
    set_build_failure(tmp_path / "kube")
    done = workbench(tmp_path, "build", "--profile", str(path), "--json")
    assert done.returncode == 1
    doc = json.loads(done.stdout)
    assert doc["ok"] is False and doc["exit_status"] == 1
    assert any("undefined" in line for line in doc["failure"])
    assert "Traceback" not in done.stderr


def test_build_without_kube_root_is_a_profile_error(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(f'state_dir = "{tmp_path / "state"}"\n')
    done = workbench(tmp_path, "build", "--profile", str(path))
    assert done.returncode == 2
    assert "kube.root" in done.stderr and "Traceback" not in done.stderr
