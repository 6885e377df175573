"""The workbench's admin credential against a TLS server that demands client certificates
from the cluster CA: KubeClient over HTTPS, and the real kubectl with admin.kubeconfig."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess

import pytest
from aiohttp import web

from workbench.engine.kube.client import KubeClient, KubeError
from workbench.engine.provision.bundle import ADMIN
from workbench.engine.provision.cluster import NodeAddress, cluster_spec
from workbench.engine.provision.pki import ClusterPKI
from workbench.engine.provision.run import write_admin_kubeconfig
from workbench.profile import profile_from_mapping
from workbench.state import StateDir


async def serve(tmp_path, pki: ClusterPKI, seen: list[str]):
    server = pki.apiserver(["127.0.0.1"], ["localhost"])
    (tmp_path / "srv.pem").write_bytes(server.cert_pem + server.key_pem)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cadata=pki.ca().cert_pem.decode())
    ctx.load_cert_chain(tmp_path / "srv.pem")
    ctx.verify_mode = ssl.CERT_REQUIRED

    async def handle(request: web.Request) -> web.Response:
        peer = request.transport.get_extra_info("peercert") if request.transport else None
        subject = dict(x[0] for x in (peer or {}).get("subject", ()))
        seen.append(f"{subject.get('commonName')}/{subject.get('organizationName')}")
        if request.path == "/healthz":
            return web.Response(text="ok")
        return web.json_response({"kind": "List", "items": []})

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"https://127.0.0.1:{port}"


async def test_admin_certificate_is_accepted_and_kubectl_uses_it(tmp_path) -> None:
    state = StateDir(tmp_path / "state").ensure()
    pki = ClusterPKI(state)
    pki.client("admin", ADMIN)
    seen: list[str] = []
    runner, url = await serve(tmp_path, pki, seen)
    try:
        client = KubeClient(url, None, state.root, kubectl=None, ca_pem=pki.ca().cert_pem, client_pem=pki.path("admin"))
        info = await client.refresh()
        assert info.nodes == () and seen[-1] == "workbench-admin/system:masters"
        stranger = KubeClient(url, None, state.root, kubectl=None, ca_pem=pki.ca().cert_pem)
        with pytest.raises(KubeError):
            await stranger.refresh()  # no client certificate: the handshake is refused
        if shutil.which("kubectl"):
            profile = profile_from_mapping({"cluster": {"minions": 0}}, tmp_path / "p.toml", {})
            spec = cluster_spec(profile, [NodeAddress("kubernetes-master", "master", "127.0.0.1", None)],
                                version="v1.32.3", layout="current")
            kubeconfig = write_admin_kubeconfig(state, spec)
            done = await asyncio.to_thread(
                subprocess.run, ["kubectl", f"--kubeconfig={kubeconfig}", f"--server={url}", "get", "--raw", "/healthz"],
                capture_output=True, text=True, timeout=60)
            assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
            assert seen[-1] == "workbench-admin/system:masters"
    finally:
        await runner.cleanup()
