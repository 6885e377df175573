"""Servers as instances: the tag that marks ours and an openstacksdk Server -> ``Instance``."""

from __future__ import annotations

from typing import Any

from workbench.engine.cloud.faults import read_fault
from workbench.models.instance import TRANSITIONAL, Instance, Role

__all__ = ["TRANSITIONAL", "Instance", "Role", "cluster_tag", "instance_from_server"]

CLUSTER_META = "workbench-cluster"
ROLE_META = "workbench-role"


def cluster_tag(cluster: str) -> str:
    """The tag on every server, port and floating IP the workbench creates for ``cluster``."""
    return f"workbench:{cluster}"


def has_tag(resource: Any, tag: str) -> bool:
    tags = _get(resource, "tags") or []
    return tag in tags


def _get(resource: Any, key: str) -> Any:
    if isinstance(resource, dict):
        return resource.get(key)
    return getattr(resource, key, None)


def role_of(name: str, metadata: dict[str, str] | None) -> Role:
    role = (metadata or {}).get(ROLE_META)
    if role == "master":
        return "master"
    if role == "minion":
        return "minion"
    if name.endswith("-master"):
        return "master"
    if "-minion-" in name:
        return "minion"
    return "other"


def _addresses(server: Any) -> tuple[str | None, str | None]:
    fixed: str | None = None
    floating: str | None = None
    for entries in (_get(server, "addresses") or {}).values():
        for entry in entries or []:
            kind = entry.get("OS-EXT-IPS:type")
            addr = entry.get("addr")
            if kind == "floating":
                floating = floating or addr
            else:
                fixed = fixed or addr
    return fixed, floating


def _name_of(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    for key in ("original_name", "name", "id"):
        found = _get(value, key)
        if found:
            return str(found)
    return ""


def _fault_of(server: Any) -> tuple[str | None, str]:
    """The fault's explanation (an older Nova's ``details``, a newer one's ``message``) and kind."""
    fault = read_fault(_get(server, "fault"))
    return (fault.text(), fault.kind) if fault is not None else (None, "")


def instance_from_server(server: Any, tag: str, cluster: str) -> Instance:
    """Turn an openstacksdk Server into an Instance."""
    name = _get(server, "name") or ""
    metadata = _get(server, "metadata") or {}
    fixed, floating = _addresses(server)
    fault, fault_kind = _fault_of(server)
    tagged = has_tag(server, tag) or metadata.get(CLUSTER_META) == cluster
    return Instance(
        id=_get(server, "id") or "",
        name=name,
        role=role_of(name, metadata),
        status=str(_get(server, "status") or "UNKNOWN"),
        fixed_ip=fixed,
        floating_ip=floating,
        flavor=_name_of(_get(server, "flavor")),
        image=_name_of(_get(server, "image")),
        created=str(_get(server, "created_at") or ""),
        fault=fault,
        task_state=_get(server, "task_state") or None,
        tagged=tagged,
        fault_kind=fault_kind,
    )
