"""The sandbox's Kubernetes: an API server on the master, kubelets on the minions.

``KubeSim`` is the node manager's ``ServiceHooks``: when ``kube-apiserver`` becomes active
on a master it serves the Kubernetes API there (TLS and tokens on ``secure_port``, the
read-only insecure ``port``); when ``kubelet`` becomes active on a minion it starts
registering that node over TLS with its kubeconfig's CA and token. The cluster's objects live per master (as in
its etcd), so an API server restart keeps its nodes.
"""

from __future__ import annotations

import logging
from typing import Any

from workbench.sandbox.hooks import NodeView
from workbench.sandbox.kube.apiserver import PORT, SECURE_PORT, ApiServer, ClusterState
from workbench.sandbox.kube.kubelet import CREDENTIALS, Kubelet, read_kubeconfig

log = logging.getLogger(__name__)
DEFAULT_HEARTBEAT = 2.0
MIN_HEARTBEAT = 0.05  # scaled-down test delays still leave the loop room to breathe


class KubeSim:
    def __init__(self, delays: Any = None, *, port: int = PORT, secure_port: int = SECURE_PORT) -> None:
        heartbeat = float(getattr(delays, "kubelet_heartbeat", DEFAULT_HEARTBEAT) or DEFAULT_HEARTBEAT)
        self.heartbeat = max(MIN_HEARTBEAT, heartbeat)
        self.port = port
        self.secure_port = secure_port
        self.apiservers: dict[str, ApiServer] = {}  # server id -> running API server
        self.clusters: dict[str, ClusterState] = {}  # server id of a master -> its state
        self.kubelets: dict[str, Kubelet] = {}  # server id -> running kubelet

    async def unit_changed(self, node: NodeView, unit: str, active: bool) -> None:
        if unit == "kube-apiserver" and node.role == "master":
            if active:
                await self._start_apiserver(node)
            else:
                await self._stop_apiserver(node.server_id)
        elif unit == "kubelet" and node.role != "master":
            await self._stop_kubelet(node.server_id)  # a restart re-reads the kubeconfig
            if active:
                kubelet = Kubelet(node, self.heartbeat)
                self.kubelets[node.server_id] = kubelet
                kubelet.start()

    async def node_gone(self, node: NodeView) -> None:
        await self._stop_kubelet(node.server_id)
        await self._stop_apiserver(node.server_id)
        self.clusters.pop(node.server_id, None)

    async def close(self) -> None:
        for server_id in list(self.kubelets):
            await self._stop_kubelet(server_id)
        for server_id in list(self.apiservers):
            await self._stop_apiserver(server_id)

    async def _start_apiserver(self, node: NodeView) -> None:
        running = self.apiservers.get(node.server_id)
        if running is not None:
            await running.sync_addresses()
            return
        state = self.clusters.setdefault(node.server_id, ClusterState())
        server = ApiServer(node, state, self.heartbeat, self.port, self.secure_port)
        await server.start()
        self.apiservers[node.server_id] = server
        if server.tls is None:
            node.journal("kube-apiserver", f"Unable to listen for secure ({server.tls_error}); "
                                           "will try again later")
        else:
            node.journal("kube-apiserver", f"Serving securely on {', '.join(server.secure_urls) or '(no address)'}")
        node.journal("kube-apiserver", f"Serving insecurely on {', '.join(server.urls) or '(no address)'}")

    async def _stop_apiserver(self, server_id: str) -> None:
        server = self.apiservers.pop(server_id, None)
        if server is not None:
            await server.stop()

    async def _stop_kubelet(self, server_id: str) -> None:
        kubelet = self.kubelets.pop(server_id, None)
        if kubelet is not None:
            await kubelet.stop()


__all__ = ["CREDENTIALS", "ApiServer", "ClusterState", "KubeSim", "Kubelet", "read_kubeconfig"]
