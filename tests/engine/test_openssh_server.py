"""The pool against a real OpenSSH sshd started by the test on loopback, own config."""

from __future__ import annotations

import asyncio
import getpass
import os
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncssh
import pytest

from workbench.engine.ssh.pool import SSHPool
from workbench.errors import HostKeyMismatch
from workbench.profile import Profile, SSHSection
from workbench.state import StateDir

from .test_ssh_servers import Node, free_port, loopback_net

SSHD = "/usr/sbin/sshd"
pytestmark = pytest.mark.skipif(not Path(SSHD).exists(), reason="openssh-server is not installed")


@dataclass
class RealSSHD:
    addresses: tuple[str, str]
    port: int
    host_pub: str
    client_key: Path
    process: subprocess.Popen[bytes]

    def console(self, name: str) -> str:
        fp = subprocess.run(
            ["ssh-keygen", "-lf", "-"], input=self.host_pub, capture_output=True, text=True, check=True
        ).stdout.split()[1]
        return (
            "<14>Feb 12 10:01:10 cloud-init: -----BEGIN SSH HOST KEY FINGERPRINTS-----\n"
            f"<14>Feb 12 10:01:10 cloud-init: 256 {fp} root@{name} (ED25519)\n"
            "<14>Feb 12 10:01:10 cloud-init: -----END SSH HOST KEY FINGERPRINTS-----\n"
            f"-----BEGIN SSH HOST KEY KEYS-----\n{self.host_pub}\n-----END SSH HOST KEY KEYS-----\n"
        )


def _keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text().strip()


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[RealSSHD]:
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir
    net = loopback_net()
    addresses = (f"{net}2", f"{net}3")
    port = free_port()
    host_pub = _keygen(tmp_path / "host_ed25519")
    client_pub = _keygen(tmp_path / "client_ed25519")
    (tmp_path / "authorized_keys").write_text(client_pub + "\n")
    config = tmp_path / "sshd_config"
    config.write_text(
        "".join(f"ListenAddress {a}:{port}\n" for a in addresses)
        + f"HostKey {tmp_path / 'host_ed25519'}\n"
        f"AuthorizedKeysFile {tmp_path / 'authorized_keys'}\n"
        f"PidFile {tmp_path / 'sshd.pid'}\n"
        "StrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PermitRootLogin prohibit-password\nUseDNS no\nAllowTcpForwarding yes\nLogLevel VERBOSE\n"
    )
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection((addresses[1], port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"sshd did not start: {proc.stderr.read() if proc.stderr else ''}") from None
                time.sleep(0.02)
        yield RealSSHD(addresses, port, host_pub, tmp_path / "client_ed25519", proc)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stderr:
            proc.stderr.close()


@pytest.fixture
async def pool_and_nodes(sshd: RealSSHD, tmp_path: Path) -> AsyncIterator[tuple[SSHPool, Node, Node]]:
    master = Node("real-master", "id-real-master", "master", "10.0.0.2", sshd.addresses[0])
    minion = Node("real-minion-1", "id-real-minion", "minion", sshd.addresses[1], None)
    consoles = {master.id: sshd.console(master.name), minion.id: sshd.console(minion.name)}

    async def console(server_id: str) -> str:
        return consoles[server_id]

    profile = Profile(ssh=SSHSection(
        user=getpass.getuser(), private_key=sshd.client_key, port=sshd.port,
        connect_timeout=10.0, use_ssh_config=False, use_agent=False,
    ))
    pool = SSHPool(profile, StateDir(tmp_path / "state").ensure(), console=console)
    pool.remember([master, minion])
    yield pool, master, minion
    await pool.close()


async def test_pool_runs_commands_on_a_real_sshd_directly_and_through_the_master(
    pool_and_nodes: tuple[SSHPool, Node, Node], sshd: RealSSHD
) -> None:
    pool, master, minion = pool_and_nodes
    conns = await pool.connect_all([master, minion])
    assert all(isinstance(c, asyncssh.SSHClientConnection) for c in conns.values())
    direct, jumped = await asyncio.gather(
        pool.run(master, "echo $SSH_CONNECTION"), pool.run(minion, "echo $SSH_CONNECTION")
    )
    assert direct.stdout.split()[2] == sshd.addresses[0]
    assert jumped.stdout.split()[2] == sshd.addresses[1]
    assert conns[master.name].get_extra_info("send_cipher") == "aes128-gcm@openssh.com"
    streamed = await pool.run(master, "head -c 1000000 /dev/zero | wc -c; exit 4")
    assert (streamed.exit_status, streamed.stdout.strip()) == (4, "1000000")
    shell = await pool.open_shell(master, size=(100, 30))
    shell.stdin.write(b"stty size; tty; exit\n")
    out = await asyncio.wait_for(shell.stdout.read(), 10)
    assert b"30 100" in out and b"/dev/pts/" in out
    # the system ssh, with the files the pool writes, reaches both (minion via -J)
    for node, addr in ((master, sshd.addresses[0]), (minion, sshd.addresses[1])):
        argv = pool.system_ssh_argv(node)
        done = await asyncio.to_thread(
            subprocess.run, [*argv, "-o", "BatchMode=yes", "echo $SSH_CONNECTION"],
            capture_output=True, text=True, timeout=20,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.split()[2] == addr


async def test_real_sshd_with_a_key_its_console_never_showed_is_refused(
    pool_and_nodes: tuple[SSHPool, Node, Node], tmp_path: Path
) -> None:
    pool, master, _ = pool_and_nodes
    other = _keygen(tmp_path / "impostor")
    pool.state.pin_host_keys(master.id, master.name, [other])
    pool.trust.console = None  # nothing to re-confirm against
    with pytest.raises(HostKeyMismatch, match=r"real-master.*refusing"):
        await pool.connect(master)
    assert pool.mismatches[master.name].address == master.floating_ip
