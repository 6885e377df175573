"""How one asyncssh connection is opened: the options, the client's callbacks, the timings.

aes128-gcm is offered first (twice chacha20's throughput in asyncssh); GSSAPI is off (a
classic source of slow logins); the trusted host keys are the only ``known_hosts``.
``~/.ssh/config`` and the agent are honoured unless the profile says otherwise; a profile
``private_key`` means that key only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh

from workbench.engine.ssh.hostkeys import Trusted
from workbench.errors import ProfileError
from workbench.profile import SSHSection

FIRST_CIPHER = "aes128-gcm@openssh.com"
KEEPALIVE_S = 15.0


@dataclass(frozen=True)
class ConnectTiming:
    """Where a fresh connection spends its time (seconds)."""

    node: str
    tcp_s: float
    kex_s: float
    auth_s: float
    total_s: float


def encryption_algs() -> list[str]:
    others = [a.decode() for a in asyncssh.encryption.get_default_encryption_algs()]
    return [FIRST_CIPHER, *(a for a in others if a != FIRST_CIPHER)]


class TimedClient(asyncssh.SSHClient):
    """Records the presented host key and when key exchange and auth end."""

    def __init__(self, trusted: Trusted) -> None:
        self.trusted = trusted
        self.presented: str | None = None
        self.kex_done: float | None = None
        self.auth_done: float | None = None

    def validate_host_public_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        self.presented = key.export_public_key().decode().strip()
        return bool(self.trusted.fingerprints) and self.trusted.accepts(self.presented)

    def begin_auth(self, username: str) -> None:
        self.kex_done = time.monotonic()

    def auth_completed(self) -> None:
        self.auth_done = time.monotonic()


def connect_options(ssh: SSHSection, trusted: Trusted, timeout: float, where: object = "profile") -> dict[str, Any]:
    """Keyword arguments for ``asyncssh.connect`` (besides host, tunnel, client factory)."""
    opts: dict[str, Any] = {
        "port": ssh.port,
        "username": ssh.user,
        "encryption_algs": encryption_algs(),
        "gss_auth": False,
        "keepalive_interval": KEEPALIVE_S,
        "keepalive_count_max": 3,
        "connect_timeout": timeout,
        "login_timeout": timeout,
    }
    if trusted.source != "none":
        opts["known_hosts"] = (trusted.ssh_keys(), [], [])
    if not ssh.use_ssh_config:
        opts["config"] = []
    if ssh.private_key is not None:
        if not Path(ssh.private_key).expanduser().is_file():
            raise ProfileError(where, "ssh.private_key",
                               f"an existing private key file; {ssh.private_key} does not exist")
        opts["client_keys"] = [str(ssh.private_key)]
        opts["agent_path"] = None
    elif not ssh.use_agent:
        opts["agent_path"] = None
    return opts
