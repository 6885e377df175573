"""The fake build's Kubernetes programs: real command lines, and a cluster of them that the
real kubectl sees (etcd + kube-apiserver + kubelet + kube-controller-manager as processes)."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sandbox.kubeprog_helpers import (
    VERSION,
    Pki,
    Processes,
    build_release,
    free_port,
    kubeconfig,
    loopback,
    poll,
    unpack,
)

KUBECTL = shutil.which("kubectl")


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("release")
    return unpack(build_release(tmp / "kube"), tmp / "node")


def run(binary: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=30)


def server_bin(release: Path, name: str) -> Path:
    return release / "kubernetes" / "server" / "bin" / name


@pytest.mark.parametrize(("name", "flag", "message"), [
    ("kube-apiserver", "--insecure-port=8080", "Error: unknown flag: --insecure-port"),
    ("kube-apiserver", "--address=127.0.0.1", "Error: unknown flag: --address"),
    ("kube-controller-manager", "--port=10252", "Error: unknown flag: --port"),
    ("kube-scheduler", "--policy-config-file=/x", "Error: unknown flag: --policy-config-file"),
    ("kube-proxy", "--resource-container=/x", "Error: unknown flag: --resource-container"),
])
def test_cobra_components_reject_removed_flags(release: Path, name: str, flag: str, message: str) -> None:
    done = run(server_bin(release, name), flag)
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == message  # cli.Run prints usage first, then the error
    assert done.stderr.startswith(f"Usage:\n  {name} [flags]")


@pytest.mark.parametrize("flag", ["--container-runtime=remote", "--network-plugin=cni"])
def test_kubelet_rejects_removed_flags_through_klog(release: Path, flag: str) -> None:
    done = run(server_bin(release, "kubelet"), flag)
    assert done.returncode == 1
    name = flag.split("=")[0]
    assert f'run.go:72] "command failed" err="failed to parse kubelet flag: unknown flag: {name}"' in done.stderr


def test_etcd_rejects_unknown_flags_as_go_flag_does(release: Path) -> None:
    etcd = release / "etcd-v3.5.16-linux-amd64" / "etcd"
    done = run(etcd, "--listen-foo=x")
    assert done.returncode == 2
    assert done.stderr.startswith("flag provided but not defined: -listen-foo\nUsage:")
    assert run(etcd, "--version").stdout.startswith("etcd Version: 3.5.16\n")


def test_versions_and_deprecations(release: Path) -> None:
    for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy", "kubelet"):
        assert run(server_bin(release, name), "--version").stdout == f"Kubernetes {VERSION}\n"
    done = run(server_bin(release, "kube-apiserver"), "--apiserver-count=3")
    assert "Flag --apiserver-count has been deprecated" in done.stderr


def test_missing_files_are_named(release: Path, tmp_path: Path) -> None:
    apiserver = server_bin(release, "kube-apiserver")
    key = tmp_path / "sa.key"
    key.write_text("x")
    done = run(apiserver, "--etcd-servers=http://127.0.0.1:1", "--service-account-issuer=https://kubernetes.default.svc",
               f"--service-account-signing-key-file={key}", f"--tls-cert-file={tmp_path}/missing.crt")
    assert done.returncode == 1
    assert f"open {tmp_path}/missing.crt: no such file or directory" in done.stderr
    done = run(apiserver, "--secure-port=6443")
    assert "--etcd-servers must be specified" in done.stderr and done.returncode == 1
    done = run(server_bin(release, "kubelet"), f"--config={tmp_path}/nope.yaml")
    assert done.returncode == 1 and f"{tmp_path}/nope.yaml" in done.stderr
    config = tmp_path / "wrong.yaml"
    config.write_text("apiVersion: v1\nkind: Pod\n")
    done = run(server_bin(release, "kubelet"), f"--config={config}")
    assert 'no kind \\"Pod\\" is registered for version \\"v1\\"' in done.stderr


@pytest.fixture
def cluster(release: Path, tmp_path: Path) -> Iterator[dict[str, object]]:
    procs = Processes(tmp_path / "logs")
    addr = loopback()
    etcd_port, api_port = free_port(addr), free_port(addr)
    pki = Pki(tmp_path / "pki")
    server_crt, server_key = pki.issue("apiserver", "kube-apiserver", ips=(addr,))
    admin_crt, admin_key = pki.issue("admin", "kubernetes-admin", ("system:masters",))
    sa_crt, sa_key = pki.issue("sa", "service-accounts")
    tokens = tmp_path / "known_tokens.csv"
    tokens.write_text('kubelet-token-1,system:node:node-1,uid-1,"system:nodes"\n'
                      "kcm-token,system:kube-controller-manager,uid-2\n")
    server = f"https://{addr}:{api_port}"
    procs.start("etcd", [str(release / "etcd-v3.5.16-linux-amd64/etcd"), "--name", "master",
                         "--data-dir", str(tmp_path / "etcd"), f"--listen-client-urls=http://{addr}:{etcd_port}",
                         f"--advertise-client-urls=http://{addr}:{etcd_port}"])
    procs.start("kube-apiserver", [
        str(server_bin(release, "kube-apiserver")), f"--bind-address={addr}", f"--advertise-address={addr}",
        f"--secure-port={api_port}", f"--etcd-servers=http://{addr}:{etcd_port}",
        f"--tls-cert-file={server_crt}", f"--tls-private-key-file={server_key}", f"--client-ca-file={pki.ca_path}",
        f"--token-auth-file={tokens}", "--service-cluster-ip-range=10.0.0.0/24", "--authorization-mode=Node,RBAC",
        f"--service-account-key-file={sa_crt}", f"--service-account-signing-key-file={sa_key}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local", "--allow-privileged=true", "--v=2"])
    admin = kubeconfig(tmp_path / "admin.kubeconfig", server, pki.ca_path, cert=admin_crt, key=admin_key)
    try:
        yield {"procs": procs, "server": server, "pki": pki, "admin": admin, "tmp": tmp_path, "addr": addr,
               "release": release}
    finally:
        procs.stop_all()


def kubectl(admin: object, *args: str) -> subprocess.CompletedProcess[str]:
    assert KUBECTL is not None
    return subprocess.run([KUBECTL, f"--kubeconfig={admin}", *args], capture_output=True, text=True, timeout=30)


def start_kubelet(cluster: dict[str, object], token: str, name: str = "kubelet") -> None:
    tmp, release = Path(str(cluster["tmp"])), Path(str(cluster["release"]))
    pki = cluster["pki"]
    assert isinstance(pki, Pki)
    kc = kubeconfig(tmp / f"{name}.kubeconfig", str(cluster["server"]), pki.ca_path, token=token)
    config = tmp / "kubelet-config.yaml"
    config.write_text("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
                      "nodeStatusUpdateFrequency: 500ms\nauthentication:\n  anonymous:\n    enabled: false\n"
                      "clusterDNS:\n  - 10.0.0.10\n")
    procs = cluster["procs"]
    assert isinstance(procs, Processes)
    procs.start(name, [str(server_bin(release, "kubelet")), f"--kubeconfig={kc}", f"--config={config}",
                       "--hostname-override=node-1", f"--node-ip={cluster['addr']}", "--v=2"])


def node_ready(admin: object) -> str:
    done = kubectl(admin, "get", "nodes", "--no-headers")
    return done.stdout if done.returncode == 0 and done.stdout.split()[1:2] == ["Ready"] else ""


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
def test_real_kubectl_sees_the_kubelet_ready_then_not_ready_with_a_wrong_token(cluster: dict[str, object]) -> None:
    admin, procs = cluster["admin"], cluster["procs"]
    assert isinstance(procs, Processes)
    poll(lambda: kubectl(admin, "get", "--raw", "/healthz").stdout == "ok", 30, "the API server")
    start_kubelet(cluster, "kubelet-token-1")
    row = str(poll(lambda: node_ready(admin), 30, "node-1 Ready"))
    assert row.split()[0] == "node-1" and row.split()[-1] == VERSION
    version = json.loads(kubectl(admin, "version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"] == VERSION
    info = kubectl(admin, "cluster-info")
    assert f"Kubernetes control plane is running at {cluster['server']}" in info.stdout
    pods = kubectl(admin, "get", "pods", "-A")
    assert pods.returncode == 0 and "No resources found" in pods.stderr
    wide = kubectl(admin, "get", "nodes", "-o", "wide", "--no-headers").stdout.split()
    assert str(cluster["addr"]) in wide  # the --node-ip the kubelet was given

    # a token the API server does not know: the kubelet is refused and the node goes NotReady
    procs.stop("kubelet")
    tmp = Path(str(cluster["tmp"]))
    server = str(cluster["server"])
    pki = cluster["pki"]
    assert isinstance(pki, Pki)
    kcm = kubeconfig(tmp / "kcm.kubeconfig", server, pki.ca_path, token="kcm-token")
    procs.start("kube-controller-manager", [
        str(server_bin(Path(str(cluster["release"])), "kube-controller-manager")), f"--kubeconfig={kcm}",
        "--node-monitor-period=200ms", "--node-monitor-grace-period=2s", "--leader-elect=false"])
    start_kubelet(cluster, "regenerated-token", name="kubelet-wrong")
    poll(lambda: "Unauthorized" in procs.log("kubelet-wrong"), 30, "the kubelet's refusal")
    assert '"Unable to register node with API server" err="Unauthorized" node="node-1"' in procs.log("kubelet-wrong")
    row = str(poll(lambda: (lambda d: d.stdout if "NotReady" in d.stdout else "")(
        kubectl(admin, "get", "nodes", "--no-headers")), 30, "node-1 NotReady"))
    assert row.split()[:2] == ["node-1", "NotReady"]
    reason = kubectl(admin, "get", "node", "node-1", "-o", "jsonpath={.status.conditions[0].message}").stdout
    assert reason == "Kubelet stopped posting node status."


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
def test_credentials_are_checked(cluster: dict[str, object]) -> None:
    tmp, server, pki = Path(str(cluster["tmp"])), str(cluster["server"]), cluster["pki"]
    assert isinstance(pki, Pki)
    admin = cluster["admin"]
    poll(lambda: kubectl(admin, "get", "--raw", "/healthz").stdout == "ok", 30, "the API server")
    bad = kubeconfig(tmp / "bad.kubeconfig", server, pki.ca_path, token="nope")
    done = kubectl(bad, "get", "nodes")
    assert done.returncode == 1 and "error: You must be logged in to the server" in done.stderr
    other_ca = Pki(tmp / "other")
    crt, key = other_ca.issue("intruder", "kubernetes-admin", ("system:masters",))
    done = kubectl(kubeconfig(tmp / "intruder.kubeconfig", server, pki.ca_path, cert=crt, key=key), "get", "nodes")
    # a certificate from another CA: refused in the handshake (the real server answers 401 after
    # it; Python's ssl cannot ask for a client certificate without verifying it)
    assert done.returncode == 1 and "Unable to connect to the server: remote error: tls:" in done.stderr
    nobody_crt, nobody_key = pki.issue("nobody", "jane", ("developers",))
    done = kubectl(kubeconfig(tmp / "jane.kubeconfig", server, pki.ca_path, cert=nobody_crt, key=nobody_key),
                   "get", "nodes")
    assert 'User "jane" cannot list resource "nodes"' in done.stderr


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
def test_control_plane_with_kubeadm_style_command_lines(cluster: dict[str, object]) -> None:
    """The flags and config files kubeadm / kubernetes-the-hard-way (v1.32) give each program,
    client certificates throughout: every program comes up and the node is Ready."""
    tmp, server, procs, pki = Path(str(cluster["tmp"])), str(cluster["server"]), cluster["procs"], cluster["pki"]
    release = Path(str(cluster["release"]))
    assert isinstance(procs, Processes) and isinstance(pki, Pki)
    poll(lambda: kubectl(cluster["admin"], "get", "--raw", "/healthz").stdout == "ok", 30, "the API server")
    kcm_crt, kcm_key = pki.issue("kcm", "system:kube-controller-manager")
    kcm = kubeconfig(tmp / "controller-manager.kubeconfig", server, pki.ca_path, cert=kcm_crt, key=kcm_key)
    procs.start("kube-controller-manager", [
        str(server_bin(release, "kube-controller-manager")), "--bind-address=127.0.0.1", f"--kubeconfig={kcm}",
        f"--authentication-kubeconfig={kcm}", f"--authorization-kubeconfig={kcm}", f"--client-ca-file={pki.ca_path}",
        "--cluster-name=kubernetes", "--cluster-cidr=10.200.0.0/16", "--service-cluster-ip-range=10.0.0.0/24",
        f"--cluster-signing-cert-file={pki.ca_path}", f"--cluster-signing-key-file={kcm_key}",
        f"--root-ca-file={pki.ca_path}", f"--service-account-private-key-file={kcm_key}",
        "--use-service-account-credentials=true", "--leader-elect=true"])
    sched_crt, sched_key = pki.issue("scheduler", "system:kube-scheduler")
    sched = kubeconfig(tmp / "scheduler.kubeconfig", server, pki.ca_path, cert=sched_crt, key=sched_key)
    (tmp / "kube-scheduler.yaml").write_text(
        "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n"
        f"clientConnection:\n  kubeconfig: {sched}\nleaderElection:\n  leaderElect: true\n")
    procs.start("kube-scheduler", [
        str(server_bin(release, "kube-scheduler")), f"--config={tmp / 'kube-scheduler.yaml'}",
        "--bind-address=127.0.0.1", f"--authentication-kubeconfig={sched}", f"--authorization-kubeconfig={sched}"])
    proxy_crt, proxy_key = pki.issue("proxy", "system:kube-proxy")
    proxy = kubeconfig(tmp / "proxy.kubeconfig", server, pki.ca_path, cert=proxy_crt, key=proxy_key)
    (tmp / "kube-proxy-config.yaml").write_text(
        "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n"
        f"clientConnection:\n  kubeconfig: {proxy}\nhostnameOverride: node-1\nmode: iptables\n"
        "clusterCIDR: 10.200.0.0/16\n")
    procs.start("kube-proxy", [str(server_bin(release, "kube-proxy")), f"--config={tmp / 'kube-proxy-config.yaml'}"])
    node_crt, node_key = pki.issue("kubelet-client", "system:node:node-1", ("system:nodes",))
    kc = kubeconfig(tmp / "kubelet.kubeconfig", server, pki.ca_path, cert=node_crt, key=node_key)
    config = tmp / "kubelet-config.yaml"
    config.write_text(
        "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\naddress: 0.0.0.0\nport: 10250\n"
        "authentication:\n  anonymous:\n    enabled: false\n  webhook:\n    enabled: true\n  x509:\n"
        f"    clientCAFile: {pki.ca_path}\nauthorization:\n  mode: Webhook\ncgroupDriver: systemd\n"
        "clusterDNS:\n  - 10.0.0.10\nclusterDomain: cluster.local\n"
        "containerRuntimeEndpoint: unix:///var/run/containerd/containerd.sock\nfailSwapOn: false\n"
        "registerNode: true\nresolvConf: /etc/resolv.conf\nruntimeRequestTimeout: 15m\n"
        "nodeStatusUpdateFrequency: 1s\n")
    procs.start("kubelet", [str(server_bin(release, "kubelet")), f"--config={config}", f"--kubeconfig={kc}",
                            "--hostname-override=node-1", f"--node-ip={cluster['addr']}"])
    poll(lambda: node_ready(cluster["admin"]), 30, "node-1 Ready")
    for name in ("kube-controller-manager", "kube-scheduler", "kube-proxy"):
        poll(lambda name=name: "Connected to the API server" in procs.log(name), 30, f"{name} connected")
        assert procs.running[name].poll() is None, procs.log(name)


REMOVED = json.loads((Path(__file__).parents[2] / "workbench/sandbox/kuberoot/programs/flagtables/v1.32.json")
                     .read_text())["removed"]


@pytest.mark.parametrize(("name", "flag"), [(c, f) for c, flags in sorted(REMOVED.items()) for f in sorted(flags)])
def test_every_flag_removed_before_the_version_is_refused(release: Path, name: str, flag: str) -> None:
    done = run(server_bin(release, name), f"--{flag}=x")
    assert done.returncode == 1
    assert (f"Error: unknown flag: --{flag}" in done.stderr) or (f"unknown flag: --{flag}\"" in done.stderr)


def test_etcd_keeps_its_keys_in_data_dir_across_restarts(release: Path, tmp_path: Path) -> None:
    addr = loopback()
    port = free_port(addr)
    procs = Processes(tmp_path / "logs")
    argv = [str(release / "etcd-v3.5.16-linux-amd64/etcd"), "--name=m", f"--data-dir={tmp_path / 'data'}",
            f"--listen-client-urls=http://{addr}:{port}", f"--advertise-client-urls=http://{addr}:{port}"]

    def call(path: str, body: dict[str, str]) -> dict[str, object]:
        req = urllib.request.Request(f"http://{addr}:{port}{path}", data=json.dumps(body).encode(), method="POST")
        with urllib.request.urlopen(req, timeout=5) as resp:
            return dict(json.loads(resp.read()))

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"http://{addr}:{port}/health", timeout=2) as resp:
                return bool(json.loads(resp.read())["health"] == "true")
        except OSError:
            return False

    key, value = base64.b64encode(b"/registry/minions/n1").decode(), base64.b64encode(b"{}").decode()
    try:
        procs.start("etcd", argv)
        poll(healthy, 30, "etcd")
        call("/v3/kv/put", {"key": key, "value": value})
        procs.stop("etcd")
        procs.start("etcd", argv)
        poll(healthy, 30, "etcd again")
        got = call("/v3/kv/range", {"key": key})
        assert got["kvs"] == [{"key": key, "value": value, "create_revision": "2", "mod_revision": "2", "version": "1"}]
    finally:
        procs.stop_all()
    assert (tmp_path / "data" / "member" / "snap" / "db.json").is_file()
