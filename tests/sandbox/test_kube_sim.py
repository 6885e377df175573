"""KubeSim driven directly: its API server answers the real kubectl over TLS with a token;
kubelets register with their CA and token."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import ssl
from pathlib import Path
from types import SimpleNamespace

import aiohttp
import pytest

from workbench.sandbox.kube import CREDENTIALS, KubeSim
from workbench.sandbox.kube.testing import (
    make_node,
    poll,
    write_certs,
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
        self.server = f"https://{self.master.addresses[0]}:6443"
        self.insecure = f"http://{self.master.addresses[0]}:8080"
        self.ca = write_certs(self.master)
        self.tls = ssl.create_default_context(cadata=self.ca.decode())

    async def start(self, minion_token: str | None = None) -> None:
        write_tokens(self.master, self.token)
        await self.sim.unit_changed(self.master, "kube-apiserver", True)
        for minion in self.minions:
            write_kubelet_config(minion, self.server, minion_token or self.token, self.ca)
            await self.sim.unit_changed(minion, "kubelet", True)

    def kubeconfig(self, token: str | None = None, *, ca: bytes | None = None, server: str | None = None) -> Path:
        path = self.tmp / "kubeconfig"
        cluster = {"server": server or self.server}
        if (server or self.server).startswith("https"):
            cluster["certificate-authority-data"] = base64.b64encode(ca or self.ca).decode()
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "sandbox",
            "clusters": [{"name": "sandbox", "cluster": cluster}],
            "users": [{"name": "admin", "user": {"token": token or self.token}}],
            "contexts": [{"name": "sandbox", "context": {"cluster": "sandbox", "user": "admin"}}],
        }))
        return path

    async def kubectl(self, *args: str, token: str | None = None, ca: bytes | None = None,
                      server: str | None = None) -> tuple[int, str, str]:
        assert KUBECTL is not None
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(self.tmp)}
        config = self.kubeconfig(token, ca=ca, server=server)
        proc = await asyncio.create_subprocess_exec(
            KUBECTL, f"--kubeconfig={config}", f"--cache-dir={self.tmp / 'cache'}", "--request-timeout=10s", *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        return proc.returncode or 0, out.decode(), err.decode()

    async def nodes_json(self) -> dict[str, bool]:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {self.token}"}) as s, \
                s.get(f"{self.server}/api/v1/nodes", ssl=self.tls) as resp:
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


@needs_kubectl
async def test_kubectl_with_a_wrong_token_is_unauthorized(cluster: Cluster) -> None:
    await cluster.start()
    # a fresh discovery cache: kubectl 1.32 fails on discovery and words it client-go's way
    code, out, err = await cluster.kubectl("get", "nodes", token="f" * 32)
    assert code != 0 and ("error: You must be logged in to the server (the server has asked for the client "
                          "to provide credentials)") in err, (out, err)
    code, _out, err = await cluster.kubectl("get", "nodes")
    assert code == 0, err
    # discovery cached: the request itself gets the 401 Status, printed as (Unauthorized)
    code, out, err = await cluster.kubectl("get", "nodes", token="f" * 32)
    assert code != 0 and "error: You must be logged in to the server (Unauthorized)" in err, (out, err)
    journal = cluster.master.journal_text("kube-apiserver")
    assert "invalid bearer token" in journal and "Serving securely on https://" in journal
    assert cluster.token not in journal and "f" * 32 not in journal


@needs_kubectl
async def test_kubectl_refuses_a_certificate_from_another_ca(cluster: Cluster, tmp_path: Path) -> None:
    await cluster.start()
    other = make_node(tmp_path, "elsewhere", "master")
    code, _out, err = await cluster.kubectl("get", "nodes", ca=write_certs(other))
    assert code != 0 and "x509" in err and "unknown authority" in err, err


@needs_kubectl
async def test_insecure_port_is_the_seeds_read_only_8080(cluster: Cluster) -> None:
    await cluster.start()
    await poll(lambda: all_ready(cluster), what="minions Ready")
    code, out, err = await cluster.kubectl("cluster-info", server=cluster.insecure)
    assert code == 0, err
    lines = [ANSI.sub("", line) for line in out.splitlines() if " is running at " in line]
    assert [line.split(" is running at ")[0] for line in lines][1:] == SEED_SERVICES
    assert lines[0].endswith(f"is running at {cluster.insecure}")
    async with aiohttp.ClientSession() as s, s.post(f"{cluster.insecure}/api/v1/nodes",
                                                    json={"metadata": {"name": "intruder"}}) as resp:
        assert resp.status == 403 and (await resp.json())["reason"] == "Forbidden"
    assert "intruder" not in await cluster.nodes_json()


async def test_every_request_on_the_secure_port_needs_a_known_token(cluster: Cluster) -> None:
    await cluster.start()
    url = f"{cluster.server}/api/v1/nodes"
    async with aiohttp.ClientSession() as s:
        for headers in ({}, {"Authorization": "Bearer " + "0" * 32}, {"Authorization": "Basic dmFncmFudDp2YWdyYW50"}):
            for path in ("/api/v1/nodes", "/version", "/api"):
                async with s.get(cluster.server + path, headers=headers, ssl=cluster.tls) as resp:
                    assert resp.status == 401, (path, headers)
                    body = await resp.json()
                    assert (body["kind"], body["reason"], body["code"]) == ("Status", "Unauthorized", 401)
        async with s.post(url, json={"metadata": {"name": "intruder"}}, ssl=cluster.tls) as resp:
            assert resp.status == 401
        auth = {"Authorization": f"Bearer {cluster.token}"}
        async with s.get(url, headers=auth, ssl=cluster.tls) as resp:
            assert resp.status == 200
        write_tokens(cluster.master, "7" * 32)  # re-read when the file changes
        async with s.get(url, headers=auth, ssl=cluster.tls) as resp:
            assert resp.status == 401
        with pytest.raises(aiohttp.ClientConnectorCertificateError):  # the system roots do not know our CA
            async with s.get(url, headers=auth):
                pass


async def test_wrong_kubelet_token_journals_credentials_error(cluster: Cluster) -> None:
    await cluster.start(minion_token="f" * 32)
    minion = cluster.minions[0]

    async def journalled() -> bool:
        return CREDENTIALS in minion.journal_text("kubelet")

    await poll(journalled, what="credentials error in the kubelet journal")
    assert await cluster.nodes_json() == {}  # never registered
    assert cluster.token not in minion.journal_text("kubelet")


async def test_kubelet_verifies_the_master_with_its_ca(cluster: Cluster, tmp_path: Path) -> None:
    other = make_node(tmp_path, "elsewhere", "master")
    await cluster.start()
    minion = cluster.minions[0]
    write_kubelet_config(minion, cluster.server, cluster.token, write_certs(other))
    await cluster.sim.unit_changed(minion, "kubelet", True)

    async def refused() -> bool:
        return "x509: certificate signed by unknown authority" in minion.journal_text("kubelet")

    await poll(refused, what="x509 error in the kubelet journal")
    assert minion.name not in await cluster.nodes_json()


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
        write_kubelet_config(minion, cluster.server, cluster.token, cluster.ca)
        await cluster.sim.unit_changed(minion, "kubelet", True)
    await poll(lambda: all_ready(cluster), what="minions Ready again")
    assert old != cluster.token


async def test_apiserver_follows_addresses_and_stops(cluster: Cluster, tmp_path: Path) -> None:
    from workbench.sandbox.kube.testing import free_loopback

    floating = free_loopback(6443)
    cluster.master.addrs.append(floating)
    cluster.ca = write_certs(cluster.master)  # re-issued for the new address, same CA
    cluster.tls = ssl.create_default_context(cadata=cluster.ca.decode())
    await cluster.start()

    async def answers() -> bool:
        try:
            async with aiohttp.ClientSession() as s, s.get(f"https://{floating}:6443/version", ssl=cluster.tls,
                                                          headers={"Authorization": f"Bearer {cluster.token}"}) as r:
                return r.status == 200
        except aiohttp.ClientError:
            return False

    await poll(answers, what="API server on the floating address")
    await cluster.sim.unit_changed(cluster.master, "kube-apiserver", False)
    assert not await answers()
    assert cluster.sim.apiservers == {}


async def test_without_certificates_only_the_insecure_port_serves(tmp_path: Path) -> None:
    sim = KubeSim(delays=SimpleNamespace(kubelet_heartbeat=HEARTBEAT))
    master = make_node(tmp_path, "kubernetes-master", "master")
    try:
        await sim.unit_changed(master, "kube-apiserver", True)
        assert "Unable to listen for secure (open /srv/kubernetes/server.cert" in master.journal_text("kube-apiserver")
        async with aiohttp.ClientSession() as s:
            async with s.get(f"http://{master.addresses[0]}:8080/version") as resp:
                assert resp.status == 200
            with pytest.raises(aiohttp.ClientConnectorError):
                async with s.get(f"https://{master.addresses[0]}:6443/version", ssl=False):
                    pass
    finally:
        await sim.close()
