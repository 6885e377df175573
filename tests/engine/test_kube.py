"""engine/kube/client.py against the fake build's real programs (kube_procs.py: etcd,
kube-apiserver, kube-controller-manager, two kubelets) over TLS: through the real kubectl,
and over HTTPS where kubectl is missing; both must read the same cluster-info, nodes and
pods. A wrong token, a foreign CA and a stopped kubelet are what a user meets."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engine.kube_procs import ADMIN_TOKEN, MINIONS, ProgramCluster, start
from tests.sandbox.kubeprog_helpers import Pki
from workbench.engine.kube.client import (
    MASTER,
    ClusterInfo,
    KubeClient,
    KubeError,
    parse_cluster_info,
    parse_pods,
)
from workbench.events import Bus, ClusterInfoChanged
from workbench.models.cluster import Service

KUBECTL = shutil.which("kubectl")  # looked up once: some tests empty PATH
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed on PATH")
WRONG = "f" * 32


def _ago(seconds: float) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def populate(c: ProgramCluster) -> None:
    """Two cluster services (one https) and one that is not, a running pod and a crash-looping one."""
    cluster_service = {"kubernetes.io/cluster-service": "true"}
    c.apply({"apiVersion": "v1", "kind": "Service", "metadata": {
        "name": "kube-dns", "namespace": "kube-system", "labels": {**cluster_service, "kubernetes.io/name": "KubeDNS"}},
        "spec": {"ports": [{"name": "dns", "port": 53, "protocol": "UDP"}]}})
    c.apply({"apiVersion": "v1", "kind": "Service", "metadata": {
        "name": "metrics-server", "namespace": "kube-system", "labels": cluster_service},
        "spec": {"ports": [{"name": "https", "port": 443}]}})
    c.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "internal", "namespace": "kube-system"},
             "spec": {"ports": [{"port": 80}]}})
    container = {"name": "c", "image": "registry.k8s.io/pause:3.10"}
    c.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "coredns-6f6b679f8f-9kqzm", "namespace": "kube-system"},
             "spec": {"containers": [container, {**container, "name": "d"}], "nodeName": MINIONS[0]}},
            {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
             "containerStatuses": [{"name": n, "ready": True, "restartCount": 0, "state": {"running": {"startedAt": _ago(60)}}}
                                   for n in ("c", "d")]})
    c.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-5b8d7c9f-2kq9d", "namespace": "default"},
             "spec": {"containers": [container], "nodeName": MINIONS[1]}},
            {"phase": "Running", "containerStatuses": [{
                "name": "c", "ready": False, "restartCount": 3,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": _ago(300)}}}]})


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProgramCluster]:
    c = start(tmp_path_factory.mktemp("kube-programs"))
    try:
        if KUBECTL is not None:
            populate(c)
        yield c
    finally:
        c.procs.stop_all()


def check(info: ClusterInfo, c: ProgramCluster) -> None:
    """What the programs hold, as kubectl prints it."""
    assert info.server == c.server
    if KUBECTL is not None:  # the services and pods were made with it
        assert info.services[0] == Service(MASTER, c.server)
        assert sorted((s.name, s.url) for s in info.services[1:]) == [  # in the server's order
            ("KubeDNS", f"{c.server}/api/v1/namespaces/kube-system/services/kube-dns:dns/proxy"),
            ("metrics-server", f"{c.server}/api/v1/namespaces/kube-system/services/https:metrics-server:https/proxy"),
        ]
        pods = {(p.namespace, p.name): p for p in info.pods}
        assert sorted(pods) == [("default", "web-5b8d7c9f-2kq9d"), ("kube-system", "coredns-6f6b679f8f-9kqzm")]
        running, crashing = pods["kube-system", "coredns-6f6b679f8f-9kqzm"], pods["default", "web-5b8d7c9f-2kq9d"]
        assert (running.ready, running.status, running.restarts) == ("2/2", "Running", 0)
        assert (crashing.ready, crashing.status, crashing.restarts) == ("0/1", "CrashLoopBackOff", 3)
        assert crashing.restarts_text.startswith("3 (") and crashing.restarts_text.endswith(" ago)")
    assert [(n.name, n.ready, n.status, n.roles, n.version) for n in info.nodes] == [
        (name, True, "Ready", "<none>", "v1.32.4") for name in MINIONS]


@needs_kubectl
async def test_kubectl_with_the_admin_certificate(cluster: ProgramCluster, tmp_path: Path) -> None:
    bus = Bus()
    sub = bus.subscribe()
    client = KubeClient(cluster.server, None, tmp_path / "k", bus=bus, ca_pem=cluster.ca_pem,
                        client_pem=cluster.admin_pem)
    info = await client.refresh()
    assert info.source == "kubectl"
    check(info, cluster)
    assert client.kubeconfig_path.stat().st_mode & 0o777 == 0o600
    events = sub.get_nowait()
    assert [type(e) for e in events] == [ClusterInfoChanged] and events[0].info == info


@needs_kubectl
async def test_kubectl_with_a_token(cluster: ProgramCluster, tmp_path: Path) -> None:
    info = await KubeClient(cluster.server, ADMIN_TOKEN, tmp_path / "t", ca_pem=cluster.ca_pem).refresh()
    assert info.source == "kubectl"
    check(info, cluster)


@pytest.mark.parametrize("credential", ["certificate", "token"])
async def test_https_without_kubectl_on_path(cluster: ProgramCluster, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch, credential: str) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    client = (KubeClient(cluster.server, None, tmp_path / "h", ca_pem=cluster.ca_pem, client_pem=cluster.admin_pem)
              if credential == "certificate" else
              KubeClient(cluster.server, ADMIN_TOKEN, tmp_path / "h", ca_pem=cluster.ca_pem))
    assert client.kubectl is None
    info = await client.refresh()
    assert info.source == "http"
    check(info, cluster)


@needs_kubectl
async def test_both_paths_agree(cluster: ProgramCluster, tmp_path: Path) -> None:
    """services_from_api computes what the real kubectl cluster-info prints (names, https ports, labels)."""
    a = await KubeClient(cluster.server, ADMIN_TOKEN, tmp_path / "a", ca_pem=cluster.ca_pem).refresh()
    b = await KubeClient(cluster.server, ADMIN_TOKEN, tmp_path / "b", kubectl=None, ca_pem=cluster.ca_pem).refresh()
    assert (a.source, b.source) == ("kubectl", "http")
    assert (a.services, a.nodes) == (b.services, b.nodes)
    assert [(p.namespace, p.name, p.ready, p.status, p.restarts) for p in a.pods] == \
           [(p.namespace, p.name, p.ready, p.status, p.restarts) for p in b.pods]


@needs_kubectl
async def test_wrong_token_with_kubectl_is_unauthorized(cluster: ProgramCluster, tmp_path: Path) -> None:
    client = KubeClient(cluster.server, WRONG, tmp_path / "wk", ca_pem=cluster.ca_pem)
    with pytest.raises(KubeError, match=r"You must be logged in to the server.*: is the cluster token right\?") as caught:
        await client.refresh()
    assert "\n" not in str(caught.value) and WRONG not in str(caught.value)
    assert WRONG in client.kubeconfig_path.read_text()  # it was sent, and refused
    assert "Unable to authenticate the request" in cluster.procs.log("kube-apiserver")


async def test_wrong_token_over_https_is_one_clear_error(cluster: ProgramCluster, tmp_path: Path) -> None:
    with pytest.raises(KubeError, match=r"You must be logged in to the server \(Unauthorized\): is the cluster token right") as caught:
        await KubeClient(cluster.server, WRONG, tmp_path / "w", kubectl=None, ca_pem=cluster.ca_pem).refresh()
    assert "\n" not in str(caught.value) and WRONG not in str(caught.value)


@pytest.mark.parametrize("kubectl", ["auto", None])
async def test_no_credential_is_named(cluster: ProgramCluster, tmp_path: Path,
                                                        kubectl: str | None) -> None:
    """Over HTTPS the API server (anonymous auth on, as a real one) answers 403 naming the user."""
    if kubectl == "auto" and KUBECTL is None:
        pytest.skip("kubectl is not installed on PATH")
    # kubectl would prompt for a username (and read EOF): the engine names what is missing first
    what = r'Forbidden.*User "system:anonymous" cannot' if kubectl is None else r"no credential for kubectl"
    with pytest.raises(KubeError, match=what) as caught:
        await KubeClient(cluster.server, None, tmp_path / "n", kubectl=kubectl, ca_pem=cluster.ca_pem).refresh()
    assert "\n" not in str(caught.value) and cluster.server in str(caught.value)


@pytest.mark.parametrize("kubectl", ["auto", None])
async def test_a_foreign_ca_is_refused(cluster: ProgramCluster, tmp_path: Path, kubectl: str | None) -> None:
    if kubectl == "auto" and KUBECTL is None:
        pytest.skip("kubectl is not installed on PATH")
    other = Pki(tmp_path / "other").ca_path.read_bytes()
    for ca in (other, None):  # another cluster's CA; the system's roots
        with pytest.raises(KubeError, match=r"x509|certificate") as caught:
            await KubeClient(cluster.server, ADMIN_TOKEN, tmp_path / "x", kubectl=kubectl, ca_pem=ca).refresh()
        assert "\n" not in str(caught.value) and cluster.server.split("//")[1] in str(caught.value)


@pytest.mark.parametrize("kubectl", ["auto", None])
async def test_a_client_certificate_of_another_ca_is_refused(cluster: ProgramCluster, tmp_path: Path,
                                                            kubectl: str | None) -> None:
    if kubectl == "auto" and KUBECTL is None:
        pytest.skip("kubectl is not installed on PATH")
    crt, key = Pki(tmp_path / "intruder").issue("admin", "kubernetes-admin", ("system:masters",))
    pem = tmp_path / "intruder.pem"
    pem.write_bytes(crt.read_bytes() + key.read_bytes())
    with pytest.raises(KubeError) as caught:
        await KubeClient(cluster.server, None, tmp_path / "i", kubectl=kubectl, ca_pem=cluster.ca_pem,
                         client_pem=pem).refresh()
    assert "\n" not in str(caught.value) and cluster.server.split("//")[1] in str(caught.value)


async def test_a_stopped_kubelet_is_not_ready_on_both_paths(cluster: ProgramCluster, tmp_path: Path) -> None:
    """The controller manager marks a node whose kubelet stopped posting NotReady; the engine says so."""
    http = KubeClient(cluster.server, ADMIN_TOKEN, tmp_path / "h", kubectl=None, ca_pem=cluster.ca_pem)
    cluster.procs.stop(MINIONS[1])
    try:
        async def not_ready() -> ClusterInfo | None:
            info = await http.refresh()
            return info if [n.ready for n in info.nodes] == [True, False] else None

        info = await apoll(not_ready, 30, f"{MINIONS[1]} NotReady")
        assert [(n.name, n.status) for n in info.nodes] == [(MINIONS[0], "Ready"), (MINIONS[1], "NotReady")]
        if KUBECTL is not None:
            seen = await KubeClient(cluster.server, ADMIN_TOKEN, tmp_path / "k", ca_pem=cluster.ca_pem).refresh()
            assert [(n.name, n.ready, n.status) for n in seen.nodes] == [
                (MINIONS[0], True, "Ready"), (MINIONS[1], False, "NotReady")]
    finally:  # put it back for the module's other tests
        cluster.start_kubelet(MINIONS[1])

        async def ready() -> bool:
            return all(n.ready for n in (await http.refresh()).nodes)

        await apoll(ready, 30, "both minions Ready again")


async def test_unreachable_server_is_one_clear_error(tmp_path: Path) -> None:
    client = KubeClient("http://127.0.0.1:9", ADMIN_TOKEN, tmp_path / "u", kubectl=None, timeout=3)
    with pytest.raises(KubeError, match=r"127\.0\.0\.1:9"):
        await client.refresh()


async def apoll(check, seconds: float, what: str):  # type: ignore[no-untyped-def]
    import asyncio
    import time

    end = time.monotonic() + seconds
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"{what}: not within {seconds} s")
        await asyncio.sleep(0.2)


def test_cluster_info_colours_stripped() -> None:
    text = ("\x1b[0;32mKubernetes control plane\x1b[0m is running at \x1b[0;33mhttps://127.0.0.2:6443\x1b[0m\n"
            "\x1b[0;32mKubeDNS\x1b[0m is running at \x1b[0;33mhttps://127.0.0.2:6443/api/v1/namespaces/kube-system/"
            "services/kube-dns:dns/proxy\x1b[0m\n\nTo further debug and diagnose cluster problems, use "
            "'kubectl cluster-info dump'.\n")
    assert parse_cluster_info(text) == (
        Service(MASTER, "https://127.0.0.2:6443"),
        Service("KubeDNS", "https://127.0.0.2:6443/api/v1/namespaces/kube-system/services/kube-dns:dns/proxy"),
    )


def test_bad_json_is_a_kube_error() -> None:
    with pytest.raises(KubeError):
        parse_pods("{not json")
    assert parse_pods('{"items": [{"metadata": {"name": "x"}}]}')[0].ready == "0/0"
