"""SSH sessions on a node: exec (`/bin/sh -c`), shells on a real pty, with a clean env."""

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

from .disk import PROMPT_DIR
from .procs import MARKER

if TYPE_CHECKING:
    from .node import Node

CHUNK = 1 << 18
CLIENT_ENV = {"LANG", "LANGUAGE", "TERM", "TZ", "COLORTERM"}


def sh_prompt(user: str, host: str) -> str:
    """Fedora's ``[user@host dir]$ `` for any POSIX sh (dash, bash): literal user and host,
    since ``\\u`` and ``\\h`` would name the machine running the sandbox."""
    sign = "#" if user == "root" else "$"
    return f"[{user}@{host.split('.')[0]} {PROMPT_DIR}]{sign} "


def session_env(node: Node, process: asyncssh.SSHServerProcess) -> dict[str, str]:
    """PATH, HOME, USER and friends; from the client only LANG, LC_* and a few more.
    HOSTNAME and PS1 name the SSH user and the node, as a shell on a real node would."""
    user = process.get_extra_info("username") or "root"
    root = str(node.root)
    env = {
        "PATH": f"{root}/usr/local/bin:/usr/bin:/bin",
        "HOME": root,
        "USER": user,
        "LOGNAME": user,
        "HOSTNAME": node.name,
        "PS1": sh_prompt(user, node.name),
        "SHELL": "/bin/sh",
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        MARKER: node.server_id,
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


def _status(returncode: int) -> int:
    return returncode if returncode >= 0 else 128 - returncode


async def _finish(process: asyncssh.SSHServerProcess, status: int) -> None:
    try:
        process.exit(status)
        await process.wait_closed()
    except (OSError, asyncssh.Error):
        pass


async def run_exec(node: Node, process: asyncssh.SSHServerProcess) -> None:
    """`ssh node CMD`, or a shell without a pty reading its script from stdin."""
    command = process.command
    argv = ["/bin/sh", "-c", command] if command is not None else ["/bin/sh"]
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=node.root,
        env=session_env(node, process),
        start_new_session=True,
        limit=CHUNK,
    )
    node.procs.add(proc.pid)
    try:
        assert proc.stdin and proc.stdout and proc.stderr
        feeder = asyncio.ensure_future(_feed(process.stdin, proc.stdin))
        pumps = asyncio.gather(_copy(proc.stdout, process.stdout), _copy(proc.stderr, process.stderr))
        done = asyncio.ensure_future(asyncio.gather(pumps, proc.wait()))
        closed = asyncio.ensure_future(process.channel.wait_closed())
        await asyncio.wait({done, closed}, return_when=asyncio.FIRST_COMPLETED)
        if not done.done():  # the client went away: hang up on the command
            node.procs.kill_group(proc.pid, signal.SIGHUP)
            node.procs.kill_group(proc.pid)
            await proc.wait()
            done.cancel()
            pumps.cancel()
        closed.cancel()
        feeder.cancel()
        await _finish(process, _status(proc.returncode or 0))
    finally:
        if proc.returncode is None:
            node.procs.kill_group(proc.pid)
            await proc.wait()
        node.procs.discard(proc.pid)


def _set_ctty() -> None:
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


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
    """An interactive shell (or the command) on a real pty; resizes reach it as SIGWINCH."""
    master, slave = os.openpty()
    _set_size(master, process.get_terminal_size())
    shell = "/bin/bash" if Path("/bin/bash").exists() else "/bin/sh"
    command = process.command
    argv = [shell, "-c", command] if command is not None else [shell, "-i"]
    env = session_env(node, process)  # bash -i: the node's ~/.bashrc sets PS1 again
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=slave, stdout=slave, stderr=slave, cwd=node.root, env=env,
            start_new_session=True, preexec_fn=_set_ctty,
        )
    finally:
        os.close(slave)
    node.procs.add(proc.pid)
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
        await asyncio.wait({output_done, closed, asyncio.ensure_future(proc.wait())},
                           return_when=asyncio.FIRST_COMPLETED)
        if proc.returncode is not None and not output_done.done():
            # the shell is gone; give what it printed last a moment to arrive
            await asyncio.wait({output_done, closed}, timeout=0.2)
        node.procs.kill_group(proc.pid, signal.SIGHUP)
        node.procs.kill_group(proc.pid)
        await proc.wait()
        await _finish(process, _status(proc.returncode or 0))
    finally:
        loop.remove_reader(master)
        feeder.cancel()
        closed.cancel()
        os.close(master)
        if proc.returncode is None:
            node.procs.kill_group(proc.pid)
            await proc.wait()
        node.procs.discard(proc.pid)
