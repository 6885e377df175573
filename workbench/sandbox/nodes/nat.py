"""Floating IPs as Neutron's L3 agent gives them: traffic to the floating address reaches the
fixed one (DNAT). The nodes share the workstation's network stack, so the sandbox relays TCP
from ``floating:port`` to ``fixed:port`` for the ports a cluster serves from its nodes (the
API server's 6443 first: the workbench's kubeconfig names the master's floating IP, as a
user's would on a real cloud). SSH is not relayed here: the sandbox's sshd listens on every
address of a node itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

log = logging.getLogger(__name__)
#: ports relayed from a node's floating IPs to its fixed IP: the API server, the kubelet's API
PORTS = (6443, 10250)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass


class Relay:
    """The DNAT rules of one node: ``floating:port`` -> ``fixed:port`` for every floating IP."""

    def __init__(self, node_name: str) -> None:
        self.node_name = node_name
        self.servers: dict[tuple[str, int], asyncio.Server] = {}
        self.fixed = ""
        self._conns: set[asyncio.Task[None]] = set()

    async def sync(self, fixed: str, floating: tuple[str, ...]) -> None:
        """Relay exactly the given floating IPs to ``fixed`` (an address change rebinds)."""
        if fixed != self.fixed:
            await self.close()
            self.fixed = fixed
        wanted = {(ip, port) for ip in floating for port in PORTS} if fixed else set()
        for key in set(self.servers) - wanted:
            self.servers.pop(key).close()
        for ip, port in sorted(wanted - set(self.servers)):
            try:
                self.servers[(ip, port)] = await asyncio.start_server(
                    lambda r, w, p=port: self._accept(r, w, p), ip, port, reuse_address=True)
            except OSError as exc:
                log.error("node %s: cannot relay %s:%s to %s: %s", self.node_name, ip, port, fixed, exc)

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int) -> None:
        task = asyncio.ensure_future(self._relay(reader, writer, port))
        self._conns.add(task)
        task.add_done_callback(self._conns.discard)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(self.fixed, port)
        except OSError:  # nothing listens on the fixed address: the client sees a reset, as with DNAT
            writer.transport.abort()
            return
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            for w in (writer, up_writer):
                w.close()

    async def close(self) -> None:
        for server in self.servers.values():
            server.close()
        self.servers.clear()
        for task in list(self._conns):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._conns, return_exceptions=True)
