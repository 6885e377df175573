"""A sandbox node's PID 1 (stdlib only): its root, cloud-init, its services, its sessions.

Started by the sandbox (``unshare`` as root, ``bwrap`` otherwise) with one end of a
SOCK_SEQPACKET socket pair as ``argv[1]``. The sandbox sends the boot spec first, then
asks for sessions: each ``spawn`` message carries the session's stdio (or its pty) as
SCM_RIGHTS fds, the way a container runtime's exec shim receives them. The init answers
``started``/``exit`` and reports unit changes. `systemctl` talks to it over
/run/systemd/private. When the sandbox closes its end, the node powers off: PID 1
exits and the kernel ends every process in the namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import termios
import time

import cloudinit
import ctlverbs
import rootfs
from supervisor import State, Supervisor

PRIVATE = "/run/systemd/private"
MAX_MSG = 1 << 20


class Init:
    def __init__(self, chan: socket.socket, spec: dict) -> None:
        self.chan = chan
        self.spec = spec
        self.multiuser = bool(spec.get("multiuser"))
        self.waits: dict[int, asyncio.Future[int]] = {}
        self.statuses: dict[int, int] = {}  # reaped before anyone waited
        self.sessions: dict[int, int] = {}  # pid -> session id
        self.done = asyncio.Event()
        self.sup = Supervisor(spec["name"], self.unit_changed, self.reap)
        for unit in spec.get("delay_units", []):
            self.sup.delay[unit] = float(spec.get("delay_s", 0.0))

    # -- messages to the sandbox -------------------------------------------------------
    def send(self, msg: dict) -> None:
        with contextlib.suppress(OSError):
            self.chan.sendall(json.dumps(msg).encode())

    def unit_changed(self, st: State) -> None:
        msg = {"op": "unit", "unit": st.name.removesuffix(".service"),
               "active": st.active == "active", "starts": st.starts}
        if st.name == "sshd.service":
            msg["usedns"] = _uses_dns()
        self.send(msg)

    # -- children ----------------------------------------------------------------------
    def reap(self, pid: int) -> asyncio.Future[int]:
        fut = self.waits.get(pid)
        if fut is None:
            fut = self.waits[pid] = asyncio.get_running_loop().create_future()
            if pid in self.statuses:
                fut.set_result(self.statuses.pop(pid))
        return fut

    def on_sigchld(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            code = os.waitstatus_to_exitcode(status)
            code = code if code >= 0 else 128 - code
            sid = self.sessions.pop(pid, None)
            if sid is not None:
                self.send({"op": "exit", "id": sid, "status": code})
            fut = self.waits.pop(pid, None)
            if fut is not None and not fut.done():
                fut.set_result(code)
            elif fut is None and pid not in self.sessions:
                self.statuses[pid] = code
                if len(self.statuses) > 1000:
                    self.statuses.clear()

    # -- the channel --------------------------------------------------------------------
    def on_channel(self) -> None:
        try:
            data, fds, _flags, _addr = socket.recv_fds(self.chan, MAX_MSG, 3)
        except BlockingIOError:
            return
        except OSError:
            data, fds = b"", []
        if not data:
            asyncio.get_running_loop().remove_reader(self.chan.fileno())
            self.done.set()
            return
        msg = json.loads(data)
        try:
            self.handle(msg, fds)
        finally:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def handle(self, msg: dict, fds: list[int]) -> None:
        op = msg["op"]
        if op == "spawn":
            self.spawn(msg, fds)
        elif op == "kill":
            pid = next((p for p, s in self.sessions.items() if s == msg["id"]), None)
            if pid:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, msg.get("sig", signal.SIGKILL))
        elif op == "journal":
            st = self.sup.state(msg["unit"])
            self.sup.log(st, msg["line"], msg["unit"], int(msg.get("pid", 1)))
        elif op == "poweroff":
            self.done.set()

    def spawn(self, msg: dict, fds: list[int]) -> None:
        stdio = fds * 3 if len(fds) == 1 else fds
        kwargs: dict = {}
        if self.multiuser and msg.get("uid", 0) != 0:
            kwargs = {"user": msg["uid"], "group": msg["gid"], "extra_groups": msg.get("groups", [])}
        pty = bool(msg.get("pty"))
        try:
            proc = subprocess.Popen(
                msg["argv"], stdin=stdio[0], stdout=stdio[1], stderr=stdio[2],
                cwd=msg.get("cwd") or "/", env=msg["env"], start_new_session=True,
                preexec_fn=_set_ctty if pty else None, **kwargs)
        except OSError as exc:
            self.send({"op": "exit", "id": msg["id"], "status": 127, "error": str(exc)})
            return
        proc.returncode = 0  # PID 1 reaps every child itself; keep subprocess's cleanup off it
        self.sessions[proc.pid] = msg["id"]
        self.send({"op": "started", "id": msg["id"], "pid": proc.pid})

    # -- systemctl ------------------------------------------------------------------------
    async def on_private(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = json.loads(await reader.readline())
            out, err, status = await ctlverbs.answer(self.sup, request["argv"])
            reply = {"out": out, "err": err, "status": status}
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
        except (ValueError, KeyError, ConnectionError):
            pass
        finally:
            writer.close()

    # -- boot ---------------------------------------------------------------------------
    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGCHLD, self.on_sigchld)
        loop.add_signal_handler(signal.SIGTERM, self.done.set)
        self.chan.setblocking(False)
        loop.add_reader(self.chan.fileno(), self.on_channel)
        os.makedirs("/run/systemd/system", exist_ok=True)
        server = await asyncio.start_unix_server(self.on_private, PRIVATE)
        os.chmod(PRIVATE, 0o666)
        console = self.cloud_init_early()
        await self.sup.boot()
        console += self.cloud_init_final()
        self.send({"op": "booted", "console": console})
        await self.done.wait()
        server.close()
        for pid in list(self.sessions) + [st.pid for st in self.sup.states.values() if st.pid]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)

    def cloud_init_early(self) -> str:
        spec = self.spec
        cloudinit.hostname(spec["name"])
        if cloudinit.first_boot(spec["instance"]):
            cloudinit.default_user(spec.get("public_keys", []))
        return ""

    def cloud_init_final(self) -> str:
        spec = self.spec
        out = ""
        if cloudinit.first_boot(spec["instance"]) and spec.get("user_data"):
            stamp = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
            out = f"Cloud-init v. 0.7.6 running 'modules:final' at {stamp}.\n"
            try:
                out += cloudinit.user_data(spec["user_data"], spec["instance"])
            except Exception as exc:  # a bad user_data fails alone, as cloud-init's modules do
                out += f"cc_scripts_user.py[WARNING]: Failed to run module scripts-user ({exc})\n"
        cloudinit.finished(spec["instance"])
        return out


def _set_ctty() -> None:
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _uses_dns() -> bool:
    try:
        with open("/etc/ssh/sshd_config", encoding="utf-8") as handle:
            text = handle.read()
    except OSError:
        return True
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) >= 2 and words[0].lower() == "usedns":
            return words[1].lower() != "no"
    return True


def main() -> int:
    chan = socket.socket(fileno=int(sys.argv[1]))
    data = chan.recv(MAX_MSG)
    spec = json.loads(data)
    if spec.get("rootfs"):
        rootfs.build(spec["rootfs"])
        socket.sethostname(spec["name"])
    os.chdir("/")
    os.umask(0o022)
    try:
        asyncio.run(Init(chan, spec).run())
    except Exception as exc:
        with contextlib.suppress(OSError):
            chan.sendall(json.dumps({"op": "failed", "error": f"{type(exc).__name__}: {exc}"}).encode())
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
