"""Nodes provisioned by their own salt-call drive the sandbox's Kubernetes (KubeSim).

The master's highstate makes the cluster CA and the API server's certificate and
publishes the CA on its salt file server; the minion's highstate puts it, the master's
https address and the token in the kubelet's kubeconfig. The real kubectl then needs
both the CA and the token.
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import stat
import time
from pathlib import Path

import pytest
import yaml

from workbench.sandbox.kube import KubeSim
from workbench.sandbox.nodes.rig import Rig, ZeroDelays

from .test_nodes_salt import known_token, provision_files, run

CREDENTIALS = "the server has asked for the client to provide credentials"
needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")


@pytest.fixture
async def rig(tmp_path: Path):
    delays = ZeroDelays(kubelet_heartbeat=0.05)
    kube = KubeSim(delays=delays)
    rig = Rig(tmp_path, delays=delays, services=kube)
    yield rig
    await rig.manager.close()
    await kube.close()


def disk(rig: Rig, server) -> Path:
    return rig.manager.root / server.id / "root"


async def kubectl(tmp: Path, server: str, ca: bytes, token: str, *args: str) -> tuple[int, str]:
    config = tmp / f"kubeconfig-{time.monotonic_ns()}"
    config.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": server,
                                               "certificate-authority-data": base64.b64encode(ca).decode()}}],
        "users": [{"name": "u", "user": {"token": token}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
    }))
    proc = await asyncio.create_subprocess_exec(
        "kubectl", f"--kubeconfig={config}", f"--cache-dir={tmp / 'kube-cache'}", "--request-timeout=5s", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode or 0, out.decode()


async def poll(check, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


@needs_kubectl
async def test_highstates_bring_nodes_ready_and_token_regen_breaks_them(rig: Rig, tmp_path: Path) -> None:
    master = rig.server("kubernetes-master")
    minion = rig.server("kubernetes-minion-1")
    await rig.manager.boot(master)
    await rig.manager.boot(minion)
    for server in (master, minion):
        await provision_files(rig, server)
    # both at once, as the engine runs them: the minion waits for the master's CA
    results = await asyncio.gather(*(run(rig, s, "sudo salt-call --local state.highstate") for s in (master, minion)))
    for result in results:
        assert result.exit_status == 0, result.stdout
    assert "ID: kubernetes-cert" in results[0].stdout and "Function: cmd.script" in results[0].stdout
    certs = disk(rig, master) / "srv/kubernetes"
    assert stat.S_IMODE((certs / "server.key").stat().st_mode) == 0o600
    ca = (certs / "ca.crt").read_bytes()
    config = yaml.safe_load((disk(rig, minion) / "var/lib/kubelet/kubeconfig").read_text())
    cluster = config["clusters"][0]["cluster"]
    assert cluster["server"] == f"https://{master.fixed_ips[0]}:6443"
    assert base64.b64decode(cluster["certificate-authority-data"]) == ca
    token = known_token(rig, master)
    server = f"https://{master.fixed_ips[0]}:6443"

    async def ready() -> bool:
        status, out = await kubectl(tmp_path, server, ca, token, "get", "nodes", "-o", "json")
        if status != 0:
            return False
        conditions = {
            item["metadata"]["name"]: {c["type"]: c["status"] for c in item["status"]["conditions"]}
            for item in json.loads(out)["items"]
        }
        return conditions.get("kubernetes-minion-1", {}).get("Ready") == "True"

    await poll(ready)
    status, out = await kubectl(tmp_path, server, ca, "x" * 32, "get", "nodes")
    assert status != 0 and "You must be logged in to the server" in out, out
    status, out = await kubectl(tmp_path, server, ca, token, "cluster-info")
    assert status == 0 and "KubeDNS is running at" in out, out

    # a second master highstate keeps the CA and the certificate (made once)
    again = await run(rig, master, "sudo salt-call --local state.highstate")
    assert again.exit_status == 0 and (certs / "ca.crt").read_bytes() == ca
    assert "unless condition is true" in again.stdout

    rig.faults.set("token-regen", True)
    result = await run(rig, master, "sudo salt-call --local state.highstate")
    assert result.exit_status == 0
    new_token = known_token(rig, master)
    assert new_token != token

    async def refused() -> bool:
        journal = await run(rig, minion, "journalctl -u kubelet --no-pager")
        return CREDENTIALS in journal.stdout

    await poll(refused)

    async def not_ready() -> bool:
        status, out = await kubectl(tmp_path, server, ca, new_token, "get", "nodes", "-o", "json")
        items = json.loads(out)["items"] if status == 0 else []
        return bool(items) and all(c["status"] != "True" for i in items for c in i["status"]["conditions"])

    await poll(not_ready)
    status, out = await kubectl(tmp_path, server, ca, token, "get", "nodes")
    assert status != 0 and "You must be logged in to the server" in out


async def test_minion_without_a_master_fails_like_salt(rig: Rig) -> None:
    minion = rig.server("kubernetes-minion-1", master_ip="127.254.254.254")  # no node holds it
    await rig.manager.boot(minion)
    await provision_files(rig, minion)
    result = await run(rig, minion, "sudo salt-call --local state.highstate")
    assert result.exit_status == 1
    assert "ID: /var/lib/kubelet/kubeconfig" in result.stdout and "Salt master 127.254.254.254 is not responding" in result.stdout, result.stdout
    assert not (disk(rig, minion) / "var/lib/kubelet/kubeconfig").exists()


async def test_ca_from_pillar_wins(rig: Rig) -> None:
    master = rig.server("kubernetes-master")
    minion = rig.server("kubernetes-minion-1")
    await rig.manager.boot(master)
    await rig.manager.boot(minion)
    for server in (master, minion):
        await provision_files(rig, server)
    assert (await run(rig, master, "sudo salt-call state.highstate")).exit_status == 0
    pem = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    pillar = json.dumps({"ca_cert": base64.b64encode(pem).decode()})
    result = await run(rig, minion, f"sudo salt-call state.highstate pillar='{pillar}'")
    assert result.exit_status == 0, result.stdout
    config = yaml.safe_load((disk(rig, minion) / "var/lib/kubelet/kubeconfig").read_text())
    assert base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"]) == pem


async def test_new_master_address_reissues_the_server_cert_under_the_same_ca(rig: Rig) -> None:
    import dataclasses

    from cryptography import x509

    from workbench.sandbox.nodes.rig import free_address_and_port

    master = rig.server("kubernetes-master")
    await rig.manager.boot(master)
    await provision_files(rig, master)
    assert (await run(rig, master, "sudo salt-call state.highstate")).exit_status == 0
    certs = disk(rig, master) / "srv/kubernetes"
    ca, first = (certs / "ca.crt").read_bytes(), (certs / "server.cert").read_bytes()
    for name, mode in (("ca.key", 0o600), ("server.key", 0o600), ("ca.crt", 0o644), ("server.cert", 0o644)):
        assert stat.S_IMODE((certs / name).stat().st_mode) == mode, name
    floating, _ = free_address_and_port()
    master = dataclasses.replace(master, floating_ips=(floating,))
    await rig.manager.set_addresses(master)
    result = await run(rig, master, "sudo salt-call state.highstate")
    assert result.exit_status == 0 and "wrote /srv/kubernetes/server.cert" in result.stdout, result.stdout
    assert (certs / "ca.crt").read_bytes() == ca and (certs / "server.cert").read_bytes() != first
    cert = x509.load_pem_x509_certificate((certs / "server.cert").read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    ips = {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}
    assert ips >= {master.fixed_ips[0], floating, "127.0.0.1", "10.0.0.1"}
    assert {"kubernetes", "kubernetes.default"} <= set(sans.get_values_for_type(x509.DNSName))
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(ca))
