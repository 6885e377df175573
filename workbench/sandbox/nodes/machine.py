"""A node's machine: its init in fresh namespaces, and the channel to it.

As root, util-linux ``unshare`` makes mount, UTS, IPC and PID namespaces and the init
mounts the node's root itself (overlays: the image read-only below, the node's disk
above). Unprivileged, ``bwrap`` adds a user namespace and binds the node's disk dirs
(overlayfs over the workstation's dirs is refused there). The network stays the
sandbox's loopback addresses. The init is PID 1: when it ends, every process of the
node ends with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import itertools
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import image as images

log = logging.getLogger(__name__)
MAX_MSG = 1 << 20
LAYERS = ("etc", "var", "srv", "opt", "home", "root")
TOP_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
_CHECKED: dict[str, str | None] = {}


def privileged() -> bool:
    return os.geteuid() == 0


def check() -> str | None:
    """None when this kernel and machine can run nodes, else one line naming what to enable."""
    key = "root" if privileged() else "user"
    if key not in _CHECKED:
        _CHECKED[key] = _check(privileged())
    return _CHECKED[key]


def _check(root: bool) -> str | None:
    if not images.python_ok():
        return f"sandbox nodes need {images.PYTHON} (Debian/Fedora package python3)"
    if root:
        if not Path("/usr/bin/sudo").exists():
            return "sandbox nodes need sudo for their image (apt-get install sudo)"
        if not shutil.which("unshare"):
            return "sandbox nodes need util-linux's unshare (package util-linux)"
        try:
            with open("/proc/filesystems", encoding="ascii") as handle:
                if "overlay" not in handle.read():
                    return "sandbox nodes need overlayfs: run `modprobe overlay` (CONFIG_OVERLAY_FS)"
        except OSError:
            pass
        argv = ["unshare", "--mount", "--uts", "--ipc", "--pid", "--fork", "true"]
        what = "mount/UTS/IPC/PID namespaces (CONFIG_NAMESPACES; not inside a seccomp-confined container)"
    else:
        if not shutil.which("bwrap"):
            return "sandbox nodes need bubblewrap for an unprivileged user: apt-get install bubblewrap"
        argv = ["bwrap", "--unshare-user", "--unshare-pid", "--unshare-uts", "--unshare-ipc",
                "--ro-bind", "/", "/", "true"]
        what = ("unprivileged user namespaces: sysctl -w kernel.unprivileged_userns_clone=1 "
                "(Ubuntu: kernel.apparmor_restrict_unprivileged_userns=0)")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        detail = (done.stderr.strip().splitlines() or ["failed"])[-1]
        return f"sandbox nodes cannot start: {detail}; enable {what}"
    return None


@dataclass
class Session:
    id: int
    started: asyncio.Future[int]
    exited: asyncio.Future[int]


@dataclass
class Layout:
    """Where a node lives on the workstation's disk."""

    node_dir: Path
    image: Path
    salt: Path | None = None  # the Salt venv; with ``salt_installed`` it is on the image
    salt_installed: bool = False

    @property
    def disk(self) -> Path:
        return self.node_dir / "root"

    def rootfs(self) -> dict[str, Any]:
        """What the init mounts, as root (overlays over the image)."""
        work = self.node_dir / "work"
        usr_lowers = [str(self.image / "usr"), "/usr"]
        if self.salt_installed:
            usr_lowers.insert(0, str(self.image / "salt/usr"))
        layers: list[dict[str, Any]] = [
            {"kind": "overlay", "path": "/usr", "lowers": usr_lowers,
             "upper": str(self.disk / "usr"), "work": str(work / "usr")},
            {"kind": "overlay", "path": "/usr/local", "lowers": [str(self.image / "usr/local")],
             "upper": str(self.disk / "usr/local"), "work": str(work / "usr-local")},
        ]
        layers += [{"kind": "overlay", "path": f"/{d}", "lowers": [str(self.image / d)],
                    "upper": str(self.disk / d), "work": str(work / d)} for d in LAYERS]
        symlinks: dict[str, str] = {}
        for name in TOP_LINKS:
            host = Path("/") / name
            if host.is_symlink():
                symlinks[name] = os.readlink(host)
            elif host.is_dir():
                layers.append({"kind": "bind", "path": f"/{name}", "source": str(host), "readonly": True})
        if self.salt is not None:
            where = "/opt/saltstack/salt" if self.salt_installed else "/run/sandbox-repo/salt"
            layers.append({"kind": "bind", "path": where, "source": str(self.salt), "readonly": True})
        return {"mnt": str(self.node_dir / "mnt"), "layers": layers, "symlinks": symlinks}

    def bwrap(self, name: str, fd: int) -> list[str]:
        """The bwrap command line, unprivileged (the node's disk dirs bound, /usr read-only)."""
        argv = ["bwrap", "--unshare-user", "--uid", "0", "--gid", "0", "--unshare-pid",
                "--unshare-uts", "--unshare-ipc", "--hostname", name, "--die-with-parent",
                "--as-pid-1", "--ro-bind", "/usr", "/usr"]
        for top in TOP_LINKS:
            host = Path("/") / top
            if host.is_symlink():
                argv += ["--symlink", os.readlink(host), f"/{top}"]
            elif host.is_dir():
                argv += ["--ro-bind", str(host), f"/{top}"]
        argv += ["--bind", str(self.disk / "usr/local"), "/usr/local"]
        for d in LAYERS:
            argv += ["--bind", str(self.disk / d), f"/{d}"]
        lib = self.image / images.LIB
        argv += ["--ro-bind", str(lib), f"/{images.LIB}"]
        for rel in images.COMMANDS:
            target = f"/{rel}"
            if not rel.startswith("usr/local/") and not Path(target).exists():
                target = f"/usr/local/bin/{Path(rel).name}"
            argv += ["--ro-bind", str(self.image / rel), target]
        sudo = "/usr/bin/sudo" if Path("/usr/bin/sudo").exists() else "/usr/local/bin/sudo"
        argv += ["--ro-bind", str(lib / "sudo"), sudo]  # one uid mapped: already root
        for rel in images.HIDDEN:
            if Path("/", rel).exists():
                argv += ["--ro-bind", "/dev/null", f"/{rel}"]
        argv += ["--proc", "/proc", "--dev", "/dev", "--ro-bind", "/sys", "/sys",
                 "--tmpfs", "/tmp", "--tmpfs", "/run"]
        if self.salt is not None:
            where = "/opt/saltstack/salt" if self.salt_installed else "/run/sandbox-repo/salt"
            argv += ["--ro-bind", str(self.salt), where]
        return [*argv, images.PYTHON, "-E", "-s", f"/{images.LIB}/nodeinit.py", str(fd)]

    def create_disk(self) -> None:
        """A fresh, empty writable layer (unprivileged: a copy of the image's dirs)."""
        self.disk.mkdir(parents=True, exist_ok=True)
        if privileged():
            return
        for d in (*LAYERS, "usr/local"):
            shutil.copytree(self.image / d, self.disk / d, symlinks=True, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("sandbox"))
        if self.salt_installed:  # /usr is the workstation's, read-only: Salt's files go under /usr/local
            shutil.copytree(self.image / "salt/usr", self.disk / "usr/local", symlinks=True,
                            dirs_exist_ok=True)
            for unit in (self.disk / "usr/local/lib/systemd/system").glob("salt-*.service"):
                unit.write_text(unit.read_text().replace("ExecStart=/usr/bin/", "ExecStart=/usr/local/bin/"))


