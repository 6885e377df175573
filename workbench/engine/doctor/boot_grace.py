"""Boot grace: a node created moments ago is booting, not unreachable.

``diagnose`` applies it once for every caller (the TUI's watcher, ``workbench doctor``):
a ``node-unreachable`` alert about an instance younger than the grace is left out, and
comes back by itself at the first check after the grace if the node still cannot be reached.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from workbench.models import Alert, Instance

#: Seconds after its creation during which a node that cannot be reached is booting.
BOOT_GRACE_S = 180.0
#: The alert kinds a booting node is spared.
BOOTING_KINDS = frozenset({"node-unreachable"})


def created_at(created: str | float | datetime | None) -> float | None:
    """Epoch seconds from an epoch number, a datetime or an ISO string (Nova's ``created``,
    ``Z`` or an offset); None when unknown or unreadable."""
    if created is None or created == "":
        return None
    try:
        if isinstance(created, (int, float)):
            return float(created)
        if isinstance(created, datetime):
            return created.timestamp()
        return datetime.fromisoformat(str(created).replace("Z", "+00:00")).timestamp()
    except (TypeError, ValueError, OverflowError):
        return None


def booting(instances: Iterable[Instance], now: float, grace: float = BOOT_GRACE_S) -> frozenset[str]:
    """Names of the instances created less than ``grace`` seconds before ``now``. An
    instance without a readable creation time is not booting (its alerts are shown)."""
    return frozenset(
        i.name for i in instances
        if (at := created_at(i.created)) is not None and now - at < grace
    )


def past_boot_grace(
    alerts: Iterable[Alert], instances: Iterable[Instance], now: float, grace: float = BOOT_GRACE_S
) -> list[Alert]:
    """``alerts`` without the unreachable-node alerts of nodes still booting."""
    young = booting(instances, now, grace)
    return [a for a in alerts if not (a.kind in BOOTING_KINDS and a.subject in young)]
