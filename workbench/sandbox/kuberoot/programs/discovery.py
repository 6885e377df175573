"""Discovery documents and server-side tables (what `kubectl get` asks for by default).

kubectl 1.32 asks /api and /apis for aggregated discovery first; a server that answers
plain ``application/json`` (like Kubernetes before 1.26) gets the legacy documents and
kubectl reads /api/v1 next. Tables: kubectl sends
``Accept: application/json;as=Table;v=v1;g=meta.k8s.io, ...`` and prints the rows.
"""

from __future__ import annotations

import calendar
import time
from typing import Any

from objects import age, is_ready

TABLE_CONTENT_TYPE = "application/json;as=Table;v=v1;g=meta.k8s.io"

RESOURCES = (
    # name, singular, namespaced, kind, verbs, short names
    ("namespaces", "namespace", False, "Namespace", ["get", "list"], ["ns"]),
    ("nodes", "node", False, "Node", ["create", "get", "list", "patch", "update"], ["no"]),
    ("nodes/status", "", False, "Node", ["get", "patch", "update"], []),
    ("pods", "pod", True, "Pod", ["get", "list"], ["po"]),
    ("services", "service", True, "Service", ["get", "list"], ["svc"]),
)


def api_versions(host: str) -> dict[str, Any]:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}]}


def api_groups() -> dict[str, Any]:
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": []}


def resource_list() -> dict[str, Any]:
    resources = []
    for name, singular, namespaced, kind, verbs, short in RESOURCES:
        entry: dict[str, Any] = {"name": name, "singularName": singular, "namespaced": namespaced,
                                 "kind": kind, "verbs": verbs}
        if short:
            entry["shortNames"] = short
        resources.append(entry)
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "v1", "resources": resources}


def status(code: int, reason: str, message: str, **details: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                            "message": message, "reason": reason, "code": code}
    if details:
        body["details"] = details
    return body


def wants_table(accept: str) -> bool:
    return "as=Table" in accept


def _column(name: str, kind: str = "string", priority: int = 0, fmt: str = "") -> dict[str, Any]:
    return {"name": name, "type": kind, "format": fmt, "description": name, "priority": priority}


def _node_row(node: dict[str, Any], now: float) -> list[Any]:
    st = node["status"]
    addresses = {a["type"]: a["address"] for a in st.get("addresses", [])}
    info = st.get("nodeInfo", {})
    return [node["metadata"]["name"], "Ready" if is_ready(node) else "NotReady", "<none>",
            age(_created(node), now), info.get("kubeletVersion", ""), addresses.get("InternalIP", "<none>"),
            addresses.get("ExternalIP", "<none>"), info.get("osImage", "<unknown>"),
            info.get("kernelVersion", "<unknown>"), info.get("containerRuntimeVersion", "<unknown>")]


def _pod_row(pod: dict[str, Any], now: float) -> list[Any]:
    statuses = pod["status"].get("containerStatuses", [])
    ready = sum(1 for c in statuses if c.get("ready"))
    restarts = sum(int(c.get("restartCount", 0)) for c in statuses)
    return [pod["metadata"]["name"], f"{ready}/{len(pod['spec']['containers'])}", pod["status"]["phase"],
            restarts, age(_created(pod), now), pod["status"].get("podIP") or "<none>",
            pod["spec"].get("nodeName") or "<none>", "<none>", "<none>"]


def _service_row(svc: dict[str, Any], now: float) -> list[Any]:
    ports = ",".join(f"{p['port']}/{p.get('protocol', 'TCP')}" for p in svc["spec"].get("ports", []))
    selector = ",".join(f"{k}={v}" for k, v in svc["spec"].get("selector", {}).items()) or "<none>"
    return [svc["metadata"]["name"], svc["spec"]["type"], svc["spec"].get("clusterIP", "<none>"),
            "<none>", ports or "<none>", age(_created(svc), now), selector]


def _namespace_row(ns: dict[str, Any], now: float) -> list[Any]:
    return [ns["metadata"]["name"], ns["status"]["phase"], age(_created(ns), now)]


TABLES = {
    "Node": ([_column("Name", fmt="name"), _column("Status"), _column("Roles"), _column("Age"),
              _column("Version"), _column("Internal-IP", priority=1), _column("External-IP", priority=1),
              _column("OS-Image", priority=1), _column("Kernel-Version", priority=1),
              _column("Container-Runtime", priority=1)], _node_row),
    "Pod": ([_column("Name", fmt="name"), _column("Ready"), _column("Status"),
             _column("Restarts", "string"), _column("Age"), _column("IP", priority=1),
             _column("Node", priority=1), _column("Nominated Node", priority=1),
             _column("Readiness Gates", priority=1)], _pod_row),
    "Service": ([_column("Name", fmt="name"), _column("Type"), _column("Cluster-IP"),
                 _column("External-IP"), _column("Port(s)"), _column("Age"),
                 _column("Selector", priority=1)], _service_row),
    "Namespace": ([_column("Name", fmt="name"), _column("Status"), _column("Age")], _namespace_row),
}


def table(kind: str, items: list[dict[str, Any]], include: str = "PartialObjectMetadata") -> dict[str, Any]:
    columns, row_of = TABLES[kind]
    now = time.time()
    rows = []
    for item in items:
        row: dict[str, Any] = {"cells": row_of(item, now)}
        if include == "Object":
            row["object"] = item
        elif include != "None":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": item["metadata"]}
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": "1"},
            "columnDefinitions": columns, "rows": rows}


def _created(obj: dict[str, Any]) -> float:
    text = obj["metadata"].get("creationTimestamp", "")
    try:
        return float(calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")))
    except ValueError:
        return time.time()
