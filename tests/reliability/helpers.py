"""Helpers for the reliability suite: the real CLI in a child process, the cloud as it is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.sandbox_helpers import TAG, sdk  # noqa: F401  (sdk: for the tests that import it from here)

REPO = Path(__file__).resolve().parents[2]


def cli_env(box: Any, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The child's environment: no OS_* variables, HOME in the sandbox, a fast fake build."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update({
        "HOME": str(box.state_dir), "WORKBENCH_FAKE_BUILD_SECONDS": "0.2",
        "WORKBENCH_FAKE_BINARY_MB": "1", "PYTHONUNBUFFERED": "1",
    })
    env.update(extra or {})
    return env


def argv(box: Any, *args: str, json_out: bool = True) -> list[str]:
    out = [sys.executable, "-m", "workbench", *args, "--profile", str(box.profile_path)]
    return out + (["--json"] if json_out else [])


def wb(box: Any, *args: str, json_out: bool = True, timeout: float = 180,
       env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m workbench ARGS --profile BOX [--json]`` to completion."""
    return subprocess.run(argv(box, *args, json_out=json_out), cwd=REPO, env=cli_env(box, env),
                          text=True, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)


def wb_json(box: Any, *args: str, expect: int | None = 0, **kw: Any) -> dict[str, Any]:
    proc = wb(box, *args, **kw)
    if expect is not None:
        assert proc.returncode == expect, (
            f"workbench {' '.join(args)}: exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    doc = json.loads(proc.stdout)
    assert isinstance(doc, dict)
    return doc


def ours(box: Any, tag: str = TAG) -> dict[str, list[dict[str, Any]]]:
    """Every server, port and floating IP carrying our tag, read from the sandbox's store."""
    store = box.cloud.store

    def tagged(items: dict[str, Any]) -> list[dict[str, Any]]:
        return [dict(r) for r in list(items.values()) if tag in (r.get("tags") or [])
                or (r.get("metadata") or {}).get("workbench-cluster") == tag.split(":", 1)[1]]

    return {"servers": tagged(store.servers), "ports": tagged(store.ports),
            "floating_ips": tagged(store.floatingips)}


def poll(check: Callable[[], Any], *, timeout: float = 30.0, what: str = "condition") -> Any:
    """Call ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def state_files_parse(state_dir: Path) -> list[Path]:
    """Every JSON file in the workbench state dir; fails on one that does not parse."""
    found = []
    for path in sorted(Path(state_dir).rglob("*.json")):
        json.loads(path.read_text())
        found.append(path)
    return found


def converged(box: Any, plan: list[tuple[str, str, str]]) -> None:
    """Exactly the plan: one ACTIVE server, one port and one floating IP per member."""
    cloud = ours(box)
    servers = {s["name"]: s for s in cloud["servers"]}
    assert sorted(servers) == sorted(name for name, _, _ in plan)
    assert all(s["status"] == "ACTIVE" for s in servers.values())
    ips = sorted(ip["ip_address"] for p in cloud["ports"] for ip in p["fixed_ips"])
    assert ips == sorted(ip for _, _, ip in plan), "a half-created port was left behind"
    assert len(cloud["floating_ips"]) == len(plan)
    assert all(f.get("port_id") for f in cloud["floating_ips"]), "an unassociated floating IP was left"
