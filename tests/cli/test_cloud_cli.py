"""``workbench up / status / down`` against a fresh sandbox, through the real CLI."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from .test_cloud_cli_helpers import edited_profile, ours, sdk, wb, wb_json


def test_up_status_down_round_trip(make_sandbox) -> None:
    box = make_sandbox(minions=2)
    profile = str(box.profile_path)
    from workbench.profile import load_profile

    plan = load_profile(profile).node_plan()

    doc = wb_json("up", "--profile", profile)
    assert doc["ok"] is True
    assert sorted(doc["created"]) == sorted(name for name, _, _ in plan)
    by_name = {i["name"]: i for i in doc["instances"]}
    pool = ipaddress.ip_network(box.cloud.store.public_cidr)
    for name, role, ip in plan:
        inst = by_name[name]
        assert (inst["role"], inst["status"], inst["fixed_ip"]) == (role, "ACTIVE", ip)
        assert ipaddress.ip_address(inst["floating_ip"]) in pool
    assert len({i["floating_ip"] for i in doc["instances"]}) == len(plan)

    status = wb_json("status", "--profile", profile)
    assert status["cluster"] == "kubernetes" and status["cloud"] == "sandbox"
    assert {(i["name"], i["status"], i["fixed_ip"]) for i in status["instances"]} == {
        (name, "ACTIVE", ip) for name, _, ip in plan
    }
    assert status["alerts"] == []

    again = wb_json("up", "--profile", profile)
    assert again["created"] == [] and again["ok"] is True
    assert {i["id"] for i in again["instances"]} == {i["id"] for i in doc["instances"]}

    conn = sdk(box)
    net = conn.network.find_network("mgmt")
    stranger = conn.network.create_port(network_id=net.id, name="not-ours")
    try:
        gone = wb_json("down", "--yes", "--profile", profile)
        assert sorted(gone["deleted"]["servers"]) == sorted(name for name, _, _ in plan)
        assert len(gone["deleted"]["floating_ips"]) == len(plan)
        assert gone["remaining"] == []
        left = ours(conn)
        assert left == {"servers": [], "ports": [], "floating_ips": []}
        assert conn.network.get_port(stranger.id).name == "not-ours"
    finally:
        conn.network.delete_port(stranger.id)


def test_up_refuses_an_ip_held_by_someone_elses_port(make_sandbox) -> None:
    box = make_sandbox(minions=1)
    from workbench.profile import load_profile

    profile = load_profile(box.profile_path)
    conn = sdk(box)
    net = conn.network.find_network("mgmt")
    theirs = conn.network.create_port(
        network_id=net.id, name="theirs", fixed_ips=[{"ip_address": profile.cluster.master_ip}]
    )
    proc = wb("up", "--profile", str(box.profile_path))
    assert proc.returncode == 1, proc.stderr
    assert profile.cluster.master_ip in proc.stderr and "not ours" in proc.stderr
    assert theirs.id in proc.stderr
    assert "Traceback" not in proc.stderr
    assert ours(conn)["servers"] == [] and ours(conn)["ports"] == []
    assert conn.network.get_port(theirs.id) is not None


def test_bad_credentials_give_one_line(make_sandbox, tmp_path: Path) -> None:
    box = make_sandbox(minions=1)
    text = Path(box.clouds_path).read_text()
    password = box.cloud.store.password
    bad = tmp_path / "clouds.yaml"
    bad.write_text(text.replace(password, "wrong-password-123"))
    profile = edited_profile(box, tmp_path, {str(box.clouds_path): str(bad)})
    proc = wb("status", "--profile", str(profile))
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "authentication failed" in lines[0] and "Traceback" not in proc.stderr
    assert "wrong-password-123" not in proc.stderr + proc.stdout


def test_unreachable_endpoint_gives_one_line(make_sandbox, tmp_path: Path) -> None:
    import socket

    box = make_sandbox(minions=1)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    text = Path(box.clouds_path).read_text()
    bad = tmp_path / "clouds.yaml"
    bad.write_text(text.replace(f":{box.cloud.store.api_port}/", f":{dead}/"))
    profile = edited_profile(box, tmp_path, {str(box.clouds_path): str(bad)})
    proc = wb("up", "--profile", str(profile))
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach" in lines[0], proc.stderr
    assert f"127.0.0.1:{dead}" in lines[0]  # the endpoint, by its URL


def test_missing_image_and_flavor_are_named(make_sandbox, tmp_path: Path) -> None:
    box = make_sandbox(minions=1)
    profile = edited_profile(
        box, tmp_path, {'image = "fedora-21-cloud"': 'image = "no-such-image"', 'flavor = "m1.small"': 'flavor = "huge"'}
    )
    proc = wb("up", "--profile", str(profile))
    assert proc.returncode == 1
    line = proc.stderr.strip()
    assert "\n" not in line and "no-such-image" in line and "'huge'" in line, proc.stderr


def test_bad_profile_is_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "p.toml"
    bad.write_text('[cluster]\nminions = "three"\n')
    proc = wb("status", "--profile", str(bad))
    assert proc.returncode == 2
    assert "cluster.minions" in proc.stderr and "Traceback" not in proc.stderr
