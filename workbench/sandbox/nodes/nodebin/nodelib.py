"""Helpers for the simulated salt-call (stdlib only; runs on the node).

Until the engine provisions nodes itself (issue 17), the simulated salt-call needs facts a
real minion would get from its grains and its master: it asks the node's init for them
(``sim`` requests on /run/systemd/private), which asks the sandbox. Nothing of this is
written into the node. Units are started and stopped through the node's systemctl.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from systemctl import ask

ROOT = Path("/")
RUN = Path("/run/sandbox-sim")  # tmpfs: the salt-race marker lives here


def read_json(path: Path, default: object) -> object:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return default


def node() -> dict:
    """This node's facts (name, role, cluster, master_ip, boot token, addresses, faults)."""
    try:
        data = ask({"sim": "facts"}, timeout=30)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def settings() -> dict:
    data = node().get("settings", {})
    return data if isinstance(data, dict) else {}


def fault_on(name: str) -> bool:
    return name in (node().get("faults") or [])


def fetch(master_ip: str, path: str) -> dict:
    """``salt://path`` from the master at ``master_ip``: {"data": base64} or {"error": why}."""
    return ask({"sim": "fetch", "master_ip": master_ip, "path": path}, timeout=60)


def _ctl(*argv: str) -> dict:
    return ask({"argv": list(argv)})


def is_active(unit: str) -> bool:
    return _ctl("is-active", unit)["status"] == 0


def is_enabled(unit: str) -> bool:
    return _ctl("is-enabled", unit)["status"] == 0


def set_enabled(unit: str, enabled: bool) -> None:
    _ctl("enable" if enabled else "disable", unit)


def start_unit(unit: str) -> None:
    _ctl("start", unit)


def stop_unit(unit: str) -> None:
    _ctl("stop", unit)


def restart_unit(unit: str) -> None:
    _ctl("restart", unit)


def write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
