"""Salt runs on every node at once (``salt-call --local``): streamed, parsed per state, and
retried once after a state run that was already going on the node.

Masterless Salt needs no daemon, so a salt-minion that starts late at boot changes nothing
here (master mode's runner waits for connected minions instead). What does collide is a
second state run: Salt refuses it while another holds the node's state lock ("The function
"state.highstate" is running as PID N", a one-item list and exit status 1), e.g. a
highstate cloud-init or a person started at boot, or another workbench. The runner waits
for that PID to end, then runs once more.

The kubelet token is the cluster's (``StateDir.cluster_token``); provisioning hands it to
Salt in 0600 pillar and overlay files (never on salt-call's command line, which ``ps``
shows to every user), so re-provisioning never mints a new one. ``salt-call --out=json`` is parsed where it
parses; Salt's text highstate format otherwise. A failing or unreachable node never stops
the others; the ones that failed are remembered for ``failed=True``.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import asyncssh

from workbench.engine.salt.output import (  # noqa: F401  (parsers re-exported for callers)
    SaltOutputError,
    StateResult,
    parse_highstate_text,
    parse_json_output,
    parse_output,
    readable_lines,
)
from workbench.engine.salt.pillar import pillar_root_option, provisioned_pillar_root
from workbench.engine.ssh.pool import NodeLike, SSHPool
from workbench.errors import NodeError, WorkbenchError
from workbench.events import Bus, LogLine, StageFinished, StageStarted
from workbench.models.alerts import Alert
from workbench.redact import redact
from workbench.state import StateDir

LAST_RUN = "salt-last.json"
INSTALL_FAILED = 97
#: Salt's answer while another state run holds the node's lock (salt/state.py, running())
BUSY = re.compile(r'The function \\?"state\.[\w.]+\\?" is running as PID (\d+)')  # JSON escapes the quotes
BUSY_WAIT_S = 600.0  # the other run's own highstate: as long as ours may take
INSTALL = (
    "command -v salt-call >/dev/null 2>&1 || {"
    " echo 'salt-call not found; installing salt-minion' >&2;"
    " if command -v dnf >/dev/null 2>&1; then sudo dnf -y install salt-minion;"
    " elif command -v yum >/dev/null 2>&1; then sudo yum -y install salt-minion;"
    " elif command -v apt-get >/dev/null 2>&1; then sudo apt-get update -q &&"
    " sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q salt-minion;"
    " else echo 'no dnf, yum or apt-get to install salt with' >&2; false; fi;"
    " } || exit 97"
)


@dataclass(frozen=True)
class NodeRun:
    """One node's state run."""

    node: str
    ok: bool
    states: tuple[StateResult, ...] = ()
    seconds: float = 0.0
    exit_status: int | None = None
    error: str | None = None
    retried: bool = False
    busy_pid: int | None = None  # another state run held the node's state lock (its PID)
    race: bool = False  # master mode: the minion was not connected at first (salt_master/jobs.py)
    installed: bool = False

    @property
    def succeeded(self) -> int:
        return sum(1 for s in self.states if s.result is not False)

    @property
    def failed(self) -> int:
        return sum(1 for s in self.states if s.result is False)

    @property
    def changed(self) -> int:
        return sum(1 for s in self.states if s.changed)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.node, "ok": self.ok, "succeeded": self.succeeded,
            "failed": self.failed, "changed": self.changed, "seconds": round(self.seconds, 3),
            "retried": self.retried, "error": self.error,
            "failed_states": [
                {"id": s.id, "function": s.function, "comment": s.comment}
                for s in self.states if s.result is False
            ],
        }


@dataclass(frozen=True)
class SaltReport:
    runs: tuple[NodeRun, ...]
    wall_s: float
    alerts: tuple[Alert, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.runs)

    @property
    def failed_nodes(self) -> tuple[str, ...]:
        return tuple(r.node for r in self.runs if not r.ok)

    def to_json(self) -> dict[str, Any]:
        return {
            "nodes": [r.to_json() for r in self.runs], "ok": self.ok,
            "wall_s": round(self.wall_s, 3), "alerts": [a.to_json() for a in self.alerts],
        }


# -- running ------------------------------------------------------------------------------

def salt_command(state_name: str | None, pillar_root: str, *, json_out: bool = True) -> str:
    """The state run; no secret on it (the pillar is a file under ``pillar_root``)."""
    fun = "state.highstate" if not state_name else f"state.apply {shlex.quote(state_name)}"
    out = " --out=json" if json_out else ""
    return f"{INSTALL}; sudo salt-call --local{pillar_root_option(pillar_root)} {fun}{out}"


