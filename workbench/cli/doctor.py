"""Headless verb ``doctor``: find what is wrong with the cluster, and fix it on request."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from workbench.cli import render
from workbench.errors import PipelineFailed, UsageError, WorkbenchError

if TYPE_CHECKING:
    from workbench.engine.doctor.core import Scope
    from workbench.engine.facade import Engine
    from workbench.engine.parts import Parts
    from workbench.models import Alert, Fix

HELP = "find what is wrong with the cloud, the nodes and the build output; --fix repairs it"

def add_arguments(parser: argparse.ArgumentParser, verb: str) -> None:
    parser.add_argument(
        "--fix", nargs="*", metavar="KIND",
        help="run the fix of every alert (or of these kinds only)",
    )
    parser.add_argument("--with", dest="fix_name", metavar="FIX", help="use this fix (e.g. rebuild) instead of the first")
    parser.add_argument("--yes", action="store_true", help="do not ask before destructive fixes")
    parser.add_argument("--cloud-only", action="store_true", help="run only the cloud checks")
    from workbench.engine.doctor.boot_grace import BOOT_GRACE_S

    parser.add_argument(
        "--boot-grace", type=float, default=None, metavar="SECONDS",
        help="a node created less than this long ago is booting, not unreachable "
             f"(default {BOOT_GRACE_S:g}, as in the TUI; 0 reports every node now)",
    )


def run(args: argparse.Namespace) -> int:
    if args.boot_grace is not None and args.boot_grace < 0:
        raise UsageError(f"--boot-grace: {args.boot_grace:g} is not a number of seconds >= 0")
    kinds = list(args.fix or [])
    if kinds:
        from workbench.engine.doctor.core import known_kinds

        known = known_kinds()  # every kind the check modules declare
        unknown = [k for k in kinds if k not in known]
        if unknown:
            raise UsageError(f"--fix: unknown kind {', '.join(unknown)} (known: {', '.join(known)})")
    parts = render.parts(args)
    with render.Progress(parts.bus):
        alerts, fixed, remaining = render.run(_doctor(args, parts, kinds))
    selected = [a for a in remaining if not kinds or a.kind in kinds]
    problems = [a for a in selected if a.severity != "info"]
    ok = all(f["ok"] for f in fixed) and not problems
    if args.json:
        doc: dict[str, Any] = {"ok": ok, "alerts": [a.to_json() for a in alerts], "fixed": fixed}
        if args.fix is not None:
            doc["remaining"] = [a.to_json() for a in remaining]
        render.emit_json(doc)
    else:
        _print(alerts, fixed, remaining if args.fix is not None else None)
    return 0 if ok else 1


async def _doctor(
    args: argparse.Namespace, parts: Parts, kinds: list[str]
) -> tuple[list[Alert], list[dict[str, Any]], list[Alert]]:
    """Diagnose, fix through the Engine (a ``fix`` pipeline each: events, history, busy
    guard, as in the TUI), diagnose again: all on one event loop (SSH connections live on it)."""
    from workbench.engine.doctor.core import choose_fix, diagnose, fix_order
    from workbench.engine.facade import Engine

    engine = Engine(parts.profile, parts=parts)
    scope: Scope = "cloud" if args.cloud_only else "all"
    grace = {} if args.boot_grace is None else {"boot_grace": args.boot_grace}
    try:
        alerts = await diagnose(parts, scope=scope, **grace)
        if args.fix is None:
            return alerts, [], alerts
        chosen = fix_order(a for a in alerts if not kinds or a.kind in kinds)
        plans = [(a, choose_fix(a, _named(a, args.fix_name))) for a in chosen if a.fixes]
        _confirm_all(plans, args.yes)
        fixed = await _apply(engine, plans)
        remaining = await diagnose(parts, scope=scope, **grace) if plans else alerts
        return alerts, fixed, remaining
    finally:
        await engine.close()


def _named(alert: Alert, fix_name: str | None) -> str | None:
    """``--with NAME`` applies to the alerts that offer that fix; the others use their first."""
    return fix_name if fix_name in {f.name for f in alert.fixes} else None


def _confirm_all(plans: list[tuple[Alert, Fix]], yes: bool) -> None:
    """Ask before each destructive fix; without a terminal (and no --yes), refuse them all first."""
    destructive = [(a, f) for a, f in plans if f.destructive]
    if not destructive or yes:
        return
    import sys

    if not sys.stdin.isatty():
        raise WorkbenchError(
            f"doctor --fix: {len(destructive)} destructive fix(es) need confirmation and stdin is not "
            "a terminal; pass --yes to run them"
        )
    declined = []
    for alert, fix in destructive:
        if not render.confirm(f"{render.about(alert.kind, alert.subject, fix.description)}?", assume_yes=False):
            declined.append((alert, fix))
    for item in declined:
        plans.remove(item)


async def _apply(engine: Engine, plans: list[tuple[Alert, Fix]]) -> list[dict[str, Any]]:
    out = []
    for alert, fix in plans:
        try:
            summary = await engine.fix(alert, fix.name)
            ok = True
        except PipelineFailed as exc:
            summary, ok = exc.message, False  # the fix's own words, not the pipeline's
        except WorkbenchError as exc:
            summary, ok = str(exc), False
        render.say(f"{'fixed' if ok else 'FAILED'} {render.about(alert.kind, alert.subject, summary)}", "" if ok else "red")
        out.append({"kind": alert.kind, "subject": alert.subject, "fix": fix.name, "ok": ok, "summary": summary})
    return out


def _print(alerts: list[Alert], fixed: list[dict[str, Any]], remaining: list[Alert] | None) -> None:
    """The findings as one table (a row each) on stdout; the verdict after it."""
    if not alerts:
        render.say("doctor: nothing wrong found")
        return
    from workbench.cli.alert_table import print_alerts

    print_alerts(alerts)
    if remaining is not None:
        render.say(f"doctor: {len(fixed)} fix(es) run, {len(remaining)} alert(s) remain")
