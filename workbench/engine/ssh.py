"""A pool of asyncssh connections, one per node, opened in parallel and reused.

Host keys come from the instance's console (``hostkeys``), pinned per instance id, never
``known_hosts=None``. Nodes without a floating IP are reached through the master.
``~/.ssh/config`` and the agent are honoured unless the profile says otherwise; a profile
``private_key`` means that key only. aes128-gcm is offered first (twice chacha20's
throughput in asyncssh); GSSAPI is off (a classic source of slow logins).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import asyncssh

from workbench.engine.hostkeys import HostKeyTrust, Trusted, key_body, sha256_fingerprint
from workbench.errors import HostKeyMismatch, NodeError, SSHConnectError, WorkbenchError
from workbench.events import Bus, LogLine, Notice, Stream
from workbench.profile import Profile
from workbench.redact import redact
from workbench.state import StateDir, atomic_write

FIRST_CIPHER = "aes128-gcm@openssh.com"
KEEPALIVE_S = 15.0
SYSTEM_CIPHERS = (
    "aes128-gcm@openssh.com,chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,"
    "aes128-ctr,aes192-ctr,aes256-ctr"
)


class NodeLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def id(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def fixed_ip(self) -> str | None: ...
    @property
    def floating_ip(self) -> str | None: ...


@dataclass(frozen=True)
class RunResult:
    node: str
    exit_status: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.exit_status == 0


@dataclass(frozen=True)
class HostKeyProblem:
    """A refused host key: what the node presented and what its instance vouches for."""

    node: str
    instance_id: str
    address: str
    presented: str  # SHA256 fingerprint
    expected: tuple[str, ...]


@dataclass(frozen=True)
class ConnectTiming:
    """Where a fresh connection spends its time (seconds)."""

    node: str
    tcp_s: float
    kex_s: float
    auth_s: float
    total_s: float


def encryption_algs() -> list[str]:
    others = [a.decode() for a in asyncssh.encryption.get_default_encryption_algs()]
    return [FIRST_CIPHER, *(a for a in others if a != FIRST_CIPHER)]


class _Client(asyncssh.SSHClient):
    """Records the presented host key and when key exchange and auth end."""

    def __init__(self, trusted: Trusted) -> None:
        self.trusted = trusted
        self.presented: str | None = None
        self.kex_done: float | None = None
        self.auth_done: float | None = None

    def validate_host_public_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        self.presented = key.export_public_key().decode().strip()
        return bool(self.trusted.fingerprints) and self.trusted.accepts(self.presented)

    def begin_auth(self, username: str) -> bool:
        self.kex_done = time.monotonic()
        return True

    def auth_completed(self) -> None:
        self.auth_done = time.monotonic()


@dataclass
class _Entry:
    conn: asyncssh.SSHClientConnection
    instance_id: str
    address: str
    jumped: bool


class SSHPool:
    def __init__(
        self,
        profile: Profile,
        state: StateDir,
        *,
        console: Callable[[str], Awaitable[str]] | None = None,
        bus: Bus | None = None,
    ) -> None:
        self.profile = profile
        self.state = state
        self.bus = bus
        self.trust = HostKeyTrust(state, console, wait=profile.ssh.connect_timeout)
        self.mismatches: dict[str, HostKeyProblem] = {}
        self.nodes: dict[str, NodeLike] = {}
        self._entries: dict[str, _Entry] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    # -- connections -------------------------------------------------------------------
    def remember(self, nodes: Iterable[NodeLike]) -> None:
        """Know these nodes (the master is the jump host for nodes without a floating IP)."""
        for node in nodes:
            self.nodes[node.name] = node

    def master(self) -> NodeLike | None:
        return next((n for n in self.nodes.values() if n.role == "master"), None)

    def address(self, node: NodeLike) -> str:
        addr = node.floating_ip or node.fixed_ip
        if not addr:
            raise SSHConnectError(node.name, "has no IP address yet")
        return addr

    def jump_host(self, node: NodeLike) -> NodeLike | None:
        if node.floating_ip or node.role == "master":
            return None
        master = self.master()
        if master is None or master.name == node.name:
            raise SSHConnectError(node.name, "has no floating IP and no master to jump through")
        return master

    async def connect(self, node: NodeLike) -> asyncssh.SSHClientConnection:
        self.nodes.setdefault(node.name, node)
        lock = self._locks.setdefault(node.name, asyncio.Lock())
        async with lock:
            entry = self._entries.get(node.name)
            if entry and not entry.conn.is_closed():
                if entry.instance_id == node.id and entry.address == self.address(node):
                    return entry.conn
                entry.conn.close()
            self._entries.pop(node.name, None)
            conn, _ = await self._open(node)
            self._entries[node.name] = _Entry(
                conn, node.id, self.address(node), self.jump_host(node) is not None
            )
            self.mismatches.pop(node.name, None)
            return conn

    async def connect_all(
        self, nodes: Iterable[NodeLike]
    ) -> dict[str, asyncssh.SSHClientConnection | Exception]:
        nodes = list(nodes)
        self.remember(nodes)
        results = await asyncio.gather(*(self.connect(n) for n in nodes), return_exceptions=True)
        out: dict[str, asyncssh.SSHClientConnection | Exception] = {}
        for node, result in zip(nodes, results, strict=True):
            if isinstance(result, BaseException) and not isinstance(result, Exception):
                raise result
            out[node.name] = result
        return out

    async def _open(self, node: NodeLike, *, retry: bool = True) -> tuple[asyncssh.SSHClientConnection, _Client]:
        addr = self.address(node)
        jump = self.jump_host(node)
        tunnel = await self.connect(jump) if jump is not None else None
        try:
            trusted = await self.trust.trusted(node.id, node.name)
        except WorkbenchError as exc:
            raise SSHConnectError(node.name, f"cannot read its console for host keys: {exc}") from None
        if trusted.source == "none" and self.trust.console is not None:
            raise SSHConnectError(
                node.name, f"the console of instance {node.id} shows no SSH host keys yet"
            )
        client = _Client(trusted)
        timeout = self.profile.ssh.connect_timeout
        try:
            async with asyncio.timeout(timeout + 1):
                conn = await asyncssh.connect(
                    addr, client_factory=lambda: client, tunnel=tunnel,
                    **self._options(trusted, timeout),
                )
        except asyncssh.HostKeyNotVerifiable:
            presented = client.presented
            if retry and presented and await self.trust.reconfirm(node.id, node.name, presented):
                self._say(node.name, "host key changed; the instance's console confirms it")
                return await self._open(node, retry=False)
            raise self._mismatch(node, addr, trusted, presented) from None
        except asyncssh.PermissionDenied:
            raise SSHConnectError(
                node.name, f"{self.profile.ssh.user}@{addr}: authentication refused"
            ) from None
        except TimeoutError:
            raise SSHConnectError(node.name, f"{addr}:{self.profile.ssh.port}: no login within {timeout:g}s") from None
        except OSError as exc:
            raise SSHConnectError(node.name, f"{addr}:{self.profile.ssh.port}: {exc.strerror or exc}") from None
        except asyncssh.Error as exc:
            raise SSHConnectError(node.name, f"{addr}: {exc.reason}") from None
        if trusted.source != "pinned" and not trusted.keys and client.presented:
            self.trust.pin_presented(node.id, node.name, client.presented)
        return conn, client

    def _options(self, trusted: Trusted, timeout: float) -> dict[str, Any]:
        ssh = self.profile.ssh
        opts: dict[str, Any] = {
            "port": ssh.port,
            "username": ssh.user,
            "encryption_algs": encryption_algs(),
            "gss_auth": False,
            "keepalive_interval": KEEPALIVE_S,
            "keepalive_count_max": 3,
            "connect_timeout": timeout,
            "login_timeout": timeout,
        }
        if trusted.source != "none":
            opts["known_hosts"] = (trusted.ssh_keys(), [], [])
        if not ssh.use_ssh_config:
            opts["config"] = []
        if ssh.private_key is not None:
            opts["client_keys"] = [str(ssh.private_key)]
            opts["agent_path"] = None
        elif not ssh.use_agent:
            opts["agent_path"] = None
        return opts

    def _mismatch(self, node: NodeLike, addr: str, trusted: Trusted, presented: str | None) -> HostKeyMismatch:
        seen = sha256_fingerprint(presented) if presented else "(unknown)"
        expected = tuple(sha256_fingerprint(k) for k in trusted.keys) or trusted.fingerprints
        self.mismatches[node.name] = HostKeyProblem(node.name, node.id, addr, seen, expected)
        message = (
            f"host key at {addr} is {seen}, but instance {node.id} vouches for "
            f"{', '.join(expected) or 'nothing'}; refusing to connect"
        )
        if self.bus is not None:
            self.bus.publish(Notice(f"{node.name}: {message}", "error"))
        return HostKeyMismatch(node.name, message)

    async def probe(self, node: NodeLike) -> ConnectTiming:
        """A fresh, timed connection (TCP, key exchange, auth); closed afterwards."""
        addr, port = self.address(node), self.profile.ssh.port
        jump = self.jump_host(node)
        start = time.monotonic()
        try:
            if jump is not None:
                _, writer = await (await self.connect(jump)).open_connection(addr, port)
            else:
                _, writer = await asyncio.wait_for(
                    asyncio.open_connection(addr, port), self.profile.ssh.connect_timeout
                )
        except (OSError, TimeoutError, asyncssh.Error) as exc:
            raise SSHConnectError(node.name, f"{addr}:{port}: TCP connect failed ({exc})") from None
        tcp = time.monotonic() - start
        writer.close()
        begin = time.monotonic()
        conn, client = await self._open(node)
        end = time.monotonic()
        conn.close()
        kex_done = client.kex_done or end
        auth_done = client.auth_done or end
        return ConnectTiming(node.name, tcp, kex_done - begin, auth_done - kex_done, tcp + end - begin)

    # -- commands ----------------------------------------------------------------------
    async def run(
        self,
        node: NodeLike,
        command: str,
        *,
        input: bytes | str | None = None,
        timeout: float | None = None,
        source: str | None = None,
        check: bool = False,
        streams: tuple[Stream, ...] = ("stdout", "stderr"),
    ) -> RunResult:
        """Run ``command``; with ``source`` every output line of ``streams`` is a ``LogLine``
        on the bus (a caller that renders stdout itself, like Salt's JSON, streams stderr only)."""
        start = time.monotonic()
        for attempt in (1, 2):
            conn = await self.connect(node)
            try:
                proc = await conn.create_process(command, encoding=None)
                break
            except (asyncssh.ChannelOpenError, asyncssh.ConnectionLost, asyncssh.DisconnectError) as exc:
                self._entries.pop(node.name, None)
                if attempt == 2:
                    raise SSHConnectError(node.name, f"connection lost: {exc.reason}") from None
        try:
            async with asyncio.timeout(timeout):
                if input is not None:
                    proc.stdin.write(input.encode() if isinstance(input, str) else input)
                proc.stdin.write_eof()
                out, err = await asyncio.gather(
                    self._collect(proc.stdout, node.name, source if "stdout" in streams else None, "stdout"),
                    self._collect(proc.stderr, node.name, source if "stderr" in streams else None, "stderr"),
                )
                completed = await proc.wait()
        except TimeoutError:
            proc.close()
            raise NodeError(node.name, f"command timed out after {timeout:g}s: {redact(command)[:80]}") from None
        except (asyncssh.ConnectionLost, asyncssh.DisconnectError) as exc:
            self._entries.pop(node.name, None)
            raise SSHConnectError(node.name, f"connection lost: {exc.reason}") from None
        status = completed.exit_status if completed.exit_status is not None else -1
        result = RunResult(node.name, status, out, err, time.monotonic() - start)
        if check and not result.ok:
            tail = (err.strip().splitlines() or out.strip().splitlines() or [""])[-1]
            raise NodeError(node.name, redact(f"`{command[:80]}` exited {status}: {tail}"))
        return result

    async def _collect(
        self, reader: asyncssh.SSHReader[bytes], node: str, source: str | None, stream: Stream
    ) -> str:
        if source is None or self.bus is None:
            return (await reader.read()).decode("utf-8", "replace")
        chunks: list[str] = []
        async for raw in reader:
            if not raw:
                continue
            line = raw.decode("utf-8", "replace")
            chunks.append(line)
            self.bus.publish(LogLine(source, node, line.rstrip("\r\n"), stream))
        return "".join(chunks)

    async def open_shell(
        self, node: NodeLike, *, term_type: str = "xterm-256color", size: tuple[int, int] = (80, 24)
    ) -> asyncssh.SSHClientProcess[bytes]:
        """An interactive PTY session (bytes in, bytes out); ``size`` is (cols, rows)."""
        conn = await self.connect(node)
        return await conn.create_process(term_type=term_type, term_size=size, encoding=None)

    # -- the system ssh --------------------------------------------------------------------
    def system_ssh_argv(self, node: NodeLike) -> list[str]:
        """argv for the system ``ssh``: pinned keys, the right user, port, key and jump host.

        The keys must be pinned (connect once, or ``await pool.trust.trusted(...)``).
        """
        self.nodes[node.name] = node
        jump = self.jump_host(node)
        for host in [node] if jump is None else [jump, node]:
            if not self.trust.pinned(host.id):
                raise SSHConnectError(host.name, "no pinned host key yet; connect once first")
        # Every known node goes in: a running ssh's jump child re-reads this file later.
        hosts = [n for n in self.nodes.values() if self.trust.pinned(n.id) and _has_ip(n)]
        config = self._write_system_config(hosts)
        argv = ["ssh", "-F", str(config)]
        if jump is not None:
            argv += ["-J", _alias(jump)]
        return [*argv, _alias(node)]

    def _write_system_config(self, hosts: list[NodeLike]) -> Path:
        ssh = self.profile.ssh
        folder = self.state.root / "ssh"
        known_hosts = folder / "known_hosts"
        lines = [
            f"{h.id} {key_body(k)}" for h in hosts for k in self.trust.pinned(h.id)
        ]
        atomic_write(known_hosts, "\n".join(lines) + "\n", mode=0o600)
        blocks = ["# written by workbench: host keys pinned per instance id"]
        for h in hosts:
            blocks += [
                f"Host {_alias(h)}",
                f"  HostName {self.address(h)}",
                f"  Port {ssh.port}",
                f"  User {ssh.user}",
                f"  HostKeyAlias {h.id}",
                f"  UserKnownHostsFile {known_hosts}",
                "  StrictHostKeyChecking yes",
                "  CheckHostIP no",
            ]
            if ssh.private_key is not None:
                blocks += [f"  IdentityFile {ssh.private_key}", "  IdentitiesOnly yes"]
            if ssh.private_key is not None or not ssh.use_agent:
                blocks.append("  IdentityAgent none")
        if ssh.use_ssh_config:
            blocks += ["Host *", "  Include ~/.ssh/config"]
        blocks += ["Host *", "  GSSAPIAuthentication no", f"  Ciphers {SYSTEM_CIPHERS}"]
        config = folder / "config"
        atomic_write(config, "\n".join(blocks) + "\n", mode=0o600)
        return config

    def _say(self, node: str, text: str) -> None:
        if self.bus is not None:
            self.bus.publish(LogLine("ssh", node, text, "info"))

    async def close(self) -> None:
        entries = list(self._entries.values())
        self._entries.clear()
        # Jumped connections first: their tunnels run over the master's connection.
        for entry in sorted(entries, key=lambda e: not e.jumped):
            entry.conn.close()
        for entry in entries:
            await entry.conn.wait_closed()


def _has_ip(node: NodeLike) -> bool:
    return bool(node.floating_ip or node.fixed_ip)


def _alias(node: NodeLike) -> str:
    return f"wb-{node.name}"
