"""The doctor's cloud checks and fixes against fresh sandboxes with the seed's faults."""

from __future__ import annotations

import uuid
from pathlib import Path

from workbench.engine.cloud import down, up
from workbench.engine.doctor.core import apply_fix, diagnose
from workbench.engine.parts import Parts

from .test_cloud_helpers import TAG, ours, sdk, setup


def _ctx(box, minions: int = 1):  # type: ignore[no-untyped-def]
    profile, state, bus, client = setup(box, minions=minions)
    return Parts(profile, state=state, bus=bus, cloud=client)


async def test_nothing_wrong_on_a_healthy_cluster_and_nothing_without_one(make_sandbox) -> None:
    box = make_sandbox(minions=1)
    ctx = _ctx(box)
    assert await diagnose(ctx, scope="cloud") == []  # no cluster: nothing "missing"
    result = await up(ctx.cloud, ctx.state, ctx.bus)
    assert result.ok
    assert await diagnose(ctx, scope="cloud") == []
    await down(ctx.cloud, ctx.state, ctx.bus)
    assert await diagnose(ctx, scope="cloud") == []


async def test_orphan_floating_ip_is_released_and_others_are_left_alone(make_sandbox) -> None:
    box = make_sandbox(minions=0)
    ctx = _ctx(box, minions=0)
    resolved = await ctx.cloud.resolve()
    port = await ctx.cloud.create_port("spare", resolved.network_id, ctx.profile.cluster.node_ip_base + "50")
    orphan = await ctx.cloud.create_floating_ip(resolved.pool_id, port.id)
    await ctx.cloud.delete_port(port)
    conn = sdk(box)
    theirs = conn.network.create_ip(floating_network_id=resolved.pool_id)  # untagged, unassociated
    alerts = await diagnose(ctx, ["orphan-floating-ip"], scope="cloud")
    assert [(a.kind, a.subject) for a in alerts] == [("orphan-floating-ip", orphan.address)]
    assert alerts[0].command == f"openstack floating ip delete {orphan.id}"
    summary = await apply_fix(alerts[0])
    assert orphan.address in summary
    assert conn.network.find_ip(orphan.id) is None
    assert conn.network.get_ip(theirs.id).floating_ip_address == theirs.floating_ip_address
    conn.network.delete_ip(theirs.id)


async def test_instance_missing_after_out_of_band_delete_is_recreated(make_sandbox) -> None:
    box = make_sandbox(minions=2)
    ctx = _ctx(box, minions=2)
    first = await up(ctx.cloud, ctx.state, ctx.bus)
    old = {i.name: i for i in first.instances}
    box.set_fault("out-of-band-delete", True, "kubernetes-minion-2")
    alerts = await diagnose(ctx, scope="cloud")
    missing = [a for a in alerts if a.kind == "instance-missing"]
    assert [a.subject for a in missing] == ["kubernetes-minion-2"]
    assert old["kubernetes-minion-2"].id in missing[0].message
    assert [f.name for f in missing[0].fixes] == ["recreate"]
    summary = await apply_fix(missing[0])
    assert "recreated kubernetes-minion-2" in summary
    now = {i.name: i for i in await ctx.cloud.list_instances()}
    again = now["kubernetes-minion-2"]
    assert again.id != old["kubernetes-minion-2"].id
    assert (again.status, again.fixed_ip) == ("ACTIVE", old["kubernetes-minion-2"].fixed_ip)
    assert again.floating_ip
    assert await diagnose(ctx, scope="cloud") == []
    await down(ctx.cloud, ctx.state, ctx.bus)


async def test_stale_vagrant_machines_are_found_and_every_one_removed(make_sandbox) -> None:
    box = make_sandbox(minions=0)
    ctx = _ctx(box, minions=0)
    result = await up(ctx.cloud, ctx.state, ctx.bus)
    live_id = result.instances[0].id
    machines = Path(ctx.profile.kube.root) / ".vagrant" / "machines"
    for name, server_id in (("master", live_id), ("minion-1", str(uuid.uuid4())), ("minion-2", str(uuid.uuid4()))):
        (machines / name / "openstack").mkdir(parents=True)
        (machines / name / "openstack" / "id").write_text(server_id)
    alerts = await diagnose(ctx, ["stale-vagrant-machine"], scope="cloud")
    assert sorted(a.subject for a in alerts) == ["minion-1", "minion-2"]
    for alert in alerts:
        assert str(machines / alert.subject) in await apply_fix(alert, "remove")
    assert sorted(p.name for p in machines.iterdir()) == ["master"]
    assert await diagnose(ctx, ["stale-vagrant-machine"], scope="cloud") == []
    await down(ctx.cloud, ctx.state, ctx.bus)


async def test_leaked_port_check_skips_untagged_and_owned_ports(make_sandbox) -> None:
    """VIP ports look unattached but have a device owner (CAPO PR #798): never leaks."""
    box = make_sandbox(minions=0)
    ctx = _ctx(box, minions=0)
    conn = sdk(box)
    net = conn.network.find_network("mgmt")
    untagged = conn.network.create_port(network_id=net.id, name="someone-elses")
    vip = conn.network.create_port(network_id=net.id, name="vip", tags=[TAG], device_owner="Octavia")
    leak = conn.network.create_port(network_id=net.id, name="leak", tags=[TAG])
    alerts = await diagnose(ctx, ["leaked-port"], scope="cloud")
    assert [a.subject for a in alerts] == [leak.id]
    await apply_fix(alerts[0])
    remaining = {p.id for p in conn.network.ports(network_id=net.id)}
    assert leak.id not in remaining and {untagged.id, vip.id} <= remaining
    assert [p.id for p in ours(conn)["ports"]] == [vip.id]
    conn.network.delete_port(untagged.id)
    conn.network.delete_port(vip.id)
