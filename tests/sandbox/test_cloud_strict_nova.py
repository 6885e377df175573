"""Nova's refusals and answers per microversion, driven over HTTP with the SDK's session.

From nova/api/openstack/compute/schemas/{servers,keypairs}.py (``additionalProperties:
False``, properties by microversion), api_version_request.py (header parsing), the server
view builder, server_tags.py and keypairs.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import os_conn
from tests.sandbox.strict_helpers import api, nova_error
from tests.sandbox_helpers import until

REQUEST_ID = re.compile(r"^req-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@pytest.fixture(scope="module")
def base(sandbox) -> Iterator[dict[str, Any]]:  # type: ignore[no-untyped-def]
    conn = os_conn(sandbox)
    net = conn.network.find_network("mgmt")
    image = conn.image.find_image("fedora-21-cloud")
    flavor = conn.compute.find_flavor("m1.small")
    server = conn.compute.create_server(name="strict-nova", image_id=image.id, flavor_id=flavor.id,
                                        networks=[{"uuid": net.id}])
    server = conn.compute.wait_for_server(server, interval=0.02, wait=20)
    yield {"conn": conn, "net": net.id, "image": image.id, "flavor": flavor.id, "server": server.id}
    conn.compute.delete_server(server.id)
    conn.compute.wait_for_delete(server, interval=0.02, wait=20)


def _server(base: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": "refused", "imageRef": base["image"], "flavorRef": base["flavor"],
            "networks": "none", **extra}


KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBnDrMf0sUtWoO4aa0wpRfVFDxBk4lT2b8mHk5f4u0Vx k"

REFUSED = [
    # (rule, method, path, body(base) | None, microversion, status, kind, message piece)
    ("server-unknown-property", "POST", "/servers", lambda b: {"server": _server(b, colour="red")},
     "2.96", 400, "badRequest", "Additional properties are not allowed ('colour' was unexpected)"),
    ("server-top-level-unknown", "POST", "/servers",
     lambda b: {"server": _server(b), "extra": 1},
     "2.96", 400, "badRequest", "Additional properties are not allowed ('extra' was unexpected)"),
    ("server-tags-before-2.52", "POST", "/servers", lambda b: {"server": _server(b, tags=["a"])},
     "2.51", 400, "badRequest", "('tags' was unexpected)"),
    ("server-description-before-2.19", "POST", "/servers",
     lambda b: {"server": {k: v for k, v in _server(b, description="d").items() if k != "networks"}},
     "2.18", 400, "badRequest", "('description' was unexpected)"),
    ("server-networks-required-from-2.37", "POST", "/servers",
     lambda b: {"server": {k: v for k, v in _server(b).items() if k != "networks"}},
     "2.37", 400, "badRequest", "'networks' is a required property"),
    ("server-network-tag-before-2.42", "POST", "/servers",
     lambda b: {"server": _server(b, networks=[{"uuid": b["net"], "tag": "t"}])},
     "2.41", 400, "badRequest", "('tag' was unexpected)"),
    ("server-personality-gone-2.57", "POST", "/servers",
     lambda b: {"server": _server(b, personality=[])},
     "2.57", 400, "badRequest", "('personality' was unexpected)"),
    ("microversion-above-max", "GET", "/servers", None,
     "2.97", 406, "computeFault", "Version 2.97 is not supported by the API. Minimum is 2.1 and maximum is 2.96."),
    ("microversion-bad-format", "GET", "/servers", None,
     "2.x", 400, "badRequest", "API Version String 2.x is of invalid format"),
    ("reboot-bad-type", "POST", "/servers/{server}/action", lambda b: {"reboot": {"type": "WARM"}},
     "2.96", 400, "badRequest", "Invalid input for field/attribute type. Value: WARM."),
    ("reboot-no-type", "POST", "/servers/{server}/action", lambda b: {"reboot": {}},
     "2.96", 400, "badRequest", "'type' is a required property"),
    ("rebuild-no-image", "POST", "/servers/{server}/action", lambda b: {"rebuild": {"name": "x"}},
     "2.96", 400, "badRequest", "'imageRef' is a required property"),
    ("rebuild-key-name-before-2.54", "POST", "/servers/{server}/action",
     lambda b: {"rebuild": {"imageRef": b["image"], "key_name": "workbench"}},
     "2.53", 400, "badRequest", "('key_name' was unexpected)"),
    ("server-tags-before-2.26", "GET", "/servers/{server}/tags", None,
     "2.25", 404, "itemNotFound", "The resource could not be found."),
    ("server-tag-missing", "GET", "/servers/{server}/tags/nope", None,
     "2.26", 404, "itemNotFound", "has no tag 'nope'"),
    ("server-tag-with-comma", "PUT", "/servers/{server}/tags/a,b", None,
     "2.26", 400, "badRequest", "Tag 'a,b' is invalid"),
    ("keypair-type-before-2.2", "POST", "/os-keypairs",
     lambda b: {"keypair": {"name": "k", "public_key": KEY, "type": "ssh"}},
     "2.1", 400, "badRequest", "('type' was unexpected)"),
    ("keypair-public-key-required-2.92", "POST", "/os-keypairs", lambda b: {"keypair": {"name": "k"}},
     "2.92", 400, "badRequest", "'public_key' is a required property"),
    ("server-missing", "GET", "/servers/00000000-0000-4000-8000-000000000000", None,
     "2.1", 404, "itemNotFound", "Instance 00000000-0000-4000-8000-000000000000 could not be found."),
]


@pytest.mark.parametrize(("rule", "method", "path", "body", "version", "status", "kind", "message"),
                         REFUSED, ids=[r[0] for r in REFUSED])
def test_nova_refuses_as_real_nova(sandbox, base, rule, method, path, body, version, status, kind, message):  # type: ignore[no-untyped-def]
    conn = base["conn"]
    before = {s.id for s in conn.compute.servers()}
    resp = api(sandbox, conn, "compute", method, path.format(server=base["server"]),
               body(base) if body else None, version=version)
    got_status, got_kind, got_message = nova_error(resp)
    assert (got_status, got_kind) == (status, kind), got_message
    assert message in got_message
    assert {s.id for s in conn.compute.servers()} == before
    assert conn.compute.find_keypair("k") is None
    assert conn.compute.get_server(base["server"]).status == "ACTIVE"


def test_server_body_follows_the_microversion(sandbox, base) -> None:  # type: ignore[no-untyped-def]
    conn, sid = base["conn"], base["server"]
    old = api(sandbox, conn, "compute", "GET", f"/servers/{sid}").json()["server"]  # no header: 2.1
    assert set(old["flavor"]) == {"id", "links"} and old["flavor"]["id"] == base["flavor"]
    assert not {"tags", "description", "locked", "locked_reason", "server_groups",
                "pinned_availability_zone", "OS-EXT-SRV-ATTR:hostname"} & set(old)
    assert old["progress"] == 0 and "fault" not in old
    mid = api(sandbox, conn, "compute", "GET", f"/servers/{sid}", version="2.26").json()["server"]
    assert mid["tags"] == [] and mid["locked"] is False and mid["description"] is None
    assert "locked_reason" not in mid and set(mid["flavor"]) == {"id", "links"}
    new = api(sandbox, conn, "compute", "GET", f"/servers/{sid}", version="2.96")
    shown = new.json()["server"]
    assert shown["flavor"]["original_name"] == "m1.small" and "id" not in shown["flavor"]
    assert shown["server_groups"] == [] and shown["pinned_availability_zone"] is None
    assert shown["OS-EXT-SRV-ATTR:hostname"] == "strict-nova"
    assert new.headers["OpenStack-API-Version"] == "compute 2.96"
    assert REQUEST_ID.match(new.headers["X-OpenStack-Request-Id"])
    assert new.headers["X-Compute-Request-Id"] == new.headers["X-OpenStack-Request-Id"]
    listed = api(sandbox, conn, "compute", "GET", "/servers/detail", version="2.96").json()["servers"]
    assert "server_groups" not in next(s for s in listed if s["id"] == sid)  # show only


def test_server_tags_answer_as_nova(sandbox, base) -> None:  # type: ignore[no-untyped-def]
    conn, sid = base["conn"], base["server"]
    first = api(sandbox, conn, "compute", "PUT", f"/servers/{sid}/tags/blue", version="2.26")
    assert first.status_code == 201
    assert first.headers["Location"].endswith(f"/compute/v2.1/servers/{sid}/tags/blue")
    again = api(sandbox, conn, "compute", "PUT", f"/servers/{sid}/tags/blue", version="2.26")
    assert again.status_code == 204
    assert api(sandbox, conn, "compute", "GET", f"/servers/{sid}/tags/blue", version="2.26").status_code == 204
    assert conn.compute.get_server(sid).tags == ["blue"]
    assert api(sandbox, conn, "compute", "DELETE", f"/servers/{sid}/tags", version="2.26").status_code == 204
    assert conn.compute.get_server(sid).tags == []


def test_create_answers_location_and_tags_from_2_52(sandbox, base) -> None:  # type: ignore[no-untyped-def]
    conn = base["conn"]
    resp = api(sandbox, conn, "compute", "POST", "/servers",
               {"server": _server(base, name="strict-tagged", tags=["t1"])}, version="2.52")
    assert resp.status_code == 202, resp.text
    created = resp.json()["server"]
    assert resp.headers["Location"] == created["links"][0]["href"]
    assert "adminPass" not in created and created["security_groups"] == [{"name": "default"}]
    assert conn.compute.get_server(created["id"]).tags == ["t1"]
    conn.compute.delete_server(created["id"])
    until(lambda: conn.compute.find_server("strict-tagged") is None, "strict-tagged gone")


def test_keypair_delete_status_follows_the_microversion(sandbox, base) -> None:  # type: ignore[no-untyped-def]
    conn = base["conn"]
    for version, status in (("2.1", 202), ("2.2", 204)):
        made = api(sandbox, conn, "compute", "POST", "/os-keypairs",
                   {"keypair": {"name": "k-del", "public_key": KEY}}, version=version)
        assert made.status_code == 201, made.text
        gone = api(sandbox, conn, "compute", "DELETE", "/os-keypairs/k-del", version=version)
        assert gone.status_code == status
    assert conn.compute.find_keypair("k-del") is None


def test_a_500_fault_shows_no_details_to_a_member(sandbox, base) -> None:  # type: ignore[no-untyped-def]
    conn = base["conn"]
    sandbox.set_fault("boot-error", True, "strict-broken")
    server = conn.compute.create_server(name="strict-broken", image_id=base["image"],
                                        flavor_id=base["flavor"], networks="none")
    failed = until(lambda: (s := conn.compute.get_server(server.id)).status == "ERROR" and s,
                   "strict-broken in ERROR")
    assert failed.fault["code"] == 500 and failed.fault["message"]
    assert "details" not in failed.fault
    conn.compute.delete_server(server.id)
    conn.compute.wait_for_delete(server, interval=0.02, wait=20)
