"""Helpers for the cloud verb tests: run ``python -m workbench`` and read the cloud directly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
TAG = "workbench:kubernetes"


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


def sdk(box: Any) -> Any:
    """An openstacksdk connection to the sandbox, blind to the environment."""
    import openstack.config
    import openstack.connection

    config = openstack.config.OpenStackConfig(
        config_files=[str(box.clouds_path)], load_envvars=False, vendor_files=[], secure_files=[],
    )
    return openstack.connection.Connection(config=config.get_one(cloud="sandbox"))


def ours(conn: Any) -> dict[str, list[Any]]:
    """Every server, port and floating IP carrying our tag (or our metadata)."""
    servers = [
        s for s in conn.compute.servers(details=True)
        if TAG in (s.tags or []) or (s.metadata or {}).get("workbench-cluster") == "kubernetes"
    ]
    return {
        "servers": servers,
        "ports": [p for p in conn.network.ports() if TAG in (p.tags or [])],
        "floating_ips": [f for f in conn.network.ips() if TAG in (f.tags or [])],
    }


def edited_profile(box: Any, tmp: Path, replace: dict[str, str]) -> Path:
    """A copy of the sandbox's profile with some lines replaced (key = old text)."""
    text = Path(box.profile_path).read_text()
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp / "profile.toml"
    path.write_text(text)
    return path
