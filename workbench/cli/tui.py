"""`workbench` / `workbench tui`: the Textual workbench, on a cloud or on the sandbox.

With no cloud configured anywhere (no ``--profile``, no profile file, no ``OS_CLOUD`` /
``OS_AUTH_URL``) the sandbox starts in-process with its state in the user's state dir;
``--sandbox`` forces that. Quitting stops the sandbox. Heavy modules (the sandbox, the
engine's cloud layer) are imported only when needed, after argument parsing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Any

HELP = "open the workbench TUI (what `workbench` with no verb does)"


def add_arguments(parser: argparse.ArgumentParser, verb: str) -> None:
    parser.add_argument(
        "--sandbox", action="store_true",
        help="run on the embedded sandbox cloud even when a cloud is configured",
    )
    parser.add_argument(
        "--sandbox-dir", metavar="DIR",
        help="the sandbox's state dir (implies --sandbox; default: <user state dir>/sandbox)",
    )
    parser.add_argument(
        "--readonly", action="store_true",
        help="disable every action that changes the cloud or a node",
    )


def cloud_configured(profile_arg: str | None, environ: Mapping[str, str] | None = None) -> bool:
    """True when the user pointed us at a cloud: a profile anywhere, or OS_* variables."""
    from workbench.profile import find_profile_path

    env = os.environ if environ is None else environ
    if profile_arg or find_profile_path(None) is not None:
        return True
    return bool(env.get("OS_CLOUD") or env.get("OS_AUTH_URL"))


def default_sandbox_dir() -> Path:
    from platformdirs import user_state_path

    return user_state_path("workbench") / "sandbox"


def run(args: argparse.Namespace) -> int:
    from workbench.profile import load_profile

    profile_arg = getattr(args, "profile", None)
    use_sandbox = bool(args.sandbox or args.sandbox_dir) or not cloud_configured(profile_arg)
    sandbox: Any = None
    try:
        if use_sandbox:
            sandbox = _start_sandbox(Path(args.sandbox_dir) if args.sandbox_dir else None)
            profile = load_profile(sandbox.profile_path, environ={})
        else:
            profile = load_profile(profile_arg)
        return asyncio.run(_run_app(profile, readonly=bool(args.readonly)))
    finally:
        if sandbox is not None:
            sandbox.stop()


def _start_sandbox(state_dir: Path | None) -> Any:
    """The in-process sandbox with realistic delays; blocks until it answers."""
    from workbench.sandbox.core import SandboxThread

    directory = state_dir or default_sandbox_dir()
    directory.mkdir(parents=True, exist_ok=True)
    sandbox = SandboxThread(directory)
    sandbox.start()
    return sandbox


async def _run_app(profile: Any, *, readonly: bool) -> int:
    from workbench.engine.pipeline import Engine
    from workbench.tui.app import WorkbenchApp

    engine = Engine(profile)
    app = WorkbenchApp(engine, readonly=readonly)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(signum, app.exit)
    try:
        await app.run_async()
    finally:
        for signum in (signal.SIGTERM, signal.SIGHUP):
            loop.remove_signal_handler(signum)
        await engine.close()
    return int(app.return_code or 0)
