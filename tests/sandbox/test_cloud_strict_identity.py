"""Keystone's tokens and 401s, and Nova's task states through reboot and rebuild.

From keystone/server/flask/application.py and keystonemiddleware's auth_token (a 401 carries
``WWW-Authenticate: Keystone uri="..."``), Keystone's token body, and Nova's task states
(nova/compute/task_states.py) with the status each maps to (nova/api/openstack/common.py).
"""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime

from tests.conftest import TEST_DELAYS, os_conn
from tests.sandbox.strict_helpers import PREFIX
from tests.sandbox_helpers import until


def _unauthenticated(box, conn, method: str, url: str, **kw):  # type: ignore[no-untyped-def]
    return conn.session.request(url, method, authenticated=False, raise_exc=False, **kw)


def test_a_401_says_where_to_authenticate(sandbox) -> None:  # type: ignore[no-untyped-def]
    conn = os_conn(sandbox)
    for url in (f"{sandbox.api_url}{PREFIX['compute']}/servers",
                f"{sandbox.api_url}{PREFIX['network']}/ports"):
        resp = _unauthenticated(sandbox, conn, "GET", url, headers={"X-Auth-Token": "not-a-token"})
        assert resp.status_code == 401
        assert resp.headers["WWW-Authenticate"] == f'Keystone uri="{sandbox.api_url}"'
        assert resp.json()["error"] == {"code": 401, "title": "Unauthorized",
                                        "message": "The request you have made requires authentication."}
    bad = _unauthenticated(sandbox, conn, "POST", f"{sandbox.api_url}/v3/auth/tokens", json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "workbench", "domain": {"name": "Default"}, "password": "wrong"}}}}})
    assert bad.status_code == 401 and bad.headers["WWW-Authenticate"].startswith("Keystone uri=")


def test_token_body_has_keystones_fields(sandbox) -> None:  # type: ignore[no-untyped-def]
    conn = os_conn(sandbox)
    token = conn.session.get_token()
    resp = conn.session.request(f"{sandbox.api_url}/v3/auth/tokens", "GET",
                                headers={"X-Subject-Token": token}, raise_exc=False)
    assert resp.status_code == 200
    body = resp.json()["token"]
    issued = datetime.fromisoformat(body["issued_at"].replace("Z", "+00:00"))
    expires = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    assert issued < expires
    assert len(body["audit_ids"]) == 1 and len(body["audit_ids"][0]) == 22
    assert body["methods"] == ["password"] and body["is_domain"] is False
    assert {r["name"] for r in body["roles"]} == {"member", "reader"}  # never admin
    assert body["user"]["password_expires_at"] is None and body["catalog"]
    assert resp.headers["X-Subject-Token"] == token


def _walk(conn, server_id: str, until_status: str, seconds: float = 20.0) -> list[tuple[str, str | None]]:  # type: ignore[no-untyped-def]
    """Every (status, task_state) seen while polling, until ``until_status`` with no task."""
    seen: list[tuple[str, str | None]] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        s = conn.compute.get_server(server_id)
        pair = (s.status, s.task_state)
        if not seen or seen[-1] != pair:
            seen.append(pair)
        if pair == (until_status, None) and len(seen) > 1:
            return seen
        time.sleep(0.01)
    raise AssertionError(f"never settled: {seen}")


def test_reboot_and_rebuild_walk_novas_task_states(make_sandbox) -> None:  # type: ignore[no-untyped-def]
    box = make_sandbox(minions=0, delays=dataclasses.replace(TEST_DELAYS, boot=1.2))
    conn = os_conn(box)
    image = conn.image.find_image("fedora-21-cloud")
    server = conn.compute.create_server(name="walker", image_id=image.id,
                                        flavor_id=conn.compute.find_flavor("m1.tiny").id,
                                        networks="none")
    built = _walk(conn, server.id, "ACTIVE")
    assert all(status == "BUILD" for status, task in built[:-1])
    assert [t for _, t in built[:-1]] == sorted({t for _, t in built[:-1]}, key=[
        "scheduling", "networking", "block_device_mapping", "spawning"].index)

    conn.compute.reboot_server(server.id, "SOFT")
    soft = _walk(conn, server.id, "ACTIVE")
    assert {(s, t) for s, t in soft[:-1]} <= {("REBOOT", "rebooting"), ("REBOOT", "reboot_pending"),
                                              ("REBOOT", "reboot_started")}
    assert soft[0] == ("REBOOT", "rebooting")

    conn.compute.reboot_server(server.id, "HARD")
    hard = _walk(conn, server.id, "ACTIVE")
    assert hard[0] == ("HARD_REBOOT", "rebooting_hard")
    assert {s for s, _ in hard[:-1]} == {"HARD_REBOOT"}

    conn.compute.rebuild_server(server.id, image=image.id)
    rebuilt = _walk(conn, server.id, "ACTIVE")
    assert rebuilt[0] == ("REBUILD", "rebuilding")
    assert {t for _, t in rebuilt[:-1]} <= {"rebuilding", "rebuild_block_device_mapping",
                                            "rebuild_spawning"}
    conn.compute.delete_server(server.id)
    until(lambda: conn.compute.find_server("walker") is None, "walker gone")
