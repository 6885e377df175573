"""A NodeManager on its own loopback address and port, for tests and experiments.

Builds ServerInfo values, a client keypair and known_hosts taken from the console, the
way a user trusts a new VM's host key.
"""

from __future__ import annotations

import random
import socket
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

from ..faults import FaultSet
from ..hooks import ServerInfo
from .manager import NodeManager

BEGIN_KEYS = "-----BEGIN SSH HOST KEY KEYS-----"
END_KEYS = "-----END SSH HOST KEY KEYS-----"


@dataclass(frozen=True)
class ZeroDelays:
    salt_race: float = 0.0
    ssh_slow: float = 0.0
    boot: float = 0.0


def host_keys_from_console(console: str) -> list[str]:
    """The public host keys between cloud-init's KEYS markers (last boot wins)."""
    keys: list[str] = []
    inside = False
    for line in console.splitlines():
        line = line.strip()
        if line == BEGIN_KEYS:
            inside, keys = True, []
        elif line == END_KEYS:
            inside = False
        elif inside and line:
            keys.append(line)
    return keys


def known_hosts_lines(console: str, addresses: tuple[str, ...], port: int) -> str:
    hosts = ",".join(a if port == 22 else f"[{a}]:{port}" for a in addresses)
    return "".join(f"{hosts} {' '.join(k.split()[:2])}\n" for k in host_keys_from_console(console))


def free_address_and_port() -> tuple[str, int]:
    """A random 127.2xx.y.z with a free port on it, away from the sandboxes' 127.N.0.0/24."""
    rng = random.SystemRandom()
    while True:
        address = f"127.{rng.randint(200, 254)}.{rng.randint(1, 254)}.{rng.randint(2, 254)}"
        with socket.socket() as probe:
            try:
                probe.bind((address, 0))
            except OSError:
                continue
            return address, probe.getsockname()[1]


@dataclass
class Rig:
    """A manager plus a client key; ``server(name)`` makes a ServerInfo on a fresh address."""

    root: Path
    faults: FaultSet = field(default_factory=FaultSet)
    delays: object = field(default_factory=ZeroDelays)
    port: int = 0
    manager: NodeManager | None = None
    client_key: asyncssh.SSHKey | None = None
    key_path: Path | None = None

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        _, self.port = free_address_and_port()
        self.client_key = asyncssh.generate_private_key("ssh-ed25519")
        self.key_path = self.root / "id_ed25519"
        self.client_key.write_private_key(str(self.key_path))
        self.key_path.chmod(0o600)
        self.manager = NodeManager(
            self.root / "nodes", faults=self.faults, delays=self.delays,
            ssh_port=self.port,
        )

    def server(self, name: str, server_id: str | None = None, **metadata: str) -> ServerInfo:
        while True:
            address, _ = free_address_and_port()
            with socket.socket() as probe:
                try:
                    probe.bind((address, self.port))
                except OSError:
                    continue
            break
        assert self.client_key is not None
        public = self.client_key.export_public_key().decode().strip()
        return ServerInfo(
            id=server_id or f"srv-{random.randrange(16**8):08x}",
            name=name,
            fixed_ips=(address,),
            public_keys=(public,),
            metadata=dict(metadata),
        )

    def known_hosts(self, server: ServerInfo) -> Path:
        assert self.manager is not None
        path = self.root / f"known_hosts-{server.id}"
        path.write_text(known_hosts_lines(self.manager.console(server.id), server.addresses, self.port))
        return path

    async def connect(self, server: ServerInfo, address: str | None = None, **kw: object) -> asyncssh.SSHClientConnection:
        return await asyncssh.connect(
            address or server.fixed_ips[0], port=self.port, username="fedora",
            client_keys=[self.client_key], known_hosts=str(self.known_hosts(server)), **kw,
        )
