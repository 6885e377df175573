"""Headless verbs ``build`` (the Kubernetes build with progress) and ``info`` (cluster-info)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.cli import render
from workbench.errors import UsageError, WorkbenchError

if TYPE_CHECKING:
    from workbench.engine.build import BuildResult
    from workbench.engine.kube.client import KubeClient
    from workbench.engine.parts import Parts
    from workbench.models import Alert, ClusterInfo
    from workbench.state import StateDir

HELP = {
    "build": "run the Kubernetes build in KUBE_ROOT with progress, then check _output",
    "info": "show cluster-info services, nodes and pods (kubectl, or HTTP without it)",
}


def add_arguments(parser: argparse.ArgumentParser, verb: str) -> None:
    if verb == "build":
        parser.add_argument("--no-output-check", action="store_true", help="skip the _output bloat check")
    else:
        parser.add_argument("--server", metavar="URL",
                            help="the API server (default: https on the master's floating or fixed IP, port 6443)")
        parser.add_argument("--token-file", metavar="FILE", help="a file holding the bearer token")
        parser.add_argument("--ca-file", metavar="FILE",
                            help="the cluster CA (PEM; default: read from the master over SSH, paths.kube_ca)")
        parser.add_argument("--no-kubectl", action="store_true", help="read the API over HTTP even with kubectl")


def run(args: argparse.Namespace) -> int:
    parts = render.parts(args)
    return _build(args, parts) if args.verb == "build" else _info(args, parts)


# -- build --------------------------------------------------------------------------------

def _build(args: argparse.Namespace, parts: Parts) -> int:
    from workbench.engine.build import BuildSettings, output_bloat_alert

    settings = BuildSettings.from_profile(parts.profile)
    with render.Progress(parts.bus, logs=not args.json):
        result = render.run(render.engine(parts).build_result())
    alert = None
    if result.ok and not args.no_output_check:
        alert = output_bloat_alert(settings.root, settings.platforms)
    if args.json:
        doc = result.to_json()
        doc["alerts"] = [alert.to_json()] if alert else []
        render.emit_json(doc)
    else:
        _print_build(result, alert)
    return 0 if result.ok else 1


def _print_build(result: BuildResult, alert: Alert | None) -> None:
    for name, seconds in result.stages:
        render.say(f"  {name:<28} {seconds:8.1f} s")
    if result.ok:
        render.say(f"build ok in {result.seconds:.1f} s; {len(result.artifacts)} release tars", "green")
        for artifact in result.artifacts:
            render.say(f"  {artifact}")
    else:
        render.say(f"build failed (exit status {result.exit_status}) after {result.seconds:.1f} s:", "red")
        for line in result.failure_lines:
            render.say(f"  {line}", "red")
    if alert is not None:
        render.say(f"warning: {alert.kind}: {alert.message}", "yellow")
        render.say(f"  fix: {alert.fixes[0].description} (workbench doctor --fix output-bloat)", "yellow")


# -- info ---------------------------------------------------------------------------------

def _info(args: argparse.Namespace, parts: Parts) -> int:
    from workbench.engine.kube.client import KubeClient

    kubectl = None if args.no_kubectl else "auto"
    own = _own_tree_client(args, parts, kubectl)
    if own is not None:
        client = own
    else:
        token = _token(args, parts.state)
        ca_pem = _ca_file(args.ca_file) if args.ca_file else _own_ca(parts)
        server = args.server
        if server is None or (ca_pem is None and server.startswith("https://")):
            server, fetched = render.run(_from_master(parts, server, read_ca=ca_pem is None))
            ca_pem = ca_pem or fetched
        client = KubeClient(server, token, parts.state.root, kubectl=kubectl, ca_pem=ca_pem)
    info = render.run(client.refresh())
    if args.json:
        render.emit_json(info.to_json())
    else:
        _print_info(info)
    return 0


def _own_tree_client(args: argparse.Namespace, parts: Parts, kubectl: str | None) -> KubeClient | None:
    """With the workbench's own tree: its admin certificate and CA, and the server its
    provisioning recorded (admin.kubeconfig), unless the command line names others."""
    import yaml

    from workbench.engine.kube.client import KubeClient
    from workbench.engine.provision.cluster import own_tree
    from workbench.engine.provision.pki import ClusterPKI
    from workbench.engine.provision.run import ADMIN_KUBECONFIG

    recorded = parts.state.root / ADMIN_KUBECONFIG
    if args.token_file or args.ca_file or not own_tree(parts.profile) or not recorded.exists():
        return None
    pki = ClusterPKI(parts.state)
    server = args.server or str(yaml.safe_load(recorded.read_text())["clusters"][0]["cluster"]["server"])
    return KubeClient(server, None, parts.state.root, kubectl=kubectl, ca_pem=pki.ca().cert_pem,
                      client_pem=pki.path("admin"))


def _own_ca(parts: Parts) -> bytes | None:
    """The workbench's own tree: the cluster CA it made in the state dir (the master holds
    it at the tree's path, not at ``paths.kube_ca``, the seed-era tree's)."""
    from workbench.engine.provision.cluster import own_tree
    from workbench.engine.provision.pki import ClusterPKI

    if not own_tree(parts.profile):
        return None
    pki = ClusterPKI(parts.state)
    return pki.ca().cert_pem if pki.path("ca").exists() else None


def _token(args: argparse.Namespace, state: StateDir) -> str | None:
    if args.token_file:
        try:
            token = Path(args.token_file).read_text().strip()
        except OSError as exc:
            raise UsageError(f"--token-file {args.token_file}: {exc.strerror}") from None
        if not token:
            raise UsageError(f"--token-file {args.token_file}: the file is empty")
        return token
    if (state.root / "cluster-token").exists():
        return state.cluster_token()
    return None


def _ca_file(path: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"--ca-file {path}: {exc.strerror}") from None
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise UsageError(f"--ca-file {path}: not a PEM certificate")
    return data


async def _from_master(parts: Parts, server: str | None, *, read_ca: bool = True) -> tuple[str, bytes | None]:
    """The API server on the master (floating IP, else fixed) and the cluster CA read over SSH."""
    from workbench.engine.kube.client import fetch_ca, server_url

    try:
        try:
            instances = await asyncio.wait_for(parts.cloud.list_instances(), 30)
        except (WorkbenchError, TimeoutError) as exc:
            raise WorkbenchError(f"info: cannot find the master in the cloud ({exc}); "
                                 "pass --server URL and --ca-file FILE") from None
        master = next((i for i in instances if i.role == "master" and i.status == "ACTIVE"), None)
        address = master.floating_ip or master.fixed_ip if master is not None else None
        if master is None or not address:
            raise WorkbenchError("info: the cluster has no ACTIVE master with an address: run up first")
        parts.ssh.remember(instances)
        ca_pem = await fetch_ca(parts.ssh, master, parts.profile.paths.kube_ca) if read_ca else None
    finally:
        await parts.close()
    return server or server_url(address, tls=True), ca_pem


def _print_info(info: ClusterInfo) -> None:
    from rich.table import Table

    for service in info.services:
        render.say(f"{service.name} is running at {service.url}")
    nodes = Table("NAME", "STATUS", "ROLES", "VERSION", title="nodes", title_justify="left")
    for node in info.nodes:
        nodes.add_row(node.name, node.status or ("Ready" if node.ready else "NotReady"), node.roles, node.version)
    pods = Table("NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", title="pods", title_justify="left")
    for pod in info.pods:
        pods.add_row(pod.namespace, pod.name, pod.ready, pod.status, pod.restarts_text or str(pod.restarts))
    render.out().print(nodes)
    render.out().print(pods)
