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
    status: str = ""  # as kubectl prints it: "Ready", "NotReady,SchedulingDisabled"
    roles: str = "<none>"


@dataclass(frozen=True)
class PodInfo:
    namespace: str
    name: str
    ready: str  # "1/1", native sidecars counted as kubectl does
    status: str  # kubectl's STATUS: "Running", "Init:0/1", "CrashLoopBackOff", "Terminating"
    restarts: int
    restarts_text: str = ""  # kubectl's RESTARTS: "3 (5m ago)"


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
            "nodes": [{"name": n.name, "ready": n.ready, "status": n.status or ("Ready" if n.ready else "NotReady"),
                       "roles": n.roles, "version": n.version} for n in self.nodes],
            "pods": [{"namespace": p.namespace, "name": p.name, "ready": p.ready, "status": p.status,
                      "restarts": p.restarts, "restarts_text": p.restarts_text or str(p.restarts)}
                     for p in self.pods],
        }
