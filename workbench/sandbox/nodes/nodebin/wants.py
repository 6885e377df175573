"""[Install]: the multi-user.target.wants links `enable` makes, and the order the init
starts them in at boot (stdlib only)."""

from __future__ import annotations

import os
from collections.abc import Callable

import units as unitfiles

WANTS = "/etc/systemd/system/multi-user.target.wants"


def state(name: str, file: unitfiles.UnitFile | None, known: bool) -> str:
    """is-enabled's word: enabled, disabled, static, or "" for no such unit."""
    if os.path.lexists(os.path.join(WANTS, name)):
        return "enabled"
    if not known:
        return ""
    return "disabled" if (file is None or file.wanted_by) else "static"


def link(name: str, file: unitfiles.UnitFile | None, on: bool) -> list[str]:
    """Make or remove the unit's wants link; systemctl's messages for what changed."""
    path = os.path.join(WANTS, name)
    target = file.path if file else f"/usr/lib/systemd/system/{name}"
    if on and not os.path.lexists(path):
        os.makedirs(WANTS, exist_ok=True)
        os.symlink(target, path)
        return [f"Created symlink {path} \u2192 {target}."]
    if not on and os.path.lexists(path):
        os.unlink(path)
        return [f"Removed \"{path}\"."]
    return []


def boot_order(file_of: Callable[[str], unitfiles.UnitFile | None]) -> list[str]:
    """Enabled units, each after what it is ordered After or Requires (when also enabled)."""
    try:
        names = sorted(os.listdir(WANTS))
    except OSError:
        names = []
    wanted = [unitfiles.canonical(n) for n in names]
    done: list[str] = []

    def visit(name: str, seen: frozenset[str]) -> None:
        if name in done or name in seen:
            return
        file = file_of(name)
        for dep in (file.after + file.requires) if file else []:
            if dep in wanted:
                visit(dep, seen | {name})
        done.append(name)

    for name in wanted:
        visit(name, frozenset())
    return done
