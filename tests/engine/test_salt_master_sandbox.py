"""Salt master mode on sandbox nodes, end to end: `workbench redeploy` with ``[salt] mode =
"master"`` installs real salt-master / salt-minion with the node's dnf, runs them as systemd
units, accepts only keys read from the minions themselves, and runs the highstate as one
master job; the real kubectl sees every node Ready. One cluster for the module (its tests
put back what they change, in order)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shlex
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography import x509

from tests.conftest import _RUNNING, TEST_DELAYS
from tests.realcluster import RealCluster, bring_up, poll, real_salt_or_skip
from workbench.engine import stages
from workbench.engine.doctor.core import apply_fix
from workbench.engine.parts import Parts
from workbench.engine.salt_master.keys import fingerprint
from workbench.events import Bus
from workbench.sandbox.core import SandboxThread

pytestmark = pytest.mark.slow

MINIONS = ("kubernetes-minion-1", "kubernetes-minion-2")
MASTER = "kubernetes-master"
PKI = "/etc/salt/pki/master"
RACE_DELAY = 9.0  # salt-race: Salt's units start this (+1) seconds after boot; under the race wait (4 x 5 s)


def _mode(text: str, mode: str) -> str:
    head, sep, _ = text.partition("\n[salt]\n")
    return f"{head if sep else text}\n[salt]\nmode = \"{mode}\"\nping_timeout = 5\njob_timeout = 300\n"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealCluster]:
    real_salt_or_skip()
    delays = dataclasses.replace(TEST_DELAYS, salt=RACE_DELAY)
    box = SandboxThread(tmp_path_factory.mktemp("master-mode"), minions=2, delays=delays)
    box.start()
    _RUNNING.append(box)
    try:
        yield bring_up(box, edit_profile=lambda text: _mode(text, "master"))
    finally:
        _RUNNING.remove(box)
        box.stop()


def _salt_json(c: RealCluster) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(c.cli("--json", "salt", timeout=600).stdout)
    return doc


def _records(doc: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(n["name"], n["ok"], n["succeeded"], n["failed"], n["failed_states"]) for n in doc["nodes"]]


def _key_on_master(c: RealCluster, folder: str, minion: str) -> str | None:
    out = c.ssh(MASTER, f"sudo cat {PKI}/{folder}/{minion} 2>/dev/null || true")
    return fingerprint(out) if "BEGIN PUBLIC KEY" in out else None


def test_master_mode_brings_up_a_ready_cluster_with_the_masterless_results(cluster: RealCluster) -> None:
    c = cluster
    assert c.redeploy["ok"], c.redeploy
    assert set(c.ready_nodes()) == set(MINIONS)  # the real kubectl, the admin kubeconfig
    assert c.state.read_json("salt-last.json", {})["mode"] == "master"
    # salt-minion runs as an enabled unit; no minion holds pillar (each gets only its own
    # from the master) and Salt wrote each its own kubelet certificate from there
    for node in (MASTER, *MINIONS):
        seen = c.ssh(node, "systemctl is-active salt-minion; systemctl is-enabled salt-minion; "
                           "test -e /srv/pillar && echo pillar || echo no-pillar; "
                           "sudo sha256sum /var/lib/kubelet/pki/kubelet-client.crt 2>/dev/null || echo -").split()
        assert seen[:2] == ["active", "enabled"], seen
        if node == MASTER:
            continue
        assert seen[2] == "no-pillar"
        pem = (c.state.root / "pki" / f"kubelet-{node}.pem").read_text()
        cert = pem[:pem.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")]
        assert seen[3] in {hashlib.sha256(cert.encode()).hexdigest(), hashlib.sha256((cert + "\n").encode()).hexdigest()}
        assert x509.load_pem_x509_certificate(cert.encode()).subject.rfc4514_string().startswith(
            f"CN=system:node:{node},")
    listing = c.ssh(MASTER, "sudo salt -L " + ",".join(MINIONS) + " pillar.item kube_pki --out=json --static "
                    "| python3 -c " + shlex.quote(
                        "import json, sys; d = json.load(sys.stdin)\n"
                        "print(json.dumps({m: sorted(v['kube_pki']) for m, v in d.items()}))"))
    assert json.loads(listing) == {m: ["ca_crt", "kube_proxy_crt", "kube_proxy_key", "kubelet_crt", "kubelet_key"]
                                   for m in MINIONS}

    master = _salt_json(c)
    assert master["ok"] and [n["name"] for n in master["nodes"]] == [MASTER, *MINIONS]
    assert all(n["changed"] == 0 for n in master["nodes"]), master  # idempotent
    c.profile_path.write_text(_mode(c.profile_path.read_text(), "masterless"))
    try:
        masterless = _salt_json(c)
        assert c.state.read_json("salt-last.json", {}).get("mode") != "master"
    finally:
        c.profile_path.write_text(_mode(c.profile_path.read_text(), "master"))
    assert set(masterless) == set(master)
    assert _records(masterless) == _records(master)
    again = _salt_json(c)  # back to master mode: the minions' config is the master's again
    assert again["ok"] and _records(again) == _records(master)
    assert c.state.read_json("salt-last.json", {})["mode"] == "master"


FORGER = "/tmp/wb-forger"


def _start_forger(c: RealCluster, on: str, as_id: str, master_ip: str) -> None:
    conf = (f"master: {master_ip}\nid: {as_id}\nroot_dir: {FORGER}\npki_dir: {FORGER}/pki\n"
            f"sock_dir: {FORGER}/run\ncachedir: {FORGER}/cache\nlog_file: {FORGER}/minion.log\n"
            f"pidfile: {FORGER}/minion.pid\nacceptance_wait_time: 1\nacceptance_wait_time_max: 1\n"
            "rejected_retry: True\n")
    c.ssh(on, f"sudo mkdir -p {FORGER} && printf %s {shlex.quote(conf)} | sudo tee {FORGER}/minion >/dev/null "
              f"&& sudo salt-minion -c {FORGER} -d")


def _stop_forger(c: RealCluster, on: str) -> None:
    c.ssh(on, f"p=$(pgrep -f 'salt-minion -c {FORGER}'); [ -z \"$p\" ] || sudo kill $p; "
              f"i=0; while pgrep -f 'salt-minion -c {FORGER}' >/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done",
          check=False)


def test_a_forged_minion_key_is_never_accepted(cluster: RealCluster) -> None:
    """A salt-minion on another node using kubernetes-minion-2's id knocks first, while
    minion-2's own key is not accepted (a new node): the workbench accepts only the key it
    read from minion-2 itself, raises salt-key-mismatch, and Salt denies the forger."""
    c = cluster
    victim, forger_node = MINIONS[1], MINIONS[0]
    master_ip = c.profile.cluster.master_ip
    c.ssh(victim, "sudo systemctl stop salt-minion")
    c.ssh(MASTER, f"sudo rm -f {PKI}/minions/{victim}")
    _start_forger(c, forger_node, victim, master_ip)
    try:
        forged = poll(lambda: _key_on_master(c, "minions_pre", victim), 60, "the forged key waits on the master")
        assert forged == fingerprint(c.ssh(forger_node, f"sudo cat {FORGER}/pki/minion.pub"))

        doc = _salt_json(c)
        own = fingerprint(c.ssh(victim, "sudo cat /etc/salt/pki/minion/minion.pub"))
        assert own != forged
        assert _key_on_master(c, "minions", victim) == own
        assert doc["ok"], doc
        assert [(a["kind"], a["subject"]) for a in doc["alerts"]] == [("salt-key-mismatch", victim)]
        # the forger keeps knocking; Salt denies it under the accepted id, and it never logs in
        assert poll(lambda: _key_on_master(c, "minions_denied", victim), 60, "the forger denied") == forged
        assert _key_on_master(c, "minions", victim) == own
        assert c.ssh(forger_node, f"sudo test -e {FORGER}/pki/minion_master.pub && echo in || echo out").strip() == "out"
    finally:
        _stop_forger(c, forger_node)
        c.ssh(MASTER, f"sudo rm -f {PKI}/minions_denied/{victim} {PKI}/minions_pre/{victim}", check=False)


async def test_a_stopped_minion_is_named_and_fixed_by_its_alert(cluster: RealCluster) -> None:
    c = cluster
    node = MINIONS[0]
    c.ssh(node, "sudo systemctl stop salt-minion")
    parts = Parts(c.profile, state=c.state, bus=Bus())
    try:
        nodes = await stages.active_nodes(parts, "salt", "salt")
        outcome = await stages.salt_nodes(parts, "salt", nodes)
        assert outcome is not None and outcome.report is not None
        runs = {r.node: r for r in outcome.report.runs}
        assert not runs[node].ok and runs[node].error is not None
        assert node in runs[node].error and "not connected" in runs[node].error
        assert all(runs[n].ok for n in (MASTER, MINIONS[1]))
        assert outcome.failed == (node,)
        assert [(a.kind, a.subject) for a in outcome.report.alerts] == [("salt-minion-down", node)]
        said = await apply_fix(outcome.report.alerts[0])
        assert said.startswith(f"restarted salt-minion on {node}; state run ok"), said
    finally:
        await parts.close()
    assert c.ssh(node, "systemctl is-active salt-minion").strip() == "active"


async def test_the_boot_race_is_waited_out(cluster: RealCluster) -> None:
    """salt-race: after a reboot, Salt's enabled units start late; the run waits for them."""
    c = cluster
    node = MINIONS[1]
    parts = Parts(c.profile, state=c.state, bus=Bus())
    box: Any = c.box
    box.set_fault("salt-race", True, node)
    try:
        nodes = await stages.active_nodes(parts, "salt", "salt")
        server = next(n for n in nodes if n.name == node)
        await parts.cloud.reboot(server.id, hard=False)
        poll(lambda: c.cli("ssh", node, "--", "true", check=False).returncode == 0, 120, f"{node} back after reboot")
        await parts.drop_connections()
        nodes = await stages.active_nodes(parts, "salt", "salt")
        outcome = await stages.salt_nodes(parts, "salt", nodes)
        assert outcome is not None and outcome.report is not None
        assert outcome.report.ok, outcome.to_json()
        run = next(r for r in outcome.report.runs if r.node == node)
        assert run.retried and run.race  # it was not connected at first, and was waited for
        assert not outcome.report.alerts
    finally:
        box.set_fault("salt-race", False, node)
        await parts.close()
    poll(lambda: set(c.ready_nodes()) == set(MINIONS), 120, "every node Ready after the reboot")
