"""The doctor: every check that turns the cluster's state into ``Alert``s, and their fixes.

Checks come in groups: the cloud's (``workbench.engine.doctor.cloud``), the nodes'
(``workbench.engine.doctor.nodes.node_checks``) and the build output's
(``workbench.engine.build``). A group that is not installed is skipped; a group that
fails becomes one ``check-failed`` alert, so one broken check never hides the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from workbench.errors import (
    CloudAuthError,
    CloudUnreachable,
    ProfileError,
    UsageError,
    WorkbenchError,
)
from workbench.events import Bus
from workbench.models.alerts import Alert, Fix
from workbench.profile import Profile
from workbench.state import StateDir

Scope = Literal["all", "cloud"]
Check = Callable[["DoctorContext"], Awaitable[list[Alert]]]

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
#: Every alert kind a check can raise -> the group raising it. Each check module registers
#: its kinds when imported (``register_kinds``); ``known_kinds`` imports them all first, so
#: ``doctor --fix KIND`` knows a new kind as soon as its check exists.
_KINDS: dict[str, str] = {}


def register_kinds(group: str, *kinds: str) -> None:
    """Declare the alert kinds ``group``'s checks raise (call at the check module's import)."""
    for kind in kinds:
        _KINDS.setdefault(kind, group)


def known_kinds() -> tuple[str, ...]:
    """Every kind any check can raise: the cloud's, the nodes', the build's, then the doctor's."""
    order = [name for name, _ in _groups("all")]
    rank = {group: i for i, group in enumerate(order)}
    return tuple(sorted(_KINDS, key=lambda kind: rank.get(_KINDS[kind], len(order))))


register_kinds("doctor", "check-failed")
register_kinds("build", "output-bloat")  # raised by _build_checks below (engine.build.output)


@dataclass(frozen=True)
class DoctorContext:
    profile: Profile
    state: StateDir
    cloud: Any  # workbench.engine.cloud.CloudClient
    bus: Bus
    ssh: Any = None  # workbench.engine.ssh.SSHPool, for node checks

    @classmethod
    def from_engine(cls, engine: Any) -> DoctorContext:
        ssh = None
        with contextlib.suppress(ImportError):
            ssh = engine.ssh
        return cls(engine.profile, engine.state.ensure(), engine.cloud, engine.bus, ssh)


def _groups(scope: Scope) -> list[tuple[str, Check]]:
    from workbench.engine.doctor.cloud import cloud_checks

    groups: list[tuple[str, Check]] = [("cloud", cloud_checks)]
    if scope == "cloud":
        return groups
    try:
        from workbench.engine.doctor.nodes import node_checks

        groups.append(("nodes", node_checks))
    except ImportError:
        pass
    groups.append(("build", _build_checks))
    return groups


async def _build_checks(ctx: DoctorContext) -> list[Alert]:
    try:
        from workbench.engine.build import output_checks  # type: ignore[attr-defined]
    except ImportError:
        output_checks = None
    if output_checks is not None:
        found = output_checks(ctx)
        return list(await found if inspect.isawaitable(found) else found)
    root = ctx.profile.kube.root
    if root is None or not (root / "_output").is_dir():
        return []
    try:
        from workbench.engine.build.output import output_bloat_alert
    except ImportError:
        return []
    alert = await asyncio.to_thread(output_bloat_alert, root, ctx.profile.kube.platforms)
    return [alert] if alert is not None else []


async def _guarded(name: str, check: Check, ctx: DoctorContext) -> list[Alert]:
    try:
        return list(await check(ctx))
    except _FATAL:
        raise
    except WorkbenchError as exc:
        text = str(exc)
    except Exception as exc:  # a bug in one check must not hide the others
        text = f"{type(exc).__name__}: {exc}"
    return [Alert("check-failed", "warning", name, f"the {name} checks failed: {text}")]


async def diagnose(
    ctx: DoctorContext, kinds: Iterable[str] | None = None, *, scope: Scope = "all"
) -> list[Alert]:
    """Run every check (or those of ``scope``); keep only ``kinds`` when given. The caller
    publishes ``AlertsChanged`` (the engine's watcher does, once the set changes)."""
    wanted = set(kinds) if kinds else None
    results = await asyncio.gather(*(_guarded(n, c, ctx) for n, c in _groups(scope)))
    alerts = [a for group in results for a in group if wanted is None or a.kind in wanted]
    alerts.sort(key=lambda a: (_SEVERITY_ORDER.get(a.severity, 9), a.kind, a.subject))
    return alerts


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
