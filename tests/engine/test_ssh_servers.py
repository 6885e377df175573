"""Real asyncssh servers on loopback that run commands with /bin/sh, for the pool's tests.

Each server has its own host key and prints it the way cloud-init does, so the pool
learns it from a "console". No tests here: helpers only.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh

from workbench.profile import Profile, SSHSection
from workbench.sandbox.nodes.forward import open_tunnel
from workbench.state import StateDir


@dataclass(frozen=True)
class Node:
    name: str
    id: str
    role: str
    fixed_ip: str | None
    floating_ip: str | None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def loopback_net() -> str:
    """A random 127.x.y. prefix so parallel tests never share addresses."""
    return f"127.{random.randint(100, 250)}.{random.randint(1, 250)}."


def console_text(host_key: asyncssh.SSHKey, name: str) -> str:
    pub = host_key.export_public_key().decode().strip()
    fp = host_key.get_fingerprint()
    return (
        f"[    9.70] cloud-init[812]: Cloud-init v. 23.4.4 running 'init'\n"
        "<14>Feb 12 10:01:10 cloud-init: -----BEGIN SSH HOST KEY FINGERPRINTS-----\n"
        f"<14>Feb 12 10:01:10 cloud-init: 256 {fp} root@{name} (ED25519)\n"
        "<14>Feb 12 10:01:10 cloud-init: -----END SSH HOST KEY FINGERPRINTS-----\n"
        "-----BEGIN SSH HOST KEY KEYS-----\n"
        f"{pub} root@{name}\n"
        "-----END SSH HOST KEY KEYS-----\n"
        f"{name} login: "
    )


@dataclass
class NodeServer:
    """One listening asyncssh server; records the PTY requests it sees."""

    addresses: tuple[str, ...]
    port: int
    host_key: asyncssh.SSHKey
    authorized: asyncssh.SSHAuthorizedKeys
    auth_delay: float = 0.0
    acceptors: list[Any] = field(default_factory=list)
    ptys: list[tuple[str | None, tuple[int, int, int, int]]] = field(default_factory=list)
    logins: int = 0
    children: set[asyncio.subprocess.Process] = field(default_factory=set)  # killed by stop()
    forwarded: list[str] = field(default_factory=list)  # direct-tcpip destinations (jumps)

    async def start(self) -> NodeServer:
        for addr in self.addresses:
            self.acceptors.append(
                await asyncssh.create_server(
                    lambda: _Server(self), addr, self.port,
                    server_host_keys=[self.host_key],
                    authorized_client_keys=self.authorized,
                    process_factory=self._process, encoding=None,
                )
            )
        return self

    async def _process(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        if process.get_terminal_type() is not None:
            self.ptys.append((process.get_terminal_type(), process.get_terminal_size()))
        command = process.command or "/bin/sh"
        proc = await asyncio.create_subprocess_shell(
            command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, start_new_session=True,
        )
        assert proc.stdin and proc.stdout and proc.stderr
        self.children.add(proc)

        async def feed() -> None:
            assert proc.stdin
            try:
                while data := await process.stdin.read(65536):
                    proc.stdin.write(data)
                    await proc.stdin.drain()
            except (asyncssh.Error, BrokenPipeError, ConnectionResetError):
                pass
            proc.stdin.close()

        async def copy(src: asyncio.StreamReader, dst: Any) -> None:
            while data := await src.read(65536):
                dst.write(data)

        feeder = asyncio.ensure_future(feed())
        await asyncio.gather(copy(proc.stdout, process.stdout), copy(proc.stderr, process.stderr))
        status = await proc.wait()
        self.children.discard(proc)
        feeder.cancel()
        process.exit(status)
        await process.wait_closed()

    def console(self, name: str) -> str:
        return console_text(self.host_key, name)

    async def stop(self) -> None:
        for acceptor in self.acceptors:
            acceptor.close()
            await acceptor.wait_closed()
        self.acceptors.clear()
        for proc in list(self.children):  # a command the client gave up on (a timeout) ends here
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # the shell and what it started
            await proc.wait()
        self.children.clear()


class _Server(asyncssh.SSHServer):
    def __init__(self, owner: NodeServer) -> None:
        self.owner = owner

    def connection_requested(
        self, dest_host: str, dest_port: int, orig_host: str, orig_port: int
    ) -> Awaitable[asyncssh.SSHTCPSession[bytes]] | bool:
        self.owner.forwarded.append(dest_host)
        # the sandbox's forwarder: asyncssh's own never closes a tunnel whose destination hung up first
        return open_tunnel(dest_host, dest_port) if dest_host.startswith("127.") else False

    def begin_auth(self, username: str) -> bool:
        self.owner.logins += 1
        return True

    async def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:  # type: ignore[override]
        if self.owner.auth_delay:
            await asyncio.sleep(self.owner.auth_delay)  # the fault under test: a stalling sshd
        return self.owner.authorized.validate(key, "", "") is not None


@dataclass
class Lab:
    """Client key, profile and state dir shared by a test's servers."""

    tmp: Path
    port: int
    net: str
    client_key: asyncssh.SSHKey
    profile: Profile
    state: StateDir
    consoles: dict[str, str] = field(default_factory=dict)
    servers: list[NodeServer] = field(default_factory=list)

    async def console(self, server_id: str) -> str:
        return self.consoles.get(server_id, "")

    async def serve(self, node: Node, *, host_key: asyncssh.SSHKey | None = None,
                    auth_delay: float = 0.0, publish_console: bool = True) -> NodeServer:
        key = host_key or asyncssh.generate_private_key("ssh-ed25519")
        addrs = tuple(a for a in (node.fixed_ip, node.floating_ip) if a)
        authorized = asyncssh.import_authorized_keys(
            self.client_key.export_public_key().decode()
        )
        server = await NodeServer(addrs, self.port, key, authorized, auth_delay).start()
        self.servers.append(server)
        if publish_console:
            self.consoles[node.id] = server.console(node.name)
        return server

    def node(self, name: str, role: str, host: int, *, floating: int | None = None) -> Node:
        return Node(
            name, str(uuid.uuid4()), role, f"{self.net}{host}",
            f"{self.net}{floating}" if floating is not None else None,
        )

    async def close(self) -> None:
        for server in self.servers:
            await server.stop()


def make_lab(tmp: Path, **ssh: Any) -> Lab:
    key = asyncssh.generate_private_key("ssh-ed25519")
    key_path = tmp / "id_ed25519"
    key.write_private_key(key_path)
    key_path.chmod(0o600)
    port = free_port()
    section = SSHSection(
        user="fedora", private_key=key_path, port=port, connect_timeout=5.0,
        use_ssh_config=False, use_agent=False,
    )
    for name, value in ssh.items():
        section = type(section)(**{**section.__dict__, name: value})
    state = StateDir(tmp / "state").ensure()
    return Lab(tmp, port, loopback_net(), key, Profile(ssh=section), state)
