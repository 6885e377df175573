"""Real OpenSSH sshd "nodes" for the push tests and bench, each with its own HOME.

One sshd per node on its own 127.x.y.z address (the address is also the node's cluster
IP, so the relay binds there), own host key, authorized key and ``SetEnv HOME=``.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh
import pytest

from workbench.engine.push.session import launch

SSHD = "/usr/sbin/sshd"
needs_sshd = pytest.mark.skipif(not Path(SSHD).exists(), reason="openssh-server is not installed")


@dataclass
class SSHDNode:
    name: str
    address: str
    port: int
    home: Path
    known_hosts: Path
    client_key: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    def ssh_argv(self) -> list[str]:
        """The OpenSSH client command for rsync -e."""
        return ["ssh", "-i", str(self.client_key), "-p", str(self.port),
                "-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "StrictHostKeyChecking=yes",
                "-o", "Ciphers=aes128-gcm@openssh.com", "-o", "BatchMode=yes"]

    async def connect(self) -> asyncssh.SSHClientConnection:
        return await asyncssh.connect(
            self.address, self.port, username="root", client_keys=[str(self.client_key)],
            known_hosts=str(self.known_hosts), encryption_algs=["aes128-gcm@openssh.com", "aes256-gcm@openssh.com"],
            agent_path=None, config=None)


def _keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text().strip()


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def start_nodes(base: Path, names: list[str]) -> list[SSHDNode]:
    """Start one sshd per name on 127.<r>.<r>.<2+i>; the caller stops them with stop_nodes."""
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    net = f"127.{random.randint(100, 250)}.{random.randint(1, 250)}."
    base.mkdir(parents=True, exist_ok=True)
    client_pub = _keygen(base / "client_ed25519")
    nodes: list[SSHDNode] = []
    try:
        for i, name in enumerate(names):
            d = base / name
            home = d / "home"
            home.mkdir(parents=True)
            addr = f"{net}{2 + i}"
            port = free_port(addr)
            host_pub = _keygen(d / "host_ed25519")
            (d / "authorized_keys").write_text(client_pub + "\n")
            (d / "known_hosts").write_text(f"[{addr}]:{port} {host_pub}\n")
            config = d / "sshd_config"
            config.write_text(
                f"ListenAddress {addr}:{port}\nHostKey {d / 'host_ed25519'}\n"
                f"AuthorizedKeysFile {d / 'authorized_keys'}\nPidFile {d / 'sshd.pid'}\n"
                f"SetEnv HOME={home}\n"
                "StrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                "PermitRootLogin prohibit-password\nUseDNS no\nLogLevel ERROR\nMaxStartups 100\n"
                "MaxSessions 100\n"
            )
            proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=subprocess.DEVNULL)
            nodes.append(SSHDNode(name, addr, port, home, d / "known_hosts", base / "client_ed25519", proc))
        deadline = time.monotonic() + 10
        for node in nodes:
            while True:
                try:
                    socket.create_connection((node.address, node.port), timeout=1).close()
                    break
                except OSError:
                    if node.process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"sshd for {node.name} did not start") from None
                    time.sleep(0.02)
    except BaseException:
        stop_nodes(nodes)
        raise
    return nodes


def stop_nodes(nodes: list[SSHDNode]) -> None:
    for node in nodes:
        if node.process.poll() is None:
            node.process.terminate()
    for node in nodes:
        try:
            node.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            node.process.kill()
            node.process.wait()


@pytest.fixture
def sshd_nodes(tmp_path: Path) -> Iterator[list[SSHDNode]]:
    nodes = start_nodes(tmp_path, ["kubernetes-master", "kubernetes-minion-1", "kubernetes-minion-2"])
    try:
        yield nodes
    finally:
        stop_nodes(nodes)


@pytest.fixture
async def connections(sshd_nodes: list[SSHDNode]) -> AsyncIterator[dict[str, asyncssh.SSHClientConnection]]:
    conns = await asyncio.gather(*(n.connect() for n in sshd_nodes))
    yield {n.name: c for n, c in zip(sshd_nodes, conns, strict=True)}
    for c in conns:
        c.close()
        await c.wait_closed()


@needs_sshd
async def test_agent_is_installed_once_and_runs_in_the_nodes_home(
    sshd_nodes: list[SSHDNode], connections: dict[str, asyncssh.SSHClientConnection]
) -> None:
    node = sshd_nodes[0]
    conn = connections[node.name]
    first = await launch(conn, node.name)
    assert first.bytes_written > 1000  # the agent itself travelled
    await first.close()
    agents = list((node.home / ".cache" / "workbench").glob("agent-*.py"))
    assert len(agents) == 1
    second = await launch(conn, node.name)
    assert second.bytes_written == 0  # cached by content hash
    await second.close()
