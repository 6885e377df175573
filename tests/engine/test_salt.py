"""Real Salt (``salt-call --local``) on machine-like sandbox nodes, all at once: the states of
the workbench's own tree parsed per node, Salt's state lock, the install with dnf, failures.

Read-only tests run on the session's ``real_cluster`` (a highstate there changes nothing);
tests that break a node bring up their own.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
from pathlib import Path

from tests.realcluster import cli, poll
from workbench.engine.salt.runner import BUSY, SaltRunner
from workbench.engine.salt_master.runner import salt_runner
from workbench.events import LogLine, StageFinished, StageStarted

from .test_salt_helpers import Cluster, start_cluster, view

SALT_TREE = "/srv/salt"
#: the masterless minion config provisioning would write (the runner checks it is there)
MINION_CONF = ("sudo mkdir -p /etc/salt/minion.d && "
               "echo 'file_client: local' | sudo tee /etc/salt/minion.d/workbench.conf >/dev/null")
#: a tree of our own for nodes the workbench has not provisioned: one state Salt runs for real
TEST_TREE = (MINION_CONF + " && "
             "printf \"base:\\n  '*':\\n    - wbtest\\n\" | sudo tee /srv/salt/top.sls >/dev/null && "
             "printf 'wbtest:\\n  test.succeed_without_changes: []\\n' | sudo tee /srv/salt/wbtest.sls >/dev/null")


def runner_of(c: Cluster, pipeline: str = "salt") -> SaltRunner:
    """The runner the engine picks for this cluster (masterless at this size)."""
    runner = salt_runner(c.profile, c.pool, c.state, c.bus, c.instances, pipeline=pipeline)
    assert type(runner) is SaltRunner and runner.salt_tree == SALT_TREE
    return runner


def test_salt_busy_answer_is_read_in_json_and_text() -> None:
    """Salt 3008's refusal while another state run holds the lock, as --out=json and as text."""
    said = 'The function "state.highstate" is running as PID 4242 and was started at 2026, Dec 04 with jid 1'
    as_json = json.dumps({"local": [said]}, indent=4)
    assert [m.group(1) for m in map(BUSY.search, (as_json, f"local:\n    - {said}\n"))] == ["4242", "4242"]
    assert BUSY.search('The function "test.ping" is running as PID 1') is None  # only state runs lock


async def test_highstate_on_all_nodes_in_parallel(real_cluster) -> None:
    c = await view(real_cluster)
    try:
        report = await runner_of(c, "provision").run(list(c.instances))
        assert report.ok, report.to_json()
        by_node = {r.node: r for r in report.runs}
        assert set(by_node) == {i.name for i in c.instances}
        master = {(s.id, s.function) for s in by_node[c.master.name].states}
        assert {("kube-apiserver", "service.running"), ("kube-bins-unpacked", "cmd.run")} <= master
        for m in c.minions:
            run = by_node[m.name]
            assert run.failed == 0 and run.succeeded == len(run.states) >= 10 and not run.retried
            assert ("kubelet", "service.running", True) in {(s.id, s.function, s.result) for s in run.states}
        # redeploy ran this highstate already: a second one changes nothing on any node
        assert {r.node: r.changed for r in report.runs} == {i.name: 0 for i in c.instances}
        # every node streamed its own lines; stage events per node under our pipeline name
        streamed = {e.node for e in c.events if isinstance(e, LogLine) and e.source == "salt"}
        assert streamed >= {i.name for i in c.instances}
        started = {e.node for e in c.events if isinstance(e, StageStarted) and e.pipeline == "provision"}
        finished = {e.node for e in c.events if isinstance(e, StageFinished) and e.pipeline == "provision" and e.ok}
        assert started == finished == {i.name for i in c.instances}
        # in parallel: the wall time is far below the sum of the nodes' own times
        assert report.wall_s < 0.7 * sum(r.seconds for r in report.runs), report.to_json()
        doc = report.to_json()
        assert {n["name"] for n in doc["nodes"]} == {i.name for i in c.instances}
        assert c.state.cluster_token() not in json.dumps(doc)
    finally:
        await c.close()


