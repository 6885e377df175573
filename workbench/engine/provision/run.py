"""Provision the nodes before Salt runs: what kube-up's scripts did, from the workstation.

    report = await provision(profile, state, pool, nodes, bus=bus, pipeline="salt")

For every selected node at once: compute its minion config, grains and pillar (and, for the
current tree, its certificates from the state dir's CA), then put them in place over SSH
(``apply``). A failing node never stops the others; ``report.failed`` names them.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from workbench.engine.provision.apply import ApplyResult, apply_bundle
from workbench.engine.provision.build_info import read_build_info
from workbench.engine.provision.bundle import (
    ADMIN,
    NodeBundle,
    current_bundle,
    master_mode_bundles,
    seed_bundle,
    seed_proxy_token,
)
from workbench.engine.provision.cluster import ClusterSpec, NodeAddress, cluster_spec, tree_layout
from workbench.engine.provision.pki import ClusterPKI
from workbench.engine.ssh import NodeLike, SSHPool
from workbench.errors import ProfileError, WorkbenchError
from workbench.events import Bus, LogLine, StageFinished, StageStarted
from workbench.profile import Profile
from workbench.redact import redact
from workbench.state import StateDir, atomic_write

STAGE = "provision"
ADMIN_KUBECONFIG = "admin.kubeconfig"


InstanceLike = NodeLike  # name, id, role, fixed_ip, floating_ip


@dataclass(frozen=True)
class ProvisionReport:
    spec: ClusterSpec
    results: tuple[ApplyResult, ...]
    errors: tuple[tuple[str, str], ...]  # (node, why)
    seconds: float

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def failed(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.errors)


def plan(profile: Profile, state: StateDir, nodes: Iterable[InstanceLike]) -> ClusterSpec:
    """The cluster spec from the profile, the inventory and the build (its version)."""
    root = profile.kube.root
    if root is None:
        raise ProfileError(profile.path or "(no profile)", "kube.root", "the path of KUBE_ROOT")
    layout = tree_layout(root)
    addresses = [NodeAddress(n.name, n.role, n.fixed_ip, n.floating_ip) for n in nodes]
    if layout == "seed":
        try:
            seed_info = read_build_info(Path(root), state)
            version, etcd_tar = seed_info.version, seed_info.etcd_tar
        except WorkbenchError:
            version, etcd_tar = "", None  # kube-up's tree reads no version
        return cluster_spec(profile, addresses, version=version, layout="seed", etcd_tar=etcd_tar)
    info = read_build_info(Path(root), state)
    info.check_supported()
    return cluster_spec(profile, addresses, version=info.version, layout="current",
                        etcd_in_server_tar="etcd" in info.server_programs, etcd_tar=info.etcd_tar)


def bundles(profile: Profile, state: StateDir, spec: ClusterSpec, names: Iterable[str]) -> list[NodeBundle]:
    if spec.layout == "seed":
        assert profile.kube.root is not None
        token = state.cluster_token()
        proxy = seed_proxy_token(state)
        return [seed_bundle(spec, spec.node(n), token, profile.kube.root, proxy_token=proxy) for n in names]
    pki = ClusterPKI(state)
    return [current_bundle(spec, spec.node(n), pki) for n in names]


def write_admin_kubeconfig(state: StateDir, spec: ClusterSpec) -> Path:
    """The workbench's own kubeconfig: the admin certificate, the CA, the master's floating IP."""
    pki = ClusterPKI(state)
    admin = pki.client("admin", ADMIN)
    server = f"https://{spec.master.floating_ip or spec.master.ip}:6443"
    config = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": spec.name, "cluster": {
            "server": server, "certificate-authority-data": b64(pki.ca().cert_pem)}}],
        "users": [{"name": "workbench-admin", "user": {
            "client-certificate-data": b64(admin.cert_pem), "client-key-data": b64(admin.key_pem)}}],
        "contexts": [{"name": spec.name, "context": {"cluster": spec.name, "user": "workbench-admin"}}],
        "current-context": spec.name,
    }
    path = state.root / ADMIN_KUBECONFIG
    atomic_write(path, yaml.safe_dump(config, sort_keys=False), mode=0o600)
    return path


async def provision(
    profile: Profile, state: StateDir, pool: SSHPool, nodes: Sequence[InstanceLike], *,
    selected: Iterable[str] | None = None, bus: Bus | None = None, pipeline: str = "salt",
    salt_mode: str = "masterless",
) -> ProvisionReport:
    """``salt_mode`` "master": every node's pillar goes to the master (which is provisioned
    too, whatever is selected), none to the minions (bundle.master_mode_bundles)."""
    start = time.monotonic()
    spec = plan(profile, state, nodes)
    wanted = set(selected) if selected is not None else {n.name for n in nodes}
    if salt_mode == "master":
        if spec.layout == "seed":
            raise ProfileError(profile.path or "(no profile)", "salt.mode",
                               "\"masterless\" for kube-up's tree (master mode needs the workbench's own tree)")
        wanted.add(spec.master.name)
        made = master_mode_bundles(spec, {b.node: b for b in bundles(profile, state, spec, (n.name for n in spec.nodes))})
    targets = [n for n in nodes if n.name in wanted]
    if salt_mode != "master":
        made = {b.node: b for b in bundles(profile, state, spec, (n.name for n in targets))}
    if spec.layout == "current":
        write_admin_kubeconfig(state, spec)

    def publish(event: Any) -> None:
        if bus is not None:
            bus.publish(event)

    async def one(node: InstanceLike) -> ApplyResult | str:
        publish(StageStarted(pipeline, STAGE, node.name))
        t0 = time.monotonic()
        try:
            result: ApplyResult | str = await apply_bundle(pool, node, made[node.name])
        except (WorkbenchError, OSError) as exc:
            result = redact(str(exc))
        ok = isinstance(result, ApplyResult)
        if isinstance(result, ApplyResult):
            what = f"{len(result.changed)} file(s) changed" + (
                f", unpacked {', '.join(result.unpacked)}" if result.unpacked else "")
            publish(LogLine("provision", node.name, f"{spec.layout} tree {spec.version}: {what}", "info"))
            for tar in result.missing:
                publish(LogLine("provision", node.name, f"{tar}: not on the node (push it first)", "stderr"))
        publish(StageFinished(pipeline, STAGE, node.name, ok=ok, error=None if ok else str(result),
                              seconds=time.monotonic() - t0))
        return result

    outcomes = await asyncio.gather(*(one(n) for n in targets))
    results = tuple(r for r in outcomes if isinstance(r, ApplyResult))
    errors = tuple((n.name, r) for n, r in zip(targets, outcomes, strict=True) if isinstance(r, str))
    return ProvisionReport(spec, results, errors, time.monotonic() - start)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
