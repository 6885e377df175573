"""The doctor's build check: ``_output`` holding much that no node needs (output-bloat)."""

from __future__ import annotations

import asyncio

from workbench.engine.build.output import output_bloat_alert
from workbench.engine.parts import Parts
from workbench.models import Alert

KINDS = ("output-bloat",)


async def build_checks(ctx: Parts) -> list[Alert]:
    root = ctx.profile.kube.root
    if root is None or not (root / "_output").is_dir():
        return []
    alert = await asyncio.to_thread(output_bloat_alert, root, ctx.profile.kube.platforms)
    return [alert] if alert is not None else []
