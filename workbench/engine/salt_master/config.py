"""Master-mode configuration: the master's and each minion's drop-in, written idempotently
over SSH (a file is replaced only when its bytes differ; the service restarts only then).

Drop-ins (``master.d/`` and ``minion.d/``) leave the image's and provisioning's own files
alone. The master listens on the master's fixed IP only; ``auto_accept`` stays off: keys are
accepted by ``keys.accept_verified`` after the workbench read them from the minion itself.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

import yaml

from workbench.engine.salt_master.place import SaltPlace, Service
from workbench.engine.ssh.pool import NodeLike
from workbench.errors import NodeError

MASTER_DROPIN = "master.d/workbench.conf"
MINION_DROPIN = "minion.d/workbench-master.conf"


@dataclass(frozen=True)
class MasterSettings:
    master_ip: str  # the master's fixed IP: the only address salt-master listens on
    file_roots: tuple[str, ...] = ("/srv/salt",)
    pillar_roots: tuple[str, ...] = ("/srv/pillar",)
    publish_port: int = 4505
    ret_port: int = 4506
    worker_threads: int = 2
    user: str = "root"
    acceptance_wait_s: float = 10.0  # how often a minion waiting for its key retries
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


def master_config(settings: MasterSettings, place: SaltPlace) -> str:
    conf: dict[str, Any] = {
        "interface": settings.master_ip,
        "ipv6": False,
        "publish_port": settings.publish_port,
        "ret_port": settings.ret_port,
        "auto_accept": False,
        "open_mode": False,
        "file_roots": {"base": list(settings.file_roots)},
        "pillar_roots": {"base": list(settings.pillar_roots)},
        "worker_threads": settings.worker_threads,
        "user": settings.user,
        "keys.cache_driver": "localfs_key",  # keys as files: what keys.py reads and writes
        **place.paths("salt-master"),
        **settings.extra,
    }
    return _yaml("salt-master", conf)


def minion_config(settings: MasterSettings, place: SaltPlace, minion_id: str) -> str:
    conf: dict[str, Any] = {
        "master": settings.master_ip,
        "master_port": settings.ret_port,
        "publish_port": settings.publish_port,
        "id": minion_id,
        "file_client": "remote",
        "user": settings.user,
        "state_events": True,  # one event per state: per-state progress from the event bus
        # denied while a forged key sat pending: keep trying until the verified key is in
        "rejected_retry": True,
        "acceptance_wait_time": settings.acceptance_wait_s,
        "acceptance_wait_time_max": settings.acceptance_wait_s,
        **place.paths("salt-minion"),
    }
    return _yaml("salt-minion", conf)


def _yaml(service: str, conf: dict[str, Any]) -> str:
    head = f"# {service}: written by workbench (master mode); rewritten on every provisioning\n"
    return head + yaml.safe_dump(conf, default_flow_style=False, sort_keys=True)


def write_file_command(place: SaltPlace, path: str, mode: str = "0644", *, beside: str | None = None) -> str:
    """Read the new content on stdin; replace ``path`` only if it differs. Prints
    ``changed`` or ``unchanged``. ``beside``: a file made empty if missing (Salt's runner
    clients read ``master.d/`` only when the main ``master`` file exists)."""
    target = shlex.quote(path)
    main = f"[ -e {shlex.quote(beside)} ] || : > {shlex.quote(beside)}; " if beside else ""
    return place.as_root(
        f"set -e; mkdir -p \"$(dirname {target})\"; {main}t=$(mktemp {target}.XXXXXX); cat > \"$t\"; "
        f"if cmp -s \"$t\" {target}; then rm -f \"$t\"; echo unchanged; "
        f"else chmod {mode} \"$t\"; mv -f \"$t\" {target}; echo changed; fi"
    )


@dataclass(frozen=True)
class Configured:
    node: str
    service: Service
    changed: bool  # the file was rewritten (and the service restarted)


async def configure(
    pool: Any, node: NodeLike, place: SaltPlace, service: Service, text: str, *, install: bool = True
) -> Configured:
    """Install (when missing), write the drop-in, and (re)start ``service`` on ``node``."""
    if install:
        await pool.run(node, install_command(place, service), check=True, source="salt", timeout=900)
    dropin = MASTER_DROPIN if service == "salt-master" else MINION_DROPIN
    base = place.config_dir.rstrip("/")
    main = f"{base}/{'master' if service == 'salt-master' else 'minion'}"
    wrote = await pool.run(node, write_file_command(place, f"{base}/{dropin}", beside=main), input=text, check=True)
    changed = wrote.stdout.strip() == "changed"
    command = f"{place.enable(service)} && {place.restart(service)}" if changed else place.start(service)
    done = await pool.run(node, command, timeout=120)
    if not done.ok:
        tail = (done.stderr.strip().splitlines() or [f"exit status {done.exit_status}"])[-1]
        raise NodeError(node.name, f"{service} did not start: {tail} (see: {place.journal(service)})")
    return Configured(node.name, service, changed)


def install_command(place: SaltPlace, service: Service) -> str:
    """Install ``service`` from the node's package manager when its program is missing."""
    package = shlex.quote(service)
    return (
        f"command -v {place.program(service)} >/dev/null 2>&1 || {{ echo 'installing {service}' >&2; "
        f"if command -v dnf >/dev/null 2>&1; then {place.sudo} dnf -y install {package}; "
        f"elif command -v apt-get >/dev/null 2>&1; then {place.sudo} apt-get update -q && "
        f"{place.sudo} env DEBIAN_FRONTEND=noninteractive apt-get install -y -q {package}; "
        f"else echo 'no dnf or apt-get to install {service} with' >&2; false; fi; }}"
    )
