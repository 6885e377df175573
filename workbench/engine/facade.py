"""The Engine: one facade over the engine modules, running their work as pipelines.

A pipeline is a list of stages run in order, one pipeline at a time (``PipelineBusy``
otherwise); it stops at the first failing stage and ``PipelineFinished`` names that stage
and its nodes. ``cancel`` cancels the running stage's task, so the stage's own cleanup
(``finally`` blocks: the build's process group, a push's temporary files) runs before the
pipeline reports ``Cancelled``. Heavy modules (openstacksdk, asyncssh) are imported
inside methods, never when this module is imported, so the TUI draws first.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from workbench.engine.commands import show_commands
from workbench.engine.heartbeat import Heartbeat
from workbench.engine.parts import Parts
from workbench.errors import Cancelled, NodeError, PipelineBusy, PipelineFailed, WorkbenchError
from workbench.events import (
    Bus,
    PipelineFinished,
    PipelineStarted,
    StageFinished,
    StageStarted,
)
from workbench.models import Alert, Instance
from workbench.profile import Profile
from workbench.state import StateDir

if TYPE_CHECKING:
    from workbench.engine.build import BuildResult
    from workbench.engine.cloud import CloudClient, DownResult, Inventory, UpResult
    from workbench.engine.ssh.pool import SSHPool
    from workbench.engine.stages import PushOutcome
    from workbench.engine.watch import Watcher


@dataclass(frozen=True)
class Stage:
    name: str
    run: Callable[[], Awaitable[None]]


class Engine:
    """Everything the TUI and the headless verbs ask of the engine."""

    def __init__(self, profile: Profile, *, bus: Bus | None = None, state: StateDir | None = None,
                 parts: Parts | None = None) -> None:
        self.parts = parts if parts is not None else Parts(profile, bus=bus, state=state)
        self.running: str | None = None
        self.salt_failed: tuple[str, ...] = ()  # nodes whose last Salt run failed
        self._task: asyncio.Task[None] | None = None
        self._watcher: Watcher | None = None
        #: watch loops and pipelines await this before any cloud call (the TUI's first frame,
        #: a sandbox still booting); None: go at once
        self.start_gate: Callable[[], Awaitable[Any]] | None = None

    # -- the parts (made on first use, in Parts) ----------------------------------------
    @property
    def profile(self) -> Profile:
        return self.parts.profile

    @property
    def bus(self) -> Bus:
        return self.parts.bus

    @property
    def state(self) -> StateDir:
        return self.parts.state

    @property
    def instances(self) -> tuple[Instance, ...]:
        return self.parts.instances

    @property
    def cloud(self) -> CloudClient:
        return self.parts.cloud

    @property
    def inventory(self) -> Inventory:
        return self.parts.inventory

    @property
    def ssh(self) -> SSHPool:
        return self.parts.ssh

    # -- watching ----------------------------------------------------------------------
    async def start(self) -> None:
        """Start the watch loops: inventory, doctor alerts, cluster info (idempotent)."""
        if self._watcher is not None:
            return
        from workbench.engine.watch import Watcher

        self.state.ensure()
        self._watcher = Watcher(self.parts, busy=self._busy)
        self._watcher.start(self.start_gate() if self.start_gate is not None else None)

    async def refresh(self) -> None:
        """Read the instances, the alerts and the cluster info now."""
        from workbench.engine.watch import Watcher

        await (self._watcher or Watcher(self.parts, busy=self._busy)).refresh_all()

    def _busy(self) -> bool:
        return self.running is not None

    def changed(self) -> None:
        """Something changed the cloud or the nodes: the watch loops look again soon."""
        inventory = self.parts.inventory_made
        if inventory is not None:
            inventory.poke()
        if self._watcher is not None:
            self._watcher.poke()

    # -- nodes -------------------------------------------------------------------------
    def node(self, name: str) -> Instance:
        for inst in self.instances:
            if inst.name == name:
                return inst
        raise NodeError(name, "no such instance in this cluster (yet)")

    def node_names(self) -> list[str]:
        return [i.name for i in self.instances if i.status == "ACTIVE"]

    async def open_shell(self, node_name: str, cols: int, rows: int) -> Any:
        """An interactive PTY session on the node, sized cols x rows (bytes in and out)."""
        if not self.instances:
            await self.inventory.refresh()
        return await self.ssh.open_shell(self.node(node_name), size=(cols, rows))

    def system_ssh_argv(self, node_name: str) -> list[str]:
        """argv for the system ``ssh`` to the node: pinned host key, user, key, jump host."""
        return self.ssh.system_ssh_argv(self.node(node_name))

    # -- pipelines ---------------------------------------------------------------------
    async def build(self) -> None:
        await self._pipeline("build", [Stage("build", self._build)])

    async def up(self, minions: int | None = None) -> None:
        if minions is not None and minions != self.profile.cluster.minions:
            self.parts.with_minions(minions)
        await self._pipeline("up", [Stage("instances", self._up), Stage("connect", self._connect)])

    async def push(self, direct: bool = False) -> None:
        await self._pipeline("push", [Stage("push", lambda: self._push(direct))])

    # -- the headless verbs: the same pipelines, returning what the verb prints ------------
    async def build_result(self) -> BuildResult:
        """The ``build`` pipeline; its result, failed or not."""
        from workbench.engine import stages

        got: list[BuildResult] = []
        await self._kept(got, "build", [Stage("build", lambda: stages.build(self.parts, got.append))])
        return got[0]

    async def up_result(self, *, fix_leaked: bool = False, timeout: float = 600.0) -> UpResult:
        """The ``up`` pipeline's instances stage (``workbench up``); its result, failed or not.
        A preflight refusal (``PreflightError``) is raised as itself."""
        from workbench.engine import stages

        got: list[UpResult] = []
        await self._kept(got, "up", [Stage("instances", lambda: stages.up(
            self.parts, fix_leaked=fix_leaked, timeout=timeout, done=got.append))])
        return got[0]

    async def down_result(self) -> DownResult:
        """The ``down`` pipeline; its result, failed or not."""
        from workbench.engine import stages

        got: list[DownResult] = []
        await self._kept(got, "down", [Stage("down", lambda: stages.down(self.parts, got.append))])
        return got[0]

    async def push_result(self, nodes: Sequence[Instance], *, direct: bool = False,
                          dry_run: bool = False) -> PushOutcome:
        """The ``push`` pipeline to these nodes; its outcome, failed or not."""
        from workbench.engine import stages

        got: list[PushOutcome] = []

        async def run() -> None:
            await stages.push_nodes(self.parts, "push", nodes, direct=direct, dry_run=dry_run, done=got.append)

        await self._kept(got, "push", [Stage("push", run)])
        return got[0]

    async def _kept(self, got: Sequence[object], name: str, stages: Sequence[Stage]) -> None:
        """Run the pipeline; when its stage failed after handing over its result, the caller
        gets that result (history and events already say it failed). A failure before any
        result is raised as the error the stage raised."""
        try:
            await self._pipeline(name, stages)
        except PipelineFailed as exc:
            if got:
                return
            if isinstance(exc.__cause__, WorkbenchError):
                raise exc.__cause__ from None
            raise

    async def salt(self, failed_only: bool = False) -> None:
        await self._pipeline("salt", [Stage("salt", lambda: self._salt(failed_only))])

    async def redeploy(self) -> None:
        """build -> up -> push -> salt -> verify, stopping at the first failure. ``up`` creates
        only what is missing, so from an empty cloud this brings the whole cluster up."""
        await self._pipeline("redeploy", [
            Stage("build", self._build),
            Stage("up", self._redeploy_up),
            Stage("push", lambda: self._push(False)),
            Stage("salt", lambda: self._salt(False)),
            Stage("verify", self._verify),
        ])

    async def down(self) -> None:
        await self._pipeline("down", [Stage("down", self._down)])

    async def fix(self, alert: Alert, fix_name: str | None = None) -> str:
        """Run one of the alert's fixes (the first by default) as the ``fix`` pipeline;
        returns what it did. The TUI and ``workbench doctor --fix`` both come here."""
        from workbench.engine.doctor.core import choose_fix

        chosen = choose_fix(alert, fix_name)
        summary: list[str] = []

        async def run_fix() -> None:
            summary.append(await chosen.run())

        await self._pipeline("fix", [Stage(f"{alert.kind}:{chosen.name}", run_fix)])
        return summary[0] if summary else ""

    def cancel(self) -> None:
        """Cancel the running pipeline; its stage cleans up before it reports Cancelled."""
        if self._task is not None and not self._task.done():
            self._task.cancel()

    async def _pipeline(self, name: str, stages: Sequence[Stage]) -> None:
        if self.running is not None:
            raise PipelineBusy(f"{self.running} is running: wait for it or cancel it")
        self.running = name
        task = asyncio.create_task(self._gated(name, stages), name=f"pipeline-{name}")
        self._task = task
        try:
            await task
        finally:
            if not task.done():  # our caller was cancelled: let the stage clean up first
                task.cancel()
                await asyncio.wait({task})
            self.running = None
            self._task = None
            self.changed()

    async def _gated(self, name: str, stages: Sequence[Stage]) -> None:
        if self.start_gate is not None:
            await self.start_gate()
        await self._run_stages(name, stages)

    async def _run_stages(self, name: str, stages: Sequence[Stage]) -> None:
        self.bus.publish(PipelineStarted(name, tuple(s.name for s in stages)))
        started = time.monotonic()
        record: list[dict[str, Any]] = []
        for stage in stages:
            self.bus.publish(StageStarted(name, stage.name))
            show_commands(self, self.bus, name, stage.name)
            t0 = time.monotonic()
            try:
                await self._with_heartbeat(name, stage)
            except asyncio.CancelledError:
                self._failed(name, stage.name, "cancelled", (), t0, started, record, cancelled=True)
                raise Cancelled(f"{name} cancelled during {stage.name}") from None
            except PipelineFailed as exc:
                self._failed(name, stage.name, exc.message, exc.nodes, t0, started, record)
                raise PipelineFailed(name, stage.name, exc.message, exc.nodes) from None
            except WorkbenchError as exc:
                nodes = (exc.node,) if isinstance(exc, NodeError) else ()
                self._failed(name, stage.name, str(exc), nodes, t0, started, record)
                raise PipelineFailed(name, stage.name, str(exc), nodes) from exc
            seconds = time.monotonic() - t0
            record.append({"stage": stage.name, "seconds": round(seconds, 3), "ok": True})
            self.bus.publish(StageFinished(name, stage.name, ok=True, seconds=seconds))
        self.bus.publish(PipelineFinished(name, True))
        self._remember(name, True, started, record)

    async def _with_heartbeat(self, name: str, stage: Stage) -> None:
        """The stage, with a line every few seconds while it runs long (never silent)."""
        beat = Heartbeat(self.bus, name, stage.name)
        ticker = asyncio.create_task(beat.run(), name=f"heartbeat-{name}-{stage.name}")
        try:
            await stage.run()
        finally:
            ticker.cancel()
            beat.close()
            await asyncio.wait({ticker})

    def _failed(self, name: str, stage: str, error: str, nodes: tuple[str, ...], t0: float,
                started: float, record: list[dict[str, Any]], *, cancelled: bool = False) -> None:
        seconds = time.monotonic() - t0
        record.append({"stage": stage, "seconds": round(seconds, 3), "ok": False})
        self.bus.publish(StageFinished(name, stage, ok=False, error=error, seconds=seconds))
        self.bus.publish(PipelineFinished(name, False, error=error, failed_stage=stage, failed_nodes=nodes,
                                          cancelled=cancelled))
        self._remember(name, False, started, record)

    def _remember(self, name: str, ok: bool, started: float, record: list[dict[str, Any]]) -> None:
        try:
            self.state.ensure().append_history("pipelines", {
                "pipeline": name, "ok": ok, "at": time.time(),
                "seconds": round(time.monotonic() - started, 3), "stages": record,
            })
        except (OSError, WorkbenchError) as exc:
            self.bus.notice(f"could not record the {name} history: {exc}", "warning")

    # -- stages (in stages.py; imported when a pipeline runs) --------------------------
    async def _build(self) -> None:
        from workbench.engine import stages

        await stages.build(self.parts)

    async def _up(self) -> None:
        from workbench.engine import stages

        await stages.up(self.parts)

    async def _redeploy_up(self) -> None:
        from workbench.engine import stages

        await stages.up(self.parts, pipeline=self.running or "redeploy", stage="up")

    async def _connect(self) -> None:
        from workbench.engine import stages

        await stages.connect(self.parts, self.running or "connect", "connect")

    async def _down(self) -> None:
        from workbench.engine import stages

        await stages.down(self.parts)

    async def _push(self, direct: bool) -> None:
        from workbench.engine import stages

        await stages.push(self.parts, self.running or "push", direct)

    async def _salt(self, failed_only: bool) -> None:
        from workbench.engine import stages

        self.salt_failed = await stages.salt(self.parts, self.running or "salt", failed_only)

    async def _verify(self) -> None:
        from workbench.engine import stages

        await stages.verify(self.parts, self.running or "verify")

    async def drop_connections(self) -> None:
        """Close every SSH connection (the nodes went away)."""
        await self.parts.drop_connections()

    # -- shutdown ----------------------------------------------------------------------
    async def close(self) -> None:
        """Stop the watch loops and any pipeline (cleanly), then close connections."""
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task})
        if self._watcher is not None:
            await self._watcher.stop()
            self._watcher = None
        await self.parts.close()
