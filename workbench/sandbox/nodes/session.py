"""SSH sessions on a node: exec, shells on a real pty and SFTP, each run inside the node.

The session's process is started by the node's init (``Machine.spawn``): as the SSH user
(`fedora`, or root), in the node's namespaces, with the stdio pipes or the pty made here.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import struct
import termios
from pathlib import Path
from typing import TYPE_CHECKING

import asyncssh

from .machine import Session

if TYPE_CHECKING:
    from .node import Node

CHUNK = 1 << 18
F_SETPIPE_SZ, PIPE_SIZE = 1031, 1 << 20
PROMPT_DIR = '$([ "$PWD" = "$HOME" ] && echo "~" || echo "${PWD##*/}")'
SHELL = "/bin/bash"
SFTP_SERVERS = ("/usr/libexec/openssh/sftp-server", "/usr/lib/openssh/sftp-server")
USERS = {"root": (0, 0, "/root"), "fedora": (1000, 1000, "/home/fedora")}
CLIENT_ENV = {"LANG", "LANGUAGE", "TERM", "TZ", "COLORTERM"}


def sh_prompt(user: str, host: str) -> str:
    """Fedora's ``[user@host dir]$ `` for any POSIX sh (dash, bash): literal user and host,
    since ``\\u`` and ``\\h`` would name the machine running the sandbox."""
    sign = "#" if user == "root" else "$"
    return f"[{user}@{host.split('.')[0]} {PROMPT_DIR}]{sign} "


def session_user(process: asyncssh.SSHServerProcess) -> tuple[str, int, int, str]:
    """(name, uid, gid, home): root as root, any other login as the image's user `fedora`."""
    name = "root" if process.get_extra_info("username") == "root" else "fedora"
    return (name, *USERS[name])


def session_env(node: Node, process: asyncssh.SSHServerProcess) -> dict[str, str]:
    """PATH, HOME, USER and friends; from the client only LANG, LC_* and a few more."""
    user, _, _, home = session_user(process)
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/usr/local/sbin:/usr/sbin",
        "HOME": home,
        "USER": user,
        "LOGNAME": user,
        "PS1": sh_prompt(user, node.name),
        "SHELL": SHELL,
        "LANG": "C.UTF-8",
        "TERM": "dumb",
    }
    peer = process.get_extra_info("peername") or ("", 0)
    sock = process.get_extra_info("sockname") or ("", 0)
    env["SSH_CONNECTION"] = f"{peer[0]} {peer[1]} {sock[0]} {sock[1]}"
    for key, value in (process.env or {}).items():
        key = key.decode(errors="replace") if isinstance(key, bytes) else str(key)
        value = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
        if (key in CLIENT_ENV or key.startswith("LC_")) and "\0" not in value:
            env[key] = value
    term = process.get_terminal_type()
    if term:
        env["TERM"] = term
    return env


async def _copy(reader: asyncio.StreamReader, writer: asyncssh.SSHWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except (BrokenPipeError, ConnectionError, asyncssh.Error):
        pass


async def _feed(reader: asyncssh.SSHReader, writer: asyncio.StreamWriter) -> None:
    """Client stdin to the command; once the command stops reading, discard the rest."""
    broken = False
    try:
        while data := await reader.read(CHUNK):
            if broken:
                continue
            try:
                writer.write(data)
                await writer.drain()
            except (BrokenPipeError, ConnectionResetError):
                broken = True
    except (asyncssh.Error, BrokenPipeError, ConnectionError):
        pass
    finally:
        with contextlib.suppress(OSError):
            writer.close()


async def _finish(process: asyncssh.SSHServerProcess, status: int) -> None:
    try:
        process.exit(status)
        await process.wait_closed()
    except (OSError, asyncssh.Error):
        pass


def _request(node: Node, process: asyncssh.SSHServerProcess, argv: list[str], pty: bool) -> dict[str, object]:
    _, uid, gid, home = session_user(process)
    return {"argv": argv, "env": session_env(node, process), "cwd": home, "uid": uid,
            "gid": gid, "groups": [], "pty": pty}


def _spawn(node: Node, request: dict[str, object], fds: list[int]) -> Session:
    machine = node.machine
    if machine is None or not machine.alive:
        raise ConnectionError(f"{node.name} is off")
    return machine.spawn(request, fds)


def sftp_server() -> str:
    return next((p for p in SFTP_SERVERS if Path(p).exists()), SFTP_SERVERS[-1])


def exec_argv(process: asyncssh.SSHServerProcess) -> list[str]:
    if process.subsystem == "sftp":
        return [sftp_server()]
    return [SHELL, "-c", process.command] if process.command is not None else [SHELL]


async def _pipe_reader(fd: int) -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=CHUNK)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", 0))
    return reader


