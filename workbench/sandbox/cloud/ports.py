"""Neutron's logic: networks, subnets, ports with fixed IPs, floating IPs and tags."""

from __future__ import annotations

import ipaddress
import secrets
from typing import Any

from workbench.sandbox.cloud import errors, secgroups
from workbench.sandbox.cloud.store import Resource, Store, new_id, now

COMPUTE_OWNER = "compute:nova"
DHCP_OWNER = "network:dhcp"
ROUTER_OWNER = "network:router_interface"


def _standard(store: Store, name: str, **extra: Any) -> Resource:
    stamp = now()
    return {
        "id": new_id(),
        "name": name,
        "description": "",
        "tenant_id": store.project_id,
        "project_id": store.project_id,
        "tags": [],
        "created_at": stamp,
        "updated_at": stamp,
        "revision_number": 1,
        **extra,
    }


def touch(resource: Resource) -> None:
    resource["updated_at"] = now()
    resource["revision_number"] = int(resource.get("revision_number", 0)) + 1


def create_network(store: Store, name: str, *, external: bool = False) -> Resource:
    net = _standard(
        store, name, status="ACTIVE", admin_state_up=True, subnets=[], shared=False,
        mtu=1500, availability_zones=["nova"], availability_zone_hints=[],
        port_security_enabled=True, ipv4_address_scope=None, ipv6_address_scope=None,
        is_default=external, **{"router:external": external, "provider:network_type": "flat"},
    )
    store.networks[net["id"]] = net
    return net


def create_subnet(
    store: Store, network_id: str, name: str, cidr: str, pool_start: int = 1
) -> Resource:
    """A subnet whose gateway is the first host; its pool runs from host ``pool_start``."""
    net = ipaddress.IPv4Network(cidr)
    hosts = list(net.hosts())
    subnet = _standard(
        store, name, network_id=network_id, cidr=str(net), ip_version=4,
        gateway_ip=str(hosts[0]),
        allocation_pools=[{"start": str(hosts[pool_start]), "end": str(hosts[-1])}],
        enable_dhcp=True, dns_nameservers=[], host_routes=[], service_types=[],
        ipv6_address_mode=None, ipv6_ra_mode=None, subnetpool_id=None,
    )
    store.subnets[subnet["id"]] = subnet
    store.networks[network_id]["subnets"].append(subnet["id"])
    return subnet


def get(store: Store, table: str, kind: str, resource_id: str) -> Resource:
    found = getattr(store, table).get(resource_id)
    if found is None:
        raise errors.neutron(404, f"{kind}NotFound", f"{kind} {resource_id} could not be found.")
    return found


def _mac() -> str:
    return "fa:16:3e:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(3))


def _subnet_for(store: Store, network_id: str, ip: str) -> str | None:
    addr = ipaddress.IPv4Address(ip)
    for subnet_id in store.networks[network_id]["subnets"]:
        if addr in ipaddress.IPv4Network(store.subnets[subnet_id]["cidr"]):
            return subnet_id
    return None


def _allocate(store: Store, subnet_id: str, *, first: bool = False) -> str:
    """An address from the pool: from its top (Neutron picks at random; the top keeps
    tests' explicit picks apart), or its first for the network's own DHCP port."""
    used = store.used_ips(subnet_id)
    pool = store.pool_ips(subnet_id)
    for ip in (pool if first else reversed(pool)):
        if ip not in used:
            return ip
    net = store.subnets[subnet_id]["network_id"]
    raise errors.neutron(
        409, "IpAddressGenerationFailure", f"No more IP addresses available on network {net}."
    )


