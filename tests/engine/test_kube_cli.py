"""`workbench info --json` through the real CLI against KubeSim (TLS, token), with and without kubectl."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from workbench.sandbox.kube import KubeSim
from workbench.sandbox.kube.testing import (
    make_node,
    poll,
    write_certs,
    write_kubelet_config,
    write_tokens,
)

TOKEN = "abcdef0123456789abcdef0123456789"
SEED = ["Kubernetes master", "Heapster", "KubeDNS", "KubeUI", "Grafana", "InfluxDB"]


async def workbench(tmp: Path, *args: str, path: str | None = None) -> tuple[int, str, str]:
    env = {**os.environ, "HOME": str(tmp)}
    if path is not None:
        env["PATH"] = path
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "workbench", *args, cwd=tmp, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


@pytest.fixture
async def cluster(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A master serving https on 6443 with the CA in tmp/ca.crt, one Ready minion."""
    sim = KubeSim(delays=SimpleNamespace(kubelet_heartbeat=0.1))
    master = make_node(tmp_path, "kubernetes-master", "master")
    minion = make_node(tmp_path, "kubernetes-minion-1", "minion")
    server = f"https://{master.addresses[0]}:6443"
    ca = write_certs(master)
    (tmp_path / "ca.crt").write_bytes(ca)
    write_tokens(master, TOKEN)
    write_kubelet_config(minion, server, TOKEN, ca)
    try:
        await sim.unit_changed(master, "kube-apiserver", True)
        await sim.unit_changed(minion, "kubelet", True)

        async def registered() -> bool:
            return bool(sim.clusters[master.server_id].nodes)

        await poll(registered, what="the minion registers")
        profile = tmp_path / "p.toml"
        profile.write_text(f'state_dir = "{tmp_path / "state"}"\n')
        (tmp_path / "bin").mkdir()
        yield server
    finally:
        await sim.close()


def token_file(tmp: Path, token: str) -> str:
    path = tmp / f"token-{token[:4]}"
    path.write_text(token + "\n")
    return str(path)


@pytest.mark.parametrize("kubectl", ["on-path", "absent"])
async def test_info_json(cluster: str, tmp_path: Path, kubectl: str) -> None:
    if kubectl == "on-path" and shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed on PATH")
    code, out, err = await workbench(
        tmp_path, "info", "--profile", str(tmp_path / "p.toml"), "--server", cluster,
        "--token-file", token_file(tmp_path, TOKEN), "--ca-file", str(tmp_path / "ca.crt"),
        "--json", path=str(tmp_path / "bin") if kubectl == "absent" else None)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["source"] == ("kubectl" if kubectl == "on-path" else "http")
    assert doc["server"] == cluster
    assert [s["name"] for s in doc["services"]] == SEED
    assert doc["nodes"] == [{"name": "kubernetes-minion-1", "ready": True, "status": "Ready", "roles": "<none>",
                            "version": "v1.2.0-alpha.6"}]
    assert {p["name"] for p in doc["pods"]} >= {"heapster-v10-2b952", "kube-proxy-kubernetes-minion-1"}
    assert TOKEN not in out + err


@pytest.mark.parametrize("kubectl", ["on-path", "absent"])
async def test_info_with_a_wrong_token_fails_in_one_line(cluster: str, tmp_path: Path, kubectl: str) -> None:
    if kubectl == "on-path" and shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed on PATH")
    wrong = "0" * 32
    code, out, err = await workbench(
        tmp_path, "info", "--profile", str(tmp_path / "p.toml"), "--server", cluster,
        "--token-file", token_file(tmp_path, wrong), "--ca-file", str(tmp_path / "ca.crt"),
        path=str(tmp_path / "bin") if kubectl == "absent" else None)
    assert code == 1 and out == "", (out, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "You must be logged in to the server" in lines[0], err
    assert "Traceback" not in err and wrong not in err


async def test_info_with_a_bad_ca_file_is_a_usage_error(cluster: str, tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.crt"
    bogus.write_text("not a certificate\n")
    code, _out, err = await workbench(
        tmp_path, "info", "--profile", str(tmp_path / "p.toml"), "--server", cluster,
        "--token-file", token_file(tmp_path, TOKEN), "--ca-file", str(bogus))
    assert code == 2 and "--ca-file" in err and "Traceback" not in err


async def test_info_with_a_missing_token_file_is_a_usage_error(tmp_path: Path) -> None:
    profile = tmp_path / "p.toml"
    profile.write_text(f'state_dir = "{tmp_path / "state"}"\n')
    code, _out, err = await workbench(tmp_path, "info", "--profile", str(profile), "--server",
                                      "http://127.0.0.1:9", "--token-file", str(tmp_path / "nope"))
    assert code == 2 and "--token-file" in err and "Traceback" not in err