async def test_a_state_run_already_going_is_waited_for_then_retried_once(real_cluster) -> None:
    """Salt's own lock: a second state run on a node is refused while one runs (at boot, a
    highstate cloud-init or a person started). The runner waits for it, then runs again."""
    c = await view(real_cluster)
    minion = c.minions[0]
    hold = "/srv/salt/wbtest-hold.sls"
    marker = "holding-the-state-lock"
    await c.pool.run(minion, f"printf 'hold:\\n  cmd.run:\\n    - name: sh -c \"sleep 4\" {marker}\\n' "
                             f"| sudo tee {hold} >/dev/null", check=True)
    holder = asyncio.create_task(c.pool.run(minion, "sudo salt-call --local state.apply wbtest-hold --out=json"))
    try:
        async def holding() -> bool:
            return (await c.pool.run(minion, f"pgrep -f '{marker}'")).ok

        end = asyncio.get_running_loop().time() + 60
        while not await holding():  # the holder's state is running: Salt's lock is taken
            assert not holder.done(), holder.result()
            assert asyncio.get_running_loop().time() < end, "the holding state never started"
            await asyncio.sleep(0.1)
        report = await runner_of(c).run(list(c.instances))
        assert report.ok, report.to_json()
        by_node = {r.node: r for r in report.runs}
        assert by_node[minion.name].retried and by_node[minion.name].succeeded >= 10
        assert [r.node for r in report.runs if r.retried] == [minion.name]
        said = [e.text for e in c.events if isinstance(e, LogLine) and "holds the state lock" in e.text]
        assert len(said) == 1 and said[0].startswith("another Salt state run (PID "), said
        held = await holder
        assert held.ok and '"result": true' in held.stdout  # the other run was left to finish
    finally:
        if not holder.done():
            await holder
        await c.pool.run(minion, f"sudo rm -f {hold}", check=True)
        await c.close()


async def test_failed_and_unreachable_nodes_do_not_stop_the_others(make_sandbox) -> None:
    # salt-race delays the salt units at boot: masterless Salt uses no daemon, so the
    # redeploy that brought this cluster up, and the runs below, never wait or retry for it
    c = await start_cluster(make_sandbox, minions=2, faults=["salt-race"])
    try:
        ok_nodes, broken = [c.master, c.minions[0]], c.minions[1]
        # the pushed node tar is gone from one node: kube-bins' unpacking fails in real Salt
        await c.pool.run(broken, "sudo rm /srv/kube-release/kubernetes-node-linux-amd64.tar.gz", check=True)
        ghost = dataclasses.replace(c.minions[0], name="kubernetes-minion-9", id="ghost",
                                    fixed_ip="127.0.0.1", floating_ip="127.0.0.1")
        runner = runner_of(c)
        report = await runner.run([*c.instances, ghost])
        by_node = {r.node: r for r in report.runs}
        assert all(by_node[n.name].ok and not by_node[n.name].retried for n in ok_nodes), report.to_json()
        failed = by_node[broken.name]
        assert not failed.ok and failed.failed >= 1 and failed.succeeded > 0
        assert failed.error is not None and "state(s) failed; kube-bins-unpacked: " in failed.error
        assert "\n" not in failed.error
        assert not by_node["kubernetes-minion-9"].ok and "kubernetes-minion-9" in (by_node["kubernetes-minion-9"].error or "")
        assert sorted(runner.last_failed()) == sorted([broken.name, "kubernetes-minion-9"])
        # the engine's push puts the tar back; --failed reruns only the failed nodes it knows
        await asyncio.to_thread(cli, c.box.profile_path, "push")
        chosen = runner.select([*c.instances], failed=True)
        assert [n.name for n in chosen] == [broken.name]
        rerun = await runner.run(chosen)
        assert rerun.ok, rerun.to_json()
        assert runner.last_failed() == ["kubernetes-minion-9"]
    finally:
        await c.close()


