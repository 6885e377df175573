"""``down``: delete our servers, floating IPs and ports; check that none is left.

Only resources carrying our tag are touched: a server merely named like a member, an
untagged port or a floating IP someone else allocated stays.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from workbench.engine.cloud import members
from workbench.engine.cloud.api import CloudClient
from workbench.engine.cloud.lifecycle import Lifecycle
from workbench.engine.cloud.models import Instance
from workbench.errors import CloudError
from workbench.events import (
    Bus,
    InstancesChanged,
    PipelineFinished,
    PipelineStarted,
    StageFinished,
    StageStarted,
)
from workbench.state import StateDir

PIPELINE = "down"


@dataclass(frozen=True)
class DownResult:
    servers: tuple[str, ...]
    ports: tuple[str, ...]
    floating_ips: tuple[str, ...]
    remaining: tuple[str, ...]
    seconds: float
    errors: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.remaining


async def down(
    client: CloudClient, state: StateDir, bus: Bus, *, timeout: float = 300.0, rounds: int = 3
) -> DownResult:
    started = time.monotonic()
    bus.publish(PipelineStarted(PIPELINE, ("servers", "floating-ips", "ports", "verify")))
    life = Lifecycle(client, state, bus, PIPELINE, timeout=timeout)
    servers: dict[str, str] = {}
    ports: dict[str, str] = {}
    fips: dict[str, str] = {}
    errors: list[str] = []
    remaining: list[str] = []
    for _ in range(rounds):
        errors.clear()
        await _delete_round(client, life, bus, servers, ports, fips, errors)
        remaining = await _leftovers(client)
        if not remaining:
            break
        bus.log("cloud", None, f"still there, retrying: {', '.join(remaining)}", "stderr")
    gone = set(servers)
    members.forget_members(state, None)
    members.clear_pending(state)
    bus.publish(InstancesChanged(tuple(await client.list_instances())))
    result = DownResult(
        servers=tuple(servers[k] for k in sorted(gone, key=servers.__getitem__)),
        ports=tuple(sorted(ports.values())),
        floating_ips=tuple(sorted(fips.values())),
        remaining=tuple(remaining),
        seconds=round(time.monotonic() - started, 3),
        errors=tuple(errors),
    )
    bus.publish(
        PipelineFinished(
            PIPELINE, result.ok, error=None if result.ok else "left: " + ", ".join(remaining),
            failed_stage=None if result.ok else "verify",
        )
    )
    return result


async def _delete_round(
    client: CloudClient,
    life: Lifecycle,
    bus: Bus,
    servers: dict[str, str],
    ports: dict[str, str],
    fips: dict[str, str],
    errors: list[str],
) -> None:
    ours = [i for i in await client.list_instances() if i.tagged]

    async def one(inst: Instance) -> None:
        bus.publish(StageStarted(PIPELINE, "servers", inst.name))
        t0 = time.monotonic()
        try:
            await life.delete_and_wait(inst)
            servers[inst.id] = inst.name
            ok, err = True, None
        except CloudError as exc:
            errors.append(str(exc))
            ok, err = False, str(exc)
        bus.publish(StageFinished(PIPELINE, "servers", inst.name, ok, err, round(time.monotonic() - t0, 3)))

    await asyncio.gather(*(one(i) for i in ours))
    for fip in await client.floating_ips(ours=True):
        try:
            await client.delete_floating_ip(fip)
            fips[fip.id] = fip.address
        except CloudError as exc:
            errors.append(str(exc))
    for port in await client.ports(ours=True):
        try:
            await client.delete_port(port)
            ports[port.id] = f"{port.id} ({', '.join(port.fixed_ips)})"
        except CloudError as exc:
            errors.append(str(exc))
    bus.log("cloud", None, f"deleted {len(servers)} servers, {len(fips)} floating IPs, {len(ports)} ports")


async def _leftovers(client: CloudClient) -> list[str]:
    left = [f"server {i.name} ({i.id})" for i in await client.list_instances() if i.tagged]
    left += [f"floating IP {f.address} ({f.id})" for f in await client.floating_ips(ours=True)]
    left += [f"port {p.id} ({', '.join(p.fixed_ips)})" for p in await client.ports(ours=True)]
    return left
