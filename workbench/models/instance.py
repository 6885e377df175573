"""One server of the cluster as the inventory last saw it (shown by the TUI and the CLI)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Role = Literal["master", "minion", "other"]

#: Statuses and task states that mean "something is changing": the inventory polls fast.
TRANSITIONAL = frozenset(
    {"BUILD", "REBUILD", "REBOOT", "HARD_REBOOT", "RESIZE", "MIGRATING", "DELETING", "DELETED"}
)


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
    fault_kind: str = ""  # capacity, port-binding, network, other (engine/cloud/faults.py)

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
