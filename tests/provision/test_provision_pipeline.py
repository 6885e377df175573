"""The salt stage provisions every node before salt-call: on the sandbox (the workbench's own
tree, the fake build's v1.32 programs, real Salt), a redeploy leaves each node with its minion
config, grains and pillar, and the build's programs installed by Salt from the pushed tar; a
second redeploy rewrites no provisioned file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests.engine.test_pipeline import engine_for, fake_build
from workbench.events import LogLine, StageFinished


async def test_redeploy_provisions_every_node_before_salt(make_sandbox: Callable[..., Any]) -> None:
    box = make_sandbox(minions=2)
    fake_build(box, seconds=0.2)
    engine, seen = engine_for(box)
    try:
        await engine.up()
        await engine.redeploy()
        nodes = {engine.profile.master_name, *(engine.profile.minion_name(i) for i in range(2))}
        provisioned = {e.node for e in seen if isinstance(e, StageFinished) and e.stage == "provision" and e.ok}
        assert provisioned == nodes
        order = [(e.stage, e.node) for e in seen if isinstance(e, StageFinished) and e.node == engine.profile.master_name]
        assert order.index(("provision", engine.profile.master_name)) < order.index(("salt", engine.profile.master_name))
        instances = {i.name: i for i in await engine.parts.inventory.refresh()}
        for name in nodes:
            root = Path(box.state_dir) / "nodes" / instances[name].id / "root"
            grains = yaml.safe_load((root / "etc/salt/minion.d/grains.conf").read_text())["grains"]
            role = "kubernetes-master" if name == engine.profile.master_name else "kubernetes-pool"
            assert grains["roles"] == [role] and grains["node_ip"] == instances[name].fixed_ip
            program = "kube-apiserver" if name == engine.profile.master_name else "kubelet"
            assert (root / "usr/local/bin" / program).stat().st_size > 4096  # the build's, by Salt
            assert (root / "srv/pillar/secrets.sls").stat().st_mode & 0o777 == 0o600
        first = len(seen)
        await engine.redeploy()
        lines = [e.text for e in seen[first:] if isinstance(e, LogLine) and e.source == "provision"]
        assert len(lines) == 3 and all(t.endswith(": 0 file(s) changed") for t in lines), lines
    finally:
        await engine.close()
