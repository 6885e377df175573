"""The Engine's watch loops: instances, doctor alerts and cluster info, kept fresh.

The inventory polls fast while an instance is in transition and slowly otherwise. The
doctor and the cluster info are read again after every change (instances changed, a
pipeline finished) and every ``slow`` seconds otherwise. Errors become one notice,
repeated only when they change; a loop never dies of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from workbench.errors import WorkbenchError
from workbench.events import AlertsChanged, ClusterInfoChanged, Event, InstancesChanged

if TYPE_CHECKING:
    from workbench.engine.pipeline import Engine


class Watcher:
    def __init__(self, engine: Engine, *, slow: float = 30.0) -> None:
        self.engine = engine
        self.slow = slow
        self.alerts: tuple[Any, ...] = ()
        self.cluster_info: Any = None
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._last_error: dict[str, str] = {}
        self._unlisten = engine.bus.add_listener(self._on_event)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, InstancesChanged):
            self._wake.set()

    def start(self, gate: Awaitable[Any] | None = None) -> None:
        """Start polling once ``gate`` is done (the TUI's first frame, a booting sandbox).

        No timeout here: the gate's owner opens it (``cli.tui`` always does, bounded)."""
        self._tasks = [asyncio.create_task(self._after(gate), name="watch")]

    async def _after(self, gate: Awaitable[Any] | None) -> None:
        if gate is not None:
            await gate
        self._tasks.append(self.engine.inventory.start())
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
        await self._guard("inventory", self.engine.inventory.refresh())
        await self.refresh_checks()

    async def refresh_checks(self) -> None:
        if self.engine.running is not None:
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
                self.engine.bus.notice(f"{what}: {text}", "warning")

    async def _alerts(self) -> None:
        doctor = _optional("workbench.engine.doctor")
        if doctor is None:
            return
        alerts = tuple(await doctor.diagnose(doctor.DoctorContext.from_engine(self.engine)))
        if alerts != self.alerts:
            self.alerts = alerts
            self.engine.bus.publish(AlertsChanged(alerts))

    async def _cluster_info(self) -> None:
        if not any(i.role == "master" and i.status == "ACTIVE" for i in self.engine.instances):
            return
        kube = _optional("workbench.engine.kube")
        if kube is None:
            return
        from workbench.engine.pipeline_stages import kube_client

        master = next(i for i in self.engine.instances if i.role == "master" and i.status == "ACTIVE")
        try:
            info = await kube_client(self.engine, master).refresh()
        except kube.KubeError:
            if self.cluster_info is None:
                return  # not provisioned yet: nothing to say
            raise
        if info != self.cluster_info:
            self.cluster_info = info
            self.engine.bus.publish(ClusterInfoChanged(info))

    async def stop(self) -> None:
        self._unlisten()
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _optional(name: str) -> Any:
    """The engine module ``name``, or None while it is not part of this build."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:
            return None
        raise
