"""`workbench sandbox serve`: run a sandbox until SIGINT/SIGTERM, and switch faults in one."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path

from workbench.errors import UsageError
from workbench.sandbox.cloud.app import CONTROL_HEADER
from workbench.sandbox.core import Delays, Sandbox


async def serve(
    state_dir: Path, *, minions: int = 2, faults: Iterable[str] = (), port: int = 0,
    subnet: int | str | None = None, delays: Delays | None = None,
) -> int:
    """Start, print the ready line, serve until a stop signal; 0 on a clean stop."""
    box = Sandbox(state_dir, minions=minions, faults=faults, port=port, subnet=subnet,
                  delays=delays)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await box.start()
        print(f"sandbox ready: {box.profile_path}", flush=True)
        await stop.wait()
    finally:
        await box.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return 0


def send_fault(
    state_dir: Path, name: str, *, on: bool, server: str | None, count: int | None = None
) -> list[str]:
    """Switch a fault in the sandbox running on ``state_dir``; returns the faults now on."""
    info_path = state_dir / "sandbox.json"
    try:
        info = json.loads(info_path.read_text())
    except FileNotFoundError:
        raise UsageError(f"{info_path}: no sandbox is running on this state dir") from None
    except ValueError:
        raise UsageError(f"{info_path}: not a sandbox description") from None
    body = json.dumps({"name": name, "on": on, "server": server, "count": count}).encode()
    request = urllib.request.Request(
        f"{info['api_url']}/sandbox/faults", data=body, method="POST",
        headers={"Content-Type": "application/json", CONTROL_HEADER: info["control_secret"]},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return list(json.loads(resp.read())["faults"])
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read())["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = f"HTTP {exc.code}"
        raise UsageError(f"fault {name}: {message}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise UsageError(f"{info_path}: the sandbox at {info['api_url']} does not answer ({exc})") from None


def main(state_dir: Path, **kwargs: object) -> int:
    try:
        return asyncio.run(serve(state_dir, **kwargs))  # type: ignore[arg-type]
    except KeyboardInterrupt:
        return 0
    finally:
        sys.stdout.flush()
