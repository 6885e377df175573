"""The seed's cloud-side failure modes and the API faults, switched at start and at run time."""

from __future__ import annotations

import dataclasses
import time

import openstack.exceptions
import pytest

from tests.conftest import TEST_DELAYS, os_conn
from tests.sandbox_helpers import until


def _boot(conn, name: str, **kw):  # type: ignore[no-untyped-def]
    net = conn.network.find_network("mgmt")
    image = conn.image.find_image("fedora-21-cloud")
    flavor = conn.compute.find_flavor("m1.small")
    return conn.compute.create_server(
        name=name, image_id=image.id, flavor_id=flavor.id, key_name="workbench",
        networks=[{"uuid": net.id}], **kw,
    )


def test_boot_error_is_one_shot_and_carries_a_fault(make_sandbox):
    box = make_sandbox(faults=["boot-error"])
    conn = os_conn(box)
    broken = _boot(conn, "kubernetes-minion-1")
    with pytest.raises(openstack.exceptions.ResourceFailure):
        conn.compute.wait_for_server(broken, interval=0.02, wait=20)
    shown = conn.compute.get_server(broken.id)
    assert shown.status == "ERROR"
    assert shown.fault["code"] == 500 and shown.fault["message"] and shown.fault["created"]
    assert list(conn.network.ports(device_id=broken.id)) == []
    assert [s.id for s in conn.compute.servers(status="ERROR")] == [broken.id]
    fine = conn.compute.wait_for_server(_boot(conn, "kubernetes-minion-2"), interval=0.02, wait=20)
    assert fine.status == "ACTIVE" and not fine.fault
    box.set_fault("boot-error")
    again = _boot(conn, "kubernetes-minion-3")
    until(lambda: conn.compute.get_server(again.id).status == "ERROR", "second boot error")
    assert "No valid host was found" in conn.compute.get_server(again.id).fault["message"]


def test_leaked_ports_stay_down_without_device(make_sandbox):
    box = make_sandbox(faults=["leaked-ports"])
    conn = os_conn(box)
    server = conn.compute.wait_for_server(_boot(conn, "leaky"), interval=0.02, wait=20)
    (port,) = conn.network.ports(device_id=server.id)
    conn.compute.delete_server(server)
    conn.compute.wait_for_delete(server, interval=0.02, wait=20)
    left = conn.network.get_port(port.id)
    assert (left.status, left.device_id, left.device_owner) == ("DOWN", "", "")
    assert port.id in {p.id for p in conn.network.ports(status="DOWN", device_owner="")}
    box.set_fault("leaked-ports", on=False)
    server = conn.compute.wait_for_server(_boot(conn, "tidy"), interval=0.02, wait=20)
    (port2,) = conn.network.ports(device_id=server.id)
    conn.compute.delete_server(server)
    conn.compute.wait_for_delete(server, interval=0.02, wait=20)
    with pytest.raises(openstack.exceptions.NotFoundException):
        conn.network.get_port(port2.id)


def test_out_of_band_delete_removes_the_named_server_now(make_sandbox):
    box = make_sandbox()
    conn = os_conn(box)
    victim = conn.compute.wait_for_server(_boot(conn, "victim"), interval=0.02, wait=20)
    other = conn.compute.wait_for_server(_boot(conn, "other"), interval=0.02, wait=20)
    box.set_fault("out-of-band-delete", server="victim")
    with pytest.raises(openstack.exceptions.NotFoundException):
        conn.compute.get_server(victim.id)
    assert list(conn.network.ports(device_id=victim.id)) == []
    assert conn.compute.get_server(other.id).status == "ACTIVE"
    with pytest.raises(ValueError):
        box.set_fault("out-of-band-delete", server="nobody")


def test_api_5xx_burst_then_recovery(make_sandbox):
    box = make_sandbox()
    conn = os_conn(box)
    conn.compute.find_flavor("m1.small")  # authenticated before the burst
    box.set_fault("api-5xx", count=2)
    for _ in range(2):
        with pytest.raises(openstack.exceptions.HttpException) as caught:
            list(conn.network.networks())
        assert caught.value.status_code == 503
        assert caught.value.response.json()["NeutronError"]["type"] == "ServiceUnavailable"
    assert {n.name for n in conn.network.networks()} >= {"mgmt", "public"}


def test_token_expire_makes_the_client_reauthenticate(make_sandbox):
    box = make_sandbox()
    conn = os_conn(box)
    first = conn.session.get_token()
    box.set_fault("token-expire")
    assert {n.name for n in conn.network.networks()} >= {"mgmt"}  # 401, re-auth, retry
    assert conn.session.get_token() != first
    assert "token-expire" not in box.faults.names()


def test_port_busy_refuses_the_next_port_delete_once(make_sandbox):
    box = make_sandbox()
    conn = os_conn(box)
    port = conn.network.create_port(network_id=conn.network.find_network("mgmt").id)
    box.set_fault("port-busy")
    with pytest.raises(openstack.exceptions.ConflictException) as caught:
        conn.network.delete_port(port)
    assert caught.value.response.json()["NeutronError"]["type"] == "PortInUse"
    conn.network.delete_port(port)
    with pytest.raises(openstack.exceptions.NotFoundException):
        conn.network.get_port(port.id)


def test_api_slow_delays_every_answer(make_sandbox):
    box = make_sandbox(delays=dataclasses.replace(TEST_DELAYS, api_slow=0.3))
    conn = os_conn(box)
    list(conn.network.networks())
    box.set_fault("api-slow")
    start = time.monotonic()
    list(conn.network.networks())
    assert time.monotonic() - start >= 0.3
    box.set_fault("api-slow", on=False)
    start = time.monotonic()
    list(conn.network.networks())
    assert time.monotonic() - start < 0.3
