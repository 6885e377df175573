"""Pod and node columns as ``kubectl get pods`` / ``kubectl get nodes`` print them.

The rules follow kubectl's table printer (pkg/printers/internalversion/printers.go):
init containers show ``Init:N/M`` or ``Init:<reason>`` until the pod is initialized;
native sidecars (init containers with ``restartPolicy: Always``) count in READY once
started; a container's waiting or terminated reason (``CrashLoopBackOff``,
``OOMKilled``, ``Completed``, ``Error``) wins over the phase; a pod being deleted is
``Terminating``; RESTARTS carries the age of the last restart, e.g. ``3 (5m ago)``.
Nodes: ``Ready`` / ``NotReady`` / ``Unknown``, ``,SchedulingDisabled`` when cordoned,
roles from ``node-role.kubernetes.io/<role>`` and ``kubernetes.io/role`` labels.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

ROLE_PREFIX = "node-role.kubernetes.io/"
ROLE_LABEL = "kubernetes.io/role"
NODE_UNREACHABLE = "NodeLost"


@dataclass(frozen=True)
class PodColumns:
    ready: str  # "1/2"
    status: str
    restarts: int
    restarts_text: str  # "3 (5m ago)" or "0"


def _map(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def parse_time(value: Any) -> dt.datetime | None:
    """An RFC 3339 timestamp as the API writes it (``2020-08-25T08:20:35Z``)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def human_duration(seconds: float) -> str:
    """kubectl's short age: 45s, 7m30s, 65m, 5h10m, 23h, 3d4h, 40d, 2y30d, 9y."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def _last_finished(status: dict[str, Any]) -> dt.datetime | None:
    return parse_time(_map(_map(status.get("lastState")).get("terminated")).get("finishedAt"))


def _restartable(container: dict[str, Any] | None) -> bool:
    return bool(container) and (container or {}).get("restartPolicy") == "Always"


def _terminated_reason(term: dict[str, Any], prefix: str = "") -> str:
    if term.get("reason"):
        return prefix + str(term["reason"])
    if term.get("signal"):
        return f"{prefix}Signal:{term['signal']}"
    return f"{prefix}ExitCode:{term.get('exitCode', 0)}"


def pod_columns(item: dict[str, Any], now: dt.datetime) -> PodColumns:
    """READY, STATUS and RESTARTS of one pod, as kubectl prints them."""
    meta, spec, status = (_map(item.get(k)) for k in ("metadata", "spec", "status"))
    init_specs = {str(c.get("name")): c for c in _list(spec.get("initContainers"))}
    total = len(_list(spec.get("containers"))) + sum(1 for c in init_specs.values() if _restartable(c))
    ready = restarts = sidecar_restarts = 0
    last: dt.datetime | None = None
    sidecar_last: dt.datetime | None = None
    phase = str(status.get("phase") or "")
    reason = str(status.get("reason") or phase)
    for cond in _list(status.get("conditions")):
        if cond.get("type") == "PodScheduled" and cond.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    initializing = False
    init_statuses = _list(status.get("initContainerStatuses"))
    for index, c in enumerate(init_statuses):
        count = int(c.get("restartCount") or 0)
        restarts += count
        finished = _last_finished(c)
        last = max(filter(None, (last, finished)), default=None)
        sidecar = _restartable(init_specs.get(str(c.get("name"))))
        if sidecar:
            sidecar_restarts += count
            sidecar_last = max(filter(None, (sidecar_last, finished)), default=None)
        state = _map(c.get("state"))
        term, waiting = _map(state.get("terminated")), _map(state.get("waiting"))
        if term and int(term.get("exitCode") or 0) == 0:
            continue
        if sidecar and c.get("started"):
            ready += 1 if c.get("ready") else 0
            continue
        if term:
            reason = _terminated_reason(term, "Init:")
        elif waiting.get("reason") and waiting.get("reason") != "PodInitializing":
            reason = f"Init:{waiting['reason']}"
        else:
            reason = f"Init:{index}/{len(init_specs) or len(init_statuses)}"
        initializing = True
        break

    initialized = any(cond.get("type") == "Initialized" and cond.get("status") == "True"
                      for cond in _list(status.get("conditions")))
    if not initializing or initialized:
        restarts, last = sidecar_restarts, sidecar_last
        running = False
        for c in reversed(_list(status.get("containerStatuses"))):
            restarts += int(c.get("restartCount") or 0)
            finished = _last_finished(c)
            last = max(filter(None, (last, finished)), default=None)
            state = _map(c.get("state"))
            term, waiting = _map(state.get("terminated")), _map(state.get("waiting"))
            if waiting.get("reason"):
                reason = str(waiting["reason"])
            elif term:
                reason = _terminated_reason(term)
            elif c.get("ready") and "running" in state:
                running = True
                ready += 1
        if reason == "Completed" and running:
            pod_ready = any(cond.get("type") == "Ready" and cond.get("status") == "True"
                            for cond in _list(status.get("conditions")))
            reason = "Running" if pod_ready else "NotReady"

    if meta.get("deletionTimestamp") and status.get("reason") == NODE_UNREACHABLE:
        reason = "Unknown"
    elif meta.get("deletionTimestamp") and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"
    text = str(restarts)
    if restarts and last is not None:
        text = f"{restarts} ({human_duration((now - last).total_seconds())} ago)"
    return PodColumns(f"{ready}/{total}", reason or "Unknown", restarts, text)


def node_status(item: dict[str, Any]) -> str:
    """``Ready``, ``NotReady`` or ``Unknown``, then ``SchedulingDisabled`` when cordoned."""
    conditions = {c.get("type"): c for c in _list(_map(item.get("status")).get("conditions"))}
    ready = conditions.get("Ready")
    parts = ["Unknown" if ready is None else ("Ready" if ready.get("status") == "True" else "NotReady")]
    if _map(item.get("spec")).get("unschedulable"):
        parts.append("SchedulingDisabled")
    return ",".join(parts)


def node_roles(item: dict[str, Any]) -> str:
    """Sorted roles from the node's labels, ``<none>`` without any."""
    roles = set()
    for key, value in _map(_map(item.get("metadata")).get("labels")).items():
        if isinstance(key, str) and key.startswith(ROLE_PREFIX) and key[len(ROLE_PREFIX):]:
            roles.add(key[len(ROLE_PREFIX):])
        elif key == ROLE_LABEL and value:
            roles.add(str(value))
    return ",".join(sorted(roles)) or "<none>"
