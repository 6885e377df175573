"""The cluster as provisioning sees it: nodes with their addresses and pod networks, and the
parameters from the profile's ``[kube]``, checked against each other once, here."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from workbench.engine.provision.pki import service_ip
from workbench.errors import WorkbenchError
from workbench.profile import Profile

Layout = Literal["current", "seed"]
SEED_TREE = Path("cluster") / "saltbase" / "salt"


@dataclass(frozen=True)
class NodeSpec:
    name: str
    role: Literal["master", "minion"]
    ip: str  # the fixed IP on the cluster network
    floating_ip: str | None
    pod_cidr: str  # this node's /24 of the pod network


@dataclass(frozen=True)
class ClusterSpec:
    name: str
    layout: Layout
    version: str
    master: NodeSpec
    minions: tuple[NodeSpec, ...]
    service_cidr: str
    pod_cidr: str
    dns_ip: str
    dns_domain: str
    runtime_endpoint: str
    pod_network: str
    mgmt_interface: str
    release_dir: str
    salt_tree: str
    extra_flags: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    etcd_in_server_tar: bool = False
    etcd_tar: str | None = None  # etcd's release tar among the pushed ones
    addons: tuple[str, ...] = ()
    listen: str = "standard"  # "node-ip": components bind only their node's address

    @property
    def service_ip(self) -> str:
        return service_ip(self.service_cidr)

    @property
    def nodes(self) -> tuple[NodeSpec, ...]:
        return (self.master, *self.minions)

    def node(self, name: str) -> NodeSpec:
        for n in self.nodes:
            if n.name == name:
                return n
        raise WorkbenchError(f"{name}: not a node of cluster {self.name}")


@dataclass(frozen=True)
class NodeAddress:
    """What the inventory knows of one ACTIVE node (engine.cloud.Instance has these fields)."""

    name: str
    role: str
    fixed_ip: str | None
    floating_ip: str | None


def tree_layout(kube_root: Path | None) -> Layout:
    """``seed`` when KUBE_ROOT still has kube-up's Salt tree (before v1.10), else ``current``."""
    return "seed" if kube_root is not None and (Path(kube_root) / SEED_TREE).is_dir() else "current"


def own_tree(profile: Profile) -> bool:
    """The workbench's own Salt tree provisions this cluster (KUBE_ROOT has no cluster/saltbase)."""
    return profile.kube.root is not None and tree_layout(profile.kube.root) == "current"


def cluster_spec(
    profile: Profile, nodes: Sequence[NodeAddress], *, version: str, layout: Layout,
    etcd_in_server_tar: bool = False, etcd_tar: str | None = None,
) -> ClusterSpec:
    kube = profile.kube
    pod_net = ipaddress.IPv4Network(kube.pod_cidr)
    subnets = list(pod_net.subnets(new_prefix=max(24, pod_net.prefixlen)))
    masters = [n for n in nodes if n.role == "master"]
    if len(masters) != 1:
        raise WorkbenchError(f"cluster {profile.cluster.name}: {len(masters)} masters among the ACTIVE nodes; one is needed")

    def spec(n: NodeAddress, index: int) -> NodeSpec:
        if not n.fixed_ip:
            raise WorkbenchError(f"{n.name}: no fixed IP yet")
        if index >= len(subnets):
            raise WorkbenchError(f"{n.name}: pod_cidr {kube.pod_cidr} has no /24 left for it")
        role: Literal["master", "minion"] = "master" if n.role == "master" else "minion"
        return NodeSpec(n.name, role, n.fixed_ip, n.floating_ip, str(subnets[index]))

    minions = sorted((n for n in nodes if n.role == "minion"), key=lambda n: _index(profile, n.name))
    dns_ip = kube.dns_ip or str(ipaddress.IPv4Network(kube.service_cidr).network_address + 10)
    return ClusterSpec(
        name=profile.cluster.name, layout=layout, version=version,
        master=spec(masters[0], 0),
        minions=tuple(spec(n, _index(profile, n.name)) for n in minions),
        service_cidr=kube.service_cidr, pod_cidr=kube.pod_cidr, dns_ip=dns_ip,
        dns_domain=kube.dns_domain, runtime_endpoint=kube.container_runtime_endpoint,
        pod_network=kube.pod_network, mgmt_interface=profile.cluster.mgmt_interface,
        release_dir=profile.paths.release_dir.rstrip("/") or "/",
        salt_tree=profile.paths.salt_tree.rstrip("/") or "/",
        extra_flags=dict(kube.extra_flags), etcd_in_server_tar=etcd_in_server_tar,
        addons=kube.addons, etcd_tar=etcd_tar, listen=kube.listen,
    )


def _index(profile: Profile, name: str) -> int:
    """Minion ``<cluster>-minion-N`` takes pod subnet N (the master has 0): stable across redeploys."""
    m = re.fullmatch(re.escape(profile.cluster.name) + r"-minion-(\d+)", name)
    if m is None:
        raise WorkbenchError(f"{name}: not named like {profile.minion_name(0)}; no pod subnet for it")
    return int(m.group(1))
