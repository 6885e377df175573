"""The workstation's side of one node's agent: launch it, ask, and stream chunks to it.

The agent is shipped once per node by content hash (``~/.cache/workbench/agent-<hash>.py``)
and run over one exec channel of the node's existing SSH connection. A session works on
any byte streams with ``readexactly``/``write``/``drain`` (asyncssh or a local pipe).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import os
import zlib
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import xxhash
import zstandard

from workbench.engine.push import node_agent as wire
from workbench.engine.push.manifest import REC, LocalFile
from workbench.errors import NodeError, WorkbenchError

AGENT_SOURCE = Path(wire.__file__).read_bytes()
AGENT_HASH = hashlib.sha256(AGENT_SOURCE).hexdigest()[:16]
AGENT_DIR = "$HOME/.cache/workbench"
MISSING_AGENT = 97
_FLUSH_AT = 1 << 20
_PIECE = 1 << 20  # one data frame: compressed alone, written by the node in one call
_PAYS = 0.9  # compress a piece only when it shrinks below 90 %
_ZLIB_PAYS = 0.4  # for a node without zstd: zlib costs more CPU than a fast link saves


class Reader(Protocol):
    async def readexactly(self, n: int) -> bytes: ...


class Writer(Protocol):
    def write(self, data: bytes) -> None: ...
    async def drain(self) -> None: ...
    def write_eof(self) -> None: ...


FileDone = Callable[[dict[str, Any]], None]


class AgentSession:
    """One running agent; ``request`` sends a control message and awaits its reply."""

    def __init__(self, node: str, reader: Reader, writer: Writer,
                 wait: Callable[[], Awaitable[object]] | None = None) -> None:
        self.node = node
        self._reader, self._writer, self._wait = reader, writer, wait
        self._replies: asyncio.Queue[dict[str, Any] | BaseException] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.on_file: FileDone | None = None
        self.codecs: tuple[str, ...] = ()
        self.bytes_written = 0
        self.stale: list[str] = []
        self.plan_seconds = 0.0
        self.wait_exit = True
        self._zstd = zstandard.ZstdCompressor(level=1)

    async def start(self) -> dict[str, Any]:
        self._task = asyncio.create_task(self._read_loop())
        hello = await self._next("hello")
        self.codecs = tuple(hello.get("codecs", ()))
        return hello

    async def _read_loop(self) -> None:
        try:
            while True:
                head = await self._reader.readexactly(wire.HEADER.size)
                kind, size = wire.HEADER.unpack(head)
                payload = await self._reader.readexactly(size) if size else b""
                if kind == wire.E:
                    raise NodeError(self.node, payload.decode(errors="replace"))
                msg = json.loads(payload)
                if msg.get("op") == "file" and self.on_file is not None:
                    self.on_file(msg)
                self._replies.put_nowait(msg)
        except asyncio.IncompleteReadError:
            self._replies.put_nowait(NodeError(self.node, "the push agent stopped (connection lost?)"))
        except BaseException as exc:  # handed to whoever waits
            self._replies.put_nowait(exc)

    async def _next(self, op: str) -> dict[str, Any]:
        while True:
            msg = await self._replies.get()
            if isinstance(msg, BaseException):
                self._replies.put_nowait(msg)  # every later wait fails the same way
                raise msg
            if msg.get("op") == op:
                return msg

    def _send(self, kind: int, payload: bytes) -> None:
        data = wire.frame(kind, payload)
        self._writer.write(data)
        self.bytes_written += len(data)

    async def request(self, reply_op: str, **msg: Any) -> dict[str, Any]:
        self._send(wire.J, json.dumps(msg).encode())
        await self._writer.drain()
        return await self._next(reply_op)

    # -- the push protocol --------------------------------------------------------------
    async def check(self, files: Sequence[LocalFile], roots: Sequence[str] = ()) -> list[LocalFile]:
        """The files the node does not hold as they are here; ``stale`` gets what to prune."""
        reply = await self.request("changed", op="check", files=[[f.dest, f.size, f.digest] for f in files],
                                   roots=list(roots))
        self.stale = list(reply.get("stale", ()))
        return [files[i] for i in reply["files"]]

    async def plan(self, files: Sequence[LocalFile]) -> list[list[tuple[int, int]]]:
        """Per file, the runs (first chunk index, count) that must travel (the node has the rest)."""
        spec = [[f.dest, f.digest, f.size, f.mode, base64.b64encode(f.table).decode(), f.crc32] for f in files]
        reply = await self.request("missing", op="plan", files=spec)
        self.plan_seconds = float(reply.get("seconds", 0.0))
        return [[(int(a), int(n)) for a, n in runs] for runs in reply["files"]]

    async def send(self, files: Sequence[LocalFile], missing: Sequence[Sequence[tuple[int, int]]],
                   progress: Callable[[int], None] | None = None, *, fsync: bool = False,
                   copy: str = "auto", verify: str = "full", replace: str = "rename",
                   preallocate: bool = True) -> tuple[dict[str, Any], int]:
        """Stream the missing runs as one byte stream; returns the agent's ``done`` and payload bytes.

        The SSH channel authenticates what travels; every chunk read to be sent is checked
        against its xxh3_128 first (a file rewritten since it was chunked stops the push).
        ``copy="read/write"`` forces the agent's fallback and ``preallocate=False`` writes as
        it comes (tests); ``replace="auto"`` swaps files in where the kernel can (profile
        ``push.swap``), ``"rename"`` renames over."""
        msg = {"op": "send", "source": "stdin", "fsync": fsync, "copy": copy, "verify": verify,
               "replace": replace, "preallocate": preallocate}
        self._send(wire.J, json.dumps(msg).encode())
        sent = pending = 0
        for f, runs in zip(files, missing, strict=True):
            if not runs:
                continue
            sizes = [n for _, _, n in f.chunks()]
            starts = [0, *itertools.accumulate(sizes)]
            fd = os.open(f.source, os.O_RDONLY)
            try:
                for first, count in runs:
                    i, last = first, first + count
                    while i < last:
                        j = i + 1  # whole chunks, about _PIECE at a time
                        while j < last and starts[j + 1] - starts[i] <= _PIECE:
                            j += 1
                        data = os.pread(fd, starts[j] - starts[i], starts[i])
                        if len(data) != starts[j] - starts[i]:
                            raise NodeError(self.node, f"{f.source} shrank while it was sent")
                        try:
                            _check_chunks(f, data, i, j, starts)
                        except WorkbenchError as exc:  # the agent drops this send and answers
                            self._send(wire.E, str(exc).encode())
                            await self._writer.drain()
                            await self._next("done")
                            raise
                        i = j
                        kind, payload = self._encode(data)
                        self._send(kind, payload)
                        sent += len(payload)
                        pending += len(payload)
                        if pending >= _FLUSH_AT:
                            await self._writer.drain()
                            if progress is not None:
                                progress(sent)
                            pending = 0
            finally:
                os.close(fd)
        await self._writer.drain()
        if progress is not None:
            progress(sent)
        return await self._next("done"), sent

    def _encode(self, data: bytes) -> tuple[int, bytes]:
        if len(data) < 512:
            return wire.D, data
        probe = self._zstd.compress(data)
        if len(probe) >= _PAYS * len(data):
            return wire.D, data
        if "zstd" in self.codecs:
            return wire.S, probe
        if len(probe) < _ZLIB_PAYS * len(data):  # zlib is ~5x slower: only where it pays a lot
            return wire.Z, zlib.compress(data, 1)
        return wire.D, data

    async def fetch(self, host: str, port: int, secret: str, *, fsync: bool = False, verify: str = "full",
                    replace: str = "rename", files: Sequence[LocalFile] = (), missing: Sequence[Sequence[tuple[int, int]]] = (),
                    digests: list[list[str]] | None = None) -> dict[str, Any]:
        """Have the node fetch its missing chunks from the relay (the master's agent).

        The relay stream is not authenticated: every run is proven by its sha256, the
        digests (``run_digests``, computed here unless given) sent over SSH."""
        msg = {"op": "send", "source": "relay", "host": host, "port": port, "secret": secret,
               "fsync": fsync, "verify": verify, "replace": replace}
        msg["runs"] = digests if digests is not None else await asyncio.to_thread(run_digests, files, missing)
        self._send(wire.J, json.dumps(msg).encode())
        await self._writer.drain()
        return await self._next("done")

    async def prune(self, paths: Sequence[str]) -> int:
        """Remove files the agent put under the pushed roots that the build no longer has."""
        return int((await self.request("pruned", op="prune", paths=list(paths)))["files"])

    async def serve(self, host: str, secret: str) -> int:
        reply = await self.request("serving", op="serve", host=host, secret=secret)
        return int(reply["port"])

    async def stop_serving(self) -> int:
        return int((await self.request("stopped", op="stop"))["bytes"])

    async def close(self) -> None:
        """The agent closes its index, answers ``bye`` and exits; with ``wait_exit`` we also
        wait for the process (local agents); over SSH the channel closes on its own."""
        try:
            if self._task is not None and not self._task.done():
                self._send(wire.J, json.dumps({"op": "quit"}).encode())
                await asyncio.wait_for(self._next("bye"), 30)
            self._writer.write_eof()
            if self._wait is not None and self.wait_exit:
                await asyncio.wait_for(self._wait(), 30)
        except (TimeoutError, OSError, ConnectionError, NodeError):
            pass
        finally:
            if self._task is not None:
                self._task.cancel()


def _check_chunks(f: LocalFile, data: bytes, first: int, end: int, starts: Sequence[int]) -> None:
    """``data`` (chunks first..end-1 of ``f``) is still what was chunked."""
    view, table = memoryview(data), f.table
    for i in range(first, end):
        chunk = view[starts[i] - starts[first] : starts[i + 1] - starts[first]]
        if xxhash.xxh3_128_digest(chunk) != table[i * REC : i * REC + 16]:
            raise WorkbenchError(f"{f.source}: changed since it was chunked; is a build running?")


def run_digests(files: Sequence[LocalFile], missing: Sequence[Sequence[tuple[int, int]]]) -> list[list[str]]:
    """sha256 of each run of chunks that travels, read from the local files (checked against
    the chunk table first: a file rewritten since it was chunked stops the push here)."""
    out: list[list[str]] = []
    for f, runs in zip(files, missing, strict=True):
        starts = [0, *itertools.accumulate(n for _, _, n in f.chunks())] if runs else []
        digests = []
        with open(f.source, "rb") as fh:
            for first, count in runs:
                fh.seek(starts[first])
                data = fh.read(starts[first + count] - starts[first])
                _check_chunks(f, data, first, first + count, starts)
                digests.append(hashlib.sha256(data).hexdigest())
        out.append(digests)
    return out


def agent_command(index: str = f"{AGENT_DIR}/push-index", *, sudo: bool = False) -> str:
    """Run the cached agent, or exit 97 so the caller installs it first.

    Relative destinations are relative to the login directory ($HOME), also under sudo.
    """
    f = f'"{AGENT_DIR}/agent-{AGENT_HASH}.py"'
    # -S: no site import at start-up (the agent is stdlib-only; site and the .pth files it
    # runs cost 14-19 ms per node here); zstandard, if the node has it, is looked up later
    py = "sudo -n python3 -S" if sudo else "python3 -S"
    return f'[ -f {f} ] || exit {MISSING_AGENT}; cd "$HOME" && exec {py} {f} serve "{index}"'


def install_command() -> str:
    f = f"{AGENT_DIR}/agent-{AGENT_HASH}.py"
    tmp = f"{f}.$$"
    return f'mkdir -p "{AGENT_DIR}" && cat > "{tmp}" && mv "{tmp}" "{f}"'


async def launch(conn: Any, node: str, *, sudo: bool = False) -> AgentSession:
    """Start the agent over one exec channel of ``conn`` (an asyncssh connection)."""
    installed = 0
    for attempt in (1, 2):
        proc = await conn.create_process(agent_command(sudo=sudo), encoding=None)
        session = AgentSession(node, proc.stdout, proc.stdin, proc.wait)
        session.bytes_written = installed
        session.wait_exit = False  # after "bye" the index is closed; exit is the node's business
        try:
            await session.start()
            return session
        except NodeError as exc:
            result = await proc.wait()
            if result.exit_status == MISSING_AGENT and attempt == 1:
                await conn.run(install_command(), input=AGENT_SOURCE, encoding=None, check=True)
                installed = len(AGENT_SOURCE)
                continue
            err = (result.stderr or b"")
            text = err.decode(errors="replace").strip().splitlines()[-1:] if err else []
            raise NodeError(node, f"push agent failed to start: {text[0] if text else exc}") from None
    raise NodeError(node, "push agent failed to start")  # pragma: no cover


async def launch_local(node: str, index: Path, python: str = "python3") -> AgentSession:
    """Run the agent as a local subprocess (tests and the node-less dry path)."""
    proc = await asyncio.create_subprocess_exec(
        python, "-S", wire.__file__, "serve", str(index),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None and proc.stdin is not None
    session = AgentSession(node, proc.stdout, proc.stdin, proc.wait)
    await session.start()
    return session


__all__ = ["AGENT_HASH", "AgentSession", "agent_command", "launch", "launch_local", "run_digests"]
