"""The doctor's cloud checks: leaked ports, orphan floating IPs, instances in ERROR or gone,
and Vagrant machines pointing at servers that no longer exist.

A check only ever proposes to delete what carries our tag, and each fix looks again
right before it acts (the cloud may have changed since the alert was raised).
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
from pathlib import Path

from workbench.engine.cloud import members
from workbench.engine.cloud.api import FloatingIP, Port
from workbench.engine.cloud.lifecycle import Lifecycle
from workbench.engine.cloud.models import Instance
from workbench.engine.doctor.fault_triage import triage
from workbench.engine.doctor.nodes import provisioner
from workbench.engine.parts import Parts
from workbench.engine.push.manifest import select_sources
from workbench.errors import CloudError, NodeError, WorkbenchError
from workbench.models.alerts import Alert, Fix, FixFn

KINDS = ("leaked-port", "orphan-floating-ip", "instance-error", "instance-missing", "stale-vagrant-machine")
CONSOLE_TAIL = 25


async def cloud_checks(ctx: Parts) -> list[Alert]:
    client = ctx.cloud
    instances, ports, fips = await asyncio.gather(
        client.list_instances(), client.ports(ours=True), client.floating_ips(ours=True)
    )
    ours = [i for i in instances if i.tagged]
    alerts = _leaked_ports(ctx, ports, ours)
    alerts += [_orphan_fip(ctx, f) for f in fips if not f.port_id]
    alerts += await asyncio.gather(*(_instance_error(ctx, i, ports) for i in ours if i.status == "ERROR"))
    alerts += _instances_missing(ctx, ours)
    alerts += await _stale_vagrant(ctx)
    return alerts


# -- leaked-port ------------------------------------------------------------------------
def is_leaked(port: Port, tag: str) -> bool:
    """Ours, DOWN and attached to nothing: no device id AND no device owner (a VIP or router
    port has an owner and looks unattached; it is never a leak)."""
    return tag in port.tags and port.status == "DOWN" and not port.device_id and not port.device_owner


def _leaked_ports(ctx: Parts, ports: list[Port], ours: list[Instance]) -> list[Alert]:
    tag = ctx.cloud.tag
    plan_ip = {name: ip for name, _, ip in ctx.profile.node_plan()}
    held_for_error = {plan_ip.get(i.name) for i in ours if i.status == "ERROR"}
    alerts = []
    for port in ports:
        if not is_leaked(port, tag) or members.is_pending(ctx.state, port.id, port.name, port.fixed_ips):
            continue
        if held_for_error & set(port.fixed_ips):
            continue  # the address of an instance in ERROR: its recreate fix reuses it
        ips = ", ".join(port.fixed_ips) or "no address"
        alerts.append(
            Alert(
                kind="leaked-port", severity="warning", subject=port.id,
                message=(
                    f"port {port.name or port.id} ({ips}) is ours but DOWN and attached to nothing, "
                    "left by a deleted server; it keeps the address taken, so the next boot on it fails"
                ),
                command=f"openstack port delete {port.id}",
                details=f"port {port.id}\nname {port.name}\nnetwork {port.network_id}\naddresses {ips}\ntags {', '.join(port.tags)}",
                fixes=(Fix("delete", f"delete port {port.id} ({ips})", _delete_port_fix(ctx, port.id)),),
            )
        )
    return alerts


def _delete_port_fix(ctx: Parts, port_id: str) -> FixFn:
    async def run() -> str:
        port = await ctx.cloud.get_port(port_id)
        if port is None:
            return f"port {port_id} is already gone"
        if not is_leaked(port, ctx.cloud.tag):
            raise CloudError(f"port {port_id} is no longer a leaked port of ours; left alone")
        await ctx.cloud.delete_port(port)
        return f"deleted port {port_id} ({', '.join(port.fixed_ips)})"

    return run


# -- orphan-floating-ip -----------------------------------------------------------------------
def _orphan_fip(ctx: Parts, fip: FloatingIP) -> Alert:
    async def release() -> str:
        now = await ctx.cloud.get_floating_ip(fip.id)
        if now is None:
            return f"floating IP {fip.address} is already released"
        if now.port_id or ctx.cloud.tag not in now.tags:
            raise CloudError(f"floating IP {fip.address} is in use again; left alone")
        await ctx.cloud.delete_floating_ip(now)
        return f"released floating IP {fip.address}"

    return Alert(
        kind="orphan-floating-ip", severity="info", subject=fip.address,
        message=f"floating IP {fip.address} is ours but associated with nothing; it holds a public address and quota",
        command=f"openstack floating ip delete {fip.id}",
        details=f"floating IP {fip.id}\naddress {fip.address}\nnetwork {fip.network_id}",
        fixes=(Fix("release", f"release floating IP {fip.address}", release),),
    )


# -- instance-error ----------------------------------------------------------------------------
async def _instance_error(ctx: Parts, inst: Instance, ports: list[Port]) -> Alert:
    try:
        console = await ctx.cloud.console_output(inst.id, length=CONSOLE_TAIL)
    except CloudError as exc:
        console = f"(console output unavailable: {exc})"
    tail = "\n".join(console.splitlines()[-CONSOLE_TAIL:])
    attached = any(p.device_id == inst.id for p in ports)
    planned = next((ip for n, _, ip in ctx.profile.node_plan() if n == inst.name), None)
    kept = not attached and any(planned in p.fixed_ips for p in ports if planned)
    fault = inst.fault or "Nova gave no fault message"
    recreate = _recreate(ctx, inst.name, inst)
    why, fixes = triage(
        ctx.profile.cluster, inst, recreate, attached,
        recreate_with=lambda flavor, zone: _recreate(ctx, inst.name, inst, flavor=flavor, zone=zone),
        action=lambda action: _action_fix(ctx, inst, action),
    )
    if attached:
        note = ""
    elif kept:
        note = f"\n(its port on {planned} is kept, unbound: recreate reuses it)"
    else:
        note = "\n(its port was released when the build failed: only recreate brings it back on its address)"
    return Alert(
        kind="instance-error", severity="error", subject=inst.name,
        message=f"{inst.name} is in ERROR: {fault}" + (f"; {why}" if why else ""),
        command=f"openstack server show {inst.id} -c fault; openstack console log show --lines {CONSOLE_TAIL} {inst.id}",
        details=(f"fault: {fault}{note}\n\n" + "\n".join(f"{f.name}: {f.description}" for f in fixes)
                 + f"\n\nconsole (last {CONSOLE_TAIL} lines):\n{tail}"),
        fixes=tuple(fixes),
    )


def _action_fix(ctx: Parts, inst: Instance, action: str) -> FixFn:
    async def run() -> str:
        life = Lifecycle(ctx.cloud, ctx.state, ctx.bus, "doctor")
        if action == "hard-reboot":
            await ctx.cloud.reboot(inst.id, hard=True)
        else:
            resolved = await ctx.cloud.resolve()
            await ctx.cloud.rebuild(inst.id, resolved.image_id)
        now = await ctx.cloud.get_instance(inst.id)
        if now is None:
            raise CloudError(f"{inst.name} disappeared during {action}")
        now = await life.wait_settled(now)
        if now.status != "ACTIVE":
            raise CloudError(f"{inst.name} is {now.status} after {action}: {now.fault or 'no fault given'}")
        return f"{action} brought {inst.name} back to ACTIVE"

    return run


# -- instance-missing --------------------------------------------------------------------------
def _instances_missing(ctx: Parts, ours: list[Instance]) -> list[Alert]:
    known = members.known_members(ctx.state)
    present = {i.name for i in ours}
    if not known and not present:
        return []  # no cluster: nothing is "missing"
    alerts = []
    for name, role, ip in ctx.profile.node_plan():
        if name in present:
            continue
        old = known.get(name, {})
        was = f" (server {old['id']})" if old.get("id") else ""
        recreate = _recreate(ctx, name, None)
        alerts.append(
            Alert(
                kind="instance-missing", severity="error", subject=name,
                message=f"{name}{was}, the {role} on {ip}, no longer exists: it was deleted outside the workbench",
                command=f"openstack server list --name '^{name}$'",
                details=(f"planned: {name} ({role}) on {ip}\nlast known id: {old.get('id', 'never created')}"
                         f"\n\nrecreate: {recreate.description}"),
                fixes=(recreate,),
            )
        )
    return alerts


def _recreate(ctx: Parts, name: str, existing: Instance | None, *,
              flavor: str | None = None, zone: str | None = None) -> Fix:
    """Recreate ``name`` (deleting ``existing`` first, if any; with another flavor or in another
    zone when given), then provision it where the doctor can (a build to push); destructive
    only when it deletes."""
    ip = next((i for n, _, i in ctx.profile.node_plan() if n == name), "its planned address")
    role = next((r for n, r, _ in ctx.profile.node_plan() if n == name), "minion")
    first = f"delete {name} and create it again on {ip}" if existing else f"create {name} again on {ip}"
    first += f" with flavor {flavor}" if flavor else ""
    first += f" in availability zone {zone}" if zone else ""
    blocked = provision_blocker(ctx)
    then = ("; then push the build to it and run Salt there (highstate, with the cluster's token)"
            if blocked is None else f"; it starts unprovisioned ({blocked}): {follow_up(name, role)}")
    label = f"recreate-flavor-{flavor}" if flavor else f"recreate-zone-{zone}" if zone else "recreate"
    return Fix(label, f"{first} (port, server, floating IP){then}",
               _recreate_fix(ctx, name, existing, flavor, zone), destructive=existing is not None)


def provision_blocker(ctx: Parts) -> str | None:
    """Why the doctor cannot provision a recreated node itself, or None when it can."""
    try:
        select_sources(ctx.profile)
    except WorkbenchError as exc:
        return f"nothing to push: {exc}"
    return None


def follow_up(name: str, role: str) -> str:
    """What provisions a node the recreate fix could not."""
    if role == "master":
        return f"push and run Salt on it next (workbench push && workbench salt --nodes {name})"
    return "the node-unprovisioned alert follows, whose fix pushes the build and runs Salt there"


async def _provision(ctx: Parts, inst: Instance, done: str) -> str:
    """Push the build to the recreated node and run Salt there (node-unprovisioned's fix)."""
    blocked = provision_blocker(ctx)
    if blocked is not None:
        return f"{done}; not provisioned ({blocked}): {follow_up(inst.name, inst.role)}"
    current = await ctx.cloud.get_instance(inst.id) or inst  # with its floating IP now
    ctx.ssh.remember(await ctx.cloud.list_instances())  # the master, to jump through
    try:
        provisioned = await provisioner(ctx, ctx.ssh)(current)
    except WorkbenchError as exc:
        why = str(exc).removeprefix(f"{inst.name}: ")
        raise NodeError(inst.name, f"{done.removeprefix(f'{inst.name}: ')}, but provisioning failed: {why}; "
                        f"{follow_up(inst.name, inst.role)}") from None
    return f"{done}; {provisioned.removeprefix(f'{inst.name}: ')}"


def _recreate_fix(ctx: Parts, name: str, existing: Instance | None,
                  flavor: str | None = None, zone: str | None = None) -> FixFn:
    async def run() -> str:
        plan = {n: (r, ip) for n, r, ip in ctx.profile.node_plan()}
        if name not in plan:
            raise CloudError(f"{name} is not in the profile's plan; not recreated")
        role, ip = plan[name]
        life = Lifecycle(ctx.cloud, ctx.state, ctx.bus, "doctor")
        resolved = await ctx.cloud.resolve()
        if flavor:
            resolved = await ctx.cloud.with_flavor(resolved, flavor)
        if zone:
            resolved = dataclasses.replace(resolved, availability_zone=zone)
        if existing is not None:
            current = await ctx.cloud.get_instance(existing.id)
            if current is not None:
                await life.delete_and_wait(current)
            ctx.state.forget_host_keys(existing.id)
        old = members.known_members(ctx.state).get(name, {}).get("id")
        if old:
            ctx.state.forget_host_keys(old)
        outcome = await life.create_member(name, role, ip, resolved)
        if not outcome.ok or outcome.instance is None:
            raise CloudError(f"{name}: recreate failed: {outcome.error}")
        error = await life.ensure_floating_ip(outcome.instance, resolved)
        if error:
            raise CloudError(f"{name}: recreated, but {error}")
        return await _provision(ctx, outcome.instance, f"recreated {name} on {ip} (server {outcome.instance.id})")

    return run


# -- stale-vagrant-machine ---------------------------------------------------------------------
async def _stale_vagrant(ctx: Parts) -> list[Alert]:
    root = ctx.profile.kube.root
    if root is None:
        return []
    machines = Path(root) / ".vagrant" / "machines"
    if not machines.is_dir():
        return []
    alerts = []
    for machine in sorted(p for p in machines.iterdir() if p.is_dir()):
        id_file = machine / "openstack" / "id"
        if not id_file.is_file():
            continue
        server_id = id_file.read_text(errors="replace").strip()
        if server_id and await ctx.cloud.get_instance(server_id) is not None:
            continue
        alerts.append(
            Alert(
                kind="stale-vagrant-machine", severity="warning", subject=machine.name,
                message=(
                    f"Vagrant's machine {machine.name} points at server {server_id or '(none)'}, which no "
                    "longer exists; vagrant and kube-down.sh stumble on it"
                ),
                command=f"rm -rf {machine}",
                details=f"{id_file}: {server_id or '(empty)'}",
                fixes=(Fix("remove", f"remove {machine}", _remove_machine_fix(machines, machine.name)),),
            )
        )
    return alerts


def _remove_machine_fix(machines: Path, name: str) -> FixFn:
    async def run() -> str:
        target = machines / name
        if target.resolve().parent != machines.resolve():
            raise CloudError(f"{target} is not directly under {machines}; left alone")
        if not target.exists():
            return f"{target} is already gone"
        await asyncio.to_thread(shutil.rmtree, target)
        return f"removed {target}"

    return run
