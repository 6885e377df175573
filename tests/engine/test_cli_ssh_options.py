"""``workbench ssh NODE --profile P [-- CMD]``: options after NODE are options, not the command.

Found by using the CLI the way the other verbs are used (``workbench status --profile P``):
``ssh NODE --profile P`` handed ``--profile P`` to the node as its command and loaded the
default profile, failing with a cloud-credentials error.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from workbench.cli import build_parser
from workbench.cli.nodes import ssh_command

from .test_salt_helpers import start_cluster

REPO = Path(__file__).resolve().parents[2]


def parsed(*argv: str) -> tuple[str | None, list[str], bool]:
    args = build_parser("ssh").parse_args(list(argv))
    command = ssh_command(args)
    return args.profile, command, bool(args.json)


def test_options_after_the_node_are_taken_out_of_the_command() -> None:
    assert parsed("ssh", "n1", "--profile", "P") == ("P", [], False)
    assert parsed("ssh", "n1", "--profile=P", "--json") == ("P", [], True)
    assert parsed("ssh", "n1", "--profile", "P", "--", "ls", "-la", "--profile", "x") == (
        "P", ["ls", "-la", "--profile", "x"], False)
    assert parsed("--profile", "P", "ssh", "n1", "--", "echo out; exit 3") == ("P", ["echo out; exit 3"], False)
    assert parsed("ssh", "n1", "hostname", "--json") == (None, ["hostname", "--json"], False)
    assert parsed("ssh", "n1", "--", "--version") == (None, ["--version"], False)


async def test_cli_ssh_with_the_profile_after_the_node(make_sandbox) -> None:
    c = await start_cluster(make_sandbox, minions=1, provisioned=False)
    await c.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    profile = str(c.box.profile_path)

    def workbench(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "workbench", *argv], cwd=REPO, env=env, text=True,
            capture_output=True, timeout=120, stdin=subprocess.DEVNULL,
        )

    done = await asyncio.to_thread(workbench, "ssh", c.minions[0].name, "--profile", profile, "--", "hostname")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{c.minions[0].name}\n"
    bad = await asyncio.to_thread(workbench, "ssh", "nope", "--profile", profile)
    assert bad.returncode == 2 and "no ACTIVE node named 'nope'" in bad.stderr, bad.stderr
    assert "Traceback" not in bad.stderr
