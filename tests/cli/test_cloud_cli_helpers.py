"""Helpers for the cloud verb tests: run ``python -m workbench`` and read the cloud directly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.sandbox_helpers import TAG, ours, sdk

__all__ = ["TAG", "edited_profile", "ours", "sdk", "wb", "wb_json"]

REPO = Path(__file__).resolve().parents[2]


def wb(*args: str, timeout: float = 120, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a child process (no OS_* variables)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    return subprocess.run(
        [sys.executable, "-m", "workbench", *args], cwd=REPO, env=env, text=True,
        capture_output=True, timeout=timeout, input=stdin if stdin is not None else "",
    )


def wb_json(*args: str, expect: int = 0) -> dict[str, Any]:
    proc = wb(*args, "--json")
    assert proc.returncode == expect, f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    doc = json.loads(proc.stdout)  # exactly one JSON document
    assert isinstance(doc, dict)
    return doc


def edited_profile(box: Any, tmp: Path, replace: dict[str, str]) -> Path:
    """A copy of the sandbox's profile with some lines replaced (key = old text)."""
    text = Path(box.profile_path).read_text()
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp / "profile.toml"
    path.write_text(text)
    return path
