"""Neutron's refusals, one per rule of docs/sandbox.md, driven over HTTP with the SDK's session.

Each row: what real Neutron answers a member user (status, ``NeutronError.type`` and a
piece of the message), from neutron-lib's attribute maps, neutron/api/v2/base.py,
neutron/extensions/tagging.py and Neutron's default policies.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import os_conn
from tests.sandbox.strict_helpers import api, neutron_error


@pytest.fixture(scope="module")
def ids(sandbox) -> Iterator[dict[str, Any]]:  # type: ignore[no-untyped-def]
    conn = os_conn(sandbox)
    net = conn.network.find_network("mgmt")
    public = conn.network.find_network("public")
    port = conn.network.create_port(network_id=net.id, name="strict-port")
    fip = conn.network.create_ip(floating_network_id=public.id)
    yield {"conn": conn, "net": net.id, "public": public.id, "port": port.id, "fip": fip.id}
    conn.network.delete_ip(fip.id)
    conn.network.delete_port(port.id)


REFUSED = [
    # (rule, method, path, body, status, type, message piece)
    ("fip-tags-on-post", "POST", "/floatingips",
     {"floatingip": {"floating_network_id": "{public}", "tags": ["x"]}},
     400, "HTTPBadRequest", "Attribute 'tags' not allowed in POST"),
    ("port-unknown-attribute", "POST", "/ports",
     {"port": {"network_id": "{net}", "colour": "red"}},
     400, "HTTPBadRequest", "Unrecognized attribute(s) 'colour'"),
    ("port-read-only-on-post", "POST", "/ports",
     {"port": {"network_id": "{net}", "status": "ACTIVE"}},
     400, "HTTPBadRequest", "Attribute 'status' not allowed in POST"),
    ("port-no-network", "POST", "/ports", {"port": {"name": "x"}},
     400, "HTTPBadRequest", "Failed to parse request. Required attribute 'network_id' not specified"),
    ("fip-no-network", "POST", "/floatingips", {"floatingip": {}},
     400, "HTTPBadRequest", "Required attribute 'floating_network_id' not specified"),
    ("port-no-resource", "POST", "/ports", {"network": {}},
     400, "HTTPBadRequest", "Unable to find 'port' in request body"),
    ("port-binding-host-admin-only", "POST", "/ports",
     {"port": {"network_id": "{net}", "binding:host_id": "compute-1"}},
     403, "PolicyNotAuthorized", "rule:create_port:binding:host_id) is disallowed by policy"),
    ("port-update-network", "PUT", "/ports/{port}", {"port": {"network_id": "{public}"}},
     400, "HTTPBadRequest", "Cannot update read-only attribute network_id"),
    ("port-update-tags", "PUT", "/ports/{port}", {"port": {"tags": ["x"]}},
     400, "HTTPBadRequest", "Cannot update read-only attribute tags"),
    ("port-update-mac-admin-only", "PUT", "/ports/{port}",
     {"port": {"mac_address": "fa:16:3e:00:00:01"}},
     403, "PolicyNotAuthorized", "rule:update_port:mac_address) is disallowed by policy"),
    ("port-update-vif-type", "PUT", "/ports/{port}", {"port": {"binding:vif_type": "ovs"}},
     400, "HTTPBadRequest", "Cannot update read-only attribute binding:vif_type"),
    ("fip-address-admin-only", "POST", "/floatingips",
     {"floatingip": {"floating_network_id": "{public}", "floating_ip_address": "127.1.2.3"}},
     403, "PolicyNotAuthorized", "rule:create_floatingip:floating_ip_address) is disallowed by policy"),
    ("fip-update-network", "PUT", "/floatingips/{fip}",
     {"floatingip": {"floating_network_id": "{net}"}},
     400, "HTTPBadRequest", "Cannot update read-only attribute floating_network_id"),
    ("fip-unknown-attribute", "PUT", "/floatingips/{fip}", {"floatingip": {"name": "x"}},
     400, "HTTPBadRequest", "Unrecognized attribute(s) 'name'"),
    ("tag-too-long", "PUT", "/ports/{port}/tags/" + "t" * 256, None,
     400, "InvalidInput", "exceeds maximum length of 255"),
    ("tags-over-limit", "PUT", "/ports/{port}/tags", {"tags": [f"t{i}" for i in range(51)]},
     400, "BadRequest", "per-resource limit of 50"),
    ("tags-duplicate", "PUT", "/ports/{port}/tags", {"tags": ["a", "a"]},
     400, "InvalidInput", "Duplicate items in the list: 'a'"),
    ("tags-no-list", "PUT", "/ports/{port}/tags", {"tag": "a"},
     400, "InvalidInput", "Invalid tags body"),
    ("tag-missing", "GET", "/ports/{port}/tags/nope", None,
     404, "TagNotFound", "Tag nope could not be found."),
    ("port-missing", "GET", "/ports/00000000-0000-4000-8000-000000000000", None,
     404, "PortNotFound", "Port 00000000-0000-4000-8000-000000000000 could not be found."),
]


def _fill(value: Any, ids: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return value.format(**{k: v for k, v in ids.items() if isinstance(v, str)})
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    return value


@pytest.mark.parametrize(("rule", "method", "path", "body", "status", "kind", "message"), REFUSED,
                         ids=[r[0] for r in REFUSED])
def test_neutron_refuses_as_real_neutron(sandbox, ids, rule, method, path, body, status, kind, message):  # type: ignore[no-untyped-def]
    before = {p.id for p in ids["conn"].network.ports()} | {f.id for f in ids["conn"].network.ips()}
    resp = api(sandbox, ids["conn"], "network", method, _fill(path, ids), _fill(body, ids))
    got_status, got_kind, got_message = neutron_error(resp)
    assert (got_status, got_kind) == (status, kind), got_message
    assert message in got_message
    after = {p.id for p in ids["conn"].network.ports()} | {f.id for f in ids["conn"].network.ips()}
    assert after == before  # a refused request changed nothing
    port = ids["conn"].network.get_port(ids["port"])
    assert port.network_id == ids["net"] and port.tags == []


def test_ports_take_tags_on_post_and_tag_calls_answer_as_neutron(sandbox, ids) -> None:  # type: ignore[no-untyped-def]
    conn = ids["conn"]
    resp = api(sandbox, conn, "network", "POST", "/ports",
               {"port": {"network_id": ids["net"], "tags": ["born-tagged"]}})
    assert resp.status_code == 201 and resp.json()["port"]["tags"] == ["born-tagged"]
    port_id = resp.json()["port"]["id"]
    for _ in range(2):  # Neutron answers 201 whether or not the port had the tag
        assert api(sandbox, conn, "network", "PUT", f"/ports/{port_id}/tags/extra").status_code == 201
    assert api(sandbox, conn, "network", "GET", f"/ports/{port_id}/tags/extra").status_code == 204
    added = api(sandbox, conn, "network", "POST", f"/ports/{port_id}/tags", {"tags": ["more"]})
    assert added.status_code == 201
    assert sorted(conn.network.get_port(port_id).tags) == ["born-tagged", "extra", "more"]
    assert api(sandbox, conn, "network", "DELETE", f"/ports/{port_id}/tags").status_code == 204
    assert conn.network.get_port(port_id).tags == []
    conn.network.delete_port(port_id)


def test_floating_ip_tagged_after_create_as_the_engine_does(sandbox, ids) -> None:  # type: ignore[no-untyped-def]
    conn = ids["conn"]
    fip = conn.network.create_ip(floating_network_id=ids["public"], description="d")
    conn.network.set_tags(fip, ["workbench:strict"])
    assert conn.network.get_ip(fip.id).tags == ["workbench:strict"]
    assert [f.id for f in conn.network.ips(tags="workbench:strict")] == [fip.id]
    conn.network.delete_ip(fip.id)


def test_member_sees_no_admin_only_attributes(sandbox, ids) -> None:  # type: ignore[no-untyped-def]
    conn = ids["conn"]
    port = api(sandbox, conn, "network", "GET", f"/ports/{ids['port']}").json()["port"]
    assert not {"binding:host_id", "binding:vif_type", "binding:vif_details", "binding:profile"} & set(port)
    assert port["binding:vnic_type"] == "normal"
    listed = api(sandbox, conn, "network", "GET", "/ports").json()["ports"]
    assert listed and not any("binding:host_id" in p for p in listed)
    net = api(sandbox, conn, "network", "GET", f"/networks/{ids['net']}").json()["network"]
    assert "provider:network_type" not in net and net["router:external"] is False


def test_updates_bump_revision_and_updated_at(sandbox, ids) -> None:  # type: ignore[no-untyped-def]
    conn = ids["conn"]
    before = api(sandbox, conn, "network", "GET", f"/ports/{ids['port']}").json()["port"]
    resp = api(sandbox, conn, "network", "PUT", f"/ports/{ids['port']}", {"port": {"name": "renamed"}})
    after = resp.json()["port"]
    assert resp.status_code == 200 and after["name"] == "renamed"
    assert after["revision_number"] == before["revision_number"] + 1
    assert after["created_at"] == before["created_at"] <= after["updated_at"]


def test_a_limited_list_links_next_and_previous_as_neutron(sandbox, ids) -> None:  # type: ignore[no-untyped-def]
    conn = ids["conn"]
    doc = api(sandbox, conn, "network", "GET", f"/ports?network_id={ids['net']}&limit=1").json()
    first = doc["ports"][0]["id"]
    links = {link["rel"]: link["href"] for link in doc["ports_links"]}
    assert f"marker={first}" in links["next"] and "page_reverse" not in links["next"]
    assert f"marker={first}" in links["previous"] and "page_reverse=True" in links["previous"]
    everything = api(sandbox, conn, "network", "GET", f"/ports?network_id={ids['net']}").json()
    assert "ports_links" not in everything  # no limit, no links


def test_the_router_interface_cannot_be_deleted_through_the_port_api(sandbox, ids) -> None:  # type: ignore[no-untyped-def]
    conn = ids["conn"]
    router_port = next(conn.network.ports(network_id=ids["net"], device_owner="network:router_interface"))
    resp = api(sandbox, conn, "network", "DELETE", f"/ports/{router_port.id}")
    status, kind, message = neutron_error(resp)
    assert (status, kind) == (409, "ServicePortInUse")
    assert message == (f"Port {router_port.id} cannot be deleted directly via the port API: "
                       "has device owner network:router_interface.")
    assert conn.network.get_port(router_port.id).status == "ACTIVE"
