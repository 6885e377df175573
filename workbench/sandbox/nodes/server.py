"""The node's sshd: public-key auth with the boot keypair, slow-ssh, sessions, SFTP.

The SSH protocol is spoken here, on the sandbox's side; every session (exec, shell, the
sftp subsystem) runs inside the node, started by its init (``session``).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import ipaddress
import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING

import asyncssh
from asyncssh.constants import EXTENDED_DATA_STDERR
from asyncssh.stream import SSHReader, SSHWriter

from .forward import open_tunnel
from .session import run_exec, run_pty

if TYPE_CHECKING:
    from .node import Node

log = logging.getLogger(__name__)
SERVER_VERSION = "OpenSSH_7.1"


class NodeSSHServer(asyncssh.SSHServer):
    """One per connection. Any user name; keys from the server's keypair."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        self.node.connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.conn is not None:
            self.node.connections.discard(self.conn)

    async def begin_auth(self, username: str) -> bool:
        stall = self.node.ssh_stall()
        if stall > 0:  # sshd resolving the client's address (UseDNS yes), as on the seed's VMs
            await asyncio.sleep(stall)
        return True

    def password_auth_supported(self) -> bool:
        return False

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return key.public_data in self.node.authorized_keys()

    def connection_requested(
        self, dest_host: str, dest_port: int, orig_host: str, orig_port: int
    ) -> Awaitable[asyncssh.SSHTCPSession[bytes]] | bool:
        """Jump-host forwarding (ssh -J), to loopback addresses only; see ``forward``."""
        try:
            allowed = ipaddress.ip_address(dest_host).is_loopback
        except ValueError:
            return False
        return open_tunnel(dest_host, dest_port) if allowed else False

    def server_requested(self, listen_host: str, listen_port: int) -> bool:
        return False

    def session_requested(self) -> asyncssh.SSHServerSession[bytes]:
        node = self.node
        return NodeProcess(lambda process: handle_process(node, process), None, 0, False)


class NodeProcess(asyncssh.SSHServerProcess[bytes]):
    """A session whose sftp subsystem runs the node's own sftp-server, like OpenSSH's
    (asyncssh would serve SFTP itself, from the sandbox's side of the node)."""

    def subsystem_requested(self, subsystem: str) -> bool:
        return subsystem == "sftp" or bool(super().subsystem_requested(subsystem))

    def session_started(self) -> None:
        chan = self._chan
        stdin = SSHReader[bytes](self, chan)
        handler = self._start_process(stdin, SSHWriter[bytes](self, chan),
                                      SSHWriter[bytes](self, chan, EXTENDED_DATA_STDERR))
        if inspect.isawaitable(handler):
            assert self._conn is not None
            self._conn.create_task(handler, stdin.logger)


async def handle_process(node: Node, process: asyncssh.SSHServerProcess) -> None:
    node.manager.write_faults(node)  # faults switched at run time reach pooled connections too
    try:
        if process.get_terminal_type() and process.subsystem is None:
            await run_pty(node, process)
        else:
            await run_exec(node, process)
    except Exception:  # a broken session must never take the node down
        log.exception("session on %s failed", node.name)
        with contextlib.suppress(OSError, asyncssh.Error):
            process.exit(255)
    finally:
        await node.reconcile()


async def listen(node: Node, address: str, port: int) -> asyncssh.SSHAcceptor:
    return await asyncssh.create_server(
        lambda: NodeSSHServer(node),
        host=address,
        port=port,
        server_host_keys=[node.host_key],
        encoding=None,
        line_editor=False,
        agent_forwarding=False,
        x11_forwarding=False,
        server_version=SERVER_VERSION,
        reuse_address=True,
        login_timeout=60,
    )
