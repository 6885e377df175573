"""`workbench redeploy`: build -> up -> push -> salt -> verify, headless, through the Engine.

Stops at the first failing stage and names it and its nodes. Exit 0 when every stage
passed, 1 otherwise; with ``--json`` stdout holds one document::

    {"ok", "seconds", "stages": [{"name", "ok", "seconds", "error"}],
     "failed_stage", "failed_nodes", "error"}
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from workbench.cli import render

HELP = "build, create missing nodes, push, provision (Salt) and verify the cluster in one go"


def add_arguments(parser: argparse.ArgumentParser, verb: str) -> None:
    """No flags of its own: the profile says what to build and where to push."""


def run(args: argparse.Namespace) -> int:
    from workbench.engine.facade import Engine
    from workbench.errors import PipelineFailed
    from workbench.events import Event, StageFinished

    parts = render.parts(args)
    bus = parts.bus
    stages: list[dict[str, Any]] = []

    def record(event: Event) -> None:
        if isinstance(event, StageFinished) and event.pipeline == "redeploy" and event.node is None:
            stages.append({"name": event.stage, "ok": event.ok,
                           "seconds": round(event.seconds, 3), "error": event.error})

    bus.add_listener(record)
    failure: PipelineFailed | None = None
    started = time.monotonic()

    async def work() -> None:
        engine = Engine(parts.profile, parts=parts)
        try:
            await engine.redeploy()
        finally:
            await engine.close()

    with render.Progress(bus):
        try:
            render.run(work())
        except PipelineFailed as exc:
            failure = exc
    doc = {
        "ok": failure is None,
        "seconds": round(time.monotonic() - started, 3),
        "stages": stages,
        "failed_stage": failure.stage if failure else None,
        "failed_nodes": list(failure.nodes) if failure else [],
        "error": failure.message if failure else None,
    }
    if args.json:
        render.emit_json(doc)
    elif failure is None:
        render.say(f"redeploy ok in {doc['seconds']:.1f} s", "green")
    else:
        render.say(f"workbench: {failure}", "red")
    return 0 if failure is None else 1
