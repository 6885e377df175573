"""The Engine's watch loops: instances, doctor alerts and cluster info, kept fresh.

The inventory polls every FAST_POLL_S while an instance is in transition, every
CLUSTER_POLL_S while the cluster has instances (a server deleted behind our back shows
within seconds: one server list per poll, 12 requests a minute), and every IDLE_POLL_S
while it has none (nothing there to change but by our own pipelines, which poke it). The
doctor and the cluster info are read again after every change (instances changed, a
pipeline finished) and every ``slow`` seconds otherwise; the first doctor run always
publishes ``AlertsChanged``, empty or not, so a TUI knows what "before" was. Errors
become one notice, repeated only when they change; a loop never dies of them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from workbench.engine.aio import stop_within
from workbench.engine.parts import Parts
from workbench.errors import WorkbenchError
from workbench.events import AlertsChanged, ClusterInfoChanged, Event, InstancesChanged
from workbench.models import Alert, ClusterInfo

FAST_POLL_S = 1.0  # an instance in transition (BUILD, REBOOT, deleting, ...)
CLUSTER_POLL_S = 5.0  # the cluster has instances: notice out-of-band changes soon
IDLE_POLL_S = 15.0  # no instance of ours at all
STOP_S = 10.0  # how long stop() waits for its cancelled loops
CHECKS_POLL_S = 30.0  # doctor and cluster info, besides after every change


class Watcher:
    """The watch loops over ``parts``; ``busy()`` is true while a pipeline runs (the checks
    wait for it to finish)."""

    def __init__(
        self,
        parts: Parts,
        *,
        busy: Callable[[], bool] = lambda: False,
        slow: float = CHECKS_POLL_S,
        fast_poll: float = FAST_POLL_S,
        cluster_poll: float = CLUSTER_POLL_S,
        idle_poll: float = IDLE_POLL_S,
    ) -> None:
        self.parts = parts
        self.busy = busy
        self.slow = slow
        self.fast_poll = fast_poll
        self.cluster_poll = cluster_poll
        self.idle_poll = idle_poll
        self.alerts: tuple[Alert, ...] = ()
        self.alerts_published = False  # the first doctor run publishes, even when empty
        self.cluster_info: ClusterInfo | None = None
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._last_error: dict[str, str] = {}
        self._unlisten: Callable[[], None] | None = None  # listening once started

    def _on_event(self, event: Event) -> None:
        if isinstance(event, InstancesChanged):
            self._pace(bool(event.instances))
            self._wake.set()

    def _pace(self, has_instances: bool) -> None:
        """Set the inventory's intervals for what the cluster holds now."""
        inventory = self.parts.inventory_made
        if inventory is not None:
            inventory.fast = self.fast_poll
            inventory.slow = self.cluster_poll if has_instances else self.idle_poll

    def start(self, gate: Awaitable[Any] | None = None) -> None:
        """Start polling once ``gate`` is done (the TUI's first frame, a booting sandbox).

        No timeout here: the gate's owner opens it (``cli.tui`` always does, bounded)."""
        if self._unlisten is None:
            self._unlisten = self.parts.bus.add_listener(self._on_event)
        self._tasks = [asyncio.create_task(self._after(gate), name="watch")]

    async def _after(self, gate: Awaitable[Any] | None) -> None:
        if gate is not None:
            await gate
        inventory = self.parts.inventory
        self._pace(bool(inventory.instances or self.parts.instances))
        self._tasks.append(inventory.start())
        await self._loop()

    def poke(self) -> None:
        self._wake.set()

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            await self.refresh_checks()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.slow)

    async def refresh_all(self) -> None:
        await self._guard("inventory", self.parts.inventory.refresh())
        await self.refresh_checks()

    async def refresh_checks(self) -> None:
        if self.busy():
            return  # a pipeline is changing things; look again when it has finished
        await self._guard("doctor", self._alerts())
        await self._guard("cluster", self._cluster_info())

    async def _guard(self, what: str, coro: Any) -> None:
        try:
            await coro
            self._last_error.pop(what, None)
        except Exception as exc:  # a check that breaks must not stop the others
            text = str(exc) if isinstance(exc, WorkbenchError) else f"{type(exc).__name__}: {exc}"
            if self._last_error.get(what) != text:
                self._last_error[what] = text
                self.parts.bus.notice(f"{what}: {text}", "warning")

    async def _alerts(self) -> None:
        from workbench.engine.doctor.core import diagnose

        alerts = tuple(await diagnose(self.parts))
        if alerts != self.alerts or not self.alerts_published:
            self.alerts = alerts
            self.alerts_published = True
            self.parts.bus.publish(AlertsChanged(alerts))

    async def _cluster_info(self) -> None:
        master = next((i for i in self.parts.instances if i.role == "master" and i.status == "ACTIVE"), None)
        if master is None:
            if self.cluster_info is not None:  # the master went (down): say so, and forget it
                self.cluster_info = None
                self.parts.bus.publish(ClusterInfoChanged(None))
            return
        from workbench.engine.kube.client import KubeError
        from workbench.engine.stages import kube_client

        try:
            info = await kube_client(self.parts, "verify", master).refresh()
        except KubeError:
            if self.cluster_info is None:
                return  # not provisioned yet: nothing to say
            raise
        if info != self.cluster_info:
            self.cluster_info = info
            self.parts.bus.publish(ClusterInfoChanged(info))

    async def stop(self) -> None:
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await stop_within(tasks, STOP_S)