async def test_malformed_salt_json_fails_that_node_in_one_line(make_sandbox) -> None:
    c = await start_cluster(make_sandbox, minions=1, provisioned=False)
    minion = c.minions[0]
    try:
        await c.pool.run(c.master, "sudo mkdir -p /srv/salt && " + TEST_TREE, check=True)
        # this minion's salt-call answers a JSON document with a state Salt never writes
        script = ("#!/bin/sh\necho '{\"local\": {\"file_|-k_|-/k_|-managed\": "
                  "{\"result\": true, \"duration\": \"fast\"}}}'\n")
        await c.pool.run(minion, "sudo tee /usr/local/bin/salt-call >/dev/null && sudo chmod +x /usr/local/bin/salt-call",
                         input=script, check=True)
        await c.pool.run(minion, MINION_CONF, check=True)
        report = await runner_of(c).run(c.instances)
        by_node = {r.node: r for r in report.runs}
        assert by_node[c.master.name].ok, report.to_json()  # real Salt, installed by the runner
        assert [(s.id, s.function) for s in by_node[c.master.name].states] == [("wbtest", "test.succeed_without_changes")]
        broken = by_node[minion.name]
        assert not broken.ok and not broken.states
        assert broken.error == ("salt output: state 'file_|-k_|-/k_|-managed' is malformed "
                                "(duration 'fast' is not a number of ms)")
        logged = [e.text for e in c.events if isinstance(e, LogLine) and e.node == minion.name]
        assert any('"duration": "fast"' in line for line in logged)  # what Salt said, as it said it
    finally:
        await c.close()


async def test_salt_is_installed_with_the_node_package_manager(make_sandbox) -> None:
    """The stock image has no Salt: the runner installs it with the node's dnf, which lays
    down Salt's unit files but enables no daemon (masterless needs none)."""
    c = await start_cluster(make_sandbox, minions=1, provisioned=False)
    node, bare = c.master, c.minions[0]
    try:
        for n in (node, bare):
            assert (await c.pool.run(n, "command -v salt-call")).exit_status != 0, n.name
        await c.pool.run(node, "sudo mkdir -p /srv/salt && " + TEST_TREE, check=True)
        report = await runner_of(c).run([node])
        assert report.ok, report.to_json()
        assert report.runs[0].installed and report.runs[0].succeeded == 1
        found = await c.pool.run(node, "command -v salt-call; readlink /opt/saltstack/salt; "
                                       "systemctl is-enabled salt-minion", check=False)
        lines = found.stdout.split()
        assert lines[0] == "/usr/bin/salt-call" and lines[1] == "/run/sandbox-repo/salt" and lines[2] == "disabled"
        again = await runner_of(c).run([node])  # installed once: the next run finds it
        assert again.ok and not again.runs[0].installed
        # no package manager at all: a clear error naming what is missing, not a traceback
        await c.pool.run(bare, "sudo rm /usr/local/bin/dnf && " + MINION_CONF, check=True)
        failed = await runner_of(c).run([bare])
        assert not failed.ok
        assert failed.runs[0].error == ("salt-call missing and could not be installed: "
                                        "no dnf, yum or apt-get to install salt with")
    finally:
        await c.close()


async def test_cli_salt_json_and_failed(real_cluster) -> None:
    box = real_cluster.box

    def wb(*args: str) -> subprocess.CompletedProcess[str]:
        return cli(real_cluster.profile_path, *args, check=False)

    c = await view(real_cluster)
    await c.close()
    done = await asyncio.to_thread(wb, "salt", "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert sorted(n["name"] for n in doc["nodes"]) == sorted(i.name for i in c.instances)
    for n in doc["nodes"]:
        assert n["ok"] and n["failed"] == 0 and n["succeeded"] >= 10 and n["seconds"] > 0
    for inst in c.instances:  # provisioned before Salt, as the salt stage does
        grains = Path(box.state_dir) / "nodes" / inst.id / "root" / "etc/salt/minion.d/grains.conf"
        assert f"node_ip: {inst.fixed_ip}" in grains.read_text(), inst.name
    one = json.loads((await asyncio.to_thread(wb, "salt", "--nodes", c.minions[0].name, "--json")).stdout)
    assert [n["name"] for n in one["nodes"]] == [c.minions[0].name]
    nothing = await asyncio.to_thread(wb, "salt", "--failed", "--json")
    assert nothing.returncode == 0 and json.loads(nothing.stdout)["nodes"] == []
    bad = await asyncio.to_thread(wb, "salt", "--nodes", "nope")
    assert bad.returncode == 2 and "nope" in bad.stderr and "Traceback" not in bad.stderr
    poll(lambda: real_cluster.ready_nodes(), 30, "the cluster's nodes Ready after the runs")
