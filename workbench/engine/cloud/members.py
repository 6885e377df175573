"""What the state dir remembers about the cluster's cloud side.

``cloud-members.json``: every member ``up`` created ({name: {id, role, ip}}), so the doctor
can tell a member deleted out of band from one never created. ``cloud-pending-ports.json``:
ports ``up`` created whose server does not exist yet; a rerun reuses them, the doctor does
not call them leaked. ``cloud-port-intents.json``: {name: ip} of ports ``up`` is about to
create, written before the create call, so a run killed between Neutron's answer and the
pending record still leaves the rerun a way to know the port as its own.
"""

from __future__ import annotations

from typing import Any

from workbench.state import StateDir

MEMBERS = "cloud-members.json"
PENDING = "cloud-pending-ports.json"
INTENTS = "cloud-port-intents.json"


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
    state.write_json(INTENTS, {})


def port_intents(state: StateDir) -> dict[str, str]:
    value = state.read_json(INTENTS, {})
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def set_intent(state: StateDir, name: str, ip: str | None) -> None:
    """Record (``ip``) or drop (None) the port ``up`` is about to create for ``name``."""
    intents = port_intents(state)
    if ip is None:
        intents.pop(name, None)
    else:
        intents[name] = ip
    state.write_json(INTENTS, intents)


def is_pending(state: StateDir, port_id: str, name: str, fixed_ips: tuple[str, ...]) -> bool:
    """A port ``up`` made (or was making) for a server that does not exist yet."""
    if port_id in pending_ports(state):
        return True
    intended_ip = port_intents(state).get(name)
    return intended_ip is not None and intended_ip in fixed_ips
