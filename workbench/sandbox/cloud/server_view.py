"""A server as Nova shows it to a member user, per microversion.

From nova/api/openstack/compute/views/servers.py (``show``): the flavor is ``{id, links}``
before 2.47 and embedded from it; ``locked`` from 2.9, ``description`` 2.19, ``tags`` 2.26,
``trusted_image_certificates`` 2.63, ``server_groups`` 2.71 (show only), ``locked_reason``
2.73, ``OS-EXT-SRV-ATTR:hostname`` 2.90, ``pinned_availability_zone`` 2.96. A fault shows
only in ERROR (or DELETED), and its ``details`` only when its code is not 500 (admins
see them always). The status comes from vm_state and task_state as Nova's state map says.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from workbench.sandbox.cloud import ports
from workbench.sandbox.cloud.nova_rules import at_least
from workbench.sandbox.cloud.store import Resource
from workbench.sandbox.cloud.web import cloud

#: nova/api/openstack/common.py _STATE_MAP, the part a server here can reach
_STATE_MAP: dict[str, dict[str | None, str]] = {
    "active": {
        None: "ACTIVE", "rebooting": "REBOOT", "reboot_pending": "REBOOT",
        "reboot_started": "REBOOT", "rebooting_hard": "HARD_REBOOT",
        "reboot_pending_hard": "HARD_REBOOT", "reboot_started_hard": "HARD_REBOOT",
        "rebuilding": "REBUILD", "rebuild_block_device_mapping": "REBUILD",
        "rebuild_spawning": "REBUILD",
    },
    "building": {None: "BUILD"},
    "stopped": {None: "SHUTOFF", "rebuilding": "REBUILD",
                "rebuild_block_device_mapping": "REBUILD", "rebuild_spawning": "REBUILD"},
    "error": {None: "ERROR", "rebuilding": "REBUILD",
              "rebuild_block_device_mapping": "REBUILD", "rebuild_spawning": "REBUILD"},
    "deleted": {None: "DELETED"},
}
#: nova/compute/task_states.py: the task states each operation walks through, in order
BUILD_TASKS = ("scheduling", "networking", "block_device_mapping", "spawning")
REBOOT_TASKS = ("rebooting", "reboot_pending", "reboot_started")
HARD_REBOOT_TASKS = ("rebooting_hard", "reboot_pending_hard", "reboot_started_hard")
REBUILD_TASKS = ("rebuilding", "rebuild_block_device_mapping", "rebuild_spawning")
_PROGRESS = ("ACTIVE", "BUILD", "REBUILD", "RESIZE", "VERIFY_RESIZE", "MIGRATING")
_FAULTED = ("ERROR", "DELETED")


def status_of(vm_state: str | None, task_state: str | None) -> str:
    table = _STATE_MAP.get(vm_state or "", {})
    return table.get(task_state, table.get(None, "UNKNOWN"))


def link(request: web.Request, kind: str, ident: str) -> list[dict[str, str]]:
    base = cloud(request).url("compute")
    return [{"rel": "self", "href": f"{base}/{kind}/{ident}"},
            {"rel": "bookmark", "href": f"{base.removesuffix('/v2.1')}/{kind}/{ident}"}]


def _bookmark(request: web.Request, kind: str, ident: str) -> dict[str, Any]:
    return {"id": ident, "links": [link(request, kind, ident)[1]]}


def _addresses(request: web.Request, server: Resource) -> dict[str, list[dict[str, Any]]]:
    store = cloud(request).store
    addresses: dict[str, list[dict[str, Any]]] = {}
    for port in ports.server_ports(store, server["id"]):
        net = store.networks.get(port["network_id"], {}).get("name", port["network_id"])
        entries = addresses.setdefault(net, [])
        for ip in port["fixed_ips"]:
            entries.append({"version": 4, "addr": ip["ip_address"], "OS-EXT-IPS:type": "fixed",
                            "OS-EXT-IPS-MAC:mac_addr": port["mac_address"]})
        for fip in ports.floating_of(store, {port["id"]}):
            entries.append({"version": 4, "addr": fip["floating_ip_address"],
                            "OS-EXT-IPS:type": "floating",
                            "OS-EXT-IPS-MAC:mac_addr": port["mac_address"]})
    return addresses


def _flavor(request: web.Request, server: Resource) -> dict[str, Any]:
    if not at_least(request, "2.47"):
        return _bookmark(request, "flavors", server["flavor_id"])
    flavor = cloud(request).store.flavors.get(server["flavor_id"], {})
    return {"vcpus": flavor.get("vcpus"), "ram": flavor.get("ram"), "disk": flavor.get("disk"),
            "ephemeral": 0, "swap": 0, "original_name": flavor.get("name"),
            "extra_specs": dict(flavor.get("extra_specs", {}))}


def _fault(server: Resource) -> dict[str, Any]:
    fault = server["fault"]
    shown = {"code": fault["code"], "created": fault["created"], "message": fault["message"]}
    if fault.get("details") and fault["code"] != 500:
        shown["details"] = fault["details"]
    return shown


def server_view(request: web.Request, server: Resource, *, listing: bool = False) -> dict[str, Any]:
    """``GET /servers/{id}`` (or one entry of ``/servers/detail`` with ``listing``)."""
    store = cloud(request).store
    status = status_of(server.get("vm_state"), server.get("task_state"))
    view: dict[str, Any] = {
        "id": server["id"], "name": server["name"], "status": status,
        "tenant_id": store.project_id, "user_id": store.user_id,
        "metadata": server["metadata"], "hostId": "" if status == "BUILD" else "sandbox-host",
        "image": _bookmark(request, "images", server["image_id"]),
        "flavor": _flavor(request, server),
        "created": server["created"], "updated": server["updated"],
        "addresses": _addresses(request, server),
        "accessIPv4": "", "accessIPv6": "", "links": link(request, "servers", server["id"]),
        "OS-DCF:diskConfig": "MANUAL", "OS-EXT-AZ:availability_zone": "nova",
        "config_drive": server.get("config_drive", ""), "key_name": server["key_name"],
        "OS-SRV-USG:launched_at": server.get("launched_at"), "OS-SRV-USG:terminated_at": None,
        "security_groups": [{"name": "default"}],
        "OS-EXT-STS:task_state": server.get("task_state"),
        "OS-EXT-STS:vm_state": server.get("vm_state"),
        "OS-EXT-STS:power_state": server.get("power_state", 0),
        "os-extended-volumes:volumes_attached": [],
    }
    if status in _PROGRESS:
        view["progress"] = 0
    if status in _FAULTED and server.get("fault"):
        view["fault"] = _fault(server)
    gated: tuple[tuple[str, str, Any], ...] = (
        ("2.9", "locked", False),
        ("2.19", "description", server.get("description")),
        ("2.26", "tags", list(server.get("tags", []))),
        ("2.63", "trusted_image_certificates", None),
        ("2.73", "locked_reason", None),
        ("2.90", "OS-EXT-SRV-ATTR:hostname", server["name"]),
        ("2.96", "pinned_availability_zone", None),
    )
    for version, key, value in gated:
        if at_least(request, version):
            view[key] = value
    if at_least(request, "2.71") and not listing:
        view["server_groups"] = []
    return view
