"""Launching `workbench --sandbox` in a real terminal: first frame before `import openstack`.

Runs bench/tui_launch.py (tmux, its own socket), which watches the app's driver for the
first frame holding every pane and records whether openstack was imported by then, then
quits with `q` and looks for processes left behind.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "tui_launch.py"

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


def test_first_frame_comes_before_openstack_and_quit_leaves_nothing() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--runs", "1"], capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["openstack_before_first_frame"] is False
    assert result["leftover_processes"] == []
    # The target (600 ms) is the benchmark's business; this catches gross regressions only.
    assert result["first_frame_ms_p50"] < 5000, done.stdout


def test_sandbox_is_the_default_only_without_any_cloud(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from workbench.cli.tui import cloud_configured

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WORKBENCH_PROFILE", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert cloud_configured(None, {}) is False
    assert cloud_configured(None, {"OS_CLOUD": "mycloud"}) is True
    assert cloud_configured(None, {"OS_AUTH_URL": "https://keystone.example/v3"}) is True
    assert cloud_configured("my.toml", {}) is True
    (tmp_path / "workbench.toml").write_text("[cluster]\nminions = 1\n")
    assert cloud_configured(None, {}) is True
