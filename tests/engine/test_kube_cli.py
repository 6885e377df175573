"""`workbench info` through the real CLI against the fake build's programs (kube_procs.py:
TLS, a token file, the cluster CA in a file), with and without kubectl on PATH."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engine.kube_procs import ADMIN_TOKEN, MINIONS, ProgramCluster, start

KUBECTL = shutil.which("kubectl")


async def workbench(tmp: Path, *args: str, path: str | None = None) -> tuple[int, str, str]:
    env = {**os.environ, "HOME": str(tmp)}
    if path is not None:
        env["PATH"] = path
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "workbench", *args, cwd=tmp, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProgramCluster]:
    c = start(tmp_path_factory.mktemp("kube-cli"))
    try:
        yield c
    finally:
        c.procs.stop_all()


@pytest.fixture
def user(tmp_path: Path, cluster: ProgramCluster) -> Path:
    """A profile with only a state dir, the cluster CA in a file, an empty bin dir."""
    (tmp_path / "p.toml").write_text(f'state_dir = "{tmp_path / "state"}"\n')
    (tmp_path / "ca.crt").write_bytes(cluster.ca_pem)
    (tmp_path / "bin").mkdir()
    return tmp_path


def token_file(tmp: Path, token: str) -> str:
    path = tmp / f"token-{token[:4]}"
    path.write_text(token + "\n")
    return str(path)


def info_args(tmp: Path, server: str, token: str, *extra: str) -> list[str]:
    return ["info", "--profile", str(tmp / "p.toml"), "--server", server, "--token-file", token_file(tmp, token),
            "--ca-file", str(tmp / "ca.crt"), *extra]


@pytest.mark.parametrize("kubectl", ["on-path", "absent"])
async def test_info_json(cluster: ProgramCluster, user: Path, kubectl: str) -> None:
    if kubectl == "on-path" and KUBECTL is None:
        pytest.skip("kubectl is not installed on PATH")
    code, out, err = await workbench(user, *info_args(user, cluster.server, ADMIN_TOKEN, "--json"),
                                     path=str(user / "bin") if kubectl == "absent" else None)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["source"] == ("kubectl" if kubectl == "on-path" else "http")
    assert doc["server"] == cluster.server
    # what the programs serve: the control plane only (no cluster-service addons), no pods yet
    assert doc["services"] == [{"name": "Kubernetes master", "url": cluster.server}]
    assert doc["nodes"] == [{"name": name, "ready": True, "status": "Ready", "roles": "<none>", "version": "v1.32.4"}
                            for name in MINIONS]
    assert doc["pods"] == []
    assert ADMIN_TOKEN not in out + err


async def test_info_table(cluster: ProgramCluster, user: Path) -> None:
    code, out, err = await workbench(user, *info_args(user, cluster.server, ADMIN_TOKEN, "--no-kubectl"))
    assert code == 0, err
    assert out.splitlines()[0] == f"Kubernetes master is running at {cluster.server}"
    rows = [line.split("│")[1:-1] for line in out.splitlines() if "kubernetes-minion-" in line]
    assert [[cell.strip() for cell in row] for row in rows] == [[name, "Ready", "<none>", "v1.32.4"] for name in MINIONS]


@pytest.mark.parametrize("kubectl", ["on-path", "absent"])
async def test_info_with_a_wrong_token_fails_in_one_line(cluster: ProgramCluster, user: Path, kubectl: str) -> None:
    if kubectl == "on-path" and KUBECTL is None:
        pytest.skip("kubectl is not installed on PATH")
    wrong = "0" * 32
    code, out, err = await workbench(user, *info_args(user, cluster.server, wrong),
                                     path=str(user / "bin") if kubectl == "absent" else None)
    assert code == 1 and out == "", (out, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "You must be logged in to the server" in lines[0], err
    assert "Traceback" not in err and wrong not in err


async def test_info_with_a_bad_ca_file_is_a_usage_error(cluster: ProgramCluster, user: Path) -> None:
    (user / "ca.crt").write_text("not a certificate\n")
    code, _out, err = await workbench(user, *info_args(user, cluster.server, ADMIN_TOKEN))
    assert code == 2 and "--ca-file" in err and "Traceback" not in err


async def test_info_with_another_clusters_ca_fails_in_one_line(cluster: ProgramCluster, user: Path) -> None:
    from tests.sandbox.kubeprog_helpers import Pki

    (user / "ca.crt").write_bytes(Pki(user / "other").ca_path.read_bytes())
    code, out, err = await workbench(user, *info_args(user, cluster.server, ADMIN_TOKEN, "--no-kubectl"))
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 1 and out == "" and len(lines) == 1, err
    assert "certificate is not trusted" in lines[0] and cluster.server in lines[0]


async def test_info_with_a_missing_token_file_is_a_usage_error(tmp_path: Path) -> None:
    profile = tmp_path / "p.toml"
    profile.write_text(f'state_dir = "{tmp_path / "state"}"\n')
    code, _out, err = await workbench(tmp_path, "info", "--profile", str(profile), "--server",
                                      "http://127.0.0.1:9", "--token-file", str(tmp_path / "nope"))
    assert code == 2 and "--token-file" in err and "Traceback" not in err
