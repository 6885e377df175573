"""The build's v1.32 programs run as systemd units on sandbox nodes, without Salt: the test
writes unit files for etcd, kube-apiserver and kube-controller-manager on one node and the
kubelet on another, `systemctl enable --now`s them over SSH, and the real kubectl sees the
kubelet's node Ready. systemctl and journalctl show the real processes."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import asyncssh
import pytest

from tests.sandbox.kubeprog_helpers import VERSION, Pki, build_release, kubeconfig
from workbench.sandbox.nodes.rig import Rig

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
BIN = "/opt/kubernetes/server/bin"
PKI = "/etc/kubernetes/pki"
KUBELET_TOKEN = "KubeletTokenKubeletToken01234567"
KCM_TOKEN = "ControllerTokenControllerToken01"


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_release(tmp_path_factory.mktemp("release") / "kube")


def unit(description: str, exec_start: list[str], after: str = "") -> str:
    ordering = f"After={after}\nRequires={after}\n" if after else ""
    return (f"[Unit]\nDescription={description}\n{ordering}\n[Service]\n"
            f"ExecStart={' '.join(exec_start[:1])} \\\n  " + " \\\n  ".join(exec_start[1:]) + "\n"
            "Restart=on-failure\nRestartSec=1\n\n[Install]\nWantedBy=multi-user.target\n")


async def put(conn: asyncssh.SSHClientConnection, path: str, data: bytes, mode: str = "0644") -> None:
    """A file onto the node as root, its bytes on stdin (never on a command line)."""
    folder = path.rsplit("/", 1)[0]
    await conn.run(f"sudo sh -c 'mkdir -p {folder} && cat > {path} && chmod {mode} {path}'",
                   input=data, encoding=None, check=True)


async def install_release(conn: asyncssh.SSHClientConnection, tars: Path) -> str:
    """The server and etcd tars unpacked under /opt, as a node's provisioning would; etcd's path."""
    etcd = ""
    for tar in sorted(tars.glob("*.tar.gz")):
        if not tar.name.startswith(("kubernetes-server-", "etcd-")):
            continue
        await put(conn, f"/var/tmp/{tar.name}", tar.read_bytes())
        await conn.run(f"sudo tar -C /opt -xzf /var/tmp/{tar.name}", check=True)
        if tar.name.startswith("etcd-"):
            with tarfile.open(tar) as t:
                etcd = "/opt/" + next(n for n in t.getnames() if n.endswith("/etcd"))
    return etcd


def kubectl(admin: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert KUBECTL is not None
    return subprocess.run([KUBECTL, f"--kubeconfig={admin}", *args], capture_output=True, text=True, timeout=30)


async def poll(check, timeout: float, what: str):
    deadline = asyncio.get_running_loop().time() + timeout
    last = None
    while asyncio.get_running_loop().time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


async def test_units_bring_up_a_control_plane_and_a_kubelet_that_kubectl_sees_ready(
        rig: Rig, release: Path, tmp_path: Path) -> None:
    master, minion = rig.server("kubernetes-master"), rig.server("kubernetes-minion-1")
    await rig.manager.boot(master)
    await rig.manager.boot(minion)
    ip = master.fixed_ips[0]
    pki = Pki(tmp_path / "pki")
    files = {"ca.crt": pki.ca_path}
    files["apiserver.crt"], files["apiserver.key"] = pki.issue("apiserver", "kube-apiserver", ips=(ip,))
    files["sa.crt"], files["sa.key"] = pki.issue("sa", "service-accounts")
    admin_crt, admin_key = pki.issue("admin", "kubernetes-admin", ("system:masters",))
    tokens = (f'{KUBELET_TOKEN},system:node:{minion.name},uid-1,"system:nodes"\n'
              f"{KCM_TOKEN},system:kube-controller-manager,uid-2\n")
    server = f"https://{ip}:6443"

    async with await rig.connect(master) as conn:
        etcd = await install_release(conn, release)
        for name, path in files.items():
            await put(conn, f"{PKI}/{name}", path.read_bytes(), "0600")
        await put(conn, "/srv/kubernetes/known_tokens.csv", tokens.encode(), "0600")
        kcm = kubeconfig(tmp_path / "kcm.kubeconfig", server, Path(f"{PKI}/ca.crt"), token=KCM_TOKEN)
        await put(conn, "/var/lib/kube-controller-manager/kubeconfig", kcm.read_bytes(), "0600")
        units = {
            "etcd": unit("etcd", [etcd, "--name=master", "--data-dir=/var/lib/etcd",
                                  f"--listen-client-urls=http://{ip}:2379",
                                  f"--advertise-client-urls=http://{ip}:2379"]),
            "kube-apiserver": unit("Kubernetes API Server", [
                f"{BIN}/kube-apiserver", f"--bind-address={ip}", f"--advertise-address={ip}",
                "--secure-port=6443", f"--etcd-servers=http://{ip}:2379",
                f"--tls-cert-file={PKI}/apiserver.crt", f"--tls-private-key-file={PKI}/apiserver.key",
                f"--client-ca-file={PKI}/ca.crt", "--token-auth-file=/srv/kubernetes/known_tokens.csv",
                "--service-cluster-ip-range=10.0.0.0/24", "--authorization-mode=Node,RBAC",
                f"--service-account-key-file={PKI}/sa.crt", f"--service-account-signing-key-file={PKI}/sa.key",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local", "--v=2"],
                after="etcd.service"),
            "kube-controller-manager": unit("Kubernetes Controller Manager", [
                f"{BIN}/kube-controller-manager", "--kubeconfig=/var/lib/kube-controller-manager/kubeconfig",
                "--leader-elect=false"], after="kube-apiserver.service"),
        }
        for name, text in units.items():
            await put(conn, f"/etc/systemd/system/{name}.service", text.encode())
        enabled = await conn.run("sudo systemctl daemon-reload && "
                                 "sudo systemctl enable --now etcd kube-apiserver kube-controller-manager")
        assert enabled.exit_status == 0, enabled.stderr
        assert "Created symlink /etc/systemd/system/multi-user.target.wants/kube-apiserver.service" \
            in enabled.stderr

        async def serving() -> bool:
            journal = await conn.run("journalctl -u kube-apiserver -n 200 --no-pager")
            return f"Serving securely on {ip}:6443" in journal.stdout

        await poll(serving, 30, "the API server's journal line")

    async with await rig.connect(minion) as conn:
        await install_release(conn, release)
        await put(conn, f"{PKI}/ca.crt", pki.ca_path.read_bytes())
        kc = kubeconfig(tmp_path / "kubelet.kubeconfig", server, Path(f"{PKI}/ca.crt"), token=KUBELET_TOKEN)
        await put(conn, "/var/lib/kubelet/kubeconfig", kc.read_bytes(), "0600")
        await put(conn, "/var/lib/kubelet/config.yaml", (
            b"apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
            b"nodeStatusUpdateFrequency: 1s\nauthentication:\n  anonymous:\n    enabled: false\n"
            b"clusterDNS:\n  - 10.0.0.10\n"))
        kubelet = unit("Kubernetes Kubelet Server", [
            f"{BIN}/kubelet", "--kubeconfig=/var/lib/kubelet/kubeconfig", "--config=/var/lib/kubelet/config.yaml",
            f"--hostname-override={minion.name}", f"--node-ip={minion.fixed_ips[0]}", "--v=2"])
        await put(conn, "/etc/systemd/system/kubelet.service", kubelet.encode())
        await conn.run("sudo systemctl daemon-reload && sudo systemctl enable --now kubelet", check=True)

    admin = kubeconfig(tmp_path / "admin.kubeconfig", server, pki.ca_path, cert=admin_crt, key=admin_key)

    async def ready() -> list[tuple[str, str]]:
        done = kubectl(admin, "get", "nodes", "-o", "json")
        if done.returncode != 0:
            return []
        return [(n["metadata"]["name"], n["status"]["nodeInfo"]["kubeletVersion"])
                for n in json.loads(done.stdout)["items"]
                if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", []))]

    assert await poll(ready, 60, "the minion Ready") == [(minion.name, VERSION)]
    wide = kubectl(admin, "get", "nodes", "-o", "wide", "--no-headers").stdout.split()
    assert minion.fixed_ips[0] in wide  # the --node-ip of the kubelet's unit file

    async with await rig.connect(master) as conn:
        show = (await conn.run("systemctl show -p MainPID,ActiveState,NRestarts kube-apiserver",
                               check=True)).stdout.splitlines()
        assert show[1:] == ["ActiveState=active", "NRestarts=0"]
        pid = show[0].removeprefix("MainPID=")
        args = (await conn.run(f"ps -o args= -p {pid}", check=True)).stdout
        assert f"{BIN}/kube-apiserver --bind-address={ip}" in args and "--secure-port=6443" in args
        journal = (await conn.run("journalctl -u kube-apiserver -n 500 --no-pager", check=True)).stdout
        assert f"kubernetes-master kube-apiserver[{pid}]: " in journal  # the process's own lines
        assert "Started Kubernetes API Server." in journal
        status = (await conn.run("systemctl status kube-apiserver", check=True)).stdout
        assert f"Main PID: {pid} (kube-apiserver)" in status
    async with await rig.connect(minion) as conn:
        journal = (await conn.run("journalctl -u kubelet -n 500 --no-pager", check=True)).stdout
        assert "Successfully registered node" in journal and minion.name in journal
