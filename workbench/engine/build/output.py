"""The output check: how big `_output` is and how much of it no node needs.

A push sends the release tars for the profile's platforms and the salt tarball. The
rest (``release-stage/``, other platforms' tars, the full bundle, ``dockerized/``
leftovers for other platforms) is what made the seed's `_output` 7 GB.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from workbench.models.alerts import Alert, Fix

DEFAULT_THRESHOLD_BYTES = 256 * 1024 * 1024
DEFAULT_THRESHOLD_RATIO = 0.6


@dataclass(frozen=True)
class OutputUsage:
    root: Path  # KUBE_ROOT
    total_bytes: int
    pushed: tuple[tuple[str, int], ...]  # (path relative to KUBE_ROOT, bytes) a push sends
    skippable: tuple[tuple[str, int], ...]  # what no node needs

    @property
    def skippable_bytes(self) -> int:
        return sum(size for _, size in self.skippable)

    @property
    def pushed_bytes(self) -> int:
        return sum(size for _, size in self.pushed)


def needed_tars(platforms: Sequence[str]) -> set[str]:
    names = {"kubernetes-salt.tar.gz"}
    for platform in platforms:
        tag = platform.replace("/", "-")
        names |= {f"kubernetes-{kind}-{tag}.tar.gz" for kind in ("server", "node", "client")}
    return names


def tree_bytes(path: Path) -> int:
    if path.is_symlink() or path.is_file():
        return path.lstat().st_size
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def measure_output(root: Path, platforms: Sequence[str]) -> OutputUsage:
    root = Path(root)
    output = root / "_output"
    pushed: list[tuple[str, int]] = []
    skippable: list[tuple[str, int]] = []

    def rel(p: Path) -> str:
        return str(p.relative_to(root))

    stage = output / "release-stage"
    if stage.exists():
        skippable.append((rel(stage), tree_bytes(stage)))
    tars = output / "release-tars"
    wanted = needed_tars(platforms)
    if tars.is_dir():
        for tar in sorted(tars.iterdir()):
            entry = (rel(tar), tree_bytes(tar))
            (pushed if tar.name in wanted else skippable).append(entry)
    dockerized = output / "dockerized"
    if dockerized.is_dir():
        keep = {tuple(p.split("/")) for p in platforms}
        for child in sorted(dockerized.iterdir()):
            if child.name != "bin" or not child.is_dir():
                skippable.append((rel(child), tree_bytes(child)))
                continue
            for os_dir in sorted(child.iterdir()):
                if not any(os_name == os_dir.name for os_name, _ in keep):
                    skippable.append((rel(os_dir), tree_bytes(os_dir)))
                    continue
                arches = sorted(os_dir.iterdir()) if os_dir.is_dir() else [os_dir]
                for arch in arches:
                    if (os_dir.name, arch.name) not in keep:
                        skippable.append((rel(arch), tree_bytes(arch)))
    total = tree_bytes(output) if output.exists() else 0
    return OutputUsage(root, total, tuple(pushed), tuple(skippable))


def prune_output(usage: OutputUsage) -> tuple[int, int]:
    """Delete what no node needs; returns (entries removed, bytes freed)."""
    removed = freed = 0
    for relpath, size in usage.skippable:
        path = usage.root / relpath
        if not path.resolve().is_relative_to((usage.root / "_output").resolve()):
            continue  # never outside _output
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed += 1
        freed += size
    return removed, freed


def human(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"  # pragma: no cover


def output_bloat_alert(
    root: Path,
    platforms: Sequence[str],
    *,
    threshold_bytes: int = DEFAULT_THRESHOLD_BYTES,
    threshold_ratio: float = DEFAULT_THRESHOLD_RATIO,
) -> Alert | None:
    """An ``output-bloat`` alert when what no node needs is large, with a prune fix."""
    usage = measure_output(root, platforms)
    skip = usage.skippable_bytes
    if skip == 0 or (skip < threshold_bytes and skip < threshold_ratio * usage.total_bytes):
        return None
    paths = [p for p, _ in usage.skippable]
    shown = ", ".join(p.removeprefix("_output/") for p in paths[:6])
    more = f" and {len(paths) - 6} more" if len(paths) > 6 else ""

    async def prune() -> str:
        removed, freed = await asyncio.to_thread(prune_output, usage)
        return f"pruned {removed} entries from _output, {human(freed)} freed"

    return Alert(
        kind="output-bloat",
        severity="warning",
        subject=str(Path(root) / "_output"),
        message=(
            f"_output holds {human(usage.total_bytes)}; {human(skip)} of it no node needs "
            f"({shown}{more}); a push sends {human(usage.pushed_bytes)}"
        ),
        command="cd " + str(root) + " && rm -rf " + " ".join(paths),
        details="\n".join(f"{human(size):>10}  {p}" for p, size in usage.skippable),
        fixes=(
            Fix(
                name="prune",
                description=f"delete {len(paths)} entries under _output ({human(skip)}) that no node needs",
                run=prune,
            ),
        ),
    )
