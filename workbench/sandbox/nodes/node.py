"""One sandbox node: its disk, host key, sshd listeners, units and processes.

Implements hooks.NodeView for the sandbox's Kubernetes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncssh

from ..hooks import Role, ServerInfo, ServiceHooks
from . import disk
from .console import boot_log, load_or_create_host_key
from .procs import ProcessTracker
from .server import listen

log = logging.getLogger(__name__)


class Node:
    def __init__(self, info: ServerInfo, node_dir: Path, port: int, manager: Any) -> None:
        self.info = info
        self.node_dir = node_dir
        self.root = node_dir / "root"
        self.port = port
        self.manager = manager
        self.procs = ProcessTracker(info.id)
        self.connections: set[asyncssh.SSHServerConnection] = set()
        self.listeners: dict[str, asyncssh.SSHAcceptor] = {}
        self.units: dict[str, bool] = {}
        self.starts: dict[str, int] = {}
        self.host_key: asyncssh.SSHKey | None = None
        self._lock = asyncio.Lock()
        self._listen_lock = asyncio.Lock()
        self._keys: set[bytes] = set()
        self.powered = False  # between power_on and power_off: only then may it listen

    # NodeView
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
        path = self.root / "var/log/journal" / f"{unit}.log"
        if not path.parent.is_dir():
            return
        pid = 1000 + zlib.crc32(f"{self.server_id}/{unit}".encode()) % 30000
        stamp = time.strftime("%b %d %H:%M:%S")
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(f"{stamp} {self.name} {unit}[{pid}]: {line}\n")

    # life
    def authorized_keys(self) -> set[bytes]:
        return self._keys

    def ssh_stall(self) -> float:
        return self.manager.ssh_stall(self)

    async def power_on(self, facts: dict[str, object]) -> None:
        """Boot: disk (kept if present), host key, run/ reset, units, console, listeners."""
        self.powered = True
        fresh = not self.root.exists()
        if fresh:
            disk.create(self.root)
        else:
            disk.install_commands(self.root)
        self.host_key = load_or_create_host_key(self.node_dir / "ssh_host_ed25519_key")
        self._keys = set()
        for text in self.info.public_keys:
            try:
                self._keys.add(asyncssh.import_public_key(text).public_data)
            except (asyncssh.KeyImportError, ValueError):
                log.warning("node %s: ignoring an unreadable public key", self.name)
        disk.boot_run(self.root, self.info.role)
        self.write_facts(facts)
        self.manager.write_faults(self)
        with open(self.node_dir / "console.log", "a", encoding="utf-8") as handle:
            handle.write(boot_log(self.name, self.info.fixed_ips, self.host_key))
        await self.reconcile()
        await self.sync_listeners()

    def write_facts(self, facts: dict[str, object]) -> None:
        disk.write_facts(self.root, facts, self.manager.settings())

    async def power_off(self) -> None:
        """Stop listening, drop connections, kill every process; units go down.

        Off from the first step: a session ending while the processes die reconciles the
        units it sees (sshd still active on disk), and must not open the listeners again,
        or a server deleted now would keep answering on its addresses with its old host key
        after a new one took them."""
        self.powered = False
        await self.stop_listeners()
        for conn in list(self.connections):
            conn.abort()
        self.connections.clear()
        if alive := await self.procs.kill_all():
            log.error("node %s: processes %s survived SIGKILL", self.name, alive)
        await self._notify(lambda: {unit: (False, 0) for unit, on in self.units.items() if on})
        self.starts.clear()

    async def sync_listeners(self) -> None:
        async with self._listen_lock:
            await self._sync_listeners()

    async def _sync_listeners(self) -> None:
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

    async def reconcile(self) -> None:
        """Tell the sandbox's Kubernetes which units changed since the last look."""
        if not self.powered or not self.root.exists():
            return
        await self._notify(lambda: disk.read_units(self.root))
        if "sshd" in self.units:
            await self.sync_listeners()

    async def _notify(self, look: Callable[[], dict[str, tuple[bool, int]]]) -> None:
        """Report each change; a restart (more starts, active before and after) as stop+start.

        ``look`` reads the units under the lock: a reconcile that read them earlier but got
        the lock later would otherwise apply an older state over a newer one."""
        async with self._lock:
            seen = look()
            events: list[tuple[str, bool]] = []
            for unit, (active, starts) in sorted(seen.items()):
                was = self.units.get(unit, False)
                if was and active and starts > self.starts.get(unit, starts):
                    events += [(unit, False), (unit, True)]
                elif was != active:
                    events.append((unit, active))
                self.units[unit] = active
                self.starts[unit] = starts
            services: ServiceHooks | None = self.manager.services
            for unit, active in events:
                if services is None:
                    continue
                try:
                    await services.unit_changed(self, unit, active)
                except Exception:
                    log.exception("node %s: unit_changed(%s, %s) failed", self.name, unit, active)
