"""The cluster as Kubernetes reports it: services, nodes, pods (the TUI's cluster pane)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class Service:
    name: str
    url: str


@dataclass(frozen=True)
class NodeInfo:
    name: str
    ready: bool
    version: str


@dataclass(frozen=True)
class PodInfo:
    namespace: str
    name: str
    ready: str  # "1/1"
    status: str
    restarts: int


@dataclass(frozen=True)
class ClusterInfo:
    server: str
    services: tuple[Service, ...]
    nodes: tuple[NodeInfo, ...]
    pods: tuple[PodInfo, ...]
    source: Literal["kubectl", "http"]

    def to_json(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "source": self.source,
            "services": [{"name": s.name, "url": s.url} for s in self.services],
            "nodes": [{"name": n.name, "ready": n.ready, "version": n.version} for n in self.nodes],
            "pods": [{"namespace": p.namespace, "name": p.name, "ready": p.ready, "status": p.status,
                      "restarts": p.restarts} for p in self.pods],
        }
