"""A minion Salt has not provisioned yet (new, or recreated by a fix) is not a token mismatch.

Found in the TUI: after the instance-missing fix recreated a minion, the doctor called it
``token-mismatch`` and offered ``write-token``, which failed ("cannot read
var/lib/kubelet/kubeconfig: No such file"). The right alert says Salt has not run there,
and its fix pushes the build to that node and runs Salt there.

Here the minion is recreated the way that leaves it unprovisioned: by the recreate fix while
KUBE_ROOT holds no build to push (the fix says the alert follows, and it does).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from workbench.engine.doctor.core import diagnose
from workbench.engine.doctor.nodes import node_checks

from .test_node_doctor import all_ready, ctx_of
from .test_salt_helpers import start_cluster


async def test_a_minion_without_kubeconfig_is_unprovisioned_and_salt_fixes_it(make_sandbox) -> None:
    c = await start_cluster(make_sandbox, minions=2)  # redeployed by the workbench: Kubernetes runs
    try:
        assert c.profile.kube.root is not None
        output = c.profile.kube.root / "_output"
        output.rename(output.with_name("_output.away"))  # no build: nothing the fix could push
        gone, provisioned = c.minions
        c.box.set_fault("out-of-band-delete", True, gone.name)
        ctx = ctx_of(c)
        [missing] = [a for a in await diagnose(ctx, scope="cloud") if a.kind == "instance-missing"]
        [recreate] = missing.fixes
        assert "nothing to push" in recreate.description and "node-unprovisioned alert follows" in recreate.description
        done = await recreate.run()
        assert "not provisioned (nothing to push" in done and "node-unprovisioned" in done
        fresh = {i.name: i for i in await c.client.list_instances()}[gone.name]
        assert fresh.id != gone.id

        alerts = await node_checks(ctx_of(c))
        assert [a.kind for a in alerts if a.subject == provisioned.name] == []
        about_fresh = [a for a in alerts if a.subject == fresh.name]
        assert [a.kind for a in about_fresh] == ["node-unprovisioned"]  # not token-mismatch
        alert = about_fresh[0]
        assert "Salt has not provisioned it" in alert.message
        assert alert.command == f"workbench push && workbench salt --nodes {fresh.name}"
        assert [f.name for f in alert.fixes] == ["provision"] and not alert.fixes[0].destructive
        assert c.state.cluster_token() not in alert.message + alert.details

        output.with_name("_output.away").rename(output)  # the build is back
        node_root = Path(c.box.state_dir) / "nodes" / fresh.id / "root"
        assert not (node_root / "etc/salt/minion.d/grains.conf").exists()
        done = await alert.fixes[0].run()
        assert fresh.name in done and "build pushed and provisioned by Salt" in done
        # the salt stage's provisioning ran first: the node's grains are the engine's
        grains = yaml.safe_load((node_root / "etc/salt/minion.d/grains.conf").read_text())["grains"]
        assert grains["roles"] == ["kubernetes-pool"] and grains["node_ip"] == fresh.fixed_ip
        assert (await c.pool.run(fresh, f"test -f {c.profile.paths.salt_tree}/top.sls")).ok
        await all_ready(c)
        assert await node_checks(ctx_of(c)) == []
    finally:
        await c.close()