def _fixed_ips(
    store: Store, network_id: str, wanted: list[dict[str, Any]] | None, router: bool = False
) -> list[Resource]:
    subnets = store.networks[network_id]["subnets"]
    if not wanted:
        if not subnets:
            return []
        return [{"subnet_id": subnets[0], "ip_address": _allocate(store, subnets[0])}]
    out: list[Resource] = []
    for item in wanted:
        ip = item.get("ip_address")
        subnet_id = item.get("subnet_id")
        if subnet_id is not None and subnet_id not in subnets:
            raise errors.neutron(404, "SubnetNotFound", f"Subnet {subnet_id} could not be found.")
        if ip is None:
            sid = subnet_id or subnets[0]
            out.append({"subnet_id": sid, "ip_address": _allocate(store, sid)})
            continue
        try:
            ipaddress.IPv4Address(ip)
        except ValueError:
            raise errors.neutron(
                400, "InvalidInput", f"Invalid input for operation: '{ip}' is not a valid IP address."
            ) from None
        sid = _subnet_for(store, network_id, ip)
        if sid is None or (subnet_id is not None and sid != subnet_id):
            raise errors.neutron(
                400, "InvalidIpForNetwork",
                f"IP address {ip} is not a valid IP for any of the subnets on the specified network.",
            )
        used = store.used_ips(sid)
        if router and not any(ip == f["ip_address"] for p in store.ports.values() for f in p["fixed_ips"]):
            used.discard(store.subnets[sid].get("gateway_ip"))  # the gateway is the router's
        if ip in used or any(o["ip_address"] == ip for o in out):
            raise errors.neutron(
                409, "IpAddressAlreadyAllocated", f"IP address {ip} already allocated in subnet {sid}"
            )
        out.append({"subnet_id": sid, "ip_address": ip})
    return out


def create_port(store: Store, body: dict[str, Any]) -> Resource:
    network_id = body.get("network_id")
    if not network_id:
        raise errors.neutron(400, "BadRequest", "Bad port request: network_id is required.")
    get(store, "networks", "Network", network_id)
    fixed = _fixed_ips(store, network_id, body.get("fixed_ips"),
                       router=body.get("device_owner") == ROUTER_OWNER)
    device_id = body.get("device_id", "") or ""
    owner = body.get("device_owner", "") or ""
    groups = secgroups.groups_for_port(store, body, owner)
    port = _standard(
        store, body.get("name", "") or "", network_id=network_id, mac_address=_mac(),
        fixed_ips=fixed, status="DOWN", admin_state_up=body.get("admin_state_up", True),
        device_id=device_id, device_owner=owner,
        security_groups=groups, allowed_address_pairs=[], extra_dhcp_opts=[],
        port_security_enabled=body.get("port_security_enabled", True) is not False,
        dns_name="", dns_assignment=[],
        **{
            "binding:vnic_type": "normal", "binding:host_id": "", "binding:vif_type": "unbound",
            "binding:vif_details": {}, "binding:profile": {},
        },
    )
    port["description"] = body.get("description", "") or ""
    port["tags"] = list(body.get("tags", []))
    store.ports[port["id"]] = port
    return port


def bind(port: Resource, server_id: str, *, active: bool) -> None:
    port.update(
        device_id=server_id, device_owner=COMPUTE_OWNER, status="ACTIVE" if active else "DOWN",
        **{"binding:host_id": "sandbox", "binding:vif_type": "ovs"},
    )
    touch(port)


def unbind(port: Resource) -> None:
    port.update(
        device_id="", device_owner="", status="DOWN",
        **{"binding:host_id": "", "binding:vif_type": "unbound"},
    )
    touch(port)


def delete_port(store: Store, port_id: str) -> None:
    store.ports.pop(port_id, None)
    for fip in store.floatingips.values():
        if fip.get("port_id") == port_id:
            _disassociate(fip)


def server_ports(store: Store, server_id: str) -> list[Resource]:
    return [p for p in store.ports.values() if p["device_id"] == server_id]


# -- floating IPs -------------------------------------------------------------------
def create_floatingip(store: Store, body: dict[str, Any]) -> Resource:
    net_id = body.get("floating_network_id")
    if not net_id:
        raise errors.neutron(400, "BadRequest", "floating_network_id is required.")
    net = get(store, "networks", "Network", net_id)
    if not net.get("router:external") or not net["subnets"]:
        raise errors.neutron(
            400, "BadRequest", f"Bad floatingip request: Network {net_id} is not a valid external network."
        )
    subnet_id = net["subnets"][0]
    wanted = body.get("floating_ip_address")
    if wanted:
        if wanted in store.used_ips(subnet_id) or wanted not in store.pool_ips(subnet_id):
            raise errors.neutron(
                409, "IpAddressAlreadyAllocated", f"IP address {wanted} already allocated in subnet {subnet_id}"
            )
        address = wanted
    else:
        used = store.used_ips(subnet_id)
        address = next((ip for ip in store.pool_ips(subnet_id) if ip not in used), "")
        if not address:
            raise errors.neutron(
                409, "ExternalIpAddressExhausted",
                f"Unable to find any IP address on external network {net_id}.",
            )
    fip = _standard(
        store, "", floating_ip_address=address, floating_network_id=net_id, router_id=None,
        port_id=None, fixed_ip_address=None, status="DOWN", port_details=None,
        dns_domain="", dns_name="", _subnet_id=subnet_id,
    )
    del fip["name"]
    fip["description"] = body.get("description", "") or ""
    store.floatingips[fip["id"]] = fip
    if body.get("port_id"):
        associate(store, fip, body["port_id"], body.get("fixed_ip_address"))
    return fip


