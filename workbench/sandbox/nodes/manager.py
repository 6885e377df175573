"""NodeManager: the machines behind the sandbox cloud's servers (hooks.NodeHooks)."""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import string
from pathlib import Path
from typing import Any

from ...redact import REDACTOR
from ..faults import FaultSet
from ..hooks import ServerInfo, ServiceHooks
from . import disk
from .node import Node

log = logging.getLogger(__name__)
NODE_FAULTS = ("salt-race", "slow-ssh", "token-regen")
DELAYS = ("salt", "kubelet_heartbeat", "ssh_slow", "boot")


def new_token() -> str:
    """32 letters and digits, like the kube-up scripts' tokens."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(32))


def cluster_of(server: ServerInfo) -> str:
    name = server.name
    if server.metadata.get("cluster"):
        return server.metadata["cluster"]
    if name.endswith("-master"):
        return name[: -len("-master")]
    if "-minion-" in name:
        return name.split("-minion-", 1)[0]
    return name


class NodeManager:
    """Boots, reboots, rebuilds and destroys nodes under ``root/<server id>/``.

    ``delays`` is any object with float attributes salt, kubelet_heartbeat, ssh_slow,
    boot. Faults are read live from ``faults``; ``refresh_faults()`` pushes them to the
    nodes' disks at once (it also happens before every SSH session).
    """

    def __init__(
        self,
        root: Path,
        *,
        faults: FaultSet,
        delays: Any,
        ssh_port: int = 2222,
        services: ServiceHooks | None = None,
    ) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.faults = faults
        self.delays = delays
        self.ssh_port = ssh_port
        self.services = services
        self.nodes: dict[str, Node] = {}
        self._tokens_path = self.root / "clusters.json"
        self._tokens: dict[str, str] = self._load_tokens()
        self._faults_written: dict[str, list[str]] = {}

    # facts
    def _load_tokens(self) -> dict[str, str]:
        try:
            data = json.loads(self._tokens_path.read_text())
        except (OSError, ValueError):
            return {}
        tokens = {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
        REDACTOR.add(*tokens.values())
        return tokens

    def cluster_token(self, cluster: str) -> str:
        """The token a cluster's nodes boot with (what the first provisioning generated)."""
        token = self._tokens.get(cluster)
        if token is None:
            token = self._tokens[cluster] = new_token()
            REDACTOR.add(token)
            tmp = self._tokens_path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(self._tokens, handle)
            os.replace(tmp, self._tokens_path)
        return token

    def settings(self) -> dict[str, float]:
        return {name: float(getattr(self.delays, name, 0.0) or 0.0) for name in DELAYS}

    def _master_ip(self, server: ServerInfo) -> str:
        for key in ("master_ip", "master-ip", "workbench-master-ip"):
            if server.metadata.get(key):
                return server.metadata[key]
        if server.role == "master" and server.fixed_ips:
            return server.fixed_ips[0]
        cluster = cluster_of(server)
        for node in self.nodes.values():
            if node.role == "master" and cluster_of(node.info) == cluster and node.info.fixed_ips:
                return node.info.fixed_ips[0]
        return ""

    def facts(self, server: ServerInfo) -> dict[str, object]:
        cluster = cluster_of(server)
        return {
            "id": server.id,
            "name": server.name,
            "role": server.role,
            "cluster": cluster,
            "master_ip": self._master_ip(server),
            "kubelet_token": self.cluster_token(cluster),
            "addresses": list(server.addresses),
        }

    # faults
    def node_faults(self, node: Node) -> list[str]:
        return [name for name in NODE_FAULTS if self.faults.active(name, node.name)]

    def write_faults(self, node: Node) -> None:
        names = self.node_faults(node)
        if self._faults_written.get(node.server_id) != names:
            disk.write_faults(node.root, names)
            self._faults_written[node.server_id] = names

    def refresh_faults(self) -> None:
        for node in self.nodes.values():
            if node.root.exists():
                self.write_faults(node)

    def ssh_stall(self, node: Node) -> float:
        """Seconds a new connection stalls before auth (slow-ssh until UseDNS no + restart)."""
        self.write_faults(node)
        if self.faults.active("slow-ssh", node.name) and disk.sshd_uses_dns(node.root):
            return float(getattr(self.delays, "ssh_slow", 2.0) or 0.0)
        return 0.0

    # NodeHooks
    async def boot(self, server: ServerInfo) -> None:
        node = self.nodes.get(server.id)
        if node is not None:
            await node.power_off()
        node = self.nodes[server.id] = Node(server, self.root / server.id, self.ssh_port, self)
        self._faults_written.pop(server.id, None)
        await node.power_on(self.facts(server))
        if server.role == "master":
            for other in self.nodes.values():
                if other is not node and cluster_of(other.info) == cluster_of(server) and other.root.exists():
                    other.write_facts(self.facts(other.info))

    async def destroy(self, server_id: str) -> None:
        node = self.nodes.pop(server_id, None)
        if node is not None:
            await node.power_off()
            if self.services is not None:
                try:
                    await self.services.node_gone(node)
                except Exception:
                    log.exception("node_gone(%s) failed", node.name)
        self._faults_written.pop(server_id, None)
        shutil.rmtree(self.root / server_id, ignore_errors=True)

    async def reboot(self, server_id: str, hard: bool) -> None:
        node = self.nodes.get(server_id)
        if node is None:
            return
        await node.power_off()
        self._faults_written.pop(server_id, None)
        await node.power_on(self.facts(node.info))

    async def rebuild(self, server: ServerInfo) -> None:
        node = self.nodes.pop(server.id, None)
        if node is not None:
            await node.power_off()
        shutil.rmtree(self.root / server.id, ignore_errors=True)
        await self.boot(server)

    async def set_addresses(self, server: ServerInfo) -> None:
        node = self.nodes.get(server.id)
        if node is None:
            return
        node.info = server
        if node.root.exists():
            node.write_facts(self.facts(server))
        await node.sync_listeners()

    def console(self, server_id: str) -> str:
        try:
            return (self.root / server_id / "console.log").read_text()
        except OSError:
            return ""

    async def close(self) -> None:
        for node in list(self.nodes.values()):
            await node.power_off()
        self.nodes.clear()
