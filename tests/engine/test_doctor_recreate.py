"""The recreate fix says what it does and what follows, is destructive only when it deletes,
and provisions the new node itself when there is a build to push (else the
node-unprovisioned alert, whose fix does it, follows, and the alert says so: that case is
tests/engine/test_node_unprovisioned.py)."""

from __future__ import annotations

from pathlib import Path

from workbench.engine.cloud import down, up
from workbench.engine.doctor.core import diagnose
from workbench.engine.doctor.nodes import node_checks
from workbench.engine.parts import Parts

from .test_cloud_helpers import setup
from .test_node_doctor import all_ready, ctx_of
from .test_salt_helpers import start_cluster


async def test_recreate_of_a_missing_minion_pushes_and_runs_salt(make_sandbox) -> None:
    c = await start_cluster(make_sandbox, minions=2)  # redeployed by the workbench: Kubernetes runs
    try:
        gone = c.minions[0]
        c.box.set_fault("out-of-band-delete", True, gone.name)
        ctx = ctx_of(c)
        [missing] = [a for a in await diagnose(ctx, scope="cloud") if a.kind == "instance-missing"]
        [fix] = missing.fixes
        assert not fix.destructive
        assert fix.description.startswith(f"create {gone.name} again on {gone.fixed_ip}")
        assert "then push the build to it and run Salt there" in fix.description
        done = await fix.run()
        assert done.startswith(f"recreated {gone.name} on {gone.fixed_ip} (server ")
        assert "build pushed and provisioned by Salt" in done and done.count(gone.name) == 1, done
        now = {i.name: i for i in await c.client.list_instances()}[gone.name]
        assert now.id != gone.id and now.status == "ACTIVE"
        # a new disk: Salt itself was installed there, and its kubelet came up from the push
        root = Path(c.box.state_dir) / "nodes" / now.id / "root"
        assert (root / "var/lib/kubelet/kubeconfig").is_file() and (root / "srv/kube-release").is_dir()
        await all_ready(c)
        assert await node_checks(ctx) == []  # no node-unprovisioned left to fix
        assert await diagnose(ctx, scope="cloud") == []
    finally:
        await c.close()


async def test_only_fixes_that_delete_are_destructive(make_sandbox) -> None:
    box = make_sandbox(minions=1)
    profile, state, bus, client = setup(box, minions=1)
    ctx = Parts(profile, state=state, bus=bus, cloud=client)
    box.set_fault("boot-error", True, "kubernetes-minion-1")
    assert not (await up(client, state, bus)).ok  # the minion ends in ERROR
    [error] = [a for a in await diagnose(ctx, scope="cloud") if a.kind == "instance-error"]
    flags = {f.name: f.destructive for f in error.fixes}
    assert flags["recreate"] is True  # deletes the server in ERROR first
    assert flags.get("hard-reboot", False) is False  # power-cycles, deletes nothing
    assert flags.get("rebuild", True) is True  # wipes the disk
    recreate = next(f for f in error.fixes if f.name == "recreate")
    assert recreate.description.startswith("delete kubernetes-minion-1 and create it again on ")
    assert "node-unprovisioned alert follows" in recreate.description  # nothing built to push
    await down(client, state, bus)
