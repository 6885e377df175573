"""``up``: make the cloud hold exactly the profile's cluster (master + N minions).

Preflight first (resources, quota, every planned IP free), then tagged ports with the
static IPs, servers on them, ACTIVE with progress per instance, and floating IPs (ours
that are free before new ones). Rerunning completes a partial cluster; a smaller
``minions`` scales in. A server that ends in ERROR is reported with its Nova fault.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from workbench.engine.cloud import members
from workbench.engine.cloud.api import CloudClient, Port, Resolved
from workbench.engine.cloud.lifecycle import Lifecycle
from workbench.engine.cloud.models import Instance
from workbench.errors import CloudError
from workbench.events import Bus, InstancesChanged, PipelineFinished, PipelineStarted
from workbench.state import StateDir

PIPELINE = "up"


class PreflightError(CloudError):
    """Up cannot start; ``leaked`` holds our DOWN ports that sit on planned IPs."""

    def __init__(self, message: str, leaked: tuple[Port, ...] = ()) -> None:
        super().__init__(message)
        self.leaked = leaked


@dataclass(frozen=True)
class UpResult:
    instances: tuple[Instance, ...]
    created: tuple[str, ...]
    removed: tuple[str, ...]
    failed: tuple[tuple[str, str], ...]  # (name, why)
    seconds: float

    @property
    def ok(self) -> bool:
        return not self.failed


async def up(
    client: CloudClient,
    state: StateDir,
    bus: Bus,
    *,
    fix_leaked: bool = False,
    timeout: float = 600.0,
) -> UpResult:
    """Converge the cloud on the profile's plan. Raises PreflightError before changing anything."""
    started = time.monotonic()
    bus.publish(PipelineStarted(PIPELINE, ("preflight", "scale-in", "ports", "boot", "floating-ip")))
    try:
        result = await _up(client, state, bus, fix_leaked, timeout, started)
    except Exception as exc:
        bus.publish(PipelineFinished(PIPELINE, False, error=str(exc), failed_stage="preflight"))
        raise
    failed_nodes = tuple(name for name, _ in result.failed)
    bus.publish(
        PipelineFinished(
            PIPELINE, result.ok, error="; ".join(f"{n}: {w}" for n, w in result.failed) or None,
            failed_stage="boot" if failed_nodes else None, failed_nodes=failed_nodes,
        )
    )
    return result


async def _up(
    client: CloudClient, state: StateDir, bus: Bus, fix_leaked: bool, timeout: float, started: float
) -> UpResult:
    life = Lifecycle(client, state, bus, PIPELINE, timeout=timeout)
    profile = client.profile
    resolved = await client.resolve()
    plan = profile.node_plan()
    plan_names = {name for name, _, _ in plan}
    instances, freed_ports = await _settle_deletions(client, life, bus, plan_names)
    ours = {i.name: i for i in instances if i.tagged}
    problems: list[str] = []
    for inst in instances:
        if not inst.tagged and inst.name in plan_names:
            problems.append(
                f"a server named {inst.name} ({inst.id}) exists without the tag {client.tag}: "
                "not ours; rename or delete it, or change cluster.name"
            )
    broken = [ours[name] for name in plan_names if name in ours and ours[name].status == "ERROR"]
    missing = [(n, r, ip) for n, r, ip in plan if n not in ours]
    extra = [i for i in ours.values() if i.name not in plan_names]

    ports = await client.ports(network_id=resolved.network_id)
    reusable = freed_ports | {p.id for p in ports if members.is_pending(state, p.id, p.name, p.fixed_ips)}
    reusable |= {p.id for p in ports if any(p.device_id == b.id for b in broken)}
    leaked = await _check_ips(client, missing, ports, reusable, problems)
    await _check_quota(client, resolved, len(missing), problems)
    if problems:
        raise PreflightError("preflight: " + "; ".join(problems), tuple(leaked))
    if leaked and not fix_leaked:
        listed = ", ".join(f"{p.id} ({', '.join(p.fixed_ips)})" for p in leaked)
        raise PreflightError(
            f"preflight: leaked ports of ours (DOWN, no device) hold planned IPs: {listed}; "
            "run `workbench doctor --fix leaked-port` or `workbench up --fix-leaked`",
            tuple(leaked),
        )
    for port in leaked:
        await client.delete_port(port)
        bus.log("cloud", None, f"deleted leaked port {port.id} ({', '.join(port.fixed_ips)})")
    bus.log("cloud", None, f"preflight ok: {len(missing)} to create, {len(broken)} to recreate, {len(extra)} to remove")

    removed = await asyncio.gather(*(life.remove_member(i) for i in extra))
    for inst in broken:
        bus.log("cloud", inst.name, f"recreating: it is in ERROR ({inst.fault or 'no fault given'})")
        await life.delete_and_wait(inst)
    to_boot = missing + [(b.name, b.role, _plan_ip(plan, b.name)) for b in broken]
    outcomes = await asyncio.gather(
        *(life.create_member(name, role, ip, resolved) for name, role, ip in to_boot)
    )
    created = tuple(name for (name, _, _), outcome in zip(to_boot, outcomes, strict=True) if outcome.ok)
    failed = [(name, o.error or "failed") for (name, _, _), o in zip(to_boot, outcomes, strict=True) if not o.ok]

    existing = [ours[n] for n, _, _ in plan if n in ours and ours[n] not in broken]
    waited = await asyncio.gather(*(life.wait_settled(i) for i in existing))
    for inst in waited:
        if inst.status == "ERROR":
            failed.append((inst.name, f"in ERROR: {inst.fault or 'no fault given'}"))
    active = [i for i in waited if i.status == "ACTIVE"] + [o.instance for o in outcomes if o.ok and o.instance]
    fip_errors = await asyncio.gather(*(life.ensure_floating_ip(i, resolved) for i in active))
    failed += [(inst.name, err) for inst, err in zip(active, fip_errors, strict=True) if err]

    final = tuple(await client.list_instances())
    bus.publish(InstancesChanged(final))
    return UpResult(
        instances=final, created=created, removed=tuple(n for n in removed if n),
        failed=tuple(failed), seconds=round(time.monotonic() - started, 3),
    )


