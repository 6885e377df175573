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
from workbench.errors import Cancelled, NodeError, PipelineBusy, PipelineFailed, WorkbenchError
from workbench.events import (
    Bus,
    Event,
    InstancesChanged,
    PipelineFinished,
    PipelineStarted,
    StageFinished,
    StageStarted,
)
from workbench.profile import Profile
from workbench.state import StateDir

if TYPE_CHECKING:
    from workbench.engine.cloud import CloudClient, Instance, Inventory
    from workbench.engine.ssh import SSHPool
    from workbench.engine.watch import Watcher


@dataclass(frozen=True)
class Stage:
    name: str
    run: Callable[[], Awaitable[None]]


class Engine:
    """Everything the TUI and the headless verbs ask of the engine."""

    def __init__(self, profile: Profile, *, bus: Bus | None = None, state: StateDir | None = None) -> None:
        self.profile = profile
        self.bus = bus if bus is not None else Bus()
        self.state = state if state is not None else StateDir(profile.resolved_state_dir())
        self.running: str | None = None
        self.instances: tuple[Instance, ...] = ()
        self.salt_failed: tuple[str, ...] = ()  # nodes whose last Salt run failed
        self._task: asyncio.Task[None] | None = None
        self._cloud: CloudClient | None = None
        self._inventory: Inventory | None = None
        self._ssh: SSHPool | None = None
        self._watcher: Watcher | None = None
        #: watch loops and pipelines await this before any cloud call (the TUI's first frame,
        #: a sandbox still booting); None: go at once
        self.start_gate: Callable[[], Awaitable[Any]] | None = None
        self._unlisten = self.bus.add_listener(self._on_event)

    # -- parts, made on first use ------------------------------------------------------
    @property
    def cloud(self) -> CloudClient:
        if self._cloud is None:
            from workbench.engine.cloud import CloudClient

            self._cloud = CloudClient(self.profile, bus=self.bus)
        return self._cloud

    @property
    def inventory(self) -> Inventory:
        if self._inventory is None:
            from workbench.engine.cloud import Inventory

            self._inventory = Inventory(self.cloud, self.bus)
        return self._inventory

    @property
    def ssh(self) -> SSHPool:
        if self._ssh is None:
            from workbench.engine.ssh import SSHPool

            self._ssh = SSHPool(self.profile, self.state.ensure(), console=self._console, bus=self.bus)
            self._ssh.remember(self.instances)
        return self._ssh

    async def _console(self, server_id: str) -> str:
        return await self.cloud.console_output(server_id)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, InstancesChanged):
            self.instances = tuple(event.instances)
            if self._ssh is not None:
                self._ssh.remember(self.instances)

    # -- watching ----------------------------------------------------------------------
    async def start(self) -> None:
        """Start the watch loops: inventory, doctor alerts, cluster info (idempotent)."""
        if self._watcher is not None:
            return
        from workbench.engine.watch import Watcher

        self.state.ensure()
        self._watcher = Watcher(self)
        self._watcher.start(self.start_gate() if self.start_gate is not None else None)

    async def refresh(self) -> None:
        """Read the instances, the alerts and the cluster info now."""
        from workbench.engine.watch import Watcher

        await (self._watcher or Watcher(self)).refresh_all()

    def changed(self) -> None:
        """Something changed the cloud or the nodes: the watch loops look again soon."""
        if self._inventory is not None:
            self._inventory.poke()
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
            from dataclasses import replace

            self.profile = replace(self.profile, cluster=replace(self.profile.cluster, minions=minions))
            self._reset_parts()
        await self._pipeline("up", [Stage("instances", self._up), Stage("connect", self._connect)])

    async def push(self, direct: bool = False) -> None:
        await self._pipeline("push", [Stage("push", lambda: self._push(direct))])

    async def salt(self, failed_only: bool = False) -> None:
        await self._pipeline("salt", [Stage("salt", lambda: self._salt(failed_only))])

    async def redeploy(self) -> None:
        """build -> push -> salt -> verify, stopping at the first failure."""
        await self._pipeline("redeploy", [
            Stage("build", self._build),
            Stage("push", lambda: self._push(False)),
            Stage("salt", lambda: self._salt(False)),
            Stage("verify", self._verify),
        ])

    async def down(self) -> None:
        await self._pipeline("down", [Stage("down", self._down)])

    async def fix(self, alert: Any, fix_name: str | None = None) -> str:
        """Run one of the alert's fixes (the first by default); returns what it did."""
        fixes = tuple(alert.fixes)
        chosen = next((f for f in fixes if fix_name in (None, f.name)), None)
        if chosen is None:
            raise WorkbenchError(f"{alert.kind} {alert.subject}: no fix named {fix_name!r}")
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

    # -- stages (in pipeline_stages; imported when a pipeline runs) ---------------------
    async def _stage(self, name: str, *args: Any) -> None:
        from workbench.engine import pipeline_stages

        await getattr(pipeline_stages, name)(self, *args)

    async def _build(self) -> None:
        await self._stage("build")

    async def _up(self) -> None:
        await self._stage("up")

    async def _connect(self) -> None:
        await self._stage("connect_all")

    async def _down(self) -> None:
        await self._stage("down")

    async def _push(self, direct: bool) -> None:
        await self._stage("push", direct)

    async def _salt(self, failed_only: bool) -> None:
        await self._stage("salt", failed_only)

    async def _verify(self) -> None:
        await self._stage("verify")

    async def drop_connections(self) -> None:
        """Close every SSH connection (the nodes went away)."""
        if self._ssh is not None:
            await self._ssh.close()

    # -- shutdown ----------------------------------------------------------------------
    def _reset_parts(self) -> None:
        """The next cloud call uses the changed profile (the inventory keeps its client)."""
        self._cloud = None

    async def close(self) -> None:
        """Stop the watch loops and any pipeline (cleanly), then close connections."""
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task})
        if self._watcher is not None:
            await self._watcher.stop()
            self._watcher = None
        if self._inventory is not None:
            await self._inventory.stop()
        if self._ssh is not None:
            await self._ssh.close()
            self._ssh = None
        if self._cloud is not None:
            cloud, self._cloud = self._cloud, None
            await asyncio.to_thread(cloud.close)
