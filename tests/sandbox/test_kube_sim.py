"""KubeSim driven directly: its API server answers the real kubectl; kubelets register."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import aiohttp
import pytest

from workbench.sandbox.kube import CREDENTIALS, KubeSim
from workbench.sandbox.kube.testing import (
    make_node,
    poll,
    write_kubelet_config,
    write_tokens,
)

KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed on PATH")
HEARTBEAT = 0.1
ANSI = re.compile(r"\x1b\[[0-9;]*m")
SEED_SERVICES = ["Heapster", "KubeDNS", "KubeUI", "Grafana", "InfluxDB"]


class Cluster:
    def __init__(self, tmp: Path, minions: int = 1, token: str = "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6") -> None:
        self.tmp = tmp
        self.token = token
        self.sim = KubeSim(delays=SimpleNamespace(kubelet_heartbeat=HEARTBEAT))
        self.master = make_node(tmp, "kubernetes-master", "master")
        self.minions = [make_node(tmp, f"kubernetes-minion-{i + 1}", "minion") for i in range(minions)]
        self.server = f"http://{self.master.addresses[0]}:8080"

    async def start(self, minion_token: str | None = None) -> None:
        write_tokens(self.master, self.token)
        await self.sim.unit_changed(self.master, "kube-apiserver", True)
        for minion in self.minions:
            write_kubelet_config(minion, self.server, minion_token or self.token)
            await self.sim.unit_changed(minion, "kubelet", True)

    def kubeconfig(self, token: str | None = None) -> Path:
        path = self.tmp / "kubeconfig"
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "sandbox",
            "clusters": [{"name": "sandbox", "cluster": {"server": self.server}}],
            "users": [{"name": "admin", "user": {"token": token or self.token}}],
            "contexts": [{"name": "sandbox", "context": {"cluster": "sandbox", "user": "admin"}}],
        }))
        return path

    async def kubectl(self, *args: str, token: str | None = None) -> tuple[int, str, str]:
        assert KUBECTL is not None
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(self.tmp)}
        proc = await asyncio.create_subprocess_exec(
            KUBECTL, f"--kubeconfig={self.kubeconfig(token)}", f"--cache-dir={self.tmp / 'cache'}", *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        return proc.returncode or 0, out.decode(), err.decode()

    async def nodes_json(self) -> dict[str, bool]:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {self.token}"}) as s, \
                s.get(f"{self.server}/api/v1/nodes") as resp:
            body = await resp.json()
        return {n["metadata"]["name"]: any(c["type"] == "Ready" and c["status"] == "True"
                                           for c in n["status"]["conditions"]) for n in body["items"]}


@pytest.fixture
async def cluster(tmp_path: Path):  # type: ignore[no-untyped-def]
    c = Cluster(tmp_path, minions=2)
    yield c
    await c.sim.close()


async def all_ready(c: Cluster) -> bool:
    nodes = await c.nodes_json()
    return sorted(nodes) == sorted(m.name for m in c.minions) and all(nodes.values())


@needs_kubectl
async def test_kubectl_cluster_info_nodes_and_pods(cluster: Cluster) -> None:
    await cluster.start()
    await poll(lambda: all_ready(cluster), what="minions Ready")
    code, out, err = await cluster.kubectl("cluster-info")
    assert code == 0, err
    lines = [ANSI.sub("", line) for line in out.splitlines() if " is running at " in line]
    names = [line.split(" is running at ")[0] for line in lines]
    assert names[0] in ("Kubernetes master", "Kubernetes control plane")
    assert names[1:] == SEED_SERVICES
    assert f"Heapster is running at {cluster.server}/api/v1/namespaces/kube-system/services/heapster/proxy" in lines

    code, out, err = await cluster.kubectl("get", "nodes")
    assert code == 0, err
    rows = [line.split() for line in out.splitlines()[1:]]
    assert out.split()[:5] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert {(r[0], r[1]) for r in rows} == {(m.name, "Ready") for m in cluster.minions}

    code, out, err = await cluster.kubectl("get", "pods", "--all-namespaces")
    assert code == 0, err
    names = [line.split()[1] for line in out.splitlines()[1:]]
    assert "heapster-v10-2b952" in names and "kube-proxy-kubernetes-minion-1" in names
    assert out.splitlines()[0].split()[:5] == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS"]
    assert "4/4" in out and "Running" in out

    code, out, err = await cluster.kubectl("get", "pods", "--all-namespaces", "-o", "json")
    assert code == 0, err
    pods = json.loads(out)["items"]
    assert {p["metadata"]["namespace"] for p in pods} == {"kube-system"}
    assert len(pods) == 4 + len(cluster.minions)
    code, out, err = await cluster.kubectl("get", "nodes", "-o", "json")
    assert code == 0 and len(json.loads(out)["items"]) == 2
    server = cluster.sim.apiservers[cluster.master.server_id]
    assert server.unimplemented == [], list(server.requests)


async def test_every_presented_token_is_checked(cluster: Cluster) -> None:
    await cluster.start()
    url = f"{cluster.server}/api/v1/nodes"
    async with aiohttp.ClientSession() as s:
        async with s.get(url, headers={"Authorization": "Bearer " + "0" * 32}) as resp:
            assert resp.status == 401
            assert (await resp.json())["reason"] == "Unauthorized"
        async with s.post(url, json={"metadata": {"name": "intruder"}}) as resp:
            assert resp.status == 401  # writes need a token
        async with s.get(url) as resp:
            assert resp.status == 200  # anonymous reads: the insecure port, as kubectl uses it
        write_tokens(cluster.master, "7" * 32)  # re-read when the file changes
        async with s.get(url, headers={"Authorization": f"Bearer {cluster.token}"}) as resp:
            assert resp.status == 401


async def test_wrong_kubelet_token_journals_credentials_error(cluster: Cluster) -> None:
    await cluster.start(minion_token="f" * 32)
    minion = cluster.minions[0]

    async def journalled() -> bool:
        return CREDENTIALS in minion.journal_text("kubelet")

    await poll(journalled, what="credentials error in the kubelet journal")
    assert await cluster.nodes_json() == {}  # never registered
    assert cluster.token not in minion.journal_text("kubelet")


async def test_token_regenerated_on_master_makes_nodes_not_ready(cluster: Cluster) -> None:
    await cluster.start()
    await poll(lambda: all_ready(cluster), what="minions Ready")
    old = cluster.token
    cluster.token = "9" * 32
    write_tokens(cluster.master, cluster.token)  # the master re-provisioned with a new token

    async def not_ready() -> bool:
        nodes = await cluster.nodes_json()
        return len(nodes) == 2 and not any(nodes.values())

    await poll(not_ready, what="minions NotReady")
    for minion in cluster.minions:
        assert CREDENTIALS in minion.journal_text("kubelet")
    # the fix: the master's token in each kubeconfig, kubelet restarted
    for minion in cluster.minions:
        write_kubelet_config(minion, cluster.server, cluster.token)
        await cluster.sim.unit_changed(minion, "kubelet", True)
    await poll(lambda: all_ready(cluster), what="minions Ready again")
    assert old != cluster.token


async def test_apiserver_follows_addresses_and_stops(cluster: Cluster, tmp_path: Path) -> None:
    await cluster.start()
    from workbench.sandbox.kube.testing import free_loopback

    floating = free_loopback()
    cluster.master.addrs.append(floating)

    async def answers() -> bool:
        try:
            async with aiohttp.ClientSession() as s, s.get(f"http://{floating}:8080/version",
                                                          headers={"Authorization": f"Bearer {cluster.token}"}) as r:
                return r.status == 200
        except aiohttp.ClientError:
            return False

    await poll(answers, what="API server on the floating address")
    await cluster.sim.unit_changed(cluster.master, "kube-apiserver", False)
    assert not await answers()
    assert cluster.sim.apiservers == {}


