"""Salt on sandbox nodes, all at once: parsed summaries, the boot race, install, failures."""

from __future__ import annotations

import dataclasses

from workbench.engine.salt.runner import SaltRunner
from workbench.events import LogLine, StageFinished, StageStarted

from .test_salt_helpers import SEED_COMMAND, seed_tar, start_cluster


async def test_highstate_on_all_nodes_in_parallel(make_sandbox) -> None:
    c = await start_cluster(make_sandbox, minions=2)
    try:
        runner = SaltRunner(c.pool, c.state, c.bus, pipeline="provision", salt_tree=c.profile.paths.salt_tree)
        report = await runner.run(list(c.instances))
        assert report.ok, report.to_json()
        by_node = {r.node: r for r in report.runs}
        assert set(by_node) == {i.name for i in c.instances}
        master = by_node[c.master.name]
        assert {(s.id, s.function) for s in master.states} >= {
            ("/srv/kubernetes/known_tokens.csv", "file.managed"), ("kube-apiserver", "service.running"),
        }
        for m in c.minions:
            run = by_node[m.name]
            assert run.failed == 0 and run.succeeded == len(run.states) >= 3 and not run.retried
            assert ("kubelet", "service.running", True) in {(s.id, s.function, s.result) for s in run.states}
        # every node streamed its own lines; stage events per node under our pipeline name
        streamed = {e.node for e in c.events if isinstance(e, LogLine) and e.source == "salt"}
        assert streamed >= {i.name for i in c.instances}
        started = {e.node for e in c.events if isinstance(e, StageStarted) and e.pipeline == "provision"}
        finished = {e.node for e in c.events if isinstance(e, StageFinished) and e.pipeline == "provision" and e.ok}
        assert started == finished == {i.name for i in c.instances}
        # in parallel: the wall time is far below the sum of the nodes' own times
        assert report.wall_s < sum(r.seconds for r in report.runs)
        # the cluster token went in as pillar: master and minions agree with the state dir
        token = c.state.cluster_token()
        csv = await c.pool.run(c.master, f"sudo cat {c.profile.paths.known_tokens}")
        assert csv.stdout.split(",")[0] == token
        again = await runner.run(list(c.instances))  # re-provisioning keeps the token
        assert again.ok and (await c.pool.run(c.master, f"sudo cat {c.profile.paths.known_tokens}")).stdout == csv.stdout
        json_doc = report.to_json()
        assert {n["name"] for n in json_doc["nodes"]} == {i.name for i in c.instances}
        assert "token" not in str(json_doc).replace("known_tokens", "")
    finally:
        await c.close()


async def test_salt_race_is_retried_once_and_succeeds(make_sandbox) -> None:
    c = await start_cluster(make_sandbox, minions=1, faults=["salt-race"])
    try:
        report = await SaltRunner(c.pool, c.state, c.bus, salt_tree=c.profile.paths.salt_tree).run(list(c.instances))
        assert report.ok, report.to_json()
        assert all(r.retried for r in report.runs) and report.alerts == ()
        said = [e.text for e in c.events if isinstance(e, LogLine) and "retrying once" in e.text]
        assert len(said) == len(c.instances)
    finally:
        await c.close()


async def test_failed_and_unreachable_nodes_do_not_stop_the_others(make_sandbox) -> None:
    c = await start_cluster(make_sandbox, minions=2, seed=False)
    try:
        ok_nodes = [c.master, c.minions[0]]
        payload = seed_tar(c.profile)
        for node in ok_nodes:
            await c.pool.run(node, SEED_COMMAND, input=payload, check=True)
        # minion-2 has no salt tree: Salt's own "No Top file" failure
        ghost = dataclasses.replace(c.minions[0], name="kubernetes-minion-9", id="ghost",
                                    fixed_ip="127.0.0.1", floating_ip="127.0.0.1")
        runner = SaltRunner(c.pool, c.state, c.bus, salt_tree=c.profile.paths.salt_tree)
        report = await runner.run([*c.instances, ghost])
        by_node = {r.node: r for r in report.runs}
        assert by_node[c.master.name].ok and by_node[c.minions[0].name].ok
        broken = by_node[c.minions[1].name]
        assert not broken.ok and broken.failed == 1 and "No Top file" in (broken.error or "")
        assert not by_node["kubernetes-minion-9"].ok and "kubernetes-minion-9" in (by_node["kubernetes-minion-9"].error or "")
        assert sorted(runner.last_failed()) == sorted([c.minions[1].name, "kubernetes-minion-9"])
        # --failed: seed the broken minion, rerun only the failed ones
        await c.pool.run(c.minions[1], SEED_COMMAND, input=payload, check=True)
        chosen = runner.select([*c.instances], failed=True)
        assert [n.name for n in chosen] == [c.minions[1].name]
        rerun = await runner.run(chosen)
        assert rerun.ok and runner.last_failed() == ["kubernetes-minion-9"]
    finally:
        await c.close()


