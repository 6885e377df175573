"""State runs as master jobs: one SSH connection to the master, the job published with
``salt --async``, each minion's progress and return read from the master's event bus as it
arrives, and turned into the same ``NodeRun`` / ``SaltReport`` (and JSON, and log lines)
as the masterless runner.

The boot race ("salt services are not running"): a target that does not answer a ping
before the job is waited for (``race_wait``: its enabled salt-minion may start late); one
still silent, or one that never returns within the timeout, is named, with a
``salt-minion-down`` alert whose fix restarts it over SSH and runs the state there again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from workbench.engine.salt.output import SaltOutputError, parse_output, readable_lines
from workbench.engine.salt.runner import LAST_RUN, NodeRun, SaltReport, SaltRunner
from workbench.engine.salt_master.doctor import master_down_alert, minion_down_alert
from workbench.engine.salt_master.job_events import (
    JobEvent,
    json_documents,
    parse_event_line,
    progress,
    return_document,
)
from workbench.engine.salt_master.place import SaltPlace
from workbench.engine.ssh.pool import NodeLike, SSHPool
from workbench.errors import NodeError
from workbench.events import Bus, StageFinished, StageProgress, StageStarted
from workbench.redact import redact
from workbench.state import StateDir

_JID = re.compile(r"job ID: (\d+)")
_SILENT = -1  # NodeRun.exit_status of a minion that never answered


class MasterSaltRunner(SaltRunner):
    """``SaltRunner``'s interface, run as one job on the cluster's salt-master."""

    def __init__(
        self, pool: SSHPool, state: StateDir, bus: Bus | None = None, *, master: NodeLike,
        place: Callable[[NodeLike], SaltPlace] = lambda _n: SaltPlace(), pipeline: str = "salt",
        ping_timeout: float = 5.0, race_wait: float = 30.0, job_timeout: float = 900.0,
        salt_tree: str = "/srv/salt",
    ) -> None:
        super().__init__(pool, state, bus, pipeline=pipeline, salt_tree=salt_tree)
        self.master = master
        self.place = place
        self.ping_timeout = ping_timeout
        self.race_wait = race_wait
        self.job_timeout = job_timeout

    # -- the master's commands ------------------------------------------------------------
    def _salt(self, program: str, *args: str) -> str:
        return self.place(self.master).salt(program, *args)

    async def ping(self, names: Sequence[str], timeout: float | None = None) -> set[str]:
        """The targets that answer ``test.ping`` through the master."""
        if not names:
            return set()
        wait = timeout or self.ping_timeout
        result = await self.pool.run(
            self.master, self._salt("salt", "-L", ",".join(names), "test.ping", "--out=json",
                                    "-t", f"{max(1, round(wait))}"),
            timeout=wait + 60,
        )
        return {name for doc in json_documents(result.stdout) if isinstance(doc, dict)
                for name, answer in doc.items() if answer is True}

    async def wait_connected(self, nodes: Sequence[NodeLike], within: float) -> set[str]:
        """Poll until every node answers or ``within`` seconds passed; the ones that answered."""
        deadline = time.monotonic() + within
        up: set[str] = set()
        while True:
            left = deadline - time.monotonic()
            up |= await self.ping([n.name for n in nodes if n.name not in up], min(self.ping_timeout, max(left, 1)))
            if len(up) == len(nodes) or time.monotonic() >= deadline:
                return up

    # -- a run ------------------------------------------------------------------------------
    async def run(
        self, nodes: Sequence[NodeLike], *, state_name: str | None = None, timeout: float | None = None,
    ) -> SaltReport:
        start = time.monotonic()
        self.pool.remember([self.master, *nodes])
        for node in nodes:
            self._publish(StageStarted(self.pipeline, "salt", node.name))
        by_name = {n.name: n for n in nodes}
        runs: dict[str, NodeRun] = {}
        raced: set[str] = set()
        active = await self.pool.run(self.master, self.place(self.master).is_active("salt-master"), timeout=60)
        if not active.ok:
            return self._master_down(nodes, start)
        async with self._listener() as lines:  # starts while the ping runs
            up = await self._prepare(nodes, start, runs, raced)
            targets = [n for n in nodes if n.name in up]
            if targets:
                await self._listening(lines)
                jid = await self._publish_job(targets, state_name)
                runs.update(await self._collect(jid, targets, lines, timeout or self.job_timeout, start, raced))
        silent = [n for n in nodes if n.name not in up or runs[n.name].exit_status == _SILENT]
        for node in silent:
            run = runs[node.name]
            self._publish(StageFinished(self.pipeline, "salt", node.name, ok=False, error=run.error, seconds=run.seconds))
        ordered = tuple(runs[n.name] for n in nodes)
        alerts = tuple(minion_down_alert(self, node, state_name) for node in silent)
        previous = set(self.last_failed()) - set(by_name)
        self.state.write_json(LAST_RUN, {
            "failed": sorted(previous | {r.node for r in ordered if not r.ok}),
            "state": state_name or "highstate", "at": time.time(), "mode": "master",
        })
        return SaltReport(ordered, time.monotonic() - start, alerts)

    def _master_down(self, nodes: Sequence[NodeLike], start: float) -> SaltReport:
        why = f"salt-master is not running on {self.master.name}"
        runs = tuple(NodeRun(n.name, False, seconds=time.monotonic() - start, error=why) for n in nodes)
        for run in runs:
            self._publish(StageFinished(self.pipeline, "salt", run.node, ok=False, error=why, seconds=run.seconds))
        return SaltReport(runs, time.monotonic() - start,
                          (master_down_alert(self.pool, self.master, self.place(self.master)),))

    async def _prepare(
        self, nodes: Sequence[NodeLike], start: float, runs: dict[str, NodeRun], raced: set[str],
    ) -> set[str]:
        """The targets connected to the master, after waiting ``race_wait`` for the others (the
        boot race: an enabled salt-minion that systemd starts late). Nothing is started here: a
        minion still silent was stopped or is broken, and is named with an alert."""
        up = await self.ping([n.name for n in nodes])
        down = [n for n in nodes if n.name not in up]
        if down:
            raced |= {n.name for n in down}
            self._log(self.master.name, f"not connected to the master: {', '.join(n.name for n in down)}; "
                                        f"waiting up to {self.race_wait:g}s (salt-minion starting late?)")
            up |= await self.wait_connected(down, self.race_wait)
        for node in nodes:
            if node.name not in up:
                runs[node.name] = self._failed(
                    node, start, f"salt-minion is not connected to the master (waited {self.race_wait:g}s)", race=True)
        return up

    @contextlib.asynccontextmanager
    async def _listener(self) -> AsyncIterator[asyncio.Queue[str | None]]:
        """``salt-run state.event`` on the master, its lines in a queue, ended on exit."""
        conn = await self.pool.connect(self.master)
        place = self.place(self.master)
        listener = await conn.create_process(
            place.until_stdin_closes(place.salt("salt-run", "state.event", "pretty=False", sudo=False)),
            encoding="utf-8", errors="replace",
        )
        lines: asyncio.Queue[str | None] = asyncio.Queue()

        async def read() -> None:
            async for line in listener.stdout:
                lines.put_nowait(line)
            lines.put_nowait(None)

        reader = asyncio.create_task(read())
        try:
            yield lines
        finally:
            with contextlib.suppress(Exception):
                listener.stdin.write_eof()  # the remote shell stops salt-run and ends
                async with asyncio.timeout(10):
                    await listener.wait()
            listener.close()
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader

    async def _listening(self, lines: asyncio.Queue[str | None]) -> None:
        """Wait until the listener prints: any event (the ping's, usually) or one we send."""
        while not lines.empty():
            if lines.get_nowait() is not None:
                return
            raise NodeError(self.master.name, "salt-run state.event ended (is salt-master running?)")
        tag = f"workbench/listening/{secrets.token_hex(4)}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            await self.pool.run(self.master, self._salt("salt-run", "event.send", tag), timeout=60)
            try:
                async with asyncio.timeout(5):
                    while (line := await lines.get()) is not None:
                        if line.startswith(tag + "\t"):
                            return
                    raise NodeError(self.master.name, "salt-run state.event ended (is salt-master running?)")
            except TimeoutError:
                continue
        raise NodeError(self.master.name, "the master's event bus did not answer within 60s")

    async def _publish_job(self, targets: Sequence[NodeLike], state_name: str | None) -> str:
        fun = ["state.apply", state_name] if state_name else ["state.highstate"]
        result = await self.pool.run(
            self.master, self._salt("salt", "--async", "-L", ",".join(n.name for n in targets), *fun),
            timeout=120,
        )
        found = _JID.search(result.stdout)
        if not result.ok or found is None:
            tail = (result.stderr.strip().splitlines() or result.stdout.strip().splitlines() or ["no job id"])[-1]
            raise NodeError(self.master.name, redact(f"salt --async failed: {tail}"))
        self._log(self.master.name, f"job {found.group(1)}: {' '.join(fun)} on {len(targets)} minion(s)")
        return found.group(1)

    async def _collect(
        self, jid: str, targets: Sequence[NodeLike], lines: asyncio.Queue[str | None], timeout: float,
        start: float, raced: set[str],
    ) -> dict[str, NodeRun]:
        runs: dict[str, NodeRun] = {}
        wanted = {n.name for n in targets}
        deadline = time.monotonic() + timeout
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(asyncio.get_running_loop().time() + timeout):
                while wanted - set(runs):
                    line = await lines.get()
                    if line is None:
                        break
                    event = parse_event_line(line)
                    if event is not None and event.jid == jid and event.minion in wanted:
                        self._on_event(event, runs, start, raced)
        missing = [n for n in targets if n.name not in runs]
        if missing:  # returns the listener missed are still in the master's job cache
            for event in await self._lookup(jid, missing):
                self._on_event(event, runs, start, raced)
        waited = timeout if time.monotonic() >= deadline else time.monotonic() - start
        for node in targets:
            if node.name not in runs:
                runs[node.name] = self._failed(node, start, f"no return within {waited:.0f}s (salt-minion down?)")
        return runs

    def _on_event(self, event: JobEvent, runs: dict[str, NodeRun], start: float, raced: set[str]) -> None:
        node = event.minion or ""
        if event.kind == "prog":
            step = progress(event)
            if step is not None:
                done, total, state = step
                self._publish(StageProgress(self.pipeline, "salt", node, done, total, state.id))
        elif event.kind == "ret" and node not in runs:
            runs[node] = self._node_run(event, start, node in raced)
            run = runs[node]
            self._publish(StageFinished(self.pipeline, "salt", node, ok=run.ok, error=run.error, seconds=run.seconds))

    def _node_run(self, event: JobEvent, start: float, raced: bool) -> NodeRun:
        node = event.minion or ""
        doc, retcode = return_document(event)
        seconds = time.monotonic() - start
        for line in readable_lines(doc):
            self._log(node, line)
        try:
            states = tuple(parse_output(doc))
        except SaltOutputError as exc:
            return NodeRun(node, False, seconds=seconds, exit_status=retcode, error=redact(str(exc)), race=raced)
        failed = [s for s in states if s.result is False]
        ok = retcode == 0 and bool(states) and not failed
        error = None
        if not ok:
            first = failed[0] if failed else None
            detail = (f"{first.id}: {first.comment.splitlines()[0] if first.comment else ''}" if first
                      else f"retcode {retcode}")
            error = redact(f"{len(failed)} state(s) failed; {detail}" if failed else detail)
        return NodeRun(node, ok, states, seconds, retcode, error, retried=raced, race=raced)

    async def _lookup(self, jid: str, nodes: Sequence[NodeLike]) -> list[JobEvent]:
        result = await self.pool.run(self.master, self._salt("salt-run", "jobs.lookup_jid", jid, "--out=json"), timeout=120)
        start = result.stdout.find("{")
        try:
            doc = json.JSONDecoder().raw_decode(result.stdout[start:])[0] if start >= 0 else {}
        except ValueError:
            return []
        names = {n.name for n in nodes}
        if not isinstance(doc, dict):
            return []
        # lookup_jid gives each minion's return, without its retcode: failed states decide
        return [JobEvent(jid, "ret", name, {"return": ret, "retcode": _retcode(ret)})
                for name, ret in doc.items() if name in names]

    def _failed(self, node: NodeLike, start: float, why: str, *, race: bool = False) -> NodeRun:
        return NodeRun(node.name, False, seconds=time.monotonic() - start, exit_status=_SILENT,
                       error=f"{node.name}: {why}", race=race)


def _retcode(ret: Any) -> int:
    if isinstance(ret, dict) and all(isinstance(v, dict) and v.get("result") is not False for v in ret.values()):
        return 0
    return 2
