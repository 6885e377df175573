"""What the cloud engine knows about a cluster: its instances and the tag that marks ours."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from workbench.engine.nova_faults import read_fault

Role = Literal["master", "minion", "other"]

#: Statuses and task states that mean "something is changing": the inventory polls fast.
TRANSITIONAL = frozenset(
    {"BUILD", "REBUILD", "REBOOT", "HARD_REBOOT", "RESIZE", "MIGRATING", "DELETING", "DELETED"}
)

CLUSTER_META = "workbench-cluster"
ROLE_META = "workbench-role"


def cluster_tag(cluster: str) -> str:
    """The tag on every server, port and floating IP the workbench creates for ``cluster``."""
    return f"workbench:{cluster}"


def has_tag(resource: Any, tag: str) -> bool:
    tags = _get(resource, "tags") or []
    return tag in tags


@dataclass(frozen=True)
class Instance:
    """One server of the cluster, as the inventory last saw it."""

    id: str
    name: str
    role: Role
    status: str
    fixed_ip: str | None
    floating_ip: str | None
    flavor: str
    image: str
    created: str
    fault: str | None
    task_state: str | None
    tagged: bool = True  # False: matched by name only; never deleted by the workbench
    fault_kind: str = ""  # capacity, port-binding, network, other (engine/nova_faults.py)

    @property
    def in_transition(self) -> bool:
        return self.status in TRANSITIONAL or bool(self.task_state)

    @property
    def going_away(self) -> bool:
        """Being deleted: Nova still lists it (often ACTIVE, task_state deleting), but it is gone soon."""
        return self.task_state == "deleting" or self.status in ("DELETED", "SOFT_DELETED")

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "id": self.id,
            "role": self.role,
            "status": self.status,
            "fixed_ip": self.fixed_ip,
            "floating_ip": self.floating_ip,
            "flavor": self.flavor,
            "image": self.image,
            "created": self.created,
            "fault": self.fault,
            "task_state": self.task_state,
            "tagged": self.tagged,
        }


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
