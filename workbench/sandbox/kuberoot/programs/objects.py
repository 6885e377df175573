"""Kubernetes objects the sandbox's API server serves: the seed's kube-system, nodes, tables.

Names, labels and containers follow the seed's cluster (early 2016, addons heapster-v10,
kube-dns-v10, kube-ui-v4, monitoring-influxdb-grafana-v2), so `kubectl cluster-info` and
`kubectl get pods --all-namespaces` show what the seed shows.
"""

from __future__ import annotations

import time
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Any

SYSTEM = "kube-system"
CLUSTER_SERVICE = "kubernetes.io/cluster-service"
VERSION = {
    "major": "1", "minor": "2", "gitVersion": "v1.2.0-alpha.6", "gitCommit": "a4be3ca1f1ba5d5a6f3e0ed4a7b2c9a1e0b0c2d5",
    "gitTreeState": "clean", "buildDate": "2016-01-12T14:02:11Z", "goVersion": "go1.4.2",
    "compiler": "gc", "platform": "linux/amd64",
}

# (service name, kubernetes.io/name, port, addon pod, ready containers)
ADDONS = (
    ("heapster", "Heapster", 80, "heapster-v10-2b952", ("heapster",)),
    ("kube-dns", "KubeDNS", 53, "kube-dns-v10-4le5i", ("etcd", "kube2sky", "skydns", "healthz")),
    ("kube-ui", "KubeUI", 80, "kube-ui-v4-quck6", ("kube-ui",)),
    ("monitoring-grafana", "Grafana", 80, "monitoring-influxdb-grafana-v2-m04pf", ("influxdb", "grafana")),
    ("monitoring-influxdb", "InfluxDB", 8083, "", ()),
)


def stamp(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def age(since: float, now: float | None = None) -> str:
    """kubectl's short duration (HumanDuration): 45s, 3m12s, 17m, 5h, 3d."""
    s = max(0, int((now or time.time()) - since))
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = m // 60
    return f"{h}h" if h < 48 else f"{h // 24}d"


@dataclass
class NodeRecord:
    name: str
    created: float
    heartbeat: float
    body: dict[str, Any] = field(default_factory=dict)
    uid: str = field(default_factory=lambda: str(uuid.uuid4()))


def meta(name: str, created: float, namespace: str | None = None, **labels: str) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": name, "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{namespace}/{name}/{created}")),
        "resourceVersion": str(int(created) % 100000), "creationTimestamp": stamp(created),
    }
    if namespace:
        data["namespace"] = namespace
    if labels:
        data["labels"] = dict(labels)
    return data


def node_object(rec: NodeRecord, grace: float, now: float) -> dict[str, Any]:
    status = rec.body.get("status", {})
    ready = now - rec.heartbeat <= grace
    condition = {
        "type": "Ready", "status": "True" if ready else "Unknown",
        "lastHeartbeatTime": stamp(rec.heartbeat), "lastTransitionTime": stamp(rec.created),
        "reason": "KubeletReady" if ready else "NodeStatusUnknown",
        "message": "kubelet is posting ready status" if ready else "Kubelet stopped posting node status.",
    }
    labels = {"kubernetes.io/hostname": rec.name, **rec.body.get("metadata", {}).get("labels", {})}
    metadata = meta(rec.name, rec.created, **labels)
    metadata["uid"] = rec.uid
    return {
        "kind": "Node", "apiVersion": "v1", "metadata": metadata,
        "spec": {"externalID": rec.name},
        "status": {**{k: v for k, v in status.items() if k != "conditions"}, "conditions": [condition]},
    }


def is_ready(node: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"]["conditions"])


def pod_object(name: str, node: str | None, containers: tuple[str, ...], created: float,
               **labels: str) -> dict[str, Any]:
    running = node is not None
    statuses = [
        {"name": c, "ready": running, "restartCount": 0, "image": f"gcr.io/google_containers/{c}",
         "state": {"running": {"startedAt": stamp(created)}} if running else {"waiting": {"reason": "ContainerCreating"}}}
        for c in containers
    ]
    return {
        "kind": "Pod", "apiVersion": "v1", "metadata": meta(name, created, SYSTEM, **labels),
        "spec": {"nodeName": node or "", "containers": [{"name": c, "image": f"gcr.io/google_containers/{c}"} for c in containers]},
        "status": {"phase": "Running" if running else "Pending", "containerStatuses": statuses,
                   "podIP": f"10.246.1.{2 + zlib.crc32(name.encode()) % 200}" if running else "",
                   "startTime": stamp(created)},
    }


def system_pods(nodes: list[str], created: float) -> list[dict[str, Any]]:
    """The seed's kube-system pods: addons on the first node, one kube-proxy per node."""
    first = nodes[0] if nodes else None
    pods = [pod_object(pod, first, containers, created, **{"k8s-app": svc, CLUSTER_SERVICE: "true"})
            for svc, _, _, pod, containers in ADDONS if pod]
    pods += [pod_object(f"kube-proxy-{n}", n, ("kube-proxy",), created) for n in nodes]
    return sorted(pods, key=lambda p: p["metadata"]["name"])


def services(created: float) -> list[dict[str, Any]]:
    out = [{
        "kind": "Service", "apiVersion": "v1", "metadata": meta("kubernetes", created, "default", component="apiserver", provider="kubernetes"),
        "spec": {"type": "ClusterIP", "clusterIP": "10.0.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 443}]},
        "status": {"loadBalancer": {}},
    }]
    for i, (svc, title, port, _pod, _c) in enumerate(ADDONS):
        out.append({
            "kind": "Service", "apiVersion": "v1",
            "metadata": meta(svc, created, SYSTEM, **{CLUSTER_SERVICE: "true", "kubernetes.io/name": title}),
            "spec": {"type": "ClusterIP", "clusterIP": f"10.0.0.{10 + i}", "selector": {"k8s-app": svc},
                     "ports": [{"port": port, "protocol": "UDP" if svc == "kube-dns" else "TCP", "targetPort": port}]},
            "status": {"loadBalancer": {}},
        })
    return out


def namespaces(created: float) -> list[dict[str, Any]]:
    return [{"kind": "Namespace", "apiVersion": "v1", "metadata": meta(ns, created),
             "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}
            for ns in ("default", SYSTEM)]


def matches(obj: dict[str, Any], selector: str) -> bool:
    """Label selectors: k=v, k==v, k!=v, k, !k (comma separated, all must hold)."""
    labels = obj["metadata"].get("labels", {})
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k.strip()) == v.strip():
                return False
        elif "=" in term:
            k, v = term.replace("==", "=").split("=", 1)
            if labels.get(k.strip()) != v.strip():
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True
