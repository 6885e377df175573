"""Salt, systemd units and the seed's node faults on sandbox nodes, driven over SSH."""

from __future__ import annotations

import asyncio
import io
import json
import os
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from workbench.sandbox.faults import FaultSet
from workbench.sandbox.hooks import NodeView
from workbench.sandbox.nodes.rig import Rig, ZeroDelays

BINARIES = ("kube-apiserver", "kubelet", "kubectl")


class Recorder:
    """ServiceHooks that remembers what the nodes reported."""

    def __init__(self) -> None:
        self.changes: list[tuple[str, str, bool]] = []
        self.gone: list[str] = []

    async def unit_changed(self, node: NodeView, unit: str, active: bool) -> None:
        self.changes.append((node.name, unit, active))
        if unit == "kubelet" and active:
            node.journal("kubelet", "Successfully registered node " + node.name)

    async def node_gone(self, node: NodeView) -> None:
        self.gone.append(node.name)

    async def close(self) -> None:
        pass


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def rig(tmp_path: Path, recorder: Recorder):
    rig = Rig(tmp_path, services=recorder)
    yield rig
    await rig.manager.close()


async def provision_files(rig: Rig, server, tree: bool = True, tars: bool = True) -> dict[str, bytes]:
    """What a push leaves on the node, put there over SSH with sudo: the salt tree and the
    server release tar."""
    contents = {name: os.urandom(200_000) + name.encode() for name in BINARIES}
    files: dict[str, bytes] = {}
    if tree:
        files["/srv/salt/top.sls"] = b"base:\n  'roles:kubernetes-master':\n    - match: grain\n"
    if tars:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            for name, data in contents.items():
                info = tarfile.TarInfo(f"kubernetes/server/bin/{name}")
                info.size, info.mode = len(data), 0o755
                tar.addfile(info, io.BytesIO(data))
        files["/srv/kube-release/kubernetes-server-linux-amd64.tar.gz"] = buf.getvalue()
    async with await rig.connect(server) as conn:
        for path, data in files.items():
            folder = path.rsplit("/", 1)[0]
            await conn.run(f"sudo sh -c 'mkdir -p {folder} && cat > {path}'", input=data,
                           encoding=None, check=True)
    return contents


async def run(rig: Rig, server, command: str):
    async with await rig.connect(server) as conn:
        return await conn.run(command)


async def boot_cluster(rig: Rig):
    master = rig.server("kubernetes-master")
    minion = rig.server("kubernetes-minion-1")
    await rig.manager.boot(master)
    await rig.manager.boot(minion)
    return master, minion


def known_token(rig: Rig, master) -> str:
    text = (rig.manager.root / master.id / "root/srv/kubernetes/known_tokens.csv").read_text()
    return next(line.split(",")[0] for line in text.splitlines() if line.endswith(",kubelet,kubelet"))


def kubeconfig(rig: Rig, minion) -> dict:
    return yaml.safe_load((rig.manager.root / minion.id / "root/var/lib/kubelet/kubeconfig").read_text())


async def test_no_top_file_fails_like_salt(rig: Rig) -> None:
    master, _ = await boot_cluster(rig)
    result = await run(rig, master, "sudo salt-call --local state.highstate")
    assert result.exit_status == 1
    assert "Comment: No Top file or master_tops data matches found." in result.stdout
    assert "Function: no.None" in result.stdout and "Failed:    1" in result.stdout


async def test_missing_release_tars_fail_like_salt(rig: Rig) -> None:
    master, _ = await boot_cluster(rig)
    await provision_files(rig, master, tars=False)
    result = await run(rig, master, "sudo salt-call --local state.highstate --retcode-passthrough")
    assert result.exit_status == 2
    assert "Source file salt://kube-bins/kube-apiserver not found in saltenv 'base'" in result.stdout
    assert "One or more requisite failed: kube-bins./opt/kubernetes/server/bin/kube-apiserver" in result.stdout
    assert (await run(rig, master, "systemctl is-active kube-apiserver")).exit_status == 3


