"""Sandbox nodes over real SSH: OpenSSH and asyncssh clients, host keys from the console."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import asyncssh
import pytest

from workbench.sandbox.nodes.rig import Rig, host_keys_from_console


def ssh_argv(rig: Rig, server, *command: str, address: str | None = None) -> list[str]:
    return [
        "ssh", "-F", "/dev/null", "-i", str(rig.key_path), "-p", str(rig.port),
        "-o", f"UserKnownHostsFile={rig.known_hosts(server)}",
        "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes",
        "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=10",
        f"fedora@{address or server.fixed_ips[0]}", *command,
    ]


async def run_ssh(argv: list[str], stdin: bytes = b"") -> tuple[int, bytes, bytes]:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin), 30)
    assert proc.returncode is not None
    return proc.returncode, out, err


async def test_console_prints_host_key_like_cloud_init(rig: Rig) -> None:
    server = rig.server("kubernetes-master")
    await rig.manager.boot(server)
    console = rig.manager.console(server.id)
    assert "-----BEGIN SSH HOST KEY FINGERPRINTS-----" in console
    keys = host_keys_from_console(console)
    assert len(keys) == 1 and keys[0].startswith("ssh-ed25519 ")
    assert keys[0].endswith(" root@kubernetes-master")
    key = asyncssh.import_public_key(keys[0])
    assert f"256 {key.get_fingerprint('sha256')} root@kubernetes-master (ED25519)" in console
    assert not (rig.manager.root / server.id / "root" / "etc/ssh/ssh_host_ed25519_key").exists()


async def test_openssh_client_with_pinned_host_key(rig: Rig) -> None:
    server = rig.server("kubernetes-minion-1")
    await rig.manager.boot(server)
    status, out, err = await run_ssh(ssh_argv(rig, server, "hostname"))
    assert (status, out) == (0, b"kubernetes-minion-1\n"), err
    status, out, err = await run_ssh(ssh_argv(rig, server, "echo oops >&2; pwd; exit 7"))
    assert status == 7 and err.endswith(b"oops\n")
    assert out.decode().strip() == "/home/fedora"  # the image's user, at home on the node


async def test_wrong_host_key_or_client_key_is_refused(rig: Rig, tmp_path: Path) -> None:
    server = rig.server("kubernetes-master")
    await rig.manager.boot(server)
    other = rig.server("kubernetes-minion-1")
    await rig.manager.boot(other)
    argv = ssh_argv(rig, server, "true")
    argv[argv.index(f"UserKnownHostsFile={rig.known_hosts(server)}")] = (
        f"UserKnownHostsFile={rig.known_hosts(other)}"
    )
    hosts = rig.root / f"known_hosts-{other.id}"
    hosts.write_text(hosts.read_text().replace(other.fixed_ips[0], server.fixed_ips[0]))
    status, _, err = await run_ssh(argv)
    assert status == 255 and b"HOST IDENTIFICATION HAS CHANGED" in err
    stranger = asyncssh.generate_private_key("ssh-ed25519")
    with pytest.raises(asyncssh.PermissionDenied):
        await asyncssh.connect(
            server.fixed_ips[0], port=rig.port, username="fedora", client_keys=[stranger],
            known_hosts=str(rig.known_hosts(server)),
        )


async def test_asyncssh_exec_env_is_clean_and_binary_safe(rig: Rig) -> None:
    server = rig.server("kubernetes-master")
    await rig.manager.boot(server)
    async with await rig.connect(server) as conn:
        result = await conn.run(
            "env", env={"LC_ALL": "C", "EVIL": "1", "LD_PRELOAD": "/x.so"}, encoding=None
        )
        env = dict(line.split("=", 1) for line in result.stdout.decode().splitlines())
        assert env["LC_ALL"] == "C" and "EVIL" not in env and "LD_PRELOAD" not in env
        assert env["HOME"] == "/home/fedora" and env["USER"] == "fedora"
        assert env["PATH"].startswith("/usr/local/bin:/usr/bin:")
        blob = os.urandom(1 << 20) + b"\0\xff\n"
        result = await conn.run("cat", input=blob, encoding=None)
        assert result.stdout == blob and result.exit_status == 0


async def test_large_stdin_arrives_whole(rig: Rig) -> None:
    """128 MiB through an exec channel's stdin, flow-controlled, byte count intact (a speed
    floor here failed under load: speed belongs in a benchmark, not an assertion)."""
    server = rig.server("kubernetes-master")
    await rig.manager.boot(server)
    size = 128 << 20
    chunk = os.urandom(1 << 20)
    async with await rig.connect(server) as conn, conn.create_process("wc -c", encoding=None) as proc:
        for _ in range(size // len(chunk)):
            proc.stdin.write(chunk)
            await proc.stdin.drain()
        proc.stdin.write_eof()
        out = await proc.stdout.read()
    assert int(out) == size


async def test_sftp_runs_in_the_node_as_the_user(rig: Rig, tmp_path: Path) -> None:
    server = rig.server("kubernetes-minion-1")
    await rig.manager.boot(server)
    local = tmp_path / "up.bin"
    local.write_bytes(os.urandom(300_000))
    node_root = rig.manager.root / server.id / "root"
    async with await rig.connect(server) as conn, conn.start_sftp_client() as sftp:
        await sftp.put(str(local), "up.bin")  # relative: the user's home
        assert (node_root / "home/fedora/up.bin").read_bytes() == local.read_bytes()
        with pytest.raises(asyncssh.SFTPPermissionDenied):  # root's directory: sudo, not SFTP
            await sftp.put(str(local), "/srv/up.bin")
        assert "sshd_config" in await sftp.listdir("/etc/ssh")
        assert "work" not in await sftp.listdir("/")  # the node's /, not the workstation's
        await sftp.get("/etc/hostname", str(tmp_path / "hostname"))
        assert (tmp_path / "hostname").read_text() == "kubernetes-minion-1\n"


async def test_pty_shell_runs_commands_and_sees_resize(rig: Rig) -> None:
    server = rig.server("kubernetes-master")
    await rig.manager.boot(server)
    async with await rig.connect(server) as conn:
        proc = await conn.create_process(term_type="xterm", term_size=(80, 24), encoding=None)
        seen = b""

        async def expect(needle: bytes) -> None:
            nonlocal seen
            while needle not in seen:
                seen += await asyncio.wait_for(proc.stdout.read(4096), 10)

        proc.stdin.write(b"stty size; echo $TERM; echo done-$((6*7))\n")
        await expect(b"done-42")
        assert b"24 80" in seen and b"xterm" in seen
        proc.change_terminal_size(132, 50)
        proc.stdin.write(b"stty size; echo again-$((6*7))\n")
        await expect(b"again-42")
        assert b"50 132" in seen
        proc.stdin.write(b"exit 3\n")
        await asyncio.wait_for(proc.wait_closed(), 10)
        assert proc.exit_status == 3


async def test_rebuild_changes_host_key_and_wipes_disk(rig: Rig) -> None:
    server = rig.server("kubernetes-minion-1")
    await rig.manager.boot(server)
    before = host_keys_from_console(rig.manager.console(server.id))
    async with await rig.connect(server) as conn:
        await conn.run("sudo sh -c 'echo hi > /srv/marker'", check=True)
    await rig.manager.reboot(server.id, hard=False)
    assert host_keys_from_console(rig.manager.console(server.id)) == before
    async with await rig.connect(server) as conn:
        assert (await conn.run("cat /srv/marker")).stdout == "hi\n"
    await rig.manager.rebuild(server)
    after = host_keys_from_console(rig.manager.console(server.id))
    assert after != before
    async with await rig.connect(server) as conn:
        assert (await conn.run("test -e /srv/marker")).exit_status == 1
    await rig.manager.destroy(server.id)
    assert not (rig.manager.root / server.id).exists()
    with pytest.raises(OSError):
        await rig.connect(server)


async def test_floating_ip_listens_and_stops(rig: Rig) -> None:
    server = rig.server("kubernetes-master")
    await rig.manager.boot(server)
    floating = rig.server("unused").fixed_ips[0]
    with_fip = type(server)(**{**server.__dict__, "floating_ips": (floating,)})
    await rig.manager.set_addresses(with_fip)
    status, out, err = await run_ssh(ssh_argv(rig, with_fip, "hostname", address=floating))
    assert (status, out) == (0, b"kubernetes-master\n"), err
    await rig.manager.set_addresses(server)
    with pytest.raises(OSError):
        await rig.connect(with_fip, address=floating)


async def test_command_exiting_before_stdin_ends_keeps_the_connection(rig: Rig) -> None:
    server = rig.server("kubernetes-master")
    await rig.manager.boot(server)
    async with await rig.connect(server) as conn:
        result = await conn.run("head -c 10", input=os.urandom(20 << 20), encoding=None)
        assert len(result.stdout) == 10
        assert (await conn.run("echo still-here")).stdout == "still-here\n"


async def test_jump_through_master_to_minion(rig: Rig) -> None:
    master = rig.server("kubernetes-master")
    minion = rig.server("kubernetes-minion-1")
    await rig.manager.boot(master)
    await rig.manager.boot(minion)
    async with await rig.connect(master) as jump:
        async with await rig.connect(minion, tunnel=jump) as conn:
            assert (await conn.run("hostname")).stdout == "kubernetes-minion-1\n"
        with pytest.raises(asyncssh.ChannelOpenError):
            await jump.open_connection("10.0.0.1", 22)


async def test_jump_tunnel_closes_when_both_directions_ended_in_either_order(rig: Rig) -> None:
    """The master's direct-tcpip channel closes once both directions ended, also when the
    destination's EOF comes first (else ``ssh -J``'s proxy child never exits); a half-closed
    tunnel still carries the other direction."""
    master = rig.server("kubernetes-master")
    await rig.manager.boot(master)

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"bye\n")
        writer.close()

    async def answer_after_eof(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"got %d\n" % len(await reader.read()))
        writer.close()

    dests = [await asyncio.start_server(h, master.fixed_ips[0], 0) for h in (hang_up, answer_after_eof)]
    first, second = (d.sockets[0].getsockname()[1] for d in dests)
    try:
        async with await rig.connect(master) as jump:
            reader, writer = await jump.open_connection(master.fixed_ips[0], first)
            assert await asyncio.wait_for(reader.read(), 10) == b"bye\n"  # the destination's EOF, relayed
            writer.write_eof()
            await asyncio.wait_for(writer.channel.wait_closed(), 10)  # then ours: the master closes
            reader, writer = await jump.open_connection(master.fixed_ips[0], second)
            writer.write(b"x" * 1000)
            writer.write_eof()  # ours first: the answer still comes back, then the close
            assert await asyncio.wait_for(reader.read(), 10) == b"got 1000\n"
            await asyncio.wait_for(writer.channel.wait_closed(), 10)
    finally:
        for d in dests:
            d.close()
            await d.wait_closed()


async def test_openssh_pty_session(rig: Rig) -> None:
    server = rig.server("kubernetes-minion-2")
    await rig.manager.boot(server)
    argv = ssh_argv(rig, server, "tty -s && echo on-a-tty; stty size")
    argv.insert(1, "-tt")
    status, out, err = await run_ssh(argv)
    assert status == 0 and b"on-a-tty" in out, err


async def test_shell_prompts_name_the_ssh_user_and_the_node(rig: Rig) -> None:
    """A real node says ``[fedora@kubernetes-master ~]$``; the sandbox's machine (its user,
    its hostname, the host's /etc/bash.bashrc) must not show through, in bash -i or sh."""
    import socket

    server = rig.server("kubernetes-master")
    await rig.manager.boot(server)
    host_user = os.environ.get("USER") or "root"
    async with await rig.connect(server) as conn:
        assert (await conn.run("hostname; echo $HOSTNAME", check=True)).stdout == "kubernetes-master\n" * 2
        proc = await conn.create_process(term_type="xterm", term_size=(120, 24), encoding=None)
        seen = b""

        async def expect(needle: bytes) -> bytes:
            nonlocal seen
            while needle not in seen:
                seen += await asyncio.wait_for(proc.stdout.read(4096), 10)
            before, _, seen = seen.partition(needle)
            return before + needle

        assert b"[fedora@kubernetes-master ~]$ " in await expect(b"]$ ")  # the login shell
        proc.stdin.write(b"cd /srv\n")
        assert b"[fedora@kubernetes-master srv]$ " in await expect(b"]$ ")
        proc.stdin.write(b"cd; bash -i\n")  # reads the host's /etc/bash.bashrc, then ~/.bashrc
        assert b"[fedora@kubernetes-master ~]$ " in await expect(b"]$ ")
        proc.stdin.write(b"exit\n")
        await expect(b"]$ ")
        proc.stdin.write(b"sh\n")  # dash: PS1 from the environment
        assert b"[fedora@kubernetes-master ~]$ " in await expect(b"]$ ")
        proc.stdin.write(b"exit\nexit 0\n")
        await asyncio.wait_for(proc.wait_closed(), 10)
        assert f"{host_user}@{socket.gethostname()}".encode() not in seen
