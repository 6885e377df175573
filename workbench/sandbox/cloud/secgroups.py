"""The project's default security group, as Neutron makes it, read-only over the API.

Neutron creates ``default`` for a project with four rules (ingress from members of the
same group, egress anywhere; IPv4 and IPv6) and puts every new port with port security
on it. Creating or changing groups and rules is not simulated (docs/sandbox.md).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from workbench.sandbox.cloud import errors
from workbench.sandbox.cloud.store import Resource, Store, new_id, now
from workbench.sandbox.cloud.web import cloud, reply

routes = web.RouteTableDef()


def _rule(store: Store, group_id: str, direction: str, ethertype: str) -> Resource:
    stamp = now()
    return {
        "id": new_id(), "tenant_id": store.project_id, "project_id": store.project_id,
        "security_group_id": group_id, "direction": direction, "ethertype": ethertype,
        "protocol": None, "port_range_min": None, "port_range_max": None,
        "remote_ip_prefix": None, "normalized_cidr": None, "remote_address_group_id": None,
        "remote_group_id": group_id if direction == "ingress" else None,
        "description": "", "tags": [], "created_at": stamp, "updated_at": stamp,
        "revision_number": 0, "belongs_to_default_sg": True,
    }


def ensure_default(store: Store) -> Resource:
    """The project's ``default`` group, created with Neutron's default rules when missing."""
    found = store.by_name(store.security_groups, "default")
    if found is not None:
        return found
    stamp = now()
    group_id = new_id()
    group: Resource = {
        "id": group_id, "name": "default", "description": "Default security group",
        "stateful": True, "shared": False, "tenant_id": store.project_id,
        "project_id": store.project_id, "tags": [], "created_at": stamp,
        "updated_at": stamp, "revision_number": 1,
        "security_group_rules": [
            _rule(store, group_id, direction, ethertype)
            for direction in ("egress", "ingress") for ethertype in ("IPv4", "IPv6")
        ],
    }
    store.security_groups[group_id] = group
    return group


def groups_for_port(store: Store, body: dict[str, Any], device_owner: str) -> list[str]:
    """The groups a new port gets: those asked for, else ``default`` (none for
    ``network:*`` ports or with port security off)."""
    asked = body.get("security_groups")
    if asked is not None:
        if not isinstance(asked, list):
            raise errors.neutron(400, "InvalidInput", "Invalid input for security_groups.")
        for group_id in asked:
            if group_id not in store.security_groups:
                raise errors.neutron(404, "SecurityGroupNotFound",
                                     f"Security group {group_id} does not exist")
        return [str(g) for g in asked]
    if device_owner.startswith("network:") or body.get("port_security_enabled") is False:
        return []
    return [ensure_default(store)["id"]]


def _rules(store: Store) -> list[Resource]:
    return [r for g in store.security_groups.values() for r in g["security_group_rules"]]


@routes.get("/network/v2.0/security-groups")
async def list_groups(request: web.Request) -> web.Response:
    from workbench.sandbox.cloud.network import filter_items, project

    groups = list(cloud(request).store.security_groups.values())
    listed = filter_items(request, groups, request.query)
    return reply({"security_groups": project(request.query, listed)})


@routes.get("/network/v2.0/security-groups/{id}")
async def show_group(request: web.Request) -> web.Response:
    group = cloud(request).store.security_groups.get(request.match_info["id"])
    if group is None:
        raise errors.neutron(404, "SecurityGroupNotFound",
                             f"Security group {request.match_info['id']} does not exist")
    return reply({"security_group": group})


@routes.get("/network/v2.0/security-group-rules")
async def list_rules(request: web.Request) -> web.Response:
    from workbench.sandbox.cloud.network import filter_items, project

    listed = filter_items(request, _rules(cloud(request).store), request.query)
    return reply({"security_group_rules": project(request.query, listed)})


@routes.get("/network/v2.0/security-group-rules/{id}")
async def show_rule(request: web.Request) -> web.Response:
    wanted = request.match_info["id"]
    rule = next((r for r in _rules(cloud(request).store) if r["id"] == wanted), None)
    if rule is None:
        raise errors.neutron(404, "SecurityGroupRuleNotFound",
                             f"Security group rule {wanted} does not exist")
    return reply({"security_group_rule": rule})
