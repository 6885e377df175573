"""Against the whole sandbox: build, up, push, salt, then `workbench info --json` (https on
the master's floating IP, port 6443, the CA read from the master over SSH, the token)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from workbench.engine.kube.client import KubeClient, KubeError, fetch_ca, server_url
from workbench.engine.salt.runner import SaltRunner

from .test_salt_helpers import start_cluster

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
        assert doc["server"].startswith("https://127.") and doc["server"].endswith(":6443")
        assert [s["name"] for s in doc["services"]] == SEED
        assert sorted(n["name"] for n in doc["nodes"]) == ["kubernetes-minion-1", "kubernetes-minion-2"]
        assert all(n["ready"] for n in doc["nodes"]), doc["nodes"]
    # the wrong token: one line, exit status 1
    wrong = tmp_path / "wrong-token"
    wrong.write_text("0" * 32 + "\n")
    env = {**os.environ, "HOME": str(box.state_dir)}
    done = subprocess.run([sys.executable, "-m", "workbench", "info", "--profile", str(box.profile_path),
                           "--token-file", str(wrong)], capture_output=True, text=True, env=env, timeout=120)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1 and len(lines) == 1 and "You must be logged in" in lines[0], done.stderr


async def test_ca_over_ssh_and_a_client_that_loads_it(make_sandbox: Callable[..., Any], tmp_path: Path) -> None:
    c = await start_cluster(make_sandbox, minions=1)
    try:
        with pytest.raises(KubeError, match="has the master's highstate run"):
            await fetch_ca(c.pool, c.master, c.profile.paths.kube_ca)  # not provisioned yet
        report = await SaltRunner(c.pool, c.state, c.bus, salt_tree=c.profile.paths.salt_tree).run(list(c.instances))
        assert report.ok, report.to_json()
        ca = await fetch_ca(c.pool, c.master, c.profile.paths.kube_ca)
        assert ca.startswith(b"-----BEGIN CERTIFICATE-----")
        address = c.master.floating_ip or c.master.fixed_ip
        loads: list[bytes] = []

        async def loader() -> bytes:
            loads.append(await fetch_ca(c.pool, c.master, c.profile.paths.kube_ca))
            return loads[-1]

        client = KubeClient(server_url(address, tls=True), c.state.cluster_token(), tmp_path / "k",
                            kubectl=None, ca_loader=loader)
        deadline = time.monotonic() + 30
        while True:
            info = await client.refresh()
            if [n.ready for n in info.nodes] == [True] or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        assert [(n.name, n.ready) for n in info.nodes] == [(c.minions[0].name, True)]
        assert [s.name for s in info.services] == SEED and loads == [ca]  # fetched once
        with pytest.raises(KubeError, match="Unauthorized"):
            await KubeClient(server_url(address, tls=True), "0" * 32, tmp_path / "w", kubectl=None,
                             ca_pem=ca).refresh()
    finally:
        await c.close()