def associate(store: Store, fip: Resource, port_id: str, fixed_ip: str | None) -> None:
    port = get(store, "ports", "Port", port_id)
    if not port["fixed_ips"]:
        raise errors.neutron(400, "BadRequest", f"Port {port_id} does not have any fixed IP addresses.")
    ip = fixed_ip or port["fixed_ips"][0]["ip_address"]
    if ip not in [f["ip_address"] for f in port["fixed_ips"]]:
        raise errors.neutron(400, "BadRequest", f"Port {port_id} does not have fixed ip {ip}.")
    for other in store.floatingips.values():
        if other is not fip and other.get("port_id") == port_id and other["fixed_ip_address"] == ip:
            raise errors.neutron(
                409, "FloatingIPPortAlreadyAssociated",
                f"Cannot associate floating IP {fip['floating_ip_address']} ({fip['id']}) with port "
                f"{port_id} using fixed IP {ip}, as that fixed IP already has a floating IP on "
                f"external network {other['floating_network_id']}.",
            )
    fip.update(
        port_id=port_id, fixed_ip_address=ip, status="ACTIVE", router_id=router_id(store),
        port_details={
            "name": port["name"], "network_id": port["network_id"], "mac_address": port["mac_address"],
            "admin_state_up": port["admin_state_up"], "status": port["status"],
            "device_id": port["device_id"], "device_owner": port["device_owner"],
        },
    )
    touch(fip)


def router_id(store: Store) -> str:
    """There is one implicit router between mgmt and public; its id is stable per project."""
    return store.project_id[:8] + "-0000-4000-8000-" + store.project_id[-12:]


def _disassociate(fip: Resource) -> None:
    fip.update(port_id=None, fixed_ip_address=None, status="DOWN", router_id=None, port_details=None)
    touch(fip)


def disassociate(fip: Resource) -> None:
    _disassociate(fip)


def floating_of(store: Store, port_ids: set[str]) -> list[Resource]:
    return [f for f in store.floatingips.values() if f.get("port_id") in port_ids]


# -- the network's own ports ----------------------------------------------------------
def furnish_project_network(store: Store, network_id: str) -> None:
    """What a real project network holds besides the user's ports: the router's interface
    on the gateway address and the DHCP agent's port on the pool's first address."""
    owners = {p["device_owner"] for p in store.ports.values() if p["network_id"] == network_id}
    subnet_id = store.networks[network_id]["subnets"][0]
    subnet = store.subnets[subnet_id]
    if ROUTER_OWNER not in owners:
        port = create_port(store, {
            "network_id": network_id, "device_owner": ROUTER_OWNER,
            "device_id": router_id(store),
            "fixed_ips": [{"subnet_id": subnet_id, "ip_address": subnet["gateway_ip"]}],
        })
        port.update(status="ACTIVE", **{"binding:host_id": "sandbox", "binding:vif_type": "ovs"})
    if DHCP_OWNER not in owners:
        address = _allocate(store, subnet_id, first=True)
        port = create_port(store, {
            "network_id": network_id, "device_owner": DHCP_OWNER,
            "device_id": f"dhcp{store.project_id[:8]}-0000-4000-8000-{store.project_id[-12:]}-{network_id}",
            "fixed_ips": [{"subnet_id": subnet_id, "ip_address": address}],
        })
        port.update(status="ACTIVE", **{"binding:host_id": "sandbox", "binding:vif_type": "ovs"})
