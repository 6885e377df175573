"""`workbench redeploy --json`: the same Engine pipeline, headless, with exit status 0/1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench.engine.facade import Engine
from workbench.events import Bus
from workbench.profile import load_profile


def redeploy(box: Any, cwd: Path) -> tuple[int, dict[str, Any], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "WORKBENCH_"))}
    done = subprocess.run(
        [sys.executable, "-m", "workbench", "redeploy", "--json", "--profile", str(box.profile_path)],
        capture_output=True, text=True, timeout=240, cwd=cwd, env=env,
    )
    return done.returncode, json.loads(done.stdout), done.stderr


def fake_build(box: Any, seconds: float) -> None:
    config = Path(box.kube_root) / "build" / "fake-build.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "seconds": seconds, "binary_mb": 1}))


async def test_redeploy_json_ok_then_a_failing_build(make_sandbox: Callable[..., Any], tmp_path: Path) -> None:
    box = make_sandbox(minions=1)
    fake_build(box, 0.2)
    engine = Engine(load_profile(box.profile_path, environ={}), bus=Bus())
    try:
        await engine.up()
    finally:
        await engine.close()

    status, doc, stderr = redeploy(box, tmp_path)
    assert status == 0, (doc, stderr[-3000:])
    assert doc["ok"] is True and doc["failed_stage"] is None
    assert [(s["name"], s["ok"]) for s in doc["stages"]] == [
        ("build", True), ("up", True), ("push", True), ("salt", True), ("verify", True)]

    (Path(box.kube_root) / "build" / ".fake-build-fail").touch()
    status, doc, stderr = redeploy(box, tmp_path)
    assert status == 1
    assert (doc["ok"], doc["failed_stage"]) == (False, "build")
    assert [s["name"] for s in doc["stages"]] == ["build"]
    assert "Traceback" not in stderr