async def _pipe_writer(fd: int) -> asyncio.StreamWriter:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.connect_write_pipe(
        lambda: asyncio.streams.FlowControlMixin(), os.fdopen(fd, "wb", 0))
    return asyncio.StreamWriter(transport, protocol, None, loop)


async def run_exec(node: Node, process: asyncssh.SSHServerProcess) -> None:
    """`ssh node CMD`, a shell without a pty reading its script from stdin, or SFTP."""
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    for fd in (in_w, out_w):  # 1 MiB pipes: fewer wakeups for bulk data (pushes, tars)
        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_SIZE)
    try:
        session = _spawn(node, _request(node, process, exec_argv(process), False), [in_r, out_w, err_w])
    finally:
        for fd in (in_r, out_w, err_w):
            os.close(fd)
    stdin = await _pipe_writer(in_w)
    stdout, stderr = await _pipe_reader(out_r), await _pipe_reader(err_r)
    feeder = asyncio.ensure_future(_feed(process.stdin, stdin))
    pumps = asyncio.gather(_copy(stdout, process.stdout), _copy(stderr, process.stderr))
    done = asyncio.ensure_future(asyncio.gather(pumps, session.exited))
    closed = asyncio.ensure_future(process.channel.wait_closed())
    try:
        await asyncio.wait({done, closed}, return_when=asyncio.FIRST_COMPLETED)
        if not done.done():  # the client went away: hang up on the command
            await session.started
            node.machine.kill(session, signal.SIGHUP) if node.machine else None
            node.machine.kill(session) if node.machine else None
            await session.exited
            done.cancel()
            pumps.cancel()
        await node.reconcile()
        await _finish(process, session.exited.result())
    finally:
        closed.cancel()
        feeder.cancel()
        if not session.exited.done() and node.machine is not None:
            node.machine.kill(session)


def _set_size(fd: int, size: tuple[int, int, int, int]) -> None:
    cols, rows, xpix, ypix = size
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows or 24, cols or 80, xpix, ypix))


async def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    loop = asyncio.get_running_loop()
    while view:
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:
            ready = loop.create_future()
            loop.add_writer(fd, ready.set_result, None)
            try:
                await ready
            finally:
                loop.remove_writer(fd)


async def run_pty(node: Node, process: asyncssh.SSHServerProcess) -> None:
    """An interactive login shell (or the command) on a real pty; resizes arrive as SIGWINCH."""
    master, slave = os.openpty()
    _set_size(master, process.get_terminal_size())
    command = process.command
    argv = [SHELL, "-c", command] if command is not None else [SHELL, "-l", "-i"]
    try:
        session = _spawn(node, _request(node, process, argv, True), [slave])
    except BaseException:
        os.close(master)
        raise
    finally:
        os.close(slave)
    os.set_blocking(master, False)
    loop = asyncio.get_running_loop()
    output_done = loop.create_future()

    def readable() -> None:
        try:
            data = os.read(master, CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(master)
            if not output_done.done():
                output_done.set_result(None)
            return
        process.stdout.write(data)

    async def pump_input() -> None:
        while True:
            try:
                data = await process.stdin.read(CHUNK)
            except asyncssh.TerminalSizeChanged as change:
                _set_size(master, (change.width, change.height, change.pixwidth, change.pixheight))
                continue
            except (asyncssh.Error, BrokenPipeError, ConnectionError):
                return
            if not data:
                return
            try:
                await _write_all(master, data)
            except OSError:
                return

    loop.add_reader(master, readable)
    feeder = asyncio.ensure_future(pump_input())
    closed = asyncio.ensure_future(process.channel.wait_closed())
    try:
        await asyncio.wait({output_done, closed, session.exited}, return_when=asyncio.FIRST_COMPLETED)
        if session.exited.done() and not output_done.done():
            # the shell is gone; give what it printed last a moment to arrive
            await asyncio.wait({output_done, closed}, timeout=0.2)
        if not session.exited.done() and node.machine is not None:
            await session.started
            node.machine.kill(session, signal.SIGHUP)
            node.machine.kill(session)
        status = await session.exited
        await node.reconcile()
        await _finish(process, status)
    finally:
        loop.remove_reader(master)
        feeder.cancel()
        closed.cancel()
        os.close(master)
        if not session.exited.done() and node.machine is not None:
            node.machine.kill(session)
