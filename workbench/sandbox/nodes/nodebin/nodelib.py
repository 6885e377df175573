"""Helpers shared by the sandbox node's commands. Stdlib only: runs on the node.

Installed as <root>/usr/local/lib/sandbox/nodelib.py; the node's "/" is four levels up.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

ROOT = Path(__file__).absolute().parents[4]
RUN = ROOT / "run" / "sandbox"
UNITS_DIR = ROOT / "run" / "systemd" / "units"
WANTS_DIR = ROOT / "etc" / "systemd" / "system" / "multi-user.target.wants"
JOURNAL_DIR = ROOT / "var" / "log" / "journal"
SSHD_CONFIG = ROOT / "etc" / "ssh" / "sshd_config"
SSHD_EFFECTIVE = ROOT / "run" / "sshd" / "effective_config"

UNITS = {
    "salt-minion": "The Salt Minion",
    "salt-master": "The Salt Master Server",
    "kubelet": "Kubernetes Kubelet Server",
    "kube-apiserver": "Kubernetes API Server",
    "sshd": "OpenSSH server daemon",
}


def read_json(path: Path, default: object) -> object:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return default


def node() -> dict:
    """This node's facts (name, role, cluster, master_ip, boot token), written at boot."""
    data = read_json(RUN / "node.json", {})
    return data if isinstance(data, dict) else {}


def settings() -> dict:
    data = read_json(RUN / "settings.json", {})
    return data if isinstance(data, dict) else {}


def fault_on(name: str) -> bool:
    data = read_json(RUN / "faults.json", [])
    return isinstance(data, list) and name in data


def unit_name(arg: str) -> str:
    return arg[: -len(".service")] if arg.endswith(".service") else arg


def is_active(unit: str) -> bool:
    try:
        return (UNITS_DIR / unit).read_text().split()[:1] == ["active"]
    except OSError:
        return False


def starts(unit: str) -> int:
    """How often the unit started since boot (lets the node manager see restarts)."""
    try:
        words = (UNITS_DIR / unit).read_text().split()
        return int(words[1]) if len(words) > 1 else 0
    except (OSError, ValueError):
        return 0


def is_enabled(unit: str) -> bool:
    return (WANTS_DIR / f"{unit}.service").exists()


def write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def set_active(unit: str, active: bool) -> None:
    count = starts(unit) + (1 if active else 0)
    write_atomic(UNITS_DIR / unit, f"{'active' if active else 'inactive'}\n{count}\n")
    if unit == "sshd" and active:
        # sshd reads its configuration when it starts: remember what it read.
        SSHD_EFFECTIVE.parent.mkdir(parents=True, exist_ok=True)
        if SSHD_CONFIG.exists():
            shutil.copyfile(SSHD_CONFIG, SSHD_EFFECTIVE)


def set_enabled(unit: str, enabled: bool) -> None:
    link = WANTS_DIR / f"{unit}.service"
    if enabled:
        write_atomic(link, f"/usr/lib/systemd/system/{unit}.service\n")
    else:
        link.unlink(missing_ok=True)


def journal(unit: str, line: str, pid: int | None = None) -> None:
    """Append one line in journalctl's short format to the unit's journal file."""
    host = node().get("name", "localhost")
    stamp = time.strftime("%b %d %H:%M:%S")
    JOURNAL_DIR.mkdir(parents=True, exist_ok=True)
    with open(JOURNAL_DIR / f"{unit}.log", "a", encoding="utf-8") as handle:
        handle.write(f"{stamp} {host} {unit}[{pid or os.getpid()}]: {line}\n")


def start_unit(unit: str) -> None:
    desc = UNITS.get(unit, unit)
    journal("systemd", f"Starting {desc}...", pid=1)
    set_active(unit, True)
    journal(unit, f"Started {desc}.")
    journal("systemd", f"Started {desc}.", pid=1)


def stop_unit(unit: str) -> None:
    desc = UNITS.get(unit, unit)
    journal("systemd", f"Stopping {desc}...", pid=1)
    set_active(unit, False)
    journal(unit, f"Stopped {desc}.")
    journal("systemd", f"Stopped {desc}.", pid=1)


def restart_unit(unit: str) -> None:
    """Stop and start in one step: the unit file goes from active to active with one more
    start, never inactive in between (a reconcile reading it then would close the sshd
    listeners under the clients); the node manager reports it as stop+start."""
    if not is_active(unit):
        return start_unit(unit)
    desc = UNITS.get(unit, unit)
    journal("systemd", f"Stopping {desc}...", pid=1)
    journal(unit, f"Stopped {desc}.")
    journal("systemd", f"Stopped {desc}.", pid=1)
    journal("systemd", f"Starting {desc}...", pid=1)
    set_active(unit, True)
    journal(unit, f"Started {desc}.")
    journal("systemd", f"Started {desc}.", pid=1)
