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
from typing import TYPE_CHECKING, Any

from workbench.cli import render
from workbench.errors import UsageError

if TYPE_CHECKING:
    from workbench.engine.parts import Parts
    from workbench.models import Instance

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
    parts = render.parts(args)
    if args.verb == "salt":
        with render.Progress(parts.bus):
            doc = render.run(_salt(parts, args))
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
        argv = render.run(_ssh_argv(parts, args.node))
        sys.stdout.flush()
        os.execvp(argv[0], argv)
    return render.run(_ssh_run(parts, args.node, command))


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


async def _salt(parts: Parts, args: argparse.Namespace) -> dict[str, Any]:
    from workbench.engine.salt_master.runner import salt_runner
    from workbench.errors import NodeError

    try:
        nodes = await parts.active_instances()
        runner = salt_runner(parts.profile, parts.ssh, parts.state, parts.bus, nodes, pipeline="salt")
        try:
            chosen = runner.select(nodes, args.nodes, args.failed)
        except NodeError as exc:
            raise UsageError(f"--nodes: {exc.node}: no such ACTIVE node "
                             f"(known: {', '.join(n.name for n in nodes) or 'none'})") from None
        if not chosen:
            return {"nodes": [], "ok": True, "wall_s": 0.0, "alerts": []}
        report = await runner.run(chosen, state_name=args.state)
        return report.to_json()
    finally:
        await parts.close()


def _find(nodes: list[Instance], name: str) -> Instance:
    for node in nodes:
        if node.name == name:
            return node
    raise UsageError(f"ssh: no ACTIVE node named {name!r} (known: {', '.join(n.name for n in nodes) or 'none'})")


async def _ssh_argv(parts: Parts, name: str) -> list[str]:
    try:
        node = _find(await parts.active_instances(), name)
        pool = parts.ssh
        jump = pool.jump_host(node)
        for host in [node] if jump is None else [jump, node]:
            await pool.trust.trusted(host.id, host.name)  # learn and pin from the console
        return pool.system_ssh_argv(node)
    finally:
        await parts.close()


async def _ssh_run(parts: Parts, name: str, command: list[str]) -> int:
    import shlex

    from workbench.events import Event, LogLine

    def echo(event: Event) -> None:
        if isinstance(event, LogLine) and event.source == "ssh-cmd":
            stream = sys.stderr if event.stream == "stderr" else sys.stdout
            print(event.text, file=stream, flush=True)

    remove = parts.bus.add_listener(echo)
    try:
        node = _find(await parts.active_instances(), name)
        text = command[0] if len(command) == 1 else shlex.join(command)
        result = await parts.ssh.run(node, text, source="ssh-cmd")
        return result.exit_status if result.exit_status >= 0 else 255
    finally:
        remove()
        await parts.close()
