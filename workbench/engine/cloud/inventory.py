"""The cluster's instances, kept fresh: fast polling while something changes, slow otherwise."""

from __future__ import annotations

import asyncio
import contextlib

from workbench.engine.aio import stop_within
from workbench.engine.cloud.api import CloudClient
from workbench.engine.cloud.models import Instance
from workbench.errors import WorkbenchError
from workbench.events import Bus, InstancesChanged


class Inventory:
    """Publishes ``InstancesChanged`` when the cluster's instances change."""

    def __init__(
        self, client: CloudClient, bus: Bus, *, fast: float = 1.0, slow: float = 15.0
    ) -> None:
        self.client = client
        self.bus = bus
        self.fast = fast
        self.slow = slow
        self.instances: tuple[Instance, ...] = ()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._published = False

    @property
    def in_transition(self) -> bool:
        return any(i.in_transition for i in self.instances)

    async def refresh(self) -> tuple[Instance, ...]:
        """Read the instances now; publish when they differ from the last reading."""
        current = tuple(await self.client.list_instances())
        if current != self.instances or not self._published:
            self.instances = current
            self._published = True
            self.bus.publish(InstancesChanged(current))
        return current

    def poke(self) -> None:
        """Refresh soon (after an action that changes the cloud)."""
        self._wake.set()

    async def run(self) -> None:
        """Poll until cancelled; cloud errors become notices, never a crash."""
        last_error = ""
        while True:
            try:
                await self.refresh()
                last_error = ""
            except WorkbenchError as exc:
                if str(exc) != last_error:
                    last_error = str(exc)
                    self.bus.notice(f"inventory: {exc}", "warning")
            interval = self.fast if self.in_transition else self.slow
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval)

    def start(self) -> asyncio.Task[None]:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name="inventory")
        return self._task

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await stop_within([task], 10.0)
