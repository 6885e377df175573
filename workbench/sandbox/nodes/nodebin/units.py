"""systemd unit files as the node's supervisor reads them, and the node's journal files.

Stdlib only (runs on the node). Only what a node's services use: [Unit] Description,
After, Requires, Wants; [Service] Type (simple, exec, oneshot, notify), NotifyAccess,
ExecStartPre, ExecStart, ExecStop, Environment, EnvironmentFile, WorkingDirectory, User,
Restart, RestartSec, TimeoutStartSec; [Install] WantedBy. Drop-ins
(``UNIT.d/*.conf`` in any unit directory) apply after the unit file, in file-name order,
a name in a higher directory hiding the same name below; an empty ``ExecStart=`` or
``Environment=`` resets the list, as in systemd.
"""

from __future__ import annotations

import os
import shlex
import time
from dataclasses import dataclass, field

UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system",
             "/usr/lib/systemd/system", "/lib/systemd/system")
JOURNAL_DIR = "/var/log/journal"


@dataclass
class UnitFile:
    name: str  # "kubelet.service"
    path: str
    mtime: float
    description: str = ""
    after: list[str] = field(default_factory=list)
    requires: list[str] = field(default_factory=list)
    wants: list[str] = field(default_factory=list)
    wanted_by: list[str] = field(default_factory=list)
    type: str = "simple"
    exec_start_pre: list[list[str]] = field(default_factory=list)
    exec_start: list[list[str]] = field(default_factory=list)
    exec_stop: list[list[str]] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)
    environment_files: list[str] = field(default_factory=list)
    working_directory: str = ""
    user: str = ""
    restart: str = "no"
    restart_sec: float = 0.1
    notify_access: str = ""  # "" = systemd's default: main for Type=notify, none otherwise
    timeout_start_sec: float = 90.0
    drop_ins: list[str] = field(default_factory=list)
    mtimes: dict[str, float] = field(default_factory=dict)  # every file read -> its mtime

    def changed_on_disk(self) -> bool:
        """The unit file or a drop-in changed, appeared or went away since it was read."""
        if [p for p in drop_in_paths(self.name) if p not in self.mtimes]:
            return True
        for path, mtime in self.mtimes.items():
            try:
                if os.stat(path).st_mtime != mtime:
                    return True
            except OSError:
                return True
        return False


def canonical(name: str) -> str:
    return name if "." in name else f"{name}.service"


def find(name: str) -> str | None:
    for folder in UNIT_DIRS:
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    return None


def drop_in_paths(name: str) -> list[str]:
    """``NAME.d/*.conf`` across the unit directories, ordered by file name; the first
    directory (highest priority) wins a name."""
    chosen: dict[str, str] = {}
    for folder in UNIT_DIRS:
        directory = os.path.join(folder, f"{name}.d")
        try:
            entries = os.listdir(directory)
        except OSError:
            continue
        for entry in entries:
            if entry.endswith(".conf") and entry not in chosen:
                chosen[entry] = os.path.join(directory, entry)
    return [chosen[k] for k in sorted(chosen)]


def _seconds(text: str) -> float:
    text = text.strip()
    if text == "infinity":
        return float("inf")
    for suffix, factor in (("ms", 0.001), ("min", 60.0), ("s", 1.0)):
        if text.endswith(suffix):
            return float(text[: -len(suffix)] or 0) * factor
    return float(text or 0)


def _command(value: str) -> list[str]:
    argv = shlex.split(value)
    while argv and argv[0][:1] in "-@+!:":
        argv[0] = argv[0][1:] or argv.pop(0)
    return argv


def parse(name: str, path: str) -> UnitFile:
    """A unit file and its drop-ins."""
    unit = UnitFile(name=name, path=path, mtime=os.stat(path).st_mtime)
    for source in [path, *drop_in_paths(name)]:
        with open(source, encoding="utf-8") as handle:
            _apply(unit, handle.read())
        unit.mtimes[source] = os.stat(source).st_mtime
        if source != path:
            unit.drop_ins.append(source)
    return unit


def _apply(unit: UnitFile, raw: str) -> None:
    """Settings from one file; a line continued with a backslash is joined first."""
    for line in raw.replace("\\\n", " ").splitlines():
        line = line.strip()
        if not line or line[0] in "#;[" or "=" not in line:
            continue
        key, value = (part.strip() for part in line.split("=", 1))
        if key == "Description":
            unit.description = value
        elif key in ("After", "Requires", "Wants", "WantedBy"):
            target = {"After": unit.after, "Requires": unit.requires, "Wants": unit.wants,
                      "WantedBy": unit.wanted_by}[key]
            target.extend(canonical(v) for v in value.split())
        elif key == "Type":
            unit.type = value
        elif key == "NotifyAccess":
            unit.notify_access = value
        elif key in ("ExecStartPre", "ExecStart", "ExecStop"):
            target = {"ExecStartPre": unit.exec_start_pre, "ExecStart": unit.exec_start,
                      "ExecStop": unit.exec_stop}[key]
            if value:
                target.append(_command(value))
            else:
                target.clear()
        elif key == "Environment":
            if not value:
                unit.environment.clear()
            for pair in shlex.split(value):
                if "=" in pair:
                    k, v = pair.split("=", 1)
                    unit.environment[k] = v
        elif key == "EnvironmentFile":
            if value:
                unit.environment_files.append(value)
            else:
                unit.environment_files.clear()
        elif key == "WorkingDirectory":
            unit.working_directory = value
        elif key == "User":
            unit.user = value
        elif key == "Restart":
            unit.restart = value
        elif key == "RestartSec":
            unit.restart_sec = _seconds(value)
        elif key in ("TimeoutStartSec", "TimeoutSec"):
            unit.timeout_start_sec = _seconds(value)


def read_environment_file(spec: str) -> dict[str, str] | None:
    """KEY=VALUE lines; None when the file is missing and not optional ("-" prefix)."""
    optional = spec.startswith("-")
    path = spec.lstrip("-")
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError:
        return {} if optional else None
    env: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";")) and "=" in line:
            key, value = line.split("=", 1)
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            env[key.strip()] = value
    return env


def expand(argv: list[str], env: dict[str, str]) -> list[str]:
    """$VAR splits into words, ${VAR} stays one word, as systemd does."""
    out: list[str] = []
    for word in argv:
        if word.startswith("$") and not word.startswith("${") and word[1:].isidentifier():
            out.extend(env.get(word[1:], "").split())
            continue
        for key, value in env.items():
            word = word.replace("${" + key + "}", value)
        out.append(word)
    return out


def journal(unit: str, ident: str, pid: int, text: str, host: str) -> None:
    """Append lines to the unit's journal: "<epoch> <Mon DD HH:MM:SS> host ident[pid]: text"."""
    now = time.time()
    stamp = time.strftime("%b %d %H:%M:%S", time.localtime(now))
    os.makedirs(JOURNAL_DIR, exist_ok=True)
    lines = "".join(f"{now:.6f} {stamp} {host} {ident}[{pid}]: {line}\n"
                    for line in text.splitlines() or [""])
    with open(os.path.join(JOURNAL_DIR, f"{unit}.log"), "a", encoding="utf-8") as handle:
        handle.write(lines)
