"""Node-side doctor on the sandbox: token regeneration, slow SSH, a stopped salt-minion."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from workbench.engine.doctor.nodes import SLOW_SSH_S, node_checks, wait_node_ready
from workbench.engine.parts import Parts
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


def _mismatches(c) -> list[dict]:  # type: ignore[no-untyped-def]
    doc = json.loads(c.cli("--json", "doctor", check=False).stdout)
    return [a for a in doc["alerts"] if a["kind"] == "token-mismatch"]


def test_token_regen_is_found_for_every_minion_and_fixed_by_doctor(seed_cluster) -> None:
    """The seed's failure on kube-up's tree: the master's known_tokens.csv gets a new kubelet
    token out of band; the doctor names every minion and its fix writes the csv's token into
    each kubeconfig, has the API server load the csv, and waits for a fresh heartbeat."""
    from tests.seedcluster import MINIONS, regen_token, restore

    c = seed_cluster
    kept = c.state.cluster_token()
    try:
        assert _mismatches(c) == []
        new = regen_token(c)
        alerts = _mismatches(c)
        assert sorted(a["subject"] for a in alerts) == sorted(MINIONS)
        for a in alerts:
            assert new not in a["message"] and kept not in a["message"] and "****" in a["message"]
        done = c.cli("--json", "doctor", "--fix", "token-mismatch", "--yes")
        doc = json.loads(done.stdout)
        assert sorted(f["subject"] for f in doc["fixed"] if f["ok"]) == sorted(MINIONS), doc["fixed"]
        assert all(f["summary"].startswith(f"{f['subject']}: kubelet token replaced, kubelet restarted, node Ready")
                   for f in doc["fixed"])
        # the running API server had read the old csv: the first fix restarted it to load the new one
        assert any("kube-apiserver restarted" in f["summary"] for f in doc["fixed"])
        assert not [a for a in doc["remaining"] if a["kind"] == "token-mismatch"]
        assert new not in done.stdout + done.stderr and kept not in done.stdout + done.stderr
        for m in MINIONS:
            # (the CLI masks a kubeconfig's token on the way out: compare digests made on the node)
            digest = c.ssh(m, "sudo sed -n 's/^ *token: //p' /var/lib/kubelet/kubeconfig | tr -d '\\n' | sha256sum")
            assert digest.split()[0] == hashlib.sha256(new.encode()).hexdigest()
            since = c.ssh(m, "sudo journalctl -u kubelet -n 3 --no-pager")
            assert "Unauthorized" not in since and "Successfully registered node" in since, since
        assert _mismatches(c) == []
        # the workbench adopted the master's token: its own client is not locked out, and the
        # next Salt run writes that token, not the old one, so the mismatch does not come back
        assert c.state.cluster_token() == new
        info = json.loads(c.cli("--json", "info", "--no-kubectl").stdout)
        assert sorted(n["name"] for n in info["nodes"] if n["ready"]) == sorted(MINIONS)
        c.cli("--json", "salt")
        assert _mismatches(c) == []
    finally:
        restore(c)  # `workbench salt`: the state dir's token on the master and every minion again


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
