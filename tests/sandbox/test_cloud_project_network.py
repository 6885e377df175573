"""The management network as a real project network looks, and the engine leaving it alone.

A real project network holds the router's interface on the subnet's gateway address and
the DHCP agent's port (both ACTIVE, owned ``network:*``, untagged), and the project has a
``default`` security group with Neutron's four default rules that new ports join. The
doctor must never flag them and ``doctor --fix`` / ``down`` must never delete them.
"""

from __future__ import annotations

import ipaddress

from tests.cli.test_cloud_cli_helpers import ours, wb_json
from tests.conftest import os_conn
from tests.sandbox.test_cloud_cli import osc
from workbench.profile import load_profile
from workbench.sandbox.cloud import bootstrap, ports
from workbench.sandbox.cloud.store import Store


def _furniture(conn, net_id: str) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {p.device_owner: p for p in conn.network.ports(network_id=net_id)
            if p.device_owner.startswith("network:")}


def test_mgmt_holds_a_router_interface_and_a_dhcp_port_clear_of_the_profile(sandbox) -> None:  # type: ignore[no-untyped-def]
    conn = os_conn(sandbox)
    net = conn.network.find_network("mgmt")
    subnet = next(conn.network.subnets(network_id=net.id))
    found = _furniture(conn, net.id)
    router, dhcp = found["network:router_interface"], found["network:dhcp"]
    assert router.fixed_ips[0]["ip_address"] == subnet.gateway_ip
    pool = subnet.allocation_pools[0]
    assert dhcp.fixed_ips[0]["ip_address"] == pool["start"]
    for port in (router, dhcp):
        assert port.status == "ACTIVE" and port.device_id and not port.tags
        assert port.security_group_ids == [] and port.revision_number >= 1
        assert port.created_at and port.updated_at
    profile = load_profile(sandbox.profile_path)
    planned = {ip for _, _, ip in profile.node_plan()}
    start = ipaddress.ip_address(pool["start"])
    assert all(ipaddress.ip_address(ip) < start for ip in planned)  # static range outside the pool
    held = {ip["ip_address"] for p in (router, dhcp) for ip in p.fixed_ips}
    assert not planned & held
    assert {p["Device Owner"] for p in osc(sandbox, "port", "list", "--network", "mgmt",
                                           "--long", "-f", "json")} >= {"network:dhcp",
                                                                        "network:router_interface"}


def test_default_security_group_has_neutrons_rules_and_new_ports_join_it(sandbox) -> None:  # type: ignore[no-untyped-def]
    conn = os_conn(sandbox)
    group = conn.network.find_security_group("default")
    rules = list(conn.network.security_group_rules(security_group_id=group.id))
    assert sorted((r.direction, r.ether_type, r.remote_group_id) for r in rules) == [
        ("egress", "IPv4", None), ("egress", "IPv6", None),
        ("ingress", "IPv4", group.id), ("ingress", "IPv6", group.id),
    ]
    port = conn.network.create_port(network_id=conn.network.find_network("mgmt").id)
    assert port.security_group_ids == [group.id]
    conn.network.delete_port(port.id)
    listed = osc(sandbox, "security", "group", "rule", "list", "default", "-f", "json")
    assert len(listed) == 4


def test_doctor_fix_and_down_leave_the_network_ports_alone(make_sandbox) -> None:  # type: ignore[no-untyped-def]
    box = make_sandbox(minions=1)
    profile = str(box.profile_path)
    conn = os_conn(box)
    net = conn.network.find_network("mgmt")
    before = {owner: (p.id, p.fixed_ips) for owner, p in _furniture(conn, net.id).items()}
    assert set(before) == {"network:dhcp", "network:router_interface"}
    assert wb_json("up", "--profile", profile)["ok"]

    report = wb_json("doctor", "--profile", profile, "--cloud-only")
    ids = {pid for pid, _ in before.values()}
    assert not [a for a in report["alerts"] if a["subject"] in ids or any(i in a.get("details", "") for i in ids)]
    fixed = wb_json("doctor", "--profile", profile, "--cloud-only", "--fix", "--yes")
    assert fixed["fixed"] == []
    assert wb_json("down", "--yes", "--profile", profile)["remaining"] == []
    assert ours(conn) == {"servers": [], "ports": [], "floating_ips": []}
    after = {owner: (p.id, p.fixed_ips) for owner, p in _furniture(conn, net.id).items()}
    assert after == before


def test_a_state_from_before_the_static_range_gets_its_pool_moved_first() -> None:
    store = Store(octet=9, password="p")
    net = ports.create_network(store, bootstrap.MGMT_NETWORK)
    subnet = ports.create_subnet(store, net["id"], "mgmt-subnet", store.mgmt_cidr)  # pool from .2
    assert subnet["allocation_pools"][0]["start"] == "127.9.0.2"
    bootstrap.furnish(store)
    bootstrap.furnish(store)  # idempotent
    assert subnet["allocation_pools"] == [{"start": "127.9.0.100", "end": "127.9.0.254"}]
    owned = sorted((p["device_owner"], p["fixed_ips"][0]["ip_address"]) for p in store.ports.values())
    assert owned == [("network:dhcp", "127.9.0.100"), ("network:router_interface", "127.9.0.1")]
    assert len(store.security_groups) == 1