async def test_master_then_minion_highstate(rig: Rig, recorder: Recorder) -> None:
    master, minion = await boot_cluster(rig)
    contents = await provision_files(rig, master)
    await provision_files(rig, minion)
    pillar = "pillar='{\"kubelet_token\": \"Tok3nFromPillar0123456789abcdefg\"}'"
    result = await run(rig, master, f"sudo -n salt-call --local state.highstate {pillar}")
    assert result.exit_status == 0, result.stdout
    lines = result.stdout.splitlines()
    assert lines[0] == "local:"
    for label in ("          ID: /srv/kubernetes/known_tokens.csv", "    Function: file.managed",
                  "      Result: True", "     Started: ", "    Duration: ", "     Changes:   "):
        assert any(line.startswith(label) for line in lines), label
    assert "Summary for local" in result.stdout and "Failed:    0" in result.stdout
    assert "Succeeded: 6 (changed=5)" in result.stdout  # the image's minion runs; the master not yet
    assert known_token(rig, master) == "Tok3nFromPillar0123456789abcdefg"
    installed = rig.manager.root / master.id / "root/opt/kubernetes/server/bin/kube-apiserver"
    assert installed.read_bytes() == contents["kube-apiserver"]
    assert ("kubernetes-master", "kube-apiserver", True) in recorder.changes
    again = await run(rig, master, f"sudo salt-call state.highstate {pillar} --out=json")
    data = json.loads(again.stdout)["local"]
    assert again.exit_status == 0 and all(s["result"] and not s["changes"] for s in data.values())
    key = "file_|-/srv/kubernetes/known_tokens.csv_|-/srv/kubernetes/known_tokens.csv_|-managed"
    assert {"result", "comment", "__run_num__", "duration", "start_time", "changes", "name",
            "__id__"} <= set(data[key])

    result = await run(rig, minion, f"sudo salt-call state.apply {pillar}")
    assert result.exit_status == 0, result.stdout
    config = kubeconfig(rig, minion)
    assert config["clusters"][0]["cluster"]["server"] == f"https://{master.fixed_ips[0]}:6443"
    assert config["users"][0] == {"name": "kubelet", "user": {"token": known_token(rig, master)}}
    assert ("kubernetes-minion-1", "kubelet", True) in recorder.changes
    journal = await run(rig, minion, "journalctl -u kubelet -n 5 --no-pager")
    assert "Started Kubernetes Kubelet Server." in journal.stdout
    assert "kubernetes-minion-1 kubelet[" in journal.stdout
    assert "Successfully registered node kubernetes-minion-1" in journal.stdout


async def test_without_pillar_master_and_minion_share_the_boot_token(rig: Rig) -> None:
    master, minion = await boot_cluster(rig)
    await provision_files(rig, master)
    await provision_files(rig, minion)
    assert (await run(rig, master, "sudo salt-call state.highstate")).exit_status == 0
    assert (await run(rig, minion, "sudo salt-call state.highstate")).exit_status == 0
    assert kubeconfig(rig, minion)["users"][0]["user"]["token"] == known_token(rig, master)


async def test_systemctl_units_and_reboot(rig: Rig, recorder: Recorder) -> None:
    master, _ = await boot_cluster(rig)
    result = await run(rig, master, "systemctl is-active salt-minion salt-master sshd kubelet")
    assert (result.exit_status, result.stdout.split()) == (3, ["active", "inactive", "active", "inactive"])
    assert (await run(rig, master, "sudo systemctl enable salt-master && sudo systemctl start salt-master")).exit_status == 0
    result = await run(rig, master, "systemctl start nope")
    assert result.exit_status == 5 and "Unit nope.service not found." in result.stderr
    assert (await run(rig, master, "systemctl enable kube-apiserver && systemctl start kube-apiserver.service")).exit_status == 0
    status = await run(rig, master, "systemctl status kube-apiserver")
    assert status.exit_status == 0 and "Active: active (running)" in status.stdout
    assert ("kubernetes-master", "kube-apiserver", True) in recorder.changes
    assert (await run(rig, master, "systemctl stop salt-master")).exit_status == 0
    assert ("kubernetes-master", "salt-master", False) in recorder.changes
    assert (await run(rig, master, "systemctl start salt-master")).exit_status == 0
    recorder.changes.clear()
    await rig.manager.reboot(master.id, hard=True)
    assert ("kubernetes-master", "kube-apiserver", False) in recorder.changes
    # enabled units come back after a reboot
    assert ("kubernetes-master", "salt-master", True) in recorder.changes
    assert recorder.changes[-1] == ("kubernetes-master", "kube-apiserver", True) or (
        "kubernetes-master", "kube-apiserver", True) in recorder.changes[1:]
    result = await run(rig, master, "systemctl is-active kube-apiserver salt-master")
    assert result.stdout.split() == ["active", "active"]


