"""The doctor: every check that turns the cluster's state into ``Alert``s, and their fixes.

The checks come in groups, one module each, imported here directly: the cloud's
(``doctor.cloud``), the nodes' (``doctor.nodes``, with ``doctor.push``) and the build
output's (``doctor.build``). A group that fails becomes one ``check-failed`` alert, so one
broken check never hides the others.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Literal

from workbench.engine.doctor import build, cloud, nodes, push
from workbench.engine.doctor.boot_grace import BOOT_GRACE_S, BOOTING_KINDS, past_boot_grace
from workbench.engine.parts import Parts
from workbench.errors import (
    CloudAuthError,
    CloudUnreachable,
    ProfileError,
    UsageError,
    WorkbenchError,
)
from workbench.models import Alert, Fix

Scope = Literal["all", "cloud"]
Check = Callable[[Parts], Awaitable[list[Alert]]]

_SEVERITY_ORDER = {"critical": 0, "error": 1, "warning": 2, "info": 3}
#: Fix cheap, local and freeing things first, so later fixes find the IPs and ports free.
_FIX_ORDER = {
    "stale-vagrant-machine": 0,
    "leaked-port": 1,
    "orphan-floating-ip": 2,
    "instance-missing": 3,
    "instance-error": 4,
}
#: Errors that make every check pointless: they end the doctor with one line.
_FATAL = (CloudAuthError, CloudUnreachable, ProfileError)
#: The groups in the order they report, each with every alert kind its checks raise.
GROUPS: tuple[tuple[str, Check, tuple[str, ...]], ...] = (
    ("cloud", cloud.cloud_checks, cloud.KINDS),
    ("nodes", nodes.node_checks, push.KINDS + nodes.KINDS),
    ("build", build.build_checks, build.KINDS),
)
CHECK_FAILED = "check-failed"


def known_kinds() -> tuple[str, ...]:
    """Every kind any check can raise: the cloud's, the nodes', the build's, then the doctor's."""
    return (*(kind for _, _, kinds in GROUPS for kind in kinds), CHECK_FAILED)


def _groups(scope: Scope) -> list[tuple[str, Check]]:
    return [(name, check) for name, check, _ in GROUPS if scope == "all" or name == scope]


async def _guarded(name: str, check: Check, ctx: Parts) -> list[Alert]:
    try:
        return list(await check(ctx))
    except _FATAL:
        raise
    except WorkbenchError as exc:
        text = str(exc)
    except Exception as exc:  # a bug in one check must not hide the others
        text = f"{type(exc).__name__}: {exc}"
    return [Alert(CHECK_FAILED, "warning", name, f"the {name} checks failed: {text}")]


async def diagnose(
    ctx: Parts, kinds: Iterable[str] | None = None, *, scope: Scope = "all",
    boot_grace: float = BOOT_GRACE_S, now: float | None = None,
) -> list[Alert]:
    """Run every check (or those of ``scope``); keep only ``kinds`` when given. Nodes created
    less than ``boot_grace`` seconds before ``now`` are booting, not unreachable
    (``boot_grace``). The caller publishes ``AlertsChanged`` (the engine's watcher does,
    once the set changes)."""
    ctx.state.ensure()
    wanted = set(kinds) if kinds else None
    results = await asyncio.gather(*(_guarded(n, c, ctx) for n, c in _groups(scope)))
    alerts = [a for group in results for a in group if wanted is None or a.kind in wanted]
    alerts = await _past_boot_grace(ctx, alerts, boot_grace, time.time() if now is None else now)
    alerts.sort(key=lambda a: (_SEVERITY_ORDER.get(a.severity, 9), a.kind, a.subject))
    return alerts


async def _past_boot_grace(ctx: Parts, alerts: list[Alert], grace: float, now: float) -> list[Alert]:
    """The instances' creation times are read only when a node could not be reached; when
    they cannot be read, every alert is kept (better shown than hidden)."""
    if grace <= 0 or not any(a.kind in BOOTING_KINDS for a in alerts):
        return alerts
    try:
        instances = await ctx.cloud.list_instances()
    except (WorkbenchError, OSError):
        return alerts
    return past_boot_grace(alerts, instances, now, grace)


def fix_order(alerts: Iterable[Alert]) -> list[Alert]:
    """The order in which fixes run: freeing resources before recreating instances."""
    return sorted(alerts, key=lambda a: (_FIX_ORDER.get(a.kind, 10), a.kind, a.subject))


def choose_fix(alert: Alert, fix_name: str | None = None) -> Fix:
    if not alert.fixes:
        raise UsageError(f"{alert.kind} {alert.subject}: no fix is known for this alert")
    if fix_name is None:
        return alert.fixes[0]
    for fix in alert.fixes:
        if fix.name == fix_name:
            return fix
    names = ", ".join(f.name for f in alert.fixes)
    raise UsageError(f"{alert.kind} {alert.subject}: no fix named {fix_name!r} (known: {names})")


async def apply_fix(alert: Alert, fix_name: str | None = None) -> str:
    """Run one of the alert's fixes (the first by default); returns what it did, in one line."""
    fix = choose_fix(alert, fix_name)
    return await fix.run()
