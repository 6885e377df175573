"""One member's life in the cloud: port, server, ACTIVE, floating IP, and removal.

Shared by ``up``, ``down`` and the doctor's recreate fix.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from workbench.engine.cloud import members
from workbench.engine.cloud.api import CloudClient, Port, Resolved
from workbench.engine.cloud.models import Instance
from workbench.errors import CloudError
from workbench.events import Bus, StageFinished, StageProgress, StageStarted
from workbench.state import StateDir


@dataclass(frozen=True)
class Outcome:
    ok: bool
    instance: Instance | None = None
    error: str | None = None  # why, without the member's name (callers put it in front)


class Lifecycle:
    def __init__(
        self, client: CloudClient, state: StateDir, bus: Bus, pipeline: str, *, timeout: float = 600.0
    ) -> None:
        self.client = client
        self.state = state
        self.bus = bus
        self.pipeline = pipeline
        self.timeout = timeout
        self._fip_lock = asyncio.Lock()

    # -- create ---------------------------------------------------------------------
    async def create_member(self, name: str, role: str, ip: str, resolved: Resolved) -> Outcome:
        """Port (ours on ``ip``, reused when free) + server + wait for ACTIVE."""
        started = time.monotonic()
        self.bus.publish(StageStarted(self.pipeline, "boot", name))
        try:
            port = await self._port_for(name, ip, resolved.network_id)
            inst = await self.client.create_server(name, role, port.id, resolved)
            members.set_pending(self.state, port.id, False)
            members.set_intent(self.state, name, None)
            members.remember_member(self.state, name, inst.id, role, ip)
            self.bus.log("cloud", name, f"server {inst.id} created on {ip}")
            inst = await self.wait_settled(inst)
        except CloudError as exc:
            why = str(exc).removeprefix(f"{name}: ")  # the outcome is about ``name`` already
            self._finish(name, started, why)
            return Outcome(False, None, why)
        if inst.status != "ACTIVE":
            why = f"ended in {inst.status}: {inst.fault or 'no fault given'}"
            self._finish(name, started, why)
            return Outcome(False, inst, why)
        self._finish(name, started, None)
        return Outcome(True, inst)

    async def _port_for(self, name: str, ip: str, network_id: str) -> Port:
        for port in await self.client.ports(ours=True, network_id=network_id):
            if ip in port.fixed_ips and port.unattached:
                self.bus.log("cloud", name, f"reusing our port {port.id} on {ip}")
                return port
        members.set_intent(self.state, name, ip)  # before: a kill right after the create
        port = await self.client.create_port(name, network_id, ip)
        members.set_pending(self.state, port.id, True)
        return port

    def _finish(self, name: str, started: float, error: str | None) -> None:
        self.bus.publish(
            StageFinished(
                self.pipeline, "boot", name, ok=error is None, error=error,
                seconds=round(time.monotonic() - started, 3),
            )
        )

    async def wait_settled(self, inst: Instance) -> Instance:
        """Poll until the server leaves BUILD (or any transition); publish its status."""
        deadline = time.monotonic() + self.timeout
        delay = 0.05
        current = inst
        last = ""
        while current.in_transition:
            if current.status != last:
                last = current.status
                self.bus.publish(
                    StageProgress(self.pipeline, "boot", inst.name, detail=current.status.lower())
                )
            if time.monotonic() > deadline:
                raise CloudError(f"{inst.name}: still {current.status} after {self.timeout:.0f} s")
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 1.0)
            found = await self.client.get_instance(inst.id)
            if found is None:
                raise CloudError(f"{inst.name}: server {inst.id} disappeared while {current.status}")
            current = found
        self.bus.publish(StageProgress(self.pipeline, "boot", inst.name, 1, 1, current.status.lower()))
        return current

    # -- floating IPs -------------------------------------------------------------------
    async def ensure_floating_ip(self, inst: Instance, resolved: Resolved) -> str | None:
        """Give ``inst`` a floating IP: one of ours that is free, else a new one. None: ok."""
        if inst.floating_ip:  # ours, or one a killed run made and never tagged: adopt it
            try:
                for port in await self.client.ports(ours=True, device_id=inst.id):
                    if adopted := await self.client.adopt_floating_ip(port.id):
                        self.bus.log("cloud", inst.name, f"adopted floating IP {adopted.address}")
            except CloudError as exc:
                return str(exc)
            return None
        try:
            ports = await self.client.ports(ours=True, device_id=inst.id)
            if not ports:
                return f"no port of ours is attached to {inst.name}; cannot add a floating IP"
            port = ports[0]
            async with self._fip_lock:
                ours = await self.client.floating_ips(ours=True)
                if any(f.port_id == port.id for f in ours):
                    return None
                free = [f for f in ours if not f.port_id and f.network_id == resolved.pool_id]
                if free:
                    fip = await self.client.associate(free[0], port.id)
                    self.bus.log("cloud", inst.name, f"reused floating IP {fip.address}")
                else:
                    fip = await self.client.create_floating_ip(resolved.pool_id, port.id)
                    self.bus.log("cloud", inst.name, f"allocated floating IP {fip.address}")
        except CloudError as exc:
            return str(exc)
        return None

    # -- delete -------------------------------------------------------------------------
    async def delete_and_wait(self, inst: Instance) -> None:
        if not inst.tagged:
            raise CloudError(f"refusing to delete {inst.name}: it lacks the tag {self.client.tag}")
        await self.client.delete_server(inst.id)
        await self.wait_gone(inst)

    async def wait_gone(self, inst: Instance) -> None:
        deadline = time.monotonic() + self.timeout
        delay = 0.05
        while True:
            found = await self.client.get_instance(inst.id)
            if found is None or found.status == "DELETED":
                return
            if time.monotonic() > deadline:
                raise CloudError(f"{inst.name}: still {found.status} {self.timeout:.0f} s after delete")
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 1.0)

    async def remove_member(self, inst: Instance) -> str | None:
        """Delete a member, its floating IPs and its ports (ours only). Returns its name."""
        if not inst.tagged:
            return None
        ports = await self.client.ports(ours=True, device_id=inst.id)
        port_ids = {p.id for p in ports}
        fips = [f for f in await self.client.floating_ips(ours=True) if f.port_id in port_ids]
        await self.delete_and_wait(inst)
        for fip in fips:
            await self.client.delete_floating_ip(fip)
        for port in ports:
            await self.client.delete_port(port)
        members.forget_members(self.state, [inst.name])
        self.bus.log("cloud", inst.name, "removed (scaled in)")
        return inst.name
