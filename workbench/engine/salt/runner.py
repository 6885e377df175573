"""Salt runs on every node at once: streamed, parsed per state, retried past the boot race.

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
from dataclasses import dataclass, field
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
from workbench.models.alerts import Alert, Fix
from workbench.redact import redact
from workbench.state import StateDir

LAST_RUN = "salt-last.json"
INSTALL_FAILED = 97
RACE = re.compile(
    r"(?i)salt[- ]minion service is not running|salt services? (?:are |is )?not running"
)
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
    race: bool = False  # the "salt services not running" race was seen (and outlived the retry?)
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
                 salt_tree: str) -> None:
        self.pool = pool
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
        alerts = tuple(
            salt_minion_down_alert(self, node, state_name)
            for node, run in zip(nodes, runs, strict=True) if run.race and not run.ok
        )
        previous = set(self.last_failed()) - {n.name for n in nodes}
        self.state.write_json(LAST_RUN, {
            "failed": sorted(previous | {r.node for r in runs if not r.ok}),
            "state": state_name or "highstate", "at": time.time(),
        })
        return SaltReport(tuple(runs), time.monotonic() - start, alerts)

    async def _one(self, node: NodeLike, state_name: str | None, token: str, timeout: float | None) -> NodeRun:
        self._publish(StageStarted(self.pipeline, "salt", node.name))
        start = time.monotonic()
        run = await self._attempt(node, state_name, token, timeout, start)
        if run.race and not run.ok:
            self._log(node.name, "salt services were not running (boot race); retrying once")
            again = await self._attempt(node, state_name, token, timeout, start)
            run = NodeRun(**{**again.__dict__, "retried": True, "race": again.race})
        self._publish(StageFinished(
            self.pipeline, "salt", node.name, ok=run.ok, error=run.error, seconds=run.seconds,
        ))
        return run

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
        race = bool(RACE.search(result.stdout) or RACE.search(result.stderr))
        try:
            states = tuple(parse_output(result.stdout))
        except SaltOutputError as exc:
            return NodeRun(node.name, False, seconds=seconds, exit_status=result.exit_status,
                           error=redact(str(exc)), race=race, installed=installed)
        failed = [s for s in states if s.result is False]
        ok = result.exit_status == 0 and bool(states) and not failed
        error = None
        if not ok:
            first = failed[0] if failed else None
            detail = f"{first.id}: {first.comment.splitlines()[0] if first.comment else ''}" if first else (
                (result.stderr.strip().splitlines() or [f"exit status {result.exit_status}"])[-1])
            error = redact(f"{len(failed)} state(s) failed; {detail}" if failed else detail)
        return NodeRun(node.name, ok, states, seconds, result.exit_status, error, race=race, installed=installed)

    def _log(self, node: str, text: str) -> None:
        self._publish(LogLine("salt", node, text, "info"))

    def _publish(self, event: Any) -> None:
        if self.bus is not None:
            self.bus.publish(event)


def salt_minion_down_alert(runner: SaltRunner, node: NodeLike, state_name: str | None) -> Alert:
    """The race outlived the retry: restart the minion and rerun the state on that node."""

    async def fix() -> str:
        await runner.pool.run(node, "sudo systemctl restart salt-minion", check=True, source="salt")
        report = await runner.run([node], state_name=state_name)
        run = report.runs[0]
        return f"restarted salt-minion on {node.name}; state run {'ok' if run.ok else 'failed: ' + str(run.error)}"

    return Alert(
        kind="salt-minion-down", severity="error", subject=node.name,
        message=f"{node.name}: Salt reports its services not running, even after a retry",
        command=f"workbench ssh {node.name} -- sudo systemctl restart salt-minion",
        fixes=(Fix("restart", f"restart salt-minion on {node.name} and rerun the state", fix, destructive=False),),
    )