async def _settle_deletions(
    client: CloudClient, life: Lifecycle, bus: Bus, plan_names: set[str]
) -> tuple[list[Instance], set[str]]:
    """Servers of ours (or named as ours) that are being deleted are going away, not present:
    wait for them to go (within ``life.timeout``), then list again. Returns the instances and
    the ids of our ports the deleted servers held, which may be reused for their addresses."""
    instances = await client.list_instances()
    going = [i for i in instances if i.going_away and (i.tagged or i.name in plan_names)]
    if not going:
        return instances, set()
    held = await asyncio.gather(*(client.ports(ours=True, device_id=i.id) for i in going))
    for inst in going:
        bus.log("cloud", inst.name, f"server {inst.id} is being deleted; waiting for it to go before planning")
    try:
        await asyncio.gather(*(life.wait_gone(i) for i in going))
    except CloudError as exc:
        raise PreflightError(f"preflight: {exc}; rerun up once it is gone") from None
    return await client.list_instances(), {p.id for ports in held for p in ports}


def _plan_ip(plan: list[tuple[str, str, str]], name: str) -> str:
    return next(ip for n, _, ip in plan if n == name)


async def _check_ips(
    client: CloudClient,
    missing: list[tuple[str, str, str]],
    ports: list[Port],
    reusable: set[str],
    problems: list[str],
) -> list[Port]:
    """Every IP to be created must be free, or held by a port of ours we may reuse."""
    leaked: list[Port] = []
    for name, _, ip in missing:
        for port in (p for p in ports if ip in p.fixed_ips):
            ours = client.tag in port.tags
            if ours and port.id in reusable and port.unattached:
                continue
            if ours and port.unattached and port.status == "DOWN":
                leaked.append(port)
            elif ours:
                problems.append(
                    f"{ip} (for {name}) is held by our port {port.id} attached to {port.device_id or port.device_owner}"
                )
            else:
                problems.append(
                    f"{ip} (for {name}) is used by port {port.id} which is not ours (no tag {client.tag}, "
                    f"device {port.device_owner or 'none'} {port.device_id or ''}".rstrip() + "); free it or change the profile's IPs"
                )
    return leaked


async def _check_quota(client: CloudClient, resolved: Resolved, count: int, problems: list[str]) -> None:
    if count == 0:
        return
    lim = await client.limits()
    checks = [
        ("instances", 1, "instances"),
        ("cores", resolved.flavor_vcpus, "vCPUs"),
        ("ram", resolved.flavor_ram, "MB of RAM"),
    ]
    for key, each, unit in checks:
        cap, used = lim[key], lim[f"{key}_used"]
        if cap < 0 or used < 0:
            continue  # unlimited or not reported
        need = each * count
        if used + need > cap:
            problems.append(f"quota: {need} {unit} needed, {cap - used} of {cap} left")
