"""Node-side doctor on the sandbox: token regeneration, slow SSH, a stopped salt-minion."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from workbench.engine.doctor.nodes import SLOW_SSH_S, node_checks, wait_node_ready
from workbench.engine.kube.tokens import api_get, read_master_token, ready_nodes
from workbench.engine.parts import Parts
from workbench.engine.salt.runner import SaltRunner
from workbench.sandbox.core import Delays

from .test_salt_helpers import Cluster, start_cluster, view

REPO = Path(__file__).resolve().parents[2]


def wb(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    return subprocess.run(
        [sys.executable, "-m", "workbench", "--profile", str(profile), *args],
        cwd=REPO, env=env, text=True, capture_output=True, timeout=180, stdin=subprocess.DEVNULL,
    )


def ctx_of(c: Cluster) -> Parts:
    return Parts(c.profile, state=c.state, bus=c.bus, cloud=c.client, ssh=c.pool)


async def all_ready(c: Cluster) -> None:
    """Every minion Ready in the API server (as the doctor reads it, for either Salt tree)."""
    ctx = ctx_of(c)
    for m in c.minions:
        assert await wait_node_ready(ctx, c.pool, c.master, m.name, deadline=60), m.name


async def test_token_regen_is_found_for_every_minion_and_fixed_by_doctor(make_sandbox) -> None:
    c = await start_cluster(make_sandbox, minions=2)
    try:
        runner = SaltRunner(c.pool, c.state, c.bus, salt_tree=c.profile.paths.salt_tree)
        assert (await runner.run(list(c.instances))).ok
        await all_ready(c)
        assert await node_checks(ctx_of(c)) == []
        # the seed's failure: a master re-provision mints a new token
        await asyncio.to_thread(c.box.set_fault, "token-regen", True)
        assert (await runner.run([c.master])).ok
        alerts = await node_checks(ctx_of(c))
        mismatch = [a for a in alerts if a.kind == "token-mismatch"]
        assert sorted(a.subject for a in mismatch) == sorted(m.name for m in c.minions)
        new_token = await read_master_token(c.pool, c.profile, c.master)
        for a in mismatch:
            assert new_token not in a.message and c.state.cluster_token() not in a.message
            assert "****" in a.message
        # the kubelets say what the seed's users saw, and their nodes go NotReady
        journal = await c.pool.run(c.minions[0], "journalctl -u kubelet -n 5")
        assert "provide credentials" in journal.stdout or "Unable to register" in journal.stdout
        # fixed through the real CLI, as a person would
        done = wb(c.box.profile_path, "doctor", "--fix", "token-mismatch", "--yes", "--json")
        assert done.returncode == 0, done.stderr
        doc = json.loads(done.stdout)
        assert sorted(f["subject"] for f in doc["fixed"] if f["ok"]) == sorted(m.name for m in c.minions)
        assert not [a for a in doc["remaining"] if a["kind"] == "token-mismatch"]
        assert new_token not in done.stdout + done.stderr
        token = await read_master_token(c.pool, c.profile, c.master)
        ready = ready_nodes(await api_get(c.pool, c.master, token, "/api/v1/nodes"))
        assert all(ready.get(m.name) for m in c.minions), ready
        assert [a for a in await node_checks(ctx_of(c)) if a.kind == "token-mismatch"] == []
    finally:
        await c.close()


async def test_slow_ssh_is_diagnosed_and_fixed(make_sandbox) -> None:
    delays = Delays(boot=0.03, delete=0.01, salt=0.02, build=0.03, kubelet_heartbeat=0.05,
                    ssh_slow=SLOW_SSH_S + 0.3, api_slow=0.01)
    c = await start_cluster(make_sandbox, minions=1, faults=["slow-ssh"], delays=delays, provisioned=False)
    try:
        alerts = [a for a in await node_checks(ctx_of(c)) if a.kind == "slow-ssh"]
        assert sorted(a.subject for a in alerts) == sorted(i.name for i in c.instances)
        slow = next(a for a in alerts if a.subject == c.minions[0].name)
        assert "UseDNS" in slow.message and "auth" in slow.message
        summary = await slow.fixes[0].run()
        assert "UseDNS no" in summary
        config = await c.pool.run(c.minions[0], f"sudo cat {c.profile.paths.sshd_config}")
        settings = [ln for ln in config.stdout.splitlines() if ln.lower().startswith("usedns")]
        assert settings == ["UseDNS no"]
        timing = await c.pool.probe(c.minions[0])
        assert timing.total_s < SLOW_SSH_S
        still = [a.subject for a in await node_checks(ctx_of(c)) if a.kind == "slow-ssh"]
        assert still == [c.master.name]  # only the node that was fixed is fast now
    finally:
        await c.close()


async def test_a_stopped_salt_minion_is_no_alert_in_masterless_mode(real_cluster) -> None:
    """``salt-call --local`` needs no daemon: Salt's package leaves salt-minion disabled, and a
    provisioned masterless cluster has nothing to say about it (master mode checks its minions
    itself: salt_master/doctor.py)."""
    c = await view(real_cluster)
    try:
        for node in c.instances:
            state = await c.pool.run(node, "systemctl is-enabled salt-minion; systemctl is-active salt-minion")
            assert state.stdout.split() == ["disabled", "inactive"], (node.name, state.stdout)
        assert await node_checks(ctx_of(c)) == []
    finally:
        await c.close()
