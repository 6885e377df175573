"""A node's SSH server and processes over its life: slow-ssh, power off, delete, disconnects."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from workbench.sandbox.faults import FaultSet
from workbench.sandbox.nodes.rig import Rig, ZeroDelays


async def run(rig: Rig, server, command: str):
    async with await rig.connect(server) as conn:
        return await conn.run(command)


async def boot_cluster(rig: Rig):
    master = rig.server("kubernetes-master")
    minion = rig.server("kubernetes-minion-1")
    await rig.manager.boot(master)
    await rig.manager.boot(minion)
    return master, minion


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