async def test_salt_race_fails_first_highstate_after_boot(tmp_path: Path) -> None:
    rig = Rig(tmp_path, faults=FaultSet(["salt-race"]))
    try:
        master, _ = await boot_cluster(rig)
        await provision_files(rig, master)
        first = await run(rig, master, "sudo salt-call state.highstate")
        assert first.exit_status == 1
        assert "The Salt Minion service is not running" in first.stderr
        assert "Result: False" in first.stdout and "One or more requisite failed" in first.stdout
        second = await run(rig, master, "sudo salt-call state.highstate")
        assert second.exit_status == 0, second.stdout
        await rig.manager.reboot(master.id, hard=False)
        assert (await run(rig, master, "sudo salt-call state.highstate")).exit_status == 1
        rig.faults.set("salt-race", False)
        rig.manager.refresh_faults()
        await rig.manager.reboot(master.id, hard=False)
        assert (await run(rig, master, "sudo salt-call state.highstate")).exit_status == 0
    finally:
        await rig.manager.close()


async def test_token_regen_makes_a_new_token_every_master_highstate(rig: Rig, recorder: Recorder) -> None:
    master, minion = await boot_cluster(rig)
    await provision_files(rig, master)
    await provision_files(rig, minion)
    pillar = "pillar='{\"kubelet_token\": \"StableTokenStableToken0123456789\"}'"
    assert (await run(rig, master, f"sudo salt-call state.highstate {pillar}")).exit_status == 0
    assert (await run(rig, minion, f"sudo salt-call state.highstate {pillar}")).exit_status == 0
    async with await rig.connect(master) as conn:  # a pooled connection sees the switch
        rig.faults.set("token-regen", True, server="kubernetes-master")
        tokens = set()
        for _ in range(2):
            result = await conn.run(f"sudo salt-call state.highstate {pillar}")
            assert result.exit_status == 0 and "Service restarted" in result.stdout
            tokens.add(known_token(rig, master))
    assert len(tokens) == 2 and "StableTokenStableToken0123456789" not in tokens
    restarts = [c for c in recorder.changes if c[:2] == ("kubernetes-master", "kube-apiserver")]
    assert restarts[-4:] == [("kubernetes-master", "kube-apiserver", s) for s in (False, True) * 2]
    assert kubeconfig(rig, minion)["users"][0]["user"]["token"] == "StableTokenStableToken0123456789"


async def test_salt_takes_the_configured_time(tmp_path: Path) -> None:
    rig = Rig(tmp_path, delays=ZeroDelays(salt=0.6))
    try:
        master, _ = await boot_cluster(rig)
        await provision_files(rig, master)
        started = time.perf_counter()
        result = await run(rig, master, "sudo salt-call state.highstate")
        assert result.exit_status == 0
        assert time.perf_counter() - started >= 0.6
        assert "Total run time:" in result.stdout and " ms" in result.stdout
    finally:
        await rig.manager.close()


@dataclass(frozen=True)
class SlowDelays(ZeroDelays):
    ssh_slow: float = 0.8


async def test_slow_ssh_until_usedns_no_and_restart(tmp_path: Path) -> None:
    rig = Rig(tmp_path, faults=FaultSet(["slow-ssh"]), delays=SlowDelays())
    try:
        master, _ = await boot_cluster(rig)

        async def connect_seconds() -> float:
            started = time.perf_counter()
            async with await rig.connect(master) as conn:
                await conn.run("true", check=True)
            return time.perf_counter() - started

        assert await connect_seconds() >= 0.8
        await run(rig, master, "echo 'UseDNS no' | sudo tee -a /etc/ssh/sshd_config >/dev/null")
        assert await connect_seconds() >= 0.8  # not restarted yet
        await run(rig, master, "sudo systemctl restart sshd")
        fast = await connect_seconds()
        print(f"slow-ssh fixed: connect+exec {fast * 1000:.0f} ms")
        assert fast < 0.5
    finally:
        await rig.manager.close()