class SaltRunner:
    def __init__(self, pool: SSHPool, state: StateDir, bus: Bus | None = None, *, pipeline: str = "salt",
                 salt_tree: str, busy_wait: float = BUSY_WAIT_S) -> None:
        self.pool = pool
        self.busy_wait = busy_wait
        self.salt_tree = salt_tree
        self.state = state
        self.bus = bus
        self.pipeline = pipeline

    def last_failed(self) -> list[str]:
        last = self.state.read_json(LAST_RUN, {})
        return list(last.get("failed", [])) if isinstance(last, dict) else []

    def remember_failed(self, names: Iterable[str]) -> None:
        """Nodes that failed before Salt could run (provisioning): ``--failed`` picks them too."""
        last = self.state.read_json(LAST_RUN, {})
        last = last if isinstance(last, dict) else {}
        last["failed"] = sorted({*last.get("failed", []), *names})
        self.state.write_json(LAST_RUN, last)

    def select(self, nodes: Sequence[NodeLike], names: Iterable[str] | None = None, failed: bool = False) -> list[NodeLike]:
        """The nodes to run on: all, the named ones, or those that failed last time."""
        wanted = set(names or ())
        unknown = wanted - {n.name for n in nodes}
        if unknown:
            raise NodeError(sorted(unknown)[0], "no such node in the cluster")
        if failed:
            wanted |= set(self.last_failed())
            if not wanted:
                return []
        return [n for n in nodes if not wanted or n.name in wanted]

    async def run(
        self, nodes: Sequence[NodeLike], *, state_name: str | None = None,
        timeout: float | None = None,
    ) -> SaltReport:
        """Run the state on every node in parallel; remember the ones that failed."""
        start = time.monotonic()
        self.pool.remember(nodes)
        token = self.state.cluster_token()
        runs = await asyncio.gather(*(self._one(n, state_name, token, timeout) for n in nodes))
        previous = set(self.last_failed()) - {n.name for n in nodes}
        self.state.write_json(LAST_RUN, {
            "failed": sorted(previous | {r.node for r in runs if not r.ok}),
            "state": state_name or "highstate", "at": time.time(),
        })
        return SaltReport(tuple(runs), time.monotonic() - start)

    async def _one(self, node: NodeLike, state_name: str | None, token: str, timeout: float | None) -> NodeRun:
        self._publish(StageStarted(self.pipeline, "salt", node.name))
        start = time.monotonic()
        run = await self._attempt(node, state_name, token, timeout, start)
        if run.busy_pid is not None:
            run = await self._after_busy(node, run, state_name, token, timeout, start)
        self._publish(StageFinished(
            self.pipeline, "salt", node.name, ok=run.ok, error=run.error, seconds=run.seconds,
        ))
        return run

    async def _after_busy(self, node: NodeLike, run: NodeRun, state_name: str | None, token: str,
                          timeout: float | None, start: float) -> NodeRun:
        """Wait (on the node, bounded) for the state run that holds the lock, then run once more."""
        pid = run.busy_pid
        self._log(node.name, f"another Salt state run (PID {pid}) holds the state lock; "
                             "waiting for it, then retrying once")
        wait = f"timeout {self.busy_wait:g} sh -c 'while test -d /proc/{pid}; do sleep 0.2; done'"
        try:
            waited = await self.pool.run(node, wait, timeout=self.busy_wait + 30, source=None)
        except (WorkbenchError, asyncssh.Error, OSError) as exc:
            return replace(run, error=f"{node.name}: {exc}")
        if not waited.ok:
            return replace(run, error=f"another Salt state run (PID {pid}) still holds the state lock "
                                      f"after {self.busy_wait:g} s")
        again = await self._attempt(node, state_name, token, timeout, start)
        return replace(again, retried=True)

    async def _attempt(self, node: NodeLike, state_name: str | None, token: str, timeout: float | None, start: float) -> NodeRun:
        try:
            root = await provisioned_pillar_root(self.pool, node)
            # stderr live; stdout (one JSON document at the end) is logged as Salt would show it
            result = await self.pool.run(
                node, salt_command(state_name, root), timeout=timeout, source="salt", streams=("stderr",),
            )
        except (WorkbenchError, asyncssh.Error, OSError) as exc:
            why = str(exc) if isinstance(exc, NodeError) else f"{node.name}: {exc}"
            return NodeRun(node.name, False, seconds=time.monotonic() - start, error=why)
        seconds = time.monotonic() - start
        installed = "installing salt-minion" in result.stderr
        if result.exit_status == INSTALL_FAILED:
            tail = (result.stderr.strip().splitlines() or ["salt-call is missing"])[-1]
            return NodeRun(node.name, False, seconds=seconds, exit_status=result.exit_status,
                           error=f"salt-call missing and could not be installed: {tail}")
        for line in readable_lines(result.stdout):
            self._log(node.name, line)
        busy = BUSY.search(result.stdout) if result.exit_status != 0 else None
        busy_pid = int(busy.group(1)) if busy else None
        try:
            states = tuple(parse_output(result.stdout))
        except SaltOutputError as exc:
            return NodeRun(node.name, False, seconds=seconds, exit_status=result.exit_status,
                           error=redact(str(exc)), installed=installed)
        failed = [s for s in states if s.result is False]
        ok = result.exit_status == 0 and bool(states) and not failed
        error = None
        if not ok:
            first = failed[0] if failed else None
            detail = f"{first.id}: {first.comment.splitlines()[0] if first.comment else ''}" if first else (
                (result.stderr.strip().splitlines() or [f"exit status {result.exit_status}"])[-1])
            error = redact(f"{len(failed)} state(s) failed; {detail}" if failed else detail)
        return NodeRun(node.name, ok, states, seconds, result.exit_status, error, busy_pid=busy_pid,
                       installed=installed)

    def _log(self, node: str, text: str) -> None:
        self._publish(LogLine("salt", node, text, "info"))

    def _publish(self, event: Any) -> None:
        if self.bus is not None:
            self.bus.publish(event)
