"""Against the whole sandbox: build, up, push, salt, then `workbench info --json`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

SEED = ["Kubernetes master", "Heapster", "KubeDNS", "KubeUI", "Grafana", "InfluxDB"]


def workbench(box: Any, *args: str, path: str | None = None) -> dict[str, Any]:
    env = {**os.environ, "WORKBENCH_FAKE_BUILD_SECONDS": "0.2", "WORKBENCH_FAKE_BINARY_MB": "2",
           "HOME": str(box.state_dir)}
    if path is not None:
        env["PATH"] = path
    done = subprocess.run([sys.executable, "-m", "workbench", *args, "--profile", str(box.profile_path), "--json"],
                          capture_output=True, text=True, env=env, timeout=240)
    assert done.returncode == 0, f"workbench {' '.join(args)}: {done.stderr[-3000:]}"
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc


@pytest.mark.slow
def test_info_after_up_and_provisioning(make_sandbox: Callable[..., Any], tmp_path: Path) -> None:
    box = make_sandbox(minions=2)
    build = workbench(box, "build")
    assert build["ok"]
    workbench(box, "up")
    workbench(box, "push")
    salt = workbench(box, "salt")
    assert all(node["ok"] for node in salt["nodes"]), salt
    empty = tmp_path / "bin"
    empty.mkdir()
    runs = [("http", str(empty))]
    if shutil.which("kubectl"):
        runs.insert(0, ("kubectl", None))
    for source, path in runs:
        doc: dict[str, Any] = {}
        for _ in range(100):  # kubelets register within a few heartbeats
            doc = workbench(box, "info", path=path)
            nodes = doc["nodes"]
            if len(nodes) == 2 and all(n["ready"] for n in nodes):
                break
        assert doc["source"] == source
        assert [s["name"] for s in doc["services"]] == SEED
        assert sorted(n["name"] for n in doc["nodes"]) == ["kubernetes-minion-1", "kubernetes-minion-2"]
        assert all(n["ready"] for n in doc["nodes"]), doc["nodes"]
