"""A pool of asyncssh connections, one per node, opened in parallel and reused.

Host keys come from the instance's console (``hostkeys``), pinned per instance id, never
``known_hosts=None``. Nodes without a floating IP are reached through the master. How one
connection is opened (ciphers, GSSAPI off, ssh config and agent) is ``ssh.connect``; the
system ``ssh``'s config and known_hosts are ``ssh.config``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

import asyncssh

from workbench.engine.ssh import config as ssh_config
from workbench.engine.ssh.connect import ConnectTiming, TimedClient, connect_options
from workbench.engine.ssh.hostkeys import HostKeyProblem, HostKeyTrust, Trusted, sha256_fingerprint
from workbench.errors import HostKeyMismatch, NodeError, SSHConnectError, WorkbenchError
from workbench.events import Bus, LogLine, Notice, Stream
from workbench.profile import Profile
from workbench.redact import redact
from workbench.state import StateDir

# ConnectTiming is re-exported: callers get it with the pool that measures it.
__all__ = ["ConnectTiming", "NodeLike", "RunResult", "SSHPool"]


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

    async def _open(self, node: NodeLike, *, retry: bool = True) -> tuple[asyncssh.SSHClientConnection, TimedClient]:
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
        client = TimedClient(trusted)
        timeout = self.profile.ssh.connect_timeout
        try:
            async with asyncio.timeout(timeout + 1):
                conn = await asyncssh.connect(
                    addr, client_factory=lambda: client, tunnel=tunnel,
                    **connect_options(self.profile.ssh, trusted, timeout, self.profile.path or "profile"),
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
        writer: asyncio.StreamWriter | asyncssh.SSHWriter[bytes]
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
        """argv for the system ``ssh`` (see ``ssh_config``); the keys must be pinned."""
        return ssh_config.system_ssh_argv(self, node)

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

