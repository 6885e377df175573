"""Jump-host forwarding (``ssh -J``, direct-tcpip) for the nodes' sshd.

asyncssh's built-in forwarder (what ``connection_requested`` returning ``True`` gets) relays
EOF in both directions but closes the tunnel only when the TCP side sees EOF second. When the
destination closes first (an sshd answering the client's disconnect) and the client's EOF
arrives afterwards, the channel and the socket are left shut for writing in both directions
and never closed: the OpenSSH ``ssh -W`` proxy child waits for a channel close that never
comes and outlives the ``ssh`` that started it. Here a tunnel closes as soon as both
directions have ended, whichever ends last (what OpenSSH's sshd does).
"""

from __future__ import annotations

import asyncio
from typing import cast

import asyncssh
from asyncssh.forward import SSHForwarder


class TunnelForwarder(SSHForwarder):
    """One half of a tunnel (the channel's or the socket's); closes both once both saw EOF."""

    def eof_received(self) -> bool:
        peer = self._peer  # set by SSHForwarder; cleared by close()
        keep_open = super().eof_received()
        if peer is not None and peer.was_eof_received():
            self.close()  # pending output is flushed before either transport closes
            return False
        return keep_open


async def open_tunnel(dest_host: str, dest_port: int) -> asyncssh.SSHTCPSession[bytes]:
    """The session for a direct-tcpip channel to ``dest_host:dest_port``."""
    loop = asyncio.get_running_loop()
    try:
        _, sock_side = await loop.create_connection(TunnelForwarder, dest_host, dest_port)
    except OSError as exc:
        raise asyncssh.ChannelOpenError(asyncssh.OPEN_CONNECT_FAILED, str(exc)) from None
    return cast("asyncssh.SSHTCPSession[bytes]", TunnelForwarder(sock_side))
