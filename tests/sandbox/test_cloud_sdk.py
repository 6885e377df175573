"""The sandbox cloud driven by the real openstacksdk, the way the engine drives a cloud."""

from __future__ import annotations

import uuid

import openstack.exceptions
import pytest

from tests.conftest import os_conn


def _base(conn):  # type: ignore[no-untyped-def]
    net = conn.network.find_network("mgmt")
    subnet = next(conn.network.subnets(network_id=net.id))
    image = conn.image.find_image("fedora-21-cloud")
    flavor = conn.compute.find_flavor("m1.small")
    return net, subnet, image, flavor


def _free_ip(conn, subnet) -> str:  # type: ignore[no-untyped-def]
    used = {ip["ip_address"] for p in conn.network.ports() for ip in p.fixed_ips}
    prefix = subnet.cidr.rsplit(".", 1)[0]
    return next(f"{prefix}.{i}" for i in range(10, 200) if f"{prefix}.{i}" not in used)


def test_port_server_floating_ip_console_and_teardown(sandbox):
    conn = os_conn(sandbox)
    net, subnet, image, flavor = _base(conn)
    name = f"t-{uuid.uuid4().hex[:6]}"
    ip = _free_ip(conn, subnet)
    port = conn.network.create_port(network_id=net.id, fixed_ips=[{"ip_address": ip}], name=name)
    assert port.status == "DOWN" and port.device_id == ""
    conn.network.set_tags(port, ["workbench", name])
    server = conn.compute.create_server(
        name=name, image_id=image.id, flavor_id=flavor.id, key_name="workbench",
        networks=[{"port": port.id}], metadata={"workbench-role": "minion"}, tags=["wb"],
    )
    server = conn.compute.wait_for_server(server, interval=0.02, wait=20)
    assert server.status == "ACTIVE"
    assert server.metadata == {"workbench-role": "minion"}
    assert server.key_name == "workbench"
    bound = conn.network.get_port(port.id)
    assert (bound.status, bound.device_id, bound.device_owner) == ("ACTIVE", server.id, "compute:nova")
    assert [p.id for p in conn.network.ports(tags=name)] == [port.id]
    assert [p.id for p in conn.network.ports(device_id=server.id)] == [port.id]

    public = conn.network.find_network("public")
    fip = conn.network.create_ip(floating_network_id=public.id)
    assert fip.floating_ip_address.startswith("127.") and fip.status == "DOWN"
    conn.network.update_ip(fip, port_id=port.id)
    fip = conn.network.get_ip(fip.id)
    assert (fip.port_id, fip.fixed_ip_address, fip.status) == (port.id, ip, "ACTIVE")
    addrs = conn.compute.get_server(server.id).addresses["mgmt"]
    assert {a["addr"]: a["OS-EXT-IPS:type"] for a in addrs} == {
        ip: "fixed", fip.floating_ip_address: "floating",
    }
    assert [f.id for f in conn.network.ips(port_id=port.id)] == [fip.id]

    output = conn.compute.get_server_console_output(server)["output"]
    assert name in output and "Linux version" in output

    conn.network.update_ip(fip, port_id=None)
    assert conn.network.get_ip(fip.id).port_id is None
    conn.network.delete_ip(fip)
    conn.compute.delete_server(server)
    conn.compute.wait_for_delete(server, interval=0.02, wait=20)
    # Like Nova, a port the user made survives its server, unbound; deleting it is ours.
    unbound = conn.network.get_port(port.id)
    assert (unbound.status, unbound.device_id, unbound.device_owner) == ("DOWN", "", "")
    conn.network.delete_port(port)
    with pytest.raises(openstack.exceptions.NotFoundException):
        conn.network.get_port(port.id)
    assert conn.compute.find_server(name) is None


def test_taken_fixed_ip_is_a_neutron_409(sandbox):
    conn = os_conn(sandbox)
    net, subnet, _, _ = _base(conn)
    ip = _free_ip(conn, subnet)
    first = conn.network.create_port(network_id=net.id, fixed_ips=[{"ip_address": ip}])
    try:
        with pytest.raises(openstack.exceptions.ConflictException) as caught:
            conn.network.create_port(network_id=net.id, fixed_ips=[{"ip_address": ip}])
        body = caught.value.response.json()
        assert body["NeutronError"]["type"] == "IpAddressAlreadyAllocated"
        assert body["NeutronError"]["message"] == (
            f"IP address {ip} already allocated in subnet {subnet.id}"
        )
    finally:
        conn.network.delete_port(first)


def test_down_ports_are_filtered_on_the_server(sandbox):
    conn = os_conn(sandbox)
    net, _, image, flavor = _base(conn)
    loose = conn.network.create_port(network_id=net.id, name="loose")
    server = conn.compute.create_server(
        name="filtered", image_id=image.id, flavor_id=flavor.id, networks=[{"uuid": net.id}],
    )
    server = conn.compute.wait_for_server(server, interval=0.02, wait=20)
    try:
        down = {p.id for p in conn.network.ports(status="DOWN")}
        active = {p.id for p in conn.network.ports(status="ACTIVE")}
        assert loose.id in down and loose.id not in active
        own = list(conn.network.ports(device_id=server.id))
        assert len(own) == 1 and own[0].id in active
        assert [s.id for s in conn.compute.servers(name="^filtered$")] == [server.id]
        assert list(conn.compute.servers(status="ERROR", name="^filtered$")) == []
    finally:
        conn.network.delete_port(loose)
        conn.compute.delete_server(server)
        conn.compute.wait_for_delete(server, interval=0.02, wait=20)
    # the port Nova made for the server goes with it
    assert list(conn.network.ports(device_id=server.id)) == []


def test_quotas_and_limits_for_a_preflight(sandbox):
    conn = os_conn(sandbox)
    limits = conn.compute.get_limits()
    assert limits.absolute.instances >= 3 and limits.absolute.total_cores >= 3
    project = conn.current_project_id
    quota = conn.network.get_quota(project, details=True)
    assert quota.ports["limit"] >= 10 and "used" in quota.ports
    assert conn.network.get_quota(project).floating_ips >= 3


def test_paginated_lists_follow_next_links(sandbox):
    conn = os_conn(sandbox)
    net, _, image, flavor = _base(conn)
    tag = f"page-{uuid.uuid4().hex[:6]}"
    made = [conn.network.create_port(network_id=net.id, name=f"{tag}-{i}") for i in range(5)]
    try:
        for port in made:
            conn.network.set_tags(port, [tag])
        paged = [p.id for p in conn.network.ports(tags=tag, limit=2)]
        assert sorted(paged) == sorted(p.id for p in made)
        named = [p.name for p in conn.network.ports(tags=tag, fields=["name", "id"])]
        assert sorted(named) == sorted(p.name for p in made)
    finally:
        for port in made:
            conn.network.delete_port(port)
    servers = [
        conn.compute.create_server(name=f"{tag}-s{i}", image_id=image.id, flavor_id=flavor.id,
                                   networks=[{"uuid": net.id}]) for i in range(3)
    ]
    try:
        listed = [s.id for s in conn.compute.servers(name=f"^{tag}-s", limit=1)]
        assert sorted(listed) == sorted(s.id for s in servers)
    finally:
        for server in servers:
            conn.compute.delete_server(server)
        for server in servers:
            conn.compute.wait_for_delete(server, interval=0.02, wait=20)
