"""Headless verbs on the nodes: ``salt`` (a state on all or chosen nodes) and ``ssh``.

``workbench salt [--nodes N ...] [--failed] [--state NAME] --json`` prints
``{"nodes": [{"name", "ok", "succeeded", "failed", "seconds", ...}], "ok", "wall_s"}``.
``workbench ssh NODE`` execs the system ssh (pinned host key, key, user, jump host);
``workbench ssh NODE -- CMD`` runs CMD through the pool and exits with its status.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from workbench.cli import render
from workbench.errors import UsageError

HELP = {
    "salt": "run a Salt state (highstate by default) on every node at once, or on chosen ones",
    "ssh": "open a shell on a node, or run a command there (workbench ssh NODE -- CMD)",
}


def add_arguments(parser: argparse.ArgumentParser, verb: str) -> None:
    if verb == "salt":
        parser.add_argument("--nodes", nargs="+", metavar="NAME", help="only these nodes")
        parser.add_argument("--failed", action="store_true", help="only the nodes that failed last time")
        parser.add_argument("--state", metavar="NAME", help="apply this state instead of the highstate")
    else:
        parser.add_argument("node", metavar="NODE", help="node name, e.g. kubernetes-minion-1")
        parser.add_argument("command", nargs=argparse.REMAINDER, help="-- CMD: run CMD and exit with its status")


def run(args: argparse.Namespace) -> int:
    command = ssh_command(args) if args.verb == "ssh" else []
    profile, state = render.load(args)
    from workbench.events import Bus

    bus = Bus()
    if args.verb == "salt":
        with render.Progress(bus, quiet=args.json):
            doc = render.run(_salt(profile, state, bus, args))
        if args.json:
            render.emit_json(doc)
        else:
            for n in doc["nodes"]:
                verdict = "ok" if n["ok"] else f"FAILED: {n['error']}"
                render.say(f"{n['name']}: {n['succeeded']} succeeded, {n['failed']} failed, "
                           f"{n['seconds']:.1f} s, {verdict}", "" if n["ok"] else "red")
            if not doc["nodes"]:
                render.say("salt: no node to run on (nothing failed last time)")
        return 0 if doc["ok"] else 1
    if not command:
        argv = render.run(_ssh_argv(profile, state, bus, args.node))
        sys.stdout.flush()
        os.execvp(argv[0], argv)
    return int(render.run(_ssh_run(profile, state, bus, args.node, command)))


def ssh_command(args: argparse.Namespace) -> list[str]:
    """The command after NODE; the common options written after NODE (``ssh NODE --profile P
    -- CMD``) are taken out of it first: REMAINDER would hand them to the node."""
    words = list(args.command or [])
    index = 0
    while index < len(words):
        word = words[index]
        if word == "--":
            return words[index + 1:]
        if word == "--json":
            args.json = True
        elif word == "--profile":
            if index + 1 >= len(words):
                raise UsageError("--profile: needs a PATH")
            index += 1
            args.profile = words[index]
        elif word.startswith("--profile="):
            args.profile = word.removeprefix("--profile=")
        else:
            return words[index:]  # the command (argparse may have eaten its "--")
        index += 1
    return []


async def _nodes(profile: Any, bus: Any) -> tuple[Any, list[Any]]:
    from workbench.engine.cloud import CloudClient

    cloud = CloudClient(profile, bus=bus)
    instances = [i for i in await cloud.list_instances() if i.status == "ACTIVE"]
    return cloud, instances


def _pool(profile: Any, state: Any, bus: Any, cloud: Any, nodes: list[Any]) -> Any:
    from workbench.engine.ssh import SSHPool

    pool = SSHPool(profile, state, console=cloud.console_output, bus=bus)
    pool.remember(nodes)
    return pool


async def _salt(profile: Any, state: Any, bus: Any, args: argparse.Namespace) -> dict[str, Any]:
    from workbench.engine.salt_master.runner import salt_runner
    from workbench.errors import NodeError

    cloud, nodes = await _nodes(profile, bus)
    pool = _pool(profile, state, bus, cloud, nodes)
    try:
        runner = salt_runner(profile, pool, state, bus, nodes, pipeline="salt")
        try:
            chosen = runner.select(nodes, args.nodes, args.failed)
        except NodeError as exc:
            raise UsageError(f"--nodes: {exc.node}: no such ACTIVE node "
                             f"(known: {', '.join(n.name for n in nodes) or 'none'})") from None
        if not chosen:
            return {"nodes": [], "ok": True, "wall_s": 0.0, "alerts": []}
        report = await runner.run(chosen, state_name=args.state)
        return report.to_json()  # type: ignore[no-any-return]
    finally:
        await pool.close()


def _find(nodes: list[Any], name: str) -> Any:
    for node in nodes:
        if node.name == name:
            return node
    raise UsageError(f"ssh: no ACTIVE node named {name!r} (known: {', '.join(n.name for n in nodes) or 'none'})")


async def _ssh_argv(profile: Any, state: Any, bus: Any, name: str) -> list[str]:
    cloud, nodes = await _nodes(profile, bus)
    node = _find(nodes, name)
    pool = _pool(profile, state, bus, cloud, nodes)
    try:
        jump = pool.jump_host(node)
        for host in [node] if jump is None else [jump, node]:
            await pool.trust.trusted(host.id, host.name)  # learn and pin from the console
        return pool.system_ssh_argv(node)  # type: ignore[no-any-return]
    finally:
        await pool.close()


async def _ssh_run(profile: Any, state: Any, bus: Any, name: str, command: list[str]) -> int:
    import shlex

    from workbench.events import LogLine

    cloud, nodes = await _nodes(profile, bus)
    node = _find(nodes, name)
    pool = _pool(profile, state, bus, cloud, nodes)

    def echo(event: Any) -> None:
        if isinstance(event, LogLine) and event.source == "ssh-cmd":
            stream = sys.stderr if event.stream == "stderr" else sys.stdout
            print(event.text, file=stream, flush=True)

    remove = bus.add_listener(echo)
    try:
        text = command[0] if len(command) == 1 else shlex.join(command)
        result = await pool.run(node, text, source="ssh-cmd")
        return result.exit_status if result.exit_status >= 0 else 255  # type: ignore[no-any-return]
    finally:
        remove()
        await pool.close()
