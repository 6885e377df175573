"""The cloud engine in-process against fresh sandboxes: scale out/in, inventory, preflight."""

from __future__ import annotations

import asyncio
import dataclasses
import sys

import pytest

from workbench.engine.cloud import CloudClient, Inventory, PreflightError, down, up
from workbench.events import InstancesChanged, StageFinished

from .test_cloud_helpers import ours, sdk
from .test_cloud_helpers import setup as _setup


async def test_scale_out_then_in(make_sandbox) -> None:
    box = make_sandbox(minions=1)
    profile, state, bus, client = _setup(box, minions=1)
    seen: list[object] = []
    bus.add_listener(seen.append)
    first = await up(client, state, bus)
    assert first.ok and sorted(first.created) == ["kubernetes-master", "kubernetes-minion-1"]
    finished = {e.node for e in seen if isinstance(e, StageFinished) and e.stage == "boot" and e.ok}
    assert finished == {"kubernetes-master", "kubernetes-minion-1"}

    bigger = dataclasses.replace(profile, cluster=dataclasses.replace(profile.cluster, minions=3))
    client3 = CloudClient(bigger, bus=bus)
    out = await up(client3, state, bus)
    assert out.ok and sorted(out.created) == ["kubernetes-minion-2", "kubernetes-minion-3"]
    assert {i.name: i.fixed_ip for i in out.instances} == {n: ip for n, _, ip in bigger.node_plan()}

    smaller = await up(client, state, bus)  # back to 1 minion
    assert sorted(smaller.removed) == ["kubernetes-minion-2", "kubernetes-minion-3"]
    assert [i.name for i in smaller.instances] == ["kubernetes-master", "kubernetes-minion-1"]
    conn = sdk(box)
    left = ours(conn)
    assert sorted(s.name for s in left["servers"]) == ["kubernetes-master", "kubernetes-minion-1"]
    assert len(left["floating_ips"]) == 2
    assert all(f.port_id for f in left["floating_ips"])
    result = await down(client, state, bus)
    assert result.ok and ours(conn) == {"servers": [], "ports": [], "floating_ips": []}


async def test_up_reuses_a_free_floating_ip_of_ours(make_sandbox) -> None:
    box = make_sandbox(minions=0)
    profile, state, bus, client = _setup(box, minions=0)
    resolved = await client.resolve()
    spare_port = await client.create_port("spare", resolved.network_id, profile.cluster.node_ip_base + "40")
    spare = await client.create_floating_ip(resolved.pool_id, spare_port.id)
    await client.delete_port(spare_port)  # leaves the floating IP ours and free
    result = await up(client, state, bus)
    assert result.ok
    assert result.instances[0].floating_ip == spare.address
    await down(client, state, bus)


async def test_inventory_publishes_and_polls_fast_in_transition(make_sandbox) -> None:
    box = make_sandbox(minions=1)
    _profile, state, bus, client = _setup(box, minions=1)
    inventory = Inventory(client, bus, fast=0.05, slow=30.0)
    sub = bus.subscribe()
    assert await inventory.refresh() == ()
    inventory.start()
    try:
        await up(client, state, bus)
        inventory.poke()

        async def settled() -> tuple:
            while True:
                for event in await sub.get_batch():
                    if isinstance(event, InstancesChanged) and len(event.instances) == 2 and all(
                        i.status == "ACTIVE" and i.floating_ip for i in event.instances
                    ):
                        return event.instances

        instances = await asyncio.wait_for(settled(), 20)
        assert {i.role for i in instances} == {"master", "minion"}
    finally:
        await inventory.stop()
        sub.close()
    await down(client, state, bus)


async def test_preflight_names_leaked_ports_and_fix_leaked_clears_them(make_sandbox) -> None:
    box = make_sandbox(minions=1)
    _profile, state, bus, client = _setup(box, minions=1)
    await up(client, state, bus)
    box.set_fault("leaked-ports", True)
    conn = sdk(box)
    minion = conn.compute.find_server("kubernetes-minion-1")
    port_id = next(p.id for p in conn.network.ports(device_id=minion.id))
    conn.compute.delete_server(minion.id)
    conn.compute.wait_for_delete(minion, wait=20)
    box.set_fault("leaked-ports", False)
    with pytest.raises(PreflightError) as caught:
        await up(client, state, bus)
    assert port_id in str(caught.value) and "leaked-port" in str(caught.value)
    assert [p.id for p in caught.value.leaked] == [port_id]
    result = await up(client, state, bus, fix_leaked=True)
    assert result.ok and result.created == ("kubernetes-minion-1",)
    assert conn.network.find_port(port_id) is None
    await down(client, state, bus)


