"""A minion Salt has not provisioned yet (new, or recreated by a fix) is not a token mismatch.

Found in the TUI: after the instance-missing fix recreated a minion, the doctor called it
``token-mismatch`` and offered ``write-token``, which failed ("cannot read
var/lib/kubelet/kubeconfig: No such file"). The right alert says Salt has not run there,
and its fix pushes the build to that node and runs Salt there.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from workbench.engine.doctor.nodes import node_checks
from workbench.engine.salt.runner import SaltRunner

from .test_node_doctor import all_ready, ctx_of
from .test_push_sandbox import build
from .test_salt_helpers import start_cluster


async def test_a_minion_without_kubeconfig_is_unprovisioned_and_salt_fixes_it(make_sandbox) -> None:
    c = await start_cluster(make_sandbox, minions=2)
    try:
        assert c.profile.kube.root is not None
        build(c.profile.kube.root)
        fresh, provisioned = c.minions
        # as a recreated instance: nothing pushed, nothing provisioned
        paths = c.profile.paths
        await c.pool.run(fresh, f"sudo rm -rf {paths.salt_tree} {paths.release_dir}", check=True)
        assert (await SaltRunner(c.pool, c.state, c.bus, salt_tree=c.profile.paths.salt_tree).run([c.master, provisioned])).ok
        alerts = await node_checks(ctx_of(c))
        assert [a.kind for a in alerts if a.subject == provisioned.name] == []
        about_fresh = [a for a in alerts if a.subject == fresh.name]
        assert [a.kind for a in about_fresh] == ["node-unprovisioned"]  # not token-mismatch
        alert = about_fresh[0]
        assert "Salt has not provisioned it" in alert.message
        assert alert.command == f"workbench push && workbench salt --nodes {fresh.name}"
        assert [f.name for f in alert.fixes] == ["provision"] and not alert.fixes[0].destructive
        assert c.state.cluster_token() not in alert.message + alert.details

        node_root = Path(c.box.state_dir) / "nodes" / fresh.id / "root"
        assert not (node_root / "etc/salt/minion.d/grains.conf").exists()
        done = await alert.fixes[0].run()
        assert fresh.name in done and "build pushed and provisioned by Salt" in done
        # the salt stage's provisioning ran first: the node's grains are the engine's
        grains = yaml.safe_load((node_root / "etc/salt/minion.d/grains.conf").read_text())["grains"]
        assert grains["roles"] == ["kubernetes-pool"] and grains["node_ip"] == fresh.fixed_ip
        assert (await c.pool.run(fresh, f"test -f {paths.salt_tree}/top.sls")).ok
        await all_ready(c)
        assert await node_checks(ctx_of(c)) == []
    finally:
        await c.close()
