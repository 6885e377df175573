"""NodeManager: the machines behind the sandbox cloud's servers (hooks.NodeHooks)."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import shutil
import string
from pathlib import Path
from typing import Any

import yaml

from ...errors import UsageError
from ...redact import REDACTOR
from ..faults import FaultSet
from ..hooks import ServerInfo
from . import image as images
from . import machine
from .node import Node

log = logging.getLogger(__name__)
NODE_FAULTS = ("salt-race", "slow-ssh", "token-regen")
SALT_UNITS = ("salt-minion.service", "salt-master.service")
#: token-regen, out of band: the master's known_tokens.csv gets a new kubelet token (read on stdin)
REGEN_SCRIPT = (
    "import re, sys; t = sys.stdin.read().strip(); p = '/srv/kubernetes/known_tokens.csv'\n"
    "try: s = open(p).read()\nexcept OSError: sys.exit(0)\n"
    "open(p, 'w').write(re.sub(r'^[^,\\s]+(,kubelet,kubelet)', t + r'\\1', s, flags=re.M))"
)


def new_token() -> str:
    """32 letters and digits, like the kube-up scripts' tokens."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(32))


def cluster_of(server: ServerInfo) -> str:
    name = server.name
    if server.metadata.get("cluster"):
        return server.metadata["cluster"]
    if name.endswith("-master"):
        return name[: -len("-master")]
    if "-minion-" in name:
        return name.split("-minion-", 1)[0]
    return name


class NodeManager:
    """Boots, reboots, rebuilds and destroys nodes under ``root/<server id>/``.

    ``delays`` is any object with float attributes salt_race (how long salt-race holds
    Salt's units at boot) and ssh_slow. Faults are read live from ``faults``; ``refresh_faults()`` pushes them to the
    nodes' disks at once (it also happens before every SSH session).
    """

    def __init__(
        self,
        root: Path,
        *,
        faults: FaultSet,
        delays: Any,
        ssh_port: int = 2222,
    ) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        problem = machine.check()
        if problem is not None:
            raise UsageError(problem)
        self.image = images.build(self.root / "image")
        self.salt = images.salt_venv()
        self.faults = faults
        self.delays = delays
        self.ssh_port = ssh_port
        self.nodes: dict[str, Node] = {}
        self._faults_written: dict[str, list[str]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def salt_installed(self, server: ServerInfo) -> bool:
        return self.salt is not None and "salt" in server.image

    def spec(self, server: ServerInfo) -> dict[str, Any]:
        """The boot spec the node's init gets: cloud-init's datasource, and salt-race's hold
        on Salt's units (the ones Salt's package installs), when the fault is on."""
        race = self.faults.active("salt-race", server.name)
        return {
            "name": server.name, "instance": server.id, "public_keys": list(server.public_keys),
            "user_data": user_data_plan(server.user_data),
            "delay_units": list(SALT_UNITS) if race else [],
            "delay_s": float(getattr(self.delays, "salt_race", 3.0) or 0.0),
        }

    # faults
    def node_faults_named(self, name: str) -> list[str]:
        return [fault for fault in NODE_FAULTS if self.faults.active(fault, name)]

    def node_faults(self, node: Node) -> list[str]:
        return self.node_faults_named(node.name)

    def write_faults(self, node: Node) -> None:
        """Tell the node's init which faults apply now; token-regen, once on, also
        rewrites the master's token file out of band (a re-run of the seed's provisioning)."""
        names = self.node_faults(node)
        before = self._faults_written.get(node.server_id)
        if before == names:
            return
        self._faults_written[node.server_id] = names
        if before is not None and "token-regen" in names and "token-regen" not in before \
                and node.role == "master":
            task = asyncio.ensure_future(self.regen_token(node))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def regen_token(self, node: Node) -> None:
        token = new_token()
        REDACTOR.add(token)
        if node.machine is None or not node.machine.alive:
            return
        read, write = os.pipe()
        os.write(write, token.encode() + b"\n")
        os.close(write)
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            session = node.machine.spawn({"argv": [images.PYTHON, "-c", REGEN_SCRIPT], "env": {},
                                          "cwd": "/", "uid": 0, "gid": 0}, [read, null, null])
        finally:
            os.close(read)
            os.close(null)
        await session.exited

    def refresh_faults(self) -> None:
        for node in self.nodes.values():
            if node.machine is not None and node.machine.alive:
                self.write_faults(node)

    def ssh_stall(self, node: Node) -> float:
        """Seconds a new connection stalls before auth (slow-ssh until UseDNS no + restart)."""
        self.write_faults(node)
        if self.faults.active("slow-ssh", node.name) and node.sshd_usedns:
            return float(getattr(self.delays, "ssh_slow", 2.0) or 0.0)
        return 0.0

    # NodeHooks
    async def boot(self, server: ServerInfo) -> None:
        node = self.nodes.get(server.id)
        if node is not None:
            await node.power_off()
        node = self.nodes[server.id] = Node(server, self.root / server.id, self.ssh_port, self)
        self._faults_written.pop(server.id, None)
        await self._power_on(node)

    async def _power_on(self, node: Node) -> None:
        await node.power_on(self.spec(node.info))
        self._faults_written[node.server_id] = self.node_faults(node)

    async def destroy(self, server_id: str) -> None:
        node = self.nodes.pop(server_id, None)
        if node is not None:
            await node.power_off()
        self._faults_written.pop(server_id, None)
        shutil.rmtree(self.root / server_id, ignore_errors=True)

    async def reboot(self, server_id: str, hard: bool) -> None:
        node = self.nodes.get(server_id)
        if node is None:
            return
        await node.power_off()
        self._faults_written.pop(server_id, None)
        await self._power_on(node)

    async def rebuild(self, server: ServerInfo) -> None:
        node = self.nodes.pop(server.id, None)
        if node is not None:
            await node.power_off()
        shutil.rmtree(self.root / server.id, ignore_errors=True)
        await self.boot(server)

    async def set_addresses(self, server: ServerInfo) -> None:
        node = self.nodes.get(server.id)
        if node is None:
            return
        node.info = server
        await node.sync_listeners()

    def console(self, server_id: str) -> str:
        try:
            return (self.root / server_id / "console.log").read_text()
        except OSError:
            return ""

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for node in list(self.nodes.values()):
            await node.power_off()
        self.nodes.clear()


def user_data_plan(text: str) -> dict[str, Any]:
    """cloud-init's reading of user_data: a script, or #cloud-config's write_files,
    packages and runcmd (what the node's init runs on first boot)."""
    if not text.strip():
        return {}
    if text.startswith("#!"):
        return {"script": text}
    if not text.startswith("#cloud-config"):
        return {}
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        log.warning("user_data: not YAML (%s); cloud-init would skip it", exc)
        return {}
    if not isinstance(doc, dict):
        return {}
    plan: dict[str, Any] = {}
    files = doc.get("write_files") or []
    plan["write_files"] = [{k: (v if isinstance(v, bool) else str(v)) for k, v in f.items()}
                           for f in files if isinstance(f, dict) and f.get("path")]
    plan["packages"] = [str(p) for p in doc.get("packages") or [] if isinstance(p, str)]
    plan["runcmd"] = [c if isinstance(c, str) else [str(a) for a in c] for c in doc.get("runcmd") or []]
    return plan