def _pdeathsig() -> None:
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: no node outlives the sandbox


class Machine:
    """One boot of a node: its init process and the channel to it."""

    def __init__(self, layout: Layout, on_message: Callable[[dict[str, Any]], None]) -> None:
        self.layout = layout
        self.on_message = on_message
        self.proc: asyncio.subprocess.Process | None = None
        self.sock: socket.socket | None = None
        self.sessions: dict[int, Session] = {}
        self.ids = itertools.count(1)
        self.booted: asyncio.Future[dict[str, Any]] | None = None
        self.alive = False

    async def boot(self, spec: dict[str, Any], timeout: float = 60.0) -> str:
        """Start the init, hand it the spec, wait until it booted; returns its console text."""
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        node_dir = self.layout.node_dir
        if privileged():
            spec = {**spec, "rootfs": self.layout.rootfs(), "multiuser": True}
            init = self.layout.image / images.LIB / "nodeinit.py"
            argv = ["unshare", "--mount", "--uts", "--ipc", "--pid", "--fork", "--kill-child",
                    "--propagation", "private", images.PYTHON, "-E", "-s", str(init), str(theirs.fileno())]
        else:
            spec = {**spec, "multiuser": False}
            argv = self.layout.bwrap(spec["name"], theirs.fileno())
        with open(node_dir / "init.log", "ab") as logf:
            self.proc = await asyncio.create_subprocess_exec(
                *argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                pass_fds=(theirs.fileno(),), preexec_fn=_pdeathsig)
        theirs.close()
        self.sock = ours
        ours.setblocking(False)
        self.alive = True
        self.booted = loop.create_future()
        loop.add_reader(ours.fileno(), self._readable)
        ours.sendall(json.dumps(spec).encode())
        try:
            msg = await asyncio.wait_for(asyncio.shield(self.booted), timeout)
        except BaseException:
            await self.poweroff()
            raise
        return str(msg.get("console", ""))

    def send(self, msg: dict[str, Any], fds: list[int] | None = None) -> None:
        if not self.alive or self.sock is None:
            raise ConnectionError("the node is off")
        data = json.dumps(msg).encode()
        if fds:
            socket.send_fds(self.sock, [data], fds)
        else:
            self.sock.sendall(data)

    def spawn(self, request: dict[str, Any], fds: list[int]) -> Session:
        loop = asyncio.get_running_loop()
        sid = next(self.ids)
        session = Session(sid, loop.create_future(), loop.create_future())
        self.sessions[sid] = session
        try:
            self.send({**request, "op": "spawn", "id": sid}, fds)
        except OSError as exc:
            self.sessions.pop(sid, None)
            raise ConnectionError(f"the node is off: {exc}") from None
        return session

    def kill(self, session: Session, sig: int = signal.SIGKILL) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            self.send({"op": "kill", "id": session.id, "sig": int(sig)})

    def _readable(self) -> None:
        assert self.sock is not None
        while True:
            try:
                data = self.sock.recv(MAX_MSG)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self._gone()
                return
            try:
                msg = json.loads(data)
            except ValueError:
                continue
            self._dispatch(msg)

    def _dispatch(self, msg: dict[str, Any]) -> None:
        op = msg.get("op")
        if op in ("started", "exit"):
            session = self.sessions.get(int(msg["id"]))
            if session is None:
                return
            if op == "started" and not session.started.done():
                session.started.set_result(int(msg["pid"]))
            if op == "exit":
                self.sessions.pop(session.id, None)
                if not session.started.done():
                    session.started.set_result(0)
                if not session.exited.done():
                    session.exited.set_result(int(msg["status"]))
        elif op == "booted" and self.booted and not self.booted.done():
            self.booted.set_result(msg)
        elif op == "failed" and self.booted and not self.booted.done():
            self.booted.set_exception(RuntimeError(str(msg.get("error"))))
        else:
            self.on_message(msg)

    def _gone(self) -> None:
        """The init ended (power-off, or it died): every session ended with it."""
        self.alive = False
        if self.sock is not None:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(self.sock.fileno())
        for session in self.sessions.values():
            if not session.started.done():
                session.started.set_result(0)
            if not session.exited.done():
                session.exited.set_result(255)
        self.sessions.clear()
        if self.booted and not self.booted.done():
            why = (self.layout.node_dir / "init.log").read_text(errors="replace").strip().splitlines()
            self.booted.set_exception(RuntimeError(why[-1] if why else "the node's init exited"))

    def pids(self) -> list[int]:
        """The workstation's pids of every process in this node (its PID namespace)."""
        if self.proc is None:
            return []
        inits = _children(self.proc.pid)  # unshare's or bwrap's child: the node's PID 1
        try:
            ns = {os.readlink(f"/proc/{p}/ns/pid") for p in inits}
        except OSError:
            return []
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{entry}/ns/pid") in ns:
                        found.append(int(entry))
        return found

    async def poweroff(self, deadline: float = 10.0) -> None:
        """End the init (and with it every process of the node) and wait for it."""
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.sendall(json.dumps({"op": "poweroff"}).encode())
            self._gone()
            self.sock.close()
            self.sock = None
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        try:
            await asyncio.wait_for(proc.wait(), deadline / 2)
        except TimeoutError:
            for pid in _children(proc.pid):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), deadline / 2)


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]