async def test_malformed_salt_json_fails_that_node_in_one_line(make_sandbox) -> None:
    c = await start_cluster(make_sandbox, minions=1)
    minion = c.minions[0]
    try:
        # this minion's salt-call answers a JSON document with a state Salt never writes
        script = ("#!/bin/sh\necho '{\"local\": {\"file_|-k_|-/k_|-managed\": "
                  "{\"result\": true, \"duration\": \"fast\"}}}'\n")
        await c.pool.run(minion, "sudo tee /usr/local/bin/salt-call >/dev/null", input=script, check=True)
        report = await SaltRunner(c.pool, c.state, c.bus, salt_tree=c.profile.paths.salt_tree).run(c.instances)
        by_node = {r.node: r for r in report.runs}
        assert by_node[c.master.name].ok
        broken = by_node[minion.name]
        assert not broken.ok and not broken.states
        assert broken.error == ("salt output: state 'file_|-k_|-/k_|-managed' is malformed "
                                "(duration 'fast' is not a number of ms)")
        logged = [e.text for e in c.events if isinstance(e, LogLine) and e.node == minion.name]
        assert any('"duration": "fast"' in line for line in logged)  # what Salt said, as it said it
    finally:
        await c.close()


async def test_salt_is_installed_with_the_node_package_manager(make_sandbox) -> None:
    c = await start_cluster(make_sandbox, minions=0)
    node = c.master
    try:
        # take salt-call away; give the node a dnf that installs it back (and says so)
        await c.pool.run(node, (
            "sudo mv /usr/local/bin/salt-call /usr/local/lib-salt-call && "
            "printf '#!/bin/sh\\necho \"dnf $*\" >> /var/log/dnf.log; "
            "mv /usr/local/lib-salt-call /usr/local/bin/salt-call\\n' | sudo tee /usr/local/bin/dnf >/dev/null && "
            "sudo chmod +x /usr/local/bin/dnf"
        ), check=True)
        assert (await c.pool.run(node, "command -v salt-call")).exit_status != 0
        report = await SaltRunner(c.pool, c.state, c.bus, salt_tree=c.profile.paths.salt_tree).run([node])
        assert report.ok, report.to_json()
        assert report.runs[0].installed
        assert (await c.pool.run(node, "cat /var/log/dnf.log")).stdout == "dnf -y install salt-minion\n"
        # no package manager at all: a clear error, not a traceback
        await c.pool.run(node, "sudo rm /usr/local/bin/salt-call /usr/local/bin/dnf", check=True)
        failed = await SaltRunner(c.pool, c.state, c.bus, salt_tree=c.profile.paths.salt_tree).run([node])
        assert not failed.ok and "could not be installed" in (failed.runs[0].error or "")
    finally:
        await c.close()


async def test_cli_salt_json_and_failed(make_sandbox) -> None:
    import asyncio
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    c = await start_cluster(make_sandbox, minions=2)
    await c.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}

    def wb(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "workbench", "--profile", str(c.box.profile_path), *args],
            cwd=Path(__file__).resolve().parents[2], env=env, text=True, capture_output=True,
            timeout=120, stdin=subprocess.DEVNULL,
        )

    done = await asyncio.to_thread(wb, "salt", "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert sorted(n["name"] for n in doc["nodes"]) == sorted(i.name for i in c.instances)
    for n in doc["nodes"]:
        assert n["ok"] and n["failed"] == 0 and n["succeeded"] >= 3 and n["seconds"] > 0
    for inst in c.instances:  # provisioned before Salt, as the salt stage does
        grains = Path(c.box.state_dir) / "nodes" / inst.id / "root" / "etc/salt/minion.d/grains.conf"
        assert f"node_ip: {inst.fixed_ip}" in grains.read_text(), inst.name
    one = json.loads((await asyncio.to_thread(wb, "salt", "--nodes", c.minions[0].name, "--json")).stdout)
    assert [n["name"] for n in one["nodes"]] == [c.minions[0].name]
    nothing = await asyncio.to_thread(wb, "salt", "--failed", "--json")
    assert nothing.returncode == 0 and json.loads(nothing.stdout)["nodes"] == []
    bad = await asyncio.to_thread(wb, "salt", "--nodes", "nope")
    assert bad.returncode == 2 and "nope" in bad.stderr and "Traceback" not in bad.stderr
