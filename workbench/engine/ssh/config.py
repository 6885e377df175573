"""The system ``ssh``'s view of the pool: a config file and a known_hosts of pinned keys.

``workbench ssh`` and the TUI's shell hand the terminal to the real OpenSSH client. It
gets the same trust as the pool: each host's key pinned under its instance id
(``HostKeyAlias``), ``StrictHostKeyChecking yes``, the profile's user, port and key, and
the master as ``ProxyJump`` for nodes without a floating IP.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from workbench.engine.ssh.hostkeys import key_body
from workbench.errors import SSHConnectError
from workbench.state import atomic_write

if TYPE_CHECKING:
    from workbench.engine.ssh.pool import NodeLike, SSHPool

SYSTEM_CIPHERS = (
    "aes128-gcm@openssh.com,chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,"
    "aes128-ctr,aes192-ctr,aes256-ctr"
)


def system_ssh_argv(pool: SSHPool, node: NodeLike) -> list[str]:
    """argv for the system ``ssh``: pinned keys, the right user, port, key and jump host.

    The keys must be pinned (connect once, or ``await pool.trust.trusted(...)``).
    """
    pool.nodes[node.name] = node
    jump = pool.jump_host(node)
    for host in [node] if jump is None else [jump, node]:
        if not pool.trust.pinned(host.id):
            raise SSHConnectError(host.name, "no pinned host key yet; connect once first")
    # Every known node goes in: a running ssh's jump child re-reads this file later.
    hosts = [n for n in pool.nodes.values() if pool.trust.pinned(n.id) and _has_ip(n)]
    config = write_system_config(pool, hosts)
    argv = ["ssh", "-F", str(config)]
    if jump is not None:
        argv += ["-J", alias(jump)]
    return [*argv, alias(node)]


def write_system_config(pool: SSHPool, hosts: list[NodeLike]) -> Path:
    """``STATE/ssh/config`` and ``STATE/ssh/known_hosts`` (0600) for ``hosts``."""
    ssh = pool.profile.ssh
    folder = pool.state.root / "ssh"
    known_hosts = folder / "known_hosts"
    lines = [
        f"{h.id} {key_body(k)}" for h in hosts for k in pool.trust.pinned(h.id)
    ]
    atomic_write(known_hosts, "\n".join(lines) + "\n", mode=0o600)
    blocks = ["# written by workbench: host keys pinned per instance id"]
    for h in hosts:
        blocks += [
            f"Host {alias(h)}",
            f"  HostName {pool.address(h)}",
            f"  Port {ssh.port}",
            f"  User {ssh.user}",
            f"  HostKeyAlias {h.id}",
            f"  UserKnownHostsFile {known_hosts}",
            "  StrictHostKeyChecking yes",
            "  CheckHostIP no",
        ]
        if ssh.private_key is not None:
            blocks += [f"  IdentityFile {ssh.private_key}", "  IdentitiesOnly yes"]
        if ssh.private_key is not None or not ssh.use_agent:
            blocks.append("  IdentityAgent none")
    if ssh.use_ssh_config:
        blocks += ["Host *", "  Include ~/.ssh/config"]
    blocks += ["Host *", "  GSSAPIAuthentication no", f"  Ciphers {SYSTEM_CIPHERS}"]
    config = folder / "config"
    atomic_write(config, "\n".join(blocks) + "\n", mode=0o600)
    return config


def _has_ip(node: NodeLike) -> bool:
    return bool(node.floating_ip or node.fixed_ip)


def alias(node: NodeLike) -> str:
    """The ``Host`` name of ``node`` in the written config."""
    return f"wb-{node.name}"
