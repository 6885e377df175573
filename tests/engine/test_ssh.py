"""SSHPool against real asyncssh servers on loopback (each with its own host key)."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncssh
import pytest

from workbench.engine.ssh.pool import SSHPool
from workbench.errors import HostKeyMismatch, NodeError, SSHConnectError
from workbench.events import Bus, LogLine, Notice

from .test_ssh_servers import Lab, make_lab


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[Lab]:
    lab = make_lab(tmp_path)
    yield lab
    await lab.close()


def pool_for(lab: Lab, bus: Bus | None = None) -> SSHPool:
    return SSHPool(lab.profile, lab.state, console=lab.console, bus=bus)


async def test_run_streams_reuses_and_reports(lab: Lab) -> None:
    master = lab.node("k-master", "master", 2, floating=102)
    await lab.serve(master)
    bus = Bus()
    sub = bus.subscribe()
    pool = pool_for(lab, bus)
    try:
        result = await pool.run(master, "echo out; echo err >&2; printf 'a\\nb\\n'; exit 3", source="salt")
        assert (result.exit_status, result.stdout, result.stderr) == (3, "out\na\nb\n", "err\n")
        assert result.node == "k-master" and not result.ok and result.seconds > 0
        lines = [e for e in sub.get_nowait() if isinstance(e, LogLine)]
        assert {(e.source, e.node, e.stream, e.text) for e in lines} == {
            ("salt", "k-master", "stdout", "out"), ("salt", "k-master", "stdout", "a"),
            ("salt", "k-master", "stdout", "b"), ("salt", "k-master", "stderr", "err"),
        }
        echoed = await pool.run(master, "cat", input=b"\x00binary\xff")
        assert echoed.stdout == "\x00binary\ufffd"
        assert (await pool.run(master, "cat | wc -c", input="x" * 100_000)).stdout.strip() == "100000"
        first = await pool.connect(master)
        assert await pool.connect(master) is first  # one connection per node, reused
        with pytest.raises(NodeError, match=r"k-master.*exited 7"):
            await pool.run(master, "echo boom >&2; exit 7", check=True)
        with pytest.raises(NodeError, match="timed out"):
            await pool.run(master, "sleep 5", timeout=0.3)
        first.close()
        await first.wait_closed()
        assert (await pool.run(master, "echo again")).stdout == "again\n"  # reconnects
        assert await pool.connect(master) is not first
        # the key came from the console and is pinned by instance id
        assert lab.state.host_keys()[master.id]["name"] == "k-master"
        enc = (await pool.connect(master)).get_extra_info("send_cipher")
        assert enc == "aes128-gcm@openssh.com"
    finally:
        await pool.close()


async def test_connect_all_in_parallel_and_jump_through_master(lab: Lab) -> None:
    master = lab.node("k-master", "master", 2, floating=102)
    minions = [lab.node(f"k-minion-{i}", "minion", 3 + i) for i in range(4)]  # fixed IPs only
    await lab.serve(master)
    for m in minions:
        await lab.serve(m)
    dead = lab.node("k-minion-9", "minion", 90, floating=190)  # nothing listens there
    lab.consoles[dead.id] = lab.servers[0].console("k-minion-9")
    pool = pool_for(lab)
    try:
        start = time.monotonic()
        conns = await pool.connect_all([master, *minions, dead])
        assert time.monotonic() - start < 4
        assert all(isinstance(conns[n.name], asyncssh.SSHClientConnection) for n in [master, *minions])
        assert isinstance(conns["k-minion-9"], SSHConnectError)
        assert "k-minion-9" in str(conns["k-minion-9"])
        results = await asyncio.gather(*(pool.run(m, "echo $0") for m in minions))
        assert all(r.ok for r in results)
        # every minion was reached through the master (a direct-tcpip channel on it)
        assert sorted(lab.servers[0].forwarded) == sorted(m.fixed_ip for m in minions)
        assert lab.servers[0].logins == 1  # the master's connection was opened once and shared
    finally:
        await pool.close()


async def test_new_instance_on_reused_ip_is_trusted_but_a_swapped_key_is_refused(lab: Lab) -> None:
    old = lab.node("k-minion-1", "minion", 3, floating=103)
    server = await lab.serve(old)
    bus = Bus()
    sub = bus.subscribe()
    pool = pool_for(lab, bus)
    try:
        assert (await pool.run(old, "echo old")).ok
        await pool.close()
        await server.stop()
        # recreated: a new instance id on the same fixed and floating IP, a new host key
        new = type(old)(old.name, "new-" + old.id, "minion", old.fixed_ip, old.floating_ip)
        await lab.serve(new)
        assert (await pool.run(new, "echo new")).stdout == "new\n"
        assert set(lab.state.host_keys()) == {old.id, new.id}
        await pool.close()
        # the old instance id answering with the new machine's key: refused
        with pytest.raises(HostKeyMismatch, match=r"k-minion-1.*refusing"):
            await pool.connect(old)
        assert pool.mismatches["k-minion-1"].instance_id == old.id
        assert any(isinstance(e, Notice) and e.severity == "error" for e in sub.get_nowait())
    finally:
        await pool.close()


async def test_rebuild_with_a_new_console_key_is_accepted(lab: Lab) -> None:
    node = lab.node("k-master", "master", 2, floating=102)
    server = await lab.serve(node)
    pool = pool_for(lab)
    try:
        assert (await pool.run(node, "true")).ok
        await pool.close()
        await server.stop()
        await lab.serve(node)  # same instance id, new key, its console shows the new block
        assert (await pool.run(node, "echo rebuilt")).stdout == "rebuilt\n"
    finally:
        await pool.close()


async def test_console_without_keys_is_not_trusted(tmp_path: Path) -> None:
    lab = make_lab(tmp_path, connect_timeout=0.5)
    node = lab.node("k-master", "master", 2, floating=102)
    await lab.serve(node, publish_console=False)
    pool = pool_for(lab)
    try:
        with pytest.raises(SSHConnectError, match="shows no SSH host keys"):
            await pool.connect(node)
    finally:
        await pool.close()
        await lab.close()


async def test_open_shell_requests_a_pty(lab: Lab) -> None:
    node = lab.node("k-master", "master", 2, floating=102)
    server = await lab.serve(node)
    pool = pool_for(lab)
    try:
        shell = await pool.open_shell(node, size=(120, 40))
        shell.stdin.write(b"echo from-shell\nexit\n")
        out = await asyncio.wait_for(shell.stdout.read(), 5)
        assert b"from-shell" in out
        assert server.ptys == [("xterm-256color", (120, 40, 0, 0))]
        shell.close()
    finally:
        await pool.close()


async def test_system_ssh_uses_pinned_keys_and_the_jump_host(lab: Lab) -> None:
    master = lab.node("k-master", "master", 2, floating=102)
    minion = lab.node("k-minion-1", "minion", 3)
    await lab.serve(master)
    await lab.serve(minion)
    pool = pool_for(lab)
    try:
        with pytest.raises(SSHConnectError, match="no master to jump through"):
            pool.system_ssh_argv(minion)
        pool.remember([master, minion])
        with pytest.raises(SSHConnectError, match="no pinned host key"):
            pool.system_ssh_argv(minion)
        await pool.connect_all([master, minion])
        argv = pool.system_ssh_argv(minion)
        assert "-J" in argv
        done = await asyncio.to_thread(
            subprocess.run, [*argv, "-o", "BatchMode=yes", "echo", "via-system-ssh"],
            capture_output=True, text=True, timeout=20,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout == "via-system-ssh\n"
        # a key the instance never printed makes the system ssh refuse too
        pinned = lab.state.host_keys()
        other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
        lab.state.pin_host_keys(master.id, "k-master", [other])
        argv = pool.system_ssh_argv(master)
        refused = await asyncio.to_thread(
            subprocess.run, [*argv, "-o", "BatchMode=yes", "true"],
            capture_output=True, text=True, timeout=20,
        )
        assert refused.returncode == 255 and "REMOTE HOST IDENTIFICATION HAS CHANGED" in refused.stderr
        assert pinned[master.id]["keys"] != [other]
    finally:
        await pool.close()


async def test_jump_proxy_exits_when_the_destination_hangs_up_first(lab: Lab) -> None:
    """The ``ssh -W`` child that ``-J`` starts must end once both directions have ended, also
    when the destination closes before the client's EOF reaches the master (what a minion's
    sshd does on the client's disconnect): else it outlives the ``ssh`` that started it."""
    master = lab.node("k-master", "master", 2, floating=102)
    await lab.serve(master)

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"bye\n")
        writer.close()

    dest = await asyncio.start_server(hang_up, master.fixed_ip, 0)
    dest_port = dest.sockets[0].getsockname()[1]
    pool = pool_for(lab)
    proxy: asyncio.subprocess.Process | None = None
    try:
        await pool.connect(master)  # pins its key
        argv = pool.system_ssh_argv(master)
        argv[-1:-1] = ["-o", "BatchMode=yes", "-W", f"{master.fixed_ip}:{dest_port}"]
        proxy = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert proxy.stdin and proxy.stdout and proxy.stderr
        # stdout's EOF: the master relayed the destination's EOF before ours was sent
        assert await asyncio.wait_for(proxy.stdout.read(), 20) == b"bye\n"
        proxy.stdin.close()
        status = await asyncio.wait_for(proxy.wait(), 10)  # the deadline for the channel close
        assert status == 0, await proxy.stderr.read()
    finally:
        if proxy is not None and proxy.returncode is None:
            proxy.kill()
            await proxy.wait()
        dest.close()
        await dest.wait_closed()
        await pool.close()