def test_importing_the_engine_does_not_import_openstack() -> None:
    import subprocess

    code = "import sys, workbench.engine.cloud, workbench.cli.cloud; print('openstack' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


async def test_retries_carry_through_a_burst_of_503s_and_a_busy_port(make_sandbox) -> None:
    box = make_sandbox(minions=1)
    _profile, state, bus, client = _setup(box, minions=1)
    client.backoff = 0.01
    seen: list[object] = []
    bus.add_listener(seen.append)
    assert (await up(client, state, bus)).ok
    box.set_fault("api-5xx", True, count=3)
    assert len(await client.list_instances()) == 2
    assert any("retrying" in getattr(e, "text", "") for e in seen)
    box.set_fault("port-busy", True)
    result = await down(client, state, bus)
    assert result.ok and result.remaining == ()
    assert ours(sdk(box)) == {"servers": [], "ports": [], "floating_ips": []}


async def test_password_is_registered_for_redaction_and_bad_auth_is_one_line(make_sandbox, tmp_path) -> None:
    import secrets

    from workbench.errors import CloudAuthError
    from workbench.redact import redact

    box = make_sandbox(minions=0)
    profile, _state, _bus, _client = _setup(box, minions=0)
    canary = "canary-" + secrets.token_hex(8)
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(box.clouds_path.read_text().replace(box.cloud.store.password, canary))
    bad = dataclasses.replace(profile, cloud=dataclasses.replace(profile.cloud, clouds_yaml=clouds))
    with pytest.raises(CloudAuthError) as caught:
        await CloudClient(bad).list_instances()
    assert "\n" not in str(caught.value) and canary not in str(caught.value)
    assert canary not in redact(f"the password is {canary}")


async def test_rerun_after_a_crash_reuses_the_pending_port_and_refuses_a_foreign_namesake(make_sandbox) -> None:
    from workbench.engine.cloud import members

    box = make_sandbox(minions=1)
    profile, state, bus, client = _setup(box, minions=1)
    resolved = await client.resolve()
    # a crash right after the master's port was made: the port is ours, DOWN, unattached
    port = await client.create_port(profile.master_name, resolved.network_id, profile.cluster.master_ip)
    members.set_pending(state, port.id, True)
    result = await up(client, state, bus)
    assert result.ok and sorted(result.created) == ["kubernetes-master", "kubernetes-minion-1"]
    master = next(i for i in result.instances if i.role == "master")
    assert (await client.ports(ours=True, device_id=master.id))[0].id == port.id
    assert members.pending_ports(state) == set()
    await down(client, state, bus)

    conn = sdk(box)
    image = conn.image.find_image(profile.cluster.image)
    flavor = conn.compute.find_flavor(profile.cluster.flavor)
    net = conn.network.find_network(profile.cluster.network)
    stranger = conn.compute.create_server(
        name=profile.minion_name(0), image_id=image.id, flavor_id=flavor.id, networks=[{"uuid": net.id}]
    )
    with pytest.raises(PreflightError, match="not ours"):
        await up(client, state, bus)
    assert (await down(client, state, bus)).servers == ()  # never deletes the namesake
    assert conn.compute.get_server(stranger.id).name == profile.minion_name(0)
    conn.compute.delete_server(stranger.id)


async def test_rerun_after_a_kill_between_port_create_and_its_record_reuses_the_port(make_sandbox) -> None:
    """The kill window test_crash found: Neutron made the port, the run died before the
    pending record; the intent written before the create lets the rerun adopt it."""
    from workbench.engine.cloud import members

    box = make_sandbox(minions=0)
    profile, state, bus, client = _setup(box, minions=0)
    resolved = await client.resolve()
    members.set_intent(state, profile.master_name, profile.cluster.master_ip)
    port = await client.create_port(profile.master_name, resolved.network_id, profile.cluster.master_ip)
    assert members.pending_ports(state) == set()
    result = await up(client, state, bus)
    assert result.ok, result.failed
    master = next(i for i in result.instances if i.role == "master")
    assert (await client.ports(ours=True, device_id=master.id))[0].id == port.id
    assert members.port_intents(state) == {}
    await down(client, state, bus)
