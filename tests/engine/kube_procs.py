"""A small cluster of the fake build's v1.32 programs as processes, for the engine's kube client
tests: etcd, kube-apiserver (TLS, client CA, token file, Node+RBAC), kube-controller-manager
(a short node grace period, so a stopped kubelet turns NotReady) and two kubelets, each on
its own loopback address. The real kubectl and the engine read it as they read a real one.

Pods and cluster services are created through the real kubectl with the admin credential
(the engine's tree deploys none with pod_network none and no addons); their status is
written through the status subresource as a kubelet would."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tests.sandbox.kubeprog_helpers import (
    Pki,
    Processes,
    build_release,
    free_port,
    kubeconfig,
    loopback,
    poll,
    unpack,
)

ADMIN_TOKEN = "adm1n0123456789abcdef0123456789ab"
KCM_TOKEN = "kcm0123456789abcdef0123456789abcd"
MINIONS = ("kubernetes-minion-1", "kubernetes-minion-2")


def kubelet_token(name: str) -> str:
    return f"kubelet{name[-1]}" + "0123456789abcdef0123456789"[: 32 - 8]


@dataclass
class ProgramCluster:
    tmp: Path
    release: Path
    procs: Processes
    addr: str
    server: str
    pki: Pki
    admin: Path  # a kubeconfig with the admin client certificate
    admin_pem: Path  # that certificate and its key in one file (the engine's client_pem)
    minion_ips: dict[str, str] = field(default_factory=dict)

    @property
    def ca_pem(self) -> bytes:
        return self.pki.ca_path.read_bytes()

    def bin(self, name: str) -> str:
        return str(self.release / "kubernetes" / "server" / "bin" / name)

    def kubectl(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        kubectl = shutil.which("kubectl")
        assert kubectl is not None
        return subprocess.run([kubectl, f"--kubeconfig={self.admin}", *args], input=stdin,
                              capture_output=True, text=True, timeout=60)

    def apply(self, doc: dict[str, object], status: dict[str, object] | None = None) -> None:
        """``kubectl create -f -``, then the status a kubelet would post (the status subresource)."""
        done = self.kubectl("create", "--validate=false", "-f", "-", stdin=json.dumps(doc))  # no /openapi here
        assert done.returncode == 0, done.stderr
        if status is not None:
            meta = doc["metadata"]
            assert isinstance(meta, dict)
            done = self.kubectl("patch", str(doc["kind"]).lower(), str(meta["name"]), "-n",
                                str(meta.get("namespace", "default")), "--subresource=status",
                                "--type=merge", "-p", json.dumps({"status": status}))
            assert done.returncode == 0, done.stderr

    def start_kubelet(self, name: str) -> None:
        kc = kubeconfig(self.tmp / f"{name}.kubeconfig", self.server, self.pki.ca_path, token=kubelet_token(name))
        config = self.tmp / "kubelet-config.yaml"
        config.write_text("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
                          "nodeStatusUpdateFrequency: 300ms\nauthentication:\n  anonymous:\n    enabled: false\n")
        self.minion_ips.setdefault(name, loopback())
        self.procs.start(name, [self.bin("kubelet"), f"--kubeconfig={kc}", f"--config={config}",
                                f"--hostname-override={name}", f"--node-ip={self.minion_ips[name]}"])

    def ready(self) -> list[str]:
        done = self.kubectl("get", "nodes", "-o", "json")
        if done.returncode != 0:
            return []
        return sorted(n["metadata"]["name"] for n in json.loads(done.stdout)["items"]
                      if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"]))


def start(tmp: Path) -> ProgramCluster:
    """Build and unpack the release, start the programs, wait for both minions Ready."""
    release = unpack(build_release(tmp / "kube"), tmp / "release")
    procs = Processes(tmp / "logs")
    addr = loopback()
    etcd_port, api_port = free_port(addr), free_port(addr)
    pki = Pki(tmp / "pki")
    server_crt, server_key = pki.issue("apiserver", "kube-apiserver", ips=(addr,))
    admin_crt, admin_key = pki.issue("admin", "kubernetes-admin", ("system:masters",))
    sa_crt, sa_key = pki.issue("sa", "service-accounts")
    admin_pem = tmp / "pki" / "admin.pem"
    admin_pem.write_bytes(admin_crt.read_bytes() + admin_key.read_bytes())
    admin_pem.chmod(0o600)
    tokens = tmp / "known_tokens.csv"
    tokens.write_text(f'{ADMIN_TOKEN},admin,uid-admin,"system:masters"\n'
                      f"{KCM_TOKEN},system:kube-controller-manager,uid-kcm\n"
                      + "".join(f'{kubelet_token(m)},system:node:{m},uid-{m},"system:nodes"\n' for m in MINIONS))
    tokens.chmod(0o600)
    server = f"https://{addr}:{api_port}"
    cluster = ProgramCluster(tmp, release, procs, addr, server, pki,
                             kubeconfig(tmp / "admin.kubeconfig", server, pki.ca_path, cert=admin_crt, key=admin_key),
                             admin_pem)
    try:
        procs.start("etcd", [str(next(release.glob("etcd-v*/etcd"))), "--name=master", f"--data-dir={tmp / 'etcd'}",
                             f"--listen-client-urls=http://{addr}:{etcd_port}",
                             f"--advertise-client-urls=http://{addr}:{etcd_port}"])
        procs.start("kube-apiserver", [
            cluster.bin("kube-apiserver"), f"--bind-address={addr}", f"--advertise-address={addr}",
            f"--secure-port={api_port}", f"--etcd-servers=http://{addr}:{etcd_port}",
            f"--tls-cert-file={server_crt}", f"--tls-private-key-file={server_key}", f"--client-ca-file={pki.ca_path}",
            f"--token-auth-file={tokens}", "--service-cluster-ip-range=10.0.0.0/24", "--authorization-mode=Node,RBAC",
            f"--service-account-key-file={sa_crt}", f"--service-account-signing-key-file={sa_key}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local"])
        poll(lambda: cluster.kubectl("get", "--raw", "/healthz").stdout == "ok"
             or procs.running["kube-apiserver"].poll() is not None, 60, "the API server")
        assert procs.running["kube-apiserver"].poll() is None, procs.log("kube-apiserver")
        kcm = kubeconfig(tmp / "kcm.kubeconfig", server, pki.ca_path, token=KCM_TOKEN)
        procs.start("kube-controller-manager", [
            cluster.bin("kube-controller-manager"), f"--kubeconfig={kcm}", "--node-monitor-period=200ms",
            "--node-monitor-grace-period=2s", "--leader-elect=false"])
        for name in MINIONS:
            cluster.start_kubelet(name)
        poll(lambda: cluster.ready() == list(MINIONS), 60, "both minions Ready")
    except Exception:
        logs = {name: procs.log(name)[-800:] for name in procs.running}
        procs.stop_all()
        raise AssertionError(f"the program cluster did not come up: {json.dumps(logs, indent=1)}") from None
    return cluster
