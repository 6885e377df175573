"""Headless verb ``push``: the build to every ACTIVE node, only the chunks each lacks.

``--json`` prints ``{"nodes": [{"name", "ok", "files_changed", "bytes_sent", "seconds",
"files_removed", "via", "phases", ...}], "bytes_from_workstation"}``. A node that cannot be reached is reported failed; the others
are still pushed.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from workbench.cli import render
from workbench.errors import WorkbenchError

if TYPE_CHECKING:
    from workbench.engine.parts import Parts

HELP = "push the build to every node, sending only what changed (relay through the master)"


def add_arguments(parser: argparse.ArgumentParser, verb: str) -> None:
    parser.add_argument("--direct", action="store_true",
                        help="push to every node from the workstation in parallel (no relay)")
    parser.add_argument("--dry-run", action="store_true",
                        help="say what would travel to each node, send nothing")
    parser.add_argument("--nodes", nargs="+", metavar="NAME", help="only these nodes")


def run(args: argparse.Namespace) -> int:
    from workbench.engine.push.manifest import select_sources

    parts = render.parts(args)
    select_sources(parts.profile)  # a missing KUBE_ROOT or build fails here, before any connection
    with render.Progress(parts.bus):
        doc = render.run(_work(parts, args))
    if args.json:
        render.emit_json(doc)
    else:
        for n in doc["nodes"]:
            verdict = "ok" if n["ok"] else f"FAILED: {n.get('error')}"
            render.say(f"{n['name']}: {verdict}, {n['files_changed']} file(s), "
                       f"{n['bytes_sent'] / 1e6:.1f} MB sent, {n['seconds']:.2f} s",
                       "" if n["ok"] else "red")
        render.say(f"{doc['bytes_from_workstation'] / 1e6:.1f} MB left the workstation")
    return 0 if doc["nodes"] and all(n["ok"] for n in doc["nodes"]) else 1


async def _work(parts: Parts, args: argparse.Namespace) -> dict[str, Any]:
    from workbench.engine.push.runner import push, start_manifest

    profile, state = parts.profile, parts.state
    try:
        instances = await parts.inventory.refresh()
        nodes = sorted((i for i in instances if i.status == "ACTIVE" and i.role in ("master", "minion")),
                       key=lambda i: (i.role != "master", i.name))
        if args.nodes:
            unknown = set(args.nodes) - {i.name for i in nodes}
            if unknown:
                raise WorkbenchError(f"--nodes: no ACTIVE instance named {', '.join(sorted(unknown))}")
            nodes = [i for i in nodes if i.name in args.nodes]
        if not nodes:
            raise WorkbenchError("no ACTIVE instances: run `workbench up` first")
        manifest = start_manifest(profile, state)  # chunking overlaps the SSH handshakes
        conns = await parts.ssh.connect_all(nodes)
        targets = {i.name: (i, conns[i.name]) for i in nodes if not isinstance(conns[i.name], Exception)}
        unreachable = [{"name": i.name, "ok": False, "files_changed": 0, "bytes_sent": 0, "seconds": 0.0,
                        "error": str(conns[i.name])} for i in nodes if i.name not in targets]
        report = None
        if targets:
            report = await push(profile, state, targets, bus=parts.bus, master=profile.master_name,
                                direct=args.direct, dry_run=args.dry_run, manifest=manifest)
        else:
            manifest.cancel()
        pushed = [asdict(n) for n in report.nodes] if report is not None else []
        return {"nodes": pushed + unreachable,
                "bytes_from_workstation": report.bytes_from_workstation if report else 0,
                "seconds": round(report.seconds, 3) if report else 0.0,
                "dry_run": bool(args.dry_run)}
    finally:
        await parts.close()
