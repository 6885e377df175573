"""What the state dir remembers about the cluster's cloud side.

``cloud-members.json``: every member ``up`` created ({name: {id, role, ip}}), so the doctor
can tell a member deleted out of band from one never created. ``cloud-pending-ports.json``:
ports ``up`` created whose server does not exist yet; a rerun reuses them, the doctor does
not call them leaked.
"""

from __future__ import annotations

from typing import Any

from workbench.state import StateDir

MEMBERS = "cloud-members.json"
PENDING = "cloud-pending-ports.json"


def known_members(state: StateDir) -> dict[str, dict[str, Any]]:
    value = state.read_json(MEMBERS, {})
    return value if isinstance(value, dict) else {}


def remember_member(state: StateDir, name: str, server_id: str, role: str, ip: str) -> None:
    members = known_members(state)
    members[name] = {"id": server_id, "role": role, "ip": ip}
    state.write_json(MEMBERS, members)


def forget_members(state: StateDir, names: list[str] | None = None) -> None:
    """Forget the named members, or all of them."""
    members = {} if names is None else {k: v for k, v in known_members(state).items() if k not in names}
    state.write_json(MEMBERS, members)


def pending_ports(state: StateDir) -> set[str]:
    value = state.read_json(PENDING, [])
    return {str(v) for v in value} if isinstance(value, list) else set()


def set_pending(state: StateDir, port_id: str, pending: bool) -> None:
    ports = pending_ports(state)
    if pending:
        ports.add(port_id)
    else:
        ports.discard(port_id)
    state.write_json(PENDING, sorted(ports))


def clear_pending(state: StateDir) -> None:
    state.write_json(PENDING, [])