def sleepers(machine) -> list[int]:
    """The node's ``sleep`` processes, by their pids on the workstation."""
    found = []
    for pid in machine.pids():
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == "sleep":
                found.append(pid)
        except OSError:
            pass
    return found


async def test_no_process_outlives_the_node(rig: Rig) -> None:
    master, minion = await boot_cluster(rig)
    async with await rig.connect(master) as conn:
        await conn.run("setsid sleep 300 >/dev/null 2>&1 < /dev/null &", check=True)
        long = await conn.create_process("sleep 301")
        async with await rig.connect(minion) as conn2:
            await conn2.run("nohup sleep 302 >/dev/null 2>&1 &", check=True)
        node = rig.manager.nodes[master.id]
        machine = node.machine
        # create_process returns once the exec request is accepted; the command starts after
        deadline = time.monotonic() + 10
        while len(sleepers(machine)) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert len(sleepers(machine)) >= 2
        everything = machine.pids()
        long.close()
    await rig.manager.destroy(master.id)  # returns once the node's processes are gone
    assert [p for p in everything if os.path.exists(f"/proc/{p}")] == []
    minion_machine = rig.manager.nodes[minion.id].machine
    left = sleepers(minion_machine)
    assert left
    await rig.manager.close()
    assert [p for p in left if os.path.exists(f"/proc/{p}")] == []


async def test_a_node_powered_off_never_listens_again(rig: Rig) -> None:
    """A session that ends while its node powers off reconciles the units it sees on disk
    (sshd still active); that must not reopen the listeners, or the deleted server keeps
    answering on its addresses with its old host key after a new server took them."""
    master, _ = await boot_cluster(rig)
    node = rig.manager.nodes[master.id]
    assert node.listeners
    address = next(iter(node.listeners))
    off = asyncio.create_task(node.power_off())
    deadline = time.monotonic() + 10
    while node.listeners and time.monotonic() < deadline:
        await asyncio.sleep(0.001)
    assert not node.listeners
    node._events.put_nowait(("sshd", True, 99))  # sshd still active, reported late
    late = asyncio.gather(node.reconcile(), node.sync_listeners())  # a session ending right now
    await asyncio.wait_for(asyncio.gather(off, late), 10)
    assert node.listeners == {}
    with pytest.raises(OSError):
        _, writer = await asyncio.open_connection(address, node.port)
        writer.close()
    await rig.manager.close()


async def test_client_disconnect_kills_the_command(rig: Rig) -> None:
    master, _ = await boot_cluster(rig)
    machine = rig.manager.nodes[master.id].machine
    conn = await rig.connect(master)
    await conn.create_process("sleep 303")
    deadline = time.monotonic() + 5
    while not sleepers(machine) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert sleepers(machine)
    conn.close()
    await conn.wait_closed()
    deadline = time.monotonic() + 5
    while sleepers(machine) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert sleepers(machine) == []


async def test_sshd_restart_is_never_seen_stopped(rig: Rig) -> None:
    """``systemctl restart`` of a running unit is one step: a reconcile that runs meanwhile
    (any other session ending) must not see sshd stopped and close the listeners, or a
    client connecting right after the restart returned is refused."""
    master, _ = await boot_cluster(rig)
    node = rig.manager.nodes[master.id]
    seen: list[tuple[bool, int]] = []
    done = asyncio.Event()

    async def watch() -> None:  # what the sandbox believes, as often as the loop lets it look
        while not done.is_set():
            seen.append((node.units.get("sshd", False), node.starts.get("sshd", 0)))
            await asyncio.sleep(0)

    watcher = asyncio.ensure_future(watch())
    try:
        async with await rig.connect(master) as conn:
            for _ in range(10):
                await conn.run("sudo systemctl restart sshd", check=True)
                async with await rig.connect(master) as fresh:  # the listener is up
                    assert (await fresh.run("systemctl is-active sshd")).stdout == "active\n"
    finally:
        done.set()
        await watcher
    assert len(seen) > 10 and all(active for active, _ in seen), [s for s in seen if not s[0]][:3]
    assert max(starts for _, starts in seen) >= 10
