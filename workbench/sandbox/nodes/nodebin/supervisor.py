"""The node's service manager: runs unit files as systemd would (stdlib only, in PID 1).

Every unit runs from its file, except ``sshd``: the node's SSH server is the sandbox's own
(asyncssh, outside the node), so sshd only changes state, and the init reports it to the
sandbox, which listens or stops listening on the node's addresses.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import units as unitfiles
import wants
from notify import NotifySocket

HOOKED = {"sshd.service"}
DESCRIPTIONS = {"sshd.service": "OpenSSH server daemon"}
STOP_TIMEOUT = 5.0
#: signals systemd counts as a clean exit (SuccessExitStatus's defaults): no on-failure restart
CLEAN_SIGNALS = {signal.SIGHUP, signal.SIGINT, signal.SIGTERM, signal.SIGPIPE}


def _signame(signo: int) -> str:
    try:
        return signal.Signals(signo).name.removeprefix("SIG")
    except ValueError:
        return str(signo)


@dataclass
class State:
    name: str
    file: unitfiles.UnitFile | None = None
    active: str = "inactive"  # inactive, activating, active, deactivating, failed
    sub: str = "dead"
    pid: int = 0
    starts: int = 0
    since: float = field(default_factory=time.time)
    result: str = "success"
    exit_status: int = 0
    stopping: bool = False
    restart_task: asyncio.Task[None] | None = None
    restarts: int = 0  # automatic restarts (Restart=), systemd's NRestarts
    status_text: str = ""  # the last STATUS= a notify unit sent
    notify: NotifySocket | None = None
    ready: asyncio.Future[bool] | None = None

    @property
    def hooked(self) -> bool:
        return self.name in HOOKED

    @property
    def description(self) -> str:
        return (self.file.description if self.file else "") or DESCRIPTIONS.get(self.name, self.name)


class Supervisor:
    """Unit states, starts and stops; ``notify(name, active, starts)`` after each change."""

    def __init__(self, host: str, notify: Callable[[State], None],
                 reap: Callable[[int], asyncio.Future[int]]) -> None:
        self.host = host
        self.notify = notify
        self.reap = reap  # pid -> future of its wait status, set by the init's SIGCHLD handler
        self.states: dict[str, State] = {}
        self.delay: dict[str, float] = {}  # unit -> seconds its boot start waits (salt-race)
        self.tasks: set[asyncio.Task[Any]] = set()

    def _keep(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # -- unit files -----------------------------------------------------------------
    def state(self, name: str) -> State:
        name = unitfiles.canonical(name)
        st = self.states.get(name)
        if st is None:
            st = self.states[name] = State(name)
            path = unitfiles.find(name)
            if path:
                st.file = unitfiles.parse(name, path)
        return st

    def known(self, name: str) -> bool:
        st = self.state(name)
        return st.file is not None or st.hooked

    def reload(self) -> None:
        for st in self.states.values():
            path = unitfiles.find(st.name)
            st.file = unitfiles.parse(st.name, path) if path else None

    def need_reload(self, st: State) -> bool:
        if st.file is None:
            return unitfiles.find(st.name) is not None
        return st.file.changed_on_disk()

    def enabled(self, name: str) -> str:
        st = self.state(name)
        return wants.state(st.name, st.file, st.file is not None or st.hooked)

    def enable(self, name: str, on: bool) -> list[str]:
        st = self.state(name)
        return wants.link(st.name, st.file, on)

    # -- journal --------------------------------------------------------------------
    def log(self, st: State, text: str, ident: str = "systemd", pid: int = 1) -> None:
        with contextlib.suppress(OSError):
            unitfiles.journal(st.name.removesuffix(".service"), ident, pid, text, self.host)

    def _set(self, st: State, active: str, sub: str) -> None:
        st.active, st.sub, st.since = active, sub, time.time()
        self.notify(st)

    # -- start / stop ---------------------------------------------------------------
    async def start(self, name: str, _chain: frozenset[str] = frozenset()) -> str | None:
        """Start a unit (and what it Requires); None, or why it failed."""
        st = self.state(name)
        if st.active in ("active", "activating"):
            return None
        if not self.known(st.name):
            return f"Unit {st.name} not found."
        if st.file:
            for dep in st.file.requires:
                if dep not in _chain and self.known(dep):
                    why = await self.start(dep, _chain | {st.name})
                    if why:
                        return f"Dependency failed for {st.description}."
        self.log(st, f"Starting {st.description}...")
        st.starts += 1
        st.stopping = False
        if st.hooked:
            self._set(st, "active", "running")
            self.log(st, f"Started {st.description}.")
            return None
        assert st.file is not None
        self._set(st, "activating", "start-pre")
        env = self._environment(st)
        if env is None:
            return self._failed(st, "resources", "Failed to load environment files.")
        for argv in st.file.exec_start_pre:
            status = await self._run(st, unitfiles.expand(argv, env), env, main=False)
            if status != 0:
                return self._failed(st, "exit-code", f"Control process exited, code=exited, status={status}")
        if not st.file.exec_start:
            return self._failed(st, "resources", "Service has no ExecStart= setting. Refusing.")
        if st.file.type == "notify":
            self._close_notify(st)
            st.notify = NotifySocket(st.name, lambda fields, pid: self._notified(st, fields, pid))
            st.ready = asyncio.get_running_loop().create_future()
            env["NOTIFY_SOCKET"] = st.notify.path
        try:
            proc = self._spawn(st, unitfiles.expand(st.file.exec_start[0], env), env)
        except OSError as exc:
            self._close_notify(st)
            return self._failed(st, "resources", f"Failed to execute {st.file.exec_start[0][0]}: {exc.strerror}")
        st.pid = proc
        exited = self.reap(proc)
        if st.file.type == "oneshot":
            status = await exited
            st.pid = 0
            if status != 0:
                return self._failed(st, "exit-code", f"Main process exited, code=exited, status={status}")
            self._set(st, "inactive", "dead")
            self.log(st, f"Finished {st.description}.")
            return None
        if st.file.type == "notify":
            why = await self._until_ready(st, proc, exited)
            if why is not None:
                return why
        self._set(st, "active", "running")
        self.log(st, f"Started {st.description}.")
        self._keep(self._watch(st, proc, exited))
        return None

    async def _until_ready(self, st: State, pid: int, exited: asyncio.Future[int]) -> str | None:
        """A notify unit stays activating until READY=1; None once ready, else why not."""
        assert st.file is not None and st.ready is not None
        limit = st.file.timeout_start_sec
        await asyncio.wait({st.ready, exited}, return_when=asyncio.FIRST_COMPLETED,
                           timeout=None if limit in (0, float("inf")) else limit)
        if st.ready.done() and not exited.done():
            return None
        self._close_notify(st)
        if not exited.done():
            self.log(st, f"{st.name}: start operation timed out. Terminating.")
            await self._terminate(pid, exited)
            st.pid = 0
            return self._failed(st, "timeout", "start operation timed out")
        status = exited.result()
        st.pid, st.exit_status = 0, status
        if st.stopping:
            return "stopped while starting"
        if status == 0:
            return self._failed(st, "protocol", "Main process exited before it sent READY=1")
        self.log(st, f"{st.name}: Main process exited, code=exited, status={status}/FAILURE")
        return self._failed(st, "exit-code", f"Main process exited, code=exited, status={status}")

    def _notified(self, st: State, fields: dict[str, str], pid: int) -> None:
        assert st.file is not None
        access = st.file.notify_access or "main"
        if access == "none" or (access == "main" and pid != st.pid):
            self.log(st, f"{st.name}: Got notification message from PID {pid}, but reception "
                     f"only permitted for main PID {st.pid}")
            return
        if "STATUS" in fields:
            st.status_text = fields["STATUS"]
        if fields.get("READY") == "1" and st.ready is not None and not st.ready.done():
            st.ready.set_result(True)

    def _close_notify(self, st: State) -> None:
        if st.notify is not None:
            st.notify.close()
            st.notify = None

    def _failed(self, st: State, result: str, why: str) -> str:
        st.result = result
        self.log(st, f"{st.name}: {why}")
        self.log(st, f"{st.name}: Failed with result '{result}'.")
        self.log(st, f"Failed to start {st.description}.")
        self._set(st, "failed", "failed")
        return why

    def _environment(self, st: State) -> dict[str, str] | None:
        assert st.file is not None
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin", "LANG": "C.UTF-8"}
        for spec in st.file.environment_files:
            more = unitfiles.read_environment_file(spec)
            if more is None:
                return None
            env.update(more)
        env.update(st.file.environment)
        return env

    def _spawn(self, st: State, argv: list[str], env: dict[str, str]) -> int:
        assert st.file is not None
        kwargs: dict = {}
        if st.file.user and os.getuid() == 0:
            with contextlib.suppress(KeyError):
                entry = pwd.getpwnam(st.file.user)
                kwargs = {"user": entry.pw_uid, "group": entry.pw_gid}
        read, write = os.pipe()
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=write, stderr=write,
                                    env=env, cwd=st.file.working_directory or "/",
                                    start_new_session=True, **kwargs)
        finally:
            os.close(write)
        proc.returncode = 0  # PID 1 reaps every child itself; keep subprocess's cleanup off it
        self._keep(self._pump(st, read, argv[0].rsplit("/", 1)[-1], proc.pid))
        return proc.pid

    async def _pump(self, st: State, fd: int, ident: str, pid: int) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", 0))
        try:
            while line := await reader.readline():
                self.log(st, line.decode(errors="replace").rstrip("\n"), ident, pid)
        finally:
            transport.close()

    async def _run(self, st: State, argv: list[str], env: dict[str, str], main: bool) -> int:
        try:
            pid = self._spawn(st, argv, env)
        except OSError as exc:
            self.log(st, f"Failed to execute {argv[0]}: {exc.strerror}")
            return 203
        return await self.reap(pid)

    async def _watch(self, st: State, pid: int, exited: asyncio.Future[int]) -> None:
        status = await exited
        if st.pid != pid:
            return
        self._close_notify(st)
        st.pid, st.exit_status = 0, status
        if st.stopping:
            return
        signo = status - 128 if status > 128 else 0  # the init reports a death by signal N as 128+N
        ok = status == 0 or signo in CLEAN_SIGNALS
        assert st.file is not None
        if ok:
            self.log(st, f"{st.name}: Deactivated successfully.")
            self._set(st, "inactive", "dead")
        else:
            st.result = "signal" if signo else "exit-code"
            how = f"code=killed, status={signo}/{_signame(signo)}" if signo else \
                f"code=exited, status={status}/FAILURE"
            self.log(st, f"{st.name}: Main process exited, {how}")
            self.log(st, f"{st.name}: Failed with result '{st.result}'.")
            self._set(st, "failed", "failed")
        if st.file.restart == "always" or (st.file.restart == "on-failure" and not ok):
            st.sub = "auto-restart"
            st.restart_task = asyncio.ensure_future(self._restart_later(st))

    async def _restart_later(self, st: State) -> None:
        assert st.file is not None
        await asyncio.sleep(st.file.restart_sec)
        if st.active in ("failed", "inactive") and not st.stopping:
            st.restarts += 1
            self.log(st, f"{st.name}: Scheduled restart job, restart counter is at {st.restarts}.")
            await self.start(st.name)

    async def stop(self, name: str) -> None:
        st = self.state(name)
        st.stopping = True
        if st.restart_task is not None:
            st.restart_task.cancel()
            st.restart_task = None
        if st.active not in ("active", "activating"):
            if st.active == "failed":
                self._set(st, "inactive", "dead")
            return
        self.log(st, f"Stopping {st.description}...")
        pid = st.pid
        if pid:
            await self._terminate(pid, self.reap(pid))
            st.pid = 0
        self._close_notify(st)
        self._set(st, "inactive", "dead")
        self.log(st, f"Stopped {st.description}.")

    async def _terminate(self, pid: int, waiting: asyncio.Future[int]) -> None:
        """SIGTERM to the unit's process group, SIGKILL after STOP_TIMEOUT."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(waiting), STOP_TIMEOUT)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            await waiting

    async def restart(self, name: str) -> str | None:
        st = self.state(name)
        if st.hooked and st.active == "active":  # one event: stop+start seen by the sandbox
            st.starts += 1
            self.log(st, f"Stopping {st.description}...")
            self.log(st, f"Stopped {st.description}.")
            self.log(st, f"Starting {st.description}...")
            self._set(st, "active", "running")
            self.log(st, f"Started {st.description}.")
            return None
        await self.stop(name)
        return await self.start(name)

    # -- boot -----------------------------------------------------------------------
    def boot_order(self) -> list[str]:
        return wants.boot_order(lambda name: self.state(name).file)

    async def boot(self) -> None:
        for name in self.boot_order():
            delay = self.delay.get(name, 0.0)
            if delay > 0:
                asyncio.get_running_loop().call_later(
                    delay, lambda n=name: asyncio.ensure_future(self.start(n)))
                continue
            await self.start(name)
