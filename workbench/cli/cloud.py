"""Headless verbs ``up``, ``down`` and ``status``: the cluster's cloud side."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from workbench.cli import render
from workbench.errors import ProfileError, WorkbenchError

if TYPE_CHECKING:
    from workbench.engine.cloud import UpResult
    from workbench.engine.parts import Parts
    from workbench.models import Alert, Instance

HELP = {
    "up": "create or complete the cluster's instances (idempotent)",
    "down": "delete the cluster's servers, floating IPs and ports",
    "status": "list the cluster's instances and cloud alerts",
}


def add_arguments(parser: argparse.ArgumentParser, verb: str) -> None:
    if verb == "up":
        parser.add_argument("--minions", type=int, metavar="N", help="number of minions (scales out or in)")
        parser.add_argument(
            "--fix-leaked", action="store_true", help="delete leaked ports of ours that hold planned IPs"
        )
        parser.add_argument("--yes", action="store_true", help="do not ask before fixing leaked ports")
        parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for ACTIVE")
    if verb == "down":
        parser.add_argument("--yes", action="store_true", help="do not ask (needed without a terminal)")
        parser.add_argument("--dry-run", action="store_true", help="list what would be deleted; delete nothing")


def run(args: argparse.Namespace) -> int:
    parts = render.parts(args)
    verb = args.verb
    try:
        if verb == "up":
            return _up(args, parts)
        if verb == "down":
            return _down(args, parts)
        return _status(args, parts)
    finally:
        render.run(parts.close())


def _up(args: argparse.Namespace, parts: Parts) -> int:
    from workbench.engine.cloud import PreflightError

    if args.minions is not None:
        if not 0 <= args.minions <= 250:
            raise ProfileError("--minions", "minions", "a number from 0 to 250")
        parts.with_minions(args.minions)
    fix = bool(args.fix_leaked)

    engine = render.engine(parts)

    async def work() -> UpResult:
        return await engine.up_result(fix_leaked=fix, timeout=args.timeout)

    with render.Progress(parts.bus):
        try:
            result = render.run(work())
        except PreflightError as exc:
            if not exc.leaked or fix or args.json:
                raise
            render.warn(str(exc), "red")
            question = f"delete {len(exc.leaked)} leaked port(s) of ours and continue?"
            if not render.confirm(question, assume_yes=args.yes):
                return 1
            fix = True
            result = render.run(work())
    doc = {
        "ok": result.ok,
        "instances": [i.to_json() for i in result.instances],
        "created": list(result.created),
        "removed": list(result.removed),
        "failed": [{"name": n, "error": e} for n, e in result.failed],
        "seconds": result.seconds,
    }
    if args.json:
        render.emit_json(doc)
    else:
        _print_instances(result.instances)
        for name, error in result.failed:
            render.say(f"{name}: {error}", "red")
        render.say(f"up: {len(result.created)} created, {len(result.removed)} removed in {result.seconds:.1f} s")
    return 0 if result.ok else 1


def _down(args: argparse.Namespace, parts: Parts) -> int:
    """Asks first on a terminal (after listing what goes); refuses without one unless
    ``--yes``; ``--dry-run`` only lists (Terraform's plan)."""
    cluster = parts.profile.cluster.name
    if not args.dry_run and not args.yes and not sys.stdin.isatty():
        raise WorkbenchError(
            f"down: deleting cluster '{cluster}' needs a yes and stdin is not a terminal; "
            "pass --yes to delete, or --dry-run to list what would be deleted"
        )
    if args.dry_run or not args.yes:
        plan = render.run(_down_plan(parts))
        if args.dry_run:
            if args.json:
                render.emit_json({"ok": True, "dry_run": True, "would_delete": plan})
            else:
                _print_plan(cluster, plan, render.say)
            return 0
        _print_plan(cluster, plan, render.warn)
        if not any(plan.values()):
            return 0
        if not render.confirm(f"delete all of this in cluster '{cluster}'?", assume_yes=False):
            render.warn("down: nothing deleted", "")
            return 1
    with render.Progress(parts.bus):
        result = render.run(render.engine(parts).down_result())
    doc = {
        "ok": result.ok,
        "deleted": {
            "servers": list(result.servers),
            "ports": list(result.ports),
            "floating_ips": list(result.floating_ips),
        },
        "remaining": list(result.remaining),
        "errors": list(result.errors),
        "seconds": result.seconds,
    }
    if args.json:
        render.emit_json(doc)
    else:
        render.say(
            f"down: freed {len(result.servers)} servers, {len(result.floating_ips)} floating IPs, "
            f"{len(result.ports)} ports in {result.seconds:.1f} s"
        )
        for left in result.remaining:
            render.say(f"still there: {left}", "red")
    return 0 if result.ok else 1


async def _down_plan(parts: Parts) -> dict[str, list[str]]:
    """What ``down`` would delete: only what carries our tag (read-only calls)."""
    client = parts.cloud
    servers = [f"{i.name} ({i.id})" for i in await client.list_instances() if i.tagged]
    fips = [f"{f.address} ({f.id})" for f in await client.floating_ips(ours=True)]
    ports = [f"{p.id} ({', '.join(p.fixed_ips)})" for p in await client.ports(ours=True)]
    return {"servers": servers, "floating_ips": fips, "ports": ports}


def _print_plan(cluster: str, plan: dict[str, list[str]], say: Callable[[str, str], None]) -> None:
    if not any(plan.values()):
        say(f"down: nothing of cluster '{cluster}' to delete", "")
        return
    say(f"down would delete, in cluster '{cluster}' (only what carries our tag):", "")
    for kind, label in (("servers", "server"), ("floating_ips", "floating IP"), ("ports", "port")):
        for item in plan[kind]:
            say(f"  - {label} {item}", "")


def _status(args: argparse.Namespace, parts: Parts) -> int:
    from workbench.engine.doctor.core import diagnose

    async def work() -> tuple[list[Instance], list[Alert]]:
        instances = await parts.cloud.list_instances()
        alerts = await diagnose(parts, scope="cloud")
        return instances, alerts

    instances, alerts = render.run(work())
    profile = parts.profile
    if args.json:
        render.emit_json(
            {
                "cloud": profile.cloud.name,
                "cluster": profile.cluster.name,
                "instances": [i.to_json() for i in instances],
                "alerts": [a.to_json() for a in alerts],
            }
        )
    else:
        render.say(f"cloud {profile.cloud.name or '(environment)'}, cluster {profile.cluster.name}")
        _print_instances(instances)
        if alerts:
            from workbench.cli.alert_table import print_alerts

            print_alerts(alerts)
    return 0


def _print_instances(instances: Iterable[Instance]) -> None:
    from rich.table import Table

    table = Table("name", "role", "status", "fixed ip", "floating ip", "flavor", "id")
    for i in instances:
        status = i.status + (f" ({i.fault})" if i.fault else "")
        table.add_row(i.name, i.role, status, i.fixed_ip or "", i.floating_ip or "", i.flavor, i.id)
    render.out().print(table)
