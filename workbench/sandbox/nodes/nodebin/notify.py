"""sd_notify for Type=notify units: a datagram socket per starting unit (stdlib only).

systemd hands a notify service ``NOTIFY_SOCKET`` and waits for ``READY=1`` before the
start job finishes; Salt's salt-minion and salt-master units are Type=notify with
NotifyAccess=all. The node's supervisor gives each such unit its own socket under
/run/systemd/notify.d, so the socket names the unit; the sender's pid (SO_PASSCRED) is
checked against the main pid when NotifyAccess is ``main``, as systemd does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
from collections.abc import Callable

DIR = "/run/systemd/notify.d"
_CREDS = struct.Struct("3i")  # struct ucred: pid, uid, gid


class NotifySocket:
    """One unit's socket; ``on_message(fields, pid)`` for each datagram read."""

    def __init__(self, unit: str, on_message: Callable[[dict[str, str], int], None]) -> None:
        os.makedirs(DIR, mode=0o755, exist_ok=True)
        self.path = os.path.join(DIR, unit)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o666)  # a unit running as another User= notifies too
        self.sock.setblocking(False)
        self.on_message = on_message
        asyncio.get_running_loop().add_reader(self.sock.fileno(), self._read)

    def _read(self) -> None:
        while True:
            try:
                data, anc, _flags, _addr = self.sock.recvmsg(4096, socket.CMSG_SPACE(_CREDS.size))
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            pid = 0
            for level, kind, payload in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = _CREDS.unpack(payload[: _CREDS.size])[0]
            fields = dict(line.split("=", 1) for line in data.decode(errors="replace").splitlines()
                          if "=" in line)
            self.on_message(fields, pid)

    def close(self) -> None:
        with contextlib.suppress(ValueError, RuntimeError):
            asyncio.get_running_loop().remove_reader(self.sock.fileno())
        self.sock.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)
