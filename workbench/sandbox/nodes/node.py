"""One sandbox node: its machine (namespaces + init), host key, sshd listeners, floating-IP relay."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from pathlib import Path
from typing import Any

import asyncssh

from ..hooks import Role, ServerInfo
from .console import boot_log, load_or_create_host_key
from .machine import Layout, Machine
from .nat import Relay
from .server import listen

log = logging.getLogger(__name__)


class Node:
    def __init__(self, info: ServerInfo, node_dir: Path, port: int, manager: Any) -> None:
        self.info = info
        self.node_dir = node_dir
        self.root = node_dir / "root"  # the node's writable layer: its own files, at their paths
        self.port = port
        self.manager = manager
        self.machine: Machine | None = None
        self.connections: set[asyncssh.SSHServerConnection] = set()
        self.listeners: dict[str, asyncssh.SSHAcceptor] = {}
        self.nat = Relay(info.name)
        self.units: dict[str, bool] = {}
        self.starts: dict[str, int] = {}
        self.sshd_usedns = True  # what the running sshd read from its sshd_config
        self.host_key: asyncssh.SSHKey | None = None
        self._events: asyncio.Queue[tuple[str, bool, int]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._listen_lock = asyncio.Lock()
        self._keys: set[bytes] = set()
        self.powered = False  # between power_on and power_off: only then may it listen

    @property
    def server_id(self) -> str:
        return self.info.id

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def role(self) -> Role:
        return self.info.role

    @property
    def addresses(self) -> tuple[str, ...]:
        return self.info.addresses

    def journal(self, unit: str, line: str) -> None:
        """A line in the unit's journal, as the unit's own process would log it."""
        pid = 1000 + zlib.crc32(f"{self.server_id}/{unit}".encode()) % 30000
        self.send({"op": "journal", "unit": unit, "line": line, "pid": pid})

    def send(self, msg: dict[str, Any]) -> None:
        if self.machine is not None and self.machine.alive:
            with contextlib.suppress(ConnectionError, OSError):
                self.machine.send(msg)

    # life
    def authorized_keys(self) -> set[bytes]:
        return self._keys

    def ssh_stall(self) -> float:
        return float(self.manager.ssh_stall(self))

    def layout(self) -> Layout:
        return Layout(self.node_dir, self.manager.image, self.manager.salt,
                      self.manager.salt_installed(self.info))

    async def power_on(self, spec: dict[str, Any]) -> None:
        """Boot: disk (kept if present), host key, the machine, console, listeners."""
        self.powered = True
        layout = self.layout()
        if not self.root.exists():
            layout.create_disk()
        self.host_key = load_or_create_host_key(self.node_dir / "ssh_host_ed25519_key")
        self._keys = set()
        for text in self.info.public_keys:
            try:
                self._keys.add(asyncssh.import_public_key(text).public_data)
            except (asyncssh.KeyImportError, ValueError):
                log.warning("node %s: ignoring an unreadable public key", self.name)
        if self._worker is None:
            self._worker = asyncio.ensure_future(self._work())
        self.machine = Machine(layout, self._on_message)
        console = await self.machine.boot(spec)
        with open(self.node_dir / "console.log", "a", encoding="utf-8") as handle:
            handle.write(boot_log(self.name, self.info.fixed_ips, self.host_key) + console)
        await self.settle()
        await self.sync_listeners()

    async def power_off(self) -> None:
        """Stop listening, drop connections, end the machine (every process); units go down.

        Off from the first step: a session ending while the machine stops must not open the
        listeners again, or a server deleted now would keep answering on its addresses with
        its old host key after a new one took them."""
        self.powered = False
        await self.stop_listeners()
        for conn in list(self.connections):
            conn.abort()
        self.connections.clear()
        if self.machine is not None:
            await self.machine.poweroff()
        for unit, on in list(self.units.items()):
            if on:
                self._events.put_nowait((unit, False, 0))
        await self.settle()
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        self.starts.clear()

    # the init's reports
    def _on_message(self, msg: dict[str, Any]) -> None:
        op = msg.get("op")
        if op == "unit":
            if msg["unit"] == "sshd" and "usedns" in msg:
                self.sshd_usedns = bool(msg["usedns"])
            self._events.put_nowait((str(msg["unit"]), bool(msg["active"]), int(msg["starts"])))

    async def settle(self) -> None:
        """Wait until every unit change reported so far reached the sandbox (sshd's listeners)."""
        if self._worker is not None and not self._worker.done():
            await self._events.join()

    async def _work(self) -> None:
        while True:
            unit, active, starts = await self._events.get()
            try:
                await self._apply(unit, active, starts)
            except Exception:
                log.exception("node %s: unit %s change failed", self.name, unit)
            finally:
                self._events.task_done()

    async def _apply(self, unit: str, active: bool, starts: int) -> None:
        """Keep the unit's state; sshd's decides whether the node listens for SSH."""
        self.units[unit] = active
        self.starts[unit] = starts
        if unit == "sshd" and self.powered:
            await self.sync_listeners()

    async def reconcile(self) -> None:
        """After a session: the unit changes it made have reached the sandbox."""
        await self.settle()

    # listeners
    async def sync_listeners(self) -> None:
        async with self._listen_lock:
            await self._sync_listeners()

    async def _sync_listeners(self) -> None:
        fixed = self.info.fixed_ips[0] if self.info.fixed_ips and self.powered else ""
        await self.nat.sync(fixed, self.info.floating_ips)
        if not self.powered or not self.units.get("sshd", False) or self.host_key is None:
            return await self._stop_listeners()
        wanted = set(self.info.addresses)
        for address in set(self.listeners) - wanted:
            await self._close(self.listeners.pop(address))
        for address in sorted(wanted - set(self.listeners)):
            try:
                self.listeners[address] = await listen(self, address, self.port)
            except OSError as exc:
                log.error("node %s: cannot listen on %s:%s: %s", self.name, address, self.port, exc)
                self.journal("sshd", f"error: Bind to port {self.port} on {address} failed: {exc.strerror}.")

    async def stop_listeners(self) -> None:
        async with self._listen_lock:
            await self.nat.close()
            await self._stop_listeners()

    async def _stop_listeners(self) -> None:
        for acceptor in self.listeners.values():
            await self._close(acceptor)
        self.listeners.clear()

    @staticmethod
    async def _close(acceptor: asyncssh.SSHAcceptor) -> None:
        acceptor.close()
        with contextlib.suppress(TimeoutError, OSError):
            await asyncio.wait_for(acceptor.wait_closed(), 5)
