"""engine/kube/client.py against the sandbox's Kubernetes (KubeSim) over TLS, with and without kubectl."""

from __future__ import annotations

import shutil
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

from workbench.engine.kube.client import (
    MASTER,
    ClusterInfo,
    KubeClient,
    KubeError,
    parse_cluster_info,
    parse_pods,
    server_url,
)
from workbench.events import Bus, ClusterInfoChanged

TOKEN = "0123456789abcdef0123456789abcdef"
SEED = [MASTER, "Heapster", "KubeDNS", "KubeUI", "Grafana", "InfluxDB"]
needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed on PATH")


CA: dict[str, bytes] = {}  # server URL -> its cluster CA


@pytest.fixture
async def server(tmp_path: Path):  # type: ignore[no-untyped-def]
    sim = KubeSim(delays=SimpleNamespace(kubelet_heartbeat=0.1))
    master = make_node(tmp_path, "kubernetes-master", "master")
    minions = [make_node(tmp_path, f"kubernetes-minion-{i}", "minion") for i in (1, 2)]
    url = server_url(master.addresses[0], tls=True)
    ca = CA[url] = write_certs(master)
    write_tokens(master, TOKEN)
    await sim.unit_changed(master, "kube-apiserver", True)
    for minion in minions:
        write_kubelet_config(minion, url, TOKEN, ca)
        await sim.unit_changed(minion, "kubelet", True)
    client = KubeClient(url, TOKEN, tmp_path / "state", kubectl=None, ca_pem=ca)

    async def ready() -> bool:
        info = await client.refresh()
        return len(info.nodes) == 2 and all(n.ready for n in info.nodes)

    await poll(ready, what="both minions Ready")
    yield url
    await sim.close()


def check(info: ClusterInfo, url: str) -> None:
    assert [s.name for s in info.services] == SEED
    assert info.services[0].url == url
    assert info.services[1].url == f"{url}/api/v1/namespaces/kube-system/services/heapster/proxy"
    assert [(n.name, n.ready) for n in info.nodes] == [("kubernetes-minion-1", True), ("kubernetes-minion-2", True)]
    assert all(n.version.startswith("v1.") for n in info.nodes)
    pods = {p.name: p for p in info.pods}
    assert pods["kube-dns-v10-4le5i"].ready == "4/4"
    assert pods["monitoring-influxdb-grafana-v2-m04pf"].ready == "2/2"
    assert {p.status for p in info.pods} == {"Running"}
    assert "kube-proxy-kubernetes-minion-2" in pods


@needs_kubectl
async def test_with_kubectl(server: str, tmp_path: Path) -> None:
    bus = Bus()
    sub = bus.subscribe()
    client = KubeClient(server, TOKEN, tmp_path / "k", bus=bus, ca_pem=CA[server])
    info = await client.refresh()
    assert info.source == "kubectl"
    check(info, server)
    assert client.kubeconfig_path.stat().st_mode & 0o777 == 0o600
    assert server.startswith("https://") and server.endswith(":6443")
    events = sub.get_nowait()
    assert [type(e) for e in events] == [ClusterInfoChanged] and events[0].info == info


async def test_without_kubectl_on_path(server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    client = KubeClient(server, TOKEN, tmp_path / "h", ca_pem=CA[server])
    assert client.kubectl is None
    info = await client.refresh()
    assert info.source == "http"
    check(info, server)


@needs_kubectl
async def test_both_paths_agree(server: str, tmp_path: Path) -> None:
    a = await KubeClient(server, TOKEN, tmp_path / "a", ca_pem=CA[server]).refresh()
    b = await KubeClient(server, TOKEN, tmp_path / "b", kubectl=None, ca_pem=CA[server]).refresh()
    assert (a.services, a.nodes, a.pods) == (b.services, b.nodes, b.pods)


@needs_kubectl
async def test_wrong_token_with_kubectl_is_unauthorized(server: str, tmp_path: Path) -> None:
    client = KubeClient(server, "f" * 32, tmp_path / "wk", ca_pem=CA[server])
    with pytest.raises(KubeError, match=r"You must be logged in to the server") as caught:
        await client.refresh()
    assert "\n" not in str(caught.value) and "f" * 32 not in str(caught.value)
    assert "f" * 32 in client.kubeconfig_path.read_text()  # it was sent, and refused


async def test_wrong_token_over_https_is_one_clear_error(server: str, tmp_path: Path) -> None:
    with pytest.raises(KubeError, match=r"You must be logged in to the server \(Unauthorized\): is the cluster token right") as caught:
        await KubeClient(server, "f" * 32, tmp_path / "w", kubectl=None, ca_pem=CA[server]).refresh()
    assert "\n" not in str(caught.value)
    with pytest.raises(KubeError, match="Unauthorized"):
        await KubeClient(server, None, tmp_path / "n", kubectl=None, ca_pem=CA[server]).refresh()


@pytest.mark.parametrize("kubectl", ["auto", None])
async def test_a_foreign_ca_is_refused(server: str, tmp_path: Path, kubectl: str | None) -> None:
    if kubectl == "auto" and shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed on PATH")
    other = write_certs(make_node(tmp_path, "elsewhere", "master"))
    for ca in (other, None):
        with pytest.raises(KubeError, match=r"x509|certificate") as caught:
            await KubeClient(server, TOKEN, tmp_path / "x", kubectl=kubectl, ca_pem=ca).refresh()
        assert "\n" not in str(caught.value)


async def test_unreachable_server_is_one_clear_error(tmp_path: Path) -> None:
    client = KubeClient("http://127.0.0.1:9", TOKEN, tmp_path / "u", kubectl=None, timeout=3)
    with pytest.raises(KubeError, match=r"127\.0\.0\.1:9"):
        await client.refresh()


def test_cluster_info_colours_stripped() -> None:
    text = ("\x1b[0;32mKubernetes control plane\x1b[0m is running at \x1b[0;33mhttp://127.0.0.2:8080\x1b[0m\n"
            "\x1b[0;32mKubeDNS\x1b[0m is running at \x1b[0;33mhttp://127.0.0.2:8080/api/v1/namespaces/kube-system/"
            "services/kube-dns/proxy\x1b[0m\n\nTo further debug and diagnose cluster problems, use "
            "'kubectl cluster-info dump'.\n")
    services = parse_cluster_info(text)
    assert [(s.name, s.url) for s in services] == [
        (MASTER, "http://127.0.0.2:8080"),
        ("KubeDNS", "http://127.0.0.2:8080/api/v1/namespaces/kube-system/services/kube-dns/proxy"),
    ]


def test_bad_json_is_a_kube_error() -> None:
    with pytest.raises(KubeError):
        parse_pods("{not json")
    assert parse_pods('{"items": [{"metadata": {"name": "x"}}]}')[0].ready == "0/0"
