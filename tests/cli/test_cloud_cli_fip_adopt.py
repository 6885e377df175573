"""Floating IPs are tagged after create (Neutron refuses ``tags`` in the POST); a run killed
between the two leaves an untagged floating IP with our description on our port, which the
next ``up`` adopts, so ``down`` still releases it."""

from __future__ import annotations

from .test_cloud_cli_helpers import TAG, ours, sdk, wb_json


def test_up_adopts_the_floating_ip_a_killed_run_left_untagged(make_sandbox) -> None:  # type: ignore[no-untyped-def]
    box = make_sandbox(minions=0)
    profile = str(box.profile_path)
    assert wb_json("up", "--profile", profile)["ok"]
    conn = sdk(box)
    (fip,) = ours(conn)["floating_ips"]
    assert fip.description == "workbench cluster kubernetes" and fip.port_id
    conn.network.set_tags(fip, [])  # as if killed between the create and the tag
    assert ours(conn)["floating_ips"] == []

    assert wb_json("up", "--profile", profile)["ok"]
    assert [f.id for f in ours(conn)["floating_ips"]] == [fip.id]
    assert conn.network.get_ip(fip.id).tags == [TAG]

    assert wb_json("down", "--yes", "--profile", profile)["ok"]
    assert fip.id not in {f.id for f in conn.network.ips()}
