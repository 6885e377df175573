"""A real salt-master and salt-minions for the master-mode tests, reached through the real
``SSHPool`` and a real OpenSSH sshd on loopback addresses: one address per node, each node
with its own Salt config, pki, sockets and pidfiles under the test's tmp dir.

Every process the test starts carries the tmp dir in its command line (``-c DIR``);
``stop_everything`` ends each of them by pid (TERM, then KILL after a deadline), so no
process outlives a test.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

from workbench.engine.salt_master.config import MasterSettings
from workbench.engine.salt_master.place import SaltPlace
from workbench.engine.ssh.pool import NodeLike, SSHPool
from workbench.profile import Profile, SSHSection
from workbench.state import StateDir

from .test_openssh_server import SSHD, RealSSHD, _keygen
from .test_ssh_servers import Node, loopback_net

BIN = Path(sys.executable).parent
HAVE_SALT = (BIN / "salt-master").exists() and (BIN / "salt-minion").exists() and Path(SSHD).exists()

TREE = {
    "top.sls": "base:\n  '*':\n    - probe\n",
    "probe.sls": (
        "probe-file:\n  file.managed:\n    - name: {{ pillar['out_dir'] }}/{{ grains['id'] }}.txt\n"
        "    - contents: hello {{ grains['id'] }}\n    - makedirs: true\n"
        "probe-cmd:\n  cmd.run:\n    - name: echo provisioned {{ grains['id'] }}\n"
        "    - unless: test -e {{ pillar['out_dir'] }}/{{ grains['id'] }}.done\n"
        "probe-done:\n  file.managed:\n    - name: {{ pillar['out_dir'] }}/{{ grains['id'] }}.done\n    - replace: false\n"
        "{% if grains['id'].endswith('-2') and salt['file.file_exists'](pillar['out_dir'] ~ '/fail-2') %}\n"
        "probe-broken:\n  cmd.run:\n    - name: exit 7\n{% endif %}\n"
    ),
}


def free_port_on(address: str) -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return int(s.getsockname()[1])


@dataclass
class SaltWorld:
    tmp: Path
    sshd: RealSSHD
    pool: SSHPool
    master: Node
    minions: list[Node]
    settings: MasterSettings
    state: StateDir

    def place(self, node: NodeLike) -> SaltPlace:
        base = self.tmp / "nodes" / node.name
        sudo = "sudo" if shutil.which("sudo") else ""
        return SaltPlace(config_dir=str(base / "etc-salt"), bin_dir=str(BIN), sudo=sudo,
                         service="daemon", root_dir=str(base / "root"))

    def pid(self, node: NodeLike, service: str) -> int | None:
        path = Path(self.place(node).pidfile("salt-master" if service == "salt-master" else "salt-minion"))
        try:
            return int(path.read_text().strip())
        except (OSError, ValueError):
            return None


def start_world(tmp: Path, minions: int = 2) -> tuple[RealSSHD, list[Node]]:
    """One sshd per 15 addresses (sshd listens on 16 sockets at most), one host key."""
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    net = loopback_net()
    addresses = [f"{net}{2 + i}" for i in range(minions + 1)]
    port = free_port_on(addresses[0])
    host_pub = _keygen(tmp / "host_ed25519")
    client_pub = _keygen(tmp / "client_ed25519")
    (tmp / "authorized_keys").write_text(client_pub + "\n")
    procs = []
    for k in range(0, len(addresses), 15):
        group = addresses[k:k + 15]
        config = tmp / f"sshd_config.{k}"
        config.write_text(
            "".join(f"ListenAddress {a}:{port}\n" for a in group)
            + f"HostKey {tmp / 'host_ed25519'}\nAuthorizedKeysFile {tmp / 'authorized_keys'}\n"
            f"PidFile {tmp / f'sshd.{k}.pid'}\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nUseDNS no\n"
            "MaxSessions 64\nMaxStartups 64\n"
        )
        with (tmp / f"sshd.{k}.log").open("wb") as log:
            procs.append((subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=log), group[-1], k))
    deadline = time.monotonic() + 60  # a loaded 2-core machine
    for proc, last, k in procs:
        while True:
            try:
                socket.create_connection((last, port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"sshd did not start: {(tmp / f'sshd.{k}.log').read_text()[-500:]}") from None
                time.sleep(0.02)
    sshd = RealSSHD((addresses[0], addresses[1]), port, host_pub, tmp / "client_ed25519", procs[0][0])
    nodes = [Node("kubernetes-master", "id-master", "master", addresses[0], addresses[0])]
    nodes += [Node(f"kubernetes-minion-{i}", f"id-minion-{i}", "minion", a, a)
              for i, a in enumerate(addresses[1:], start=1)]
    return sshd, nodes


def make_pool(tmp: Path, sshd: RealSSHD, nodes: list[Node]) -> SSHPool:
    consoles = {n.id: sshd.console(n.name) for n in nodes}

    async def console(server_id: str) -> str:
        return consoles.get(server_id, consoles[nodes[0].id])

    profile = Profile(ssh=SSHSection(
        user=getpass.getuser(), private_key=sshd.client_key, port=sshd.port,
        connect_timeout=10.0, use_ssh_config=False, use_agent=False,
    ))
    pool = SSHPool(profile, StateDir(tmp / "state").ensure(), console=console)
    pool.remember(nodes)
    return pool


def world(minions: int = 2) -> Generator[SaltWorld, None, None]:
    """A short tmp dir (Salt's unix sockets live under it: 108 bytes at most), removed after."""
    tmp = Path(tempfile.mkdtemp(prefix="wbsm-"))
    try:
        yield from _world(tmp, minions)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _world(tmp: Path, minions: int) -> Iterator[SaltWorld]:
    sshd, nodes = start_world(tmp, minions)
    try:
        tree, pillar, out = tmp / "srv" / "salt", tmp / "srv" / "pillar", tmp / "out"
        for path in (tree, pillar, out):
            path.mkdir(parents=True)
        for name, text in TREE.items():
            (tree / name).write_text(text)
        (pillar / "top.sls").write_text("base:\n  '*':\n    - probe\n")
        (pillar / "probe.sls").write_text(f"out_dir: {out}\n")
        master = nodes[0]
        settings = MasterSettings(
            master_ip=master.fixed_ip or "", file_roots=(str(tree),), pillar_roots=(str(pillar),),
            publish_port=free_port_on(master.fixed_ip or ""), ret_port=free_port_on(master.fixed_ip or ""),
            acceptance_wait_s=1.0,
        )
        yield SaltWorld(tmp, sshd, make_pool(tmp, sshd, nodes), master, nodes[1:], settings,
                        StateDir(tmp / "state").ensure())
    finally:
        stop_everything(tmp)
        sshd.process.terminate()
        sshd.process.wait(timeout=10)


def our_pids(tmp: Path) -> list[int]:
    """Processes whose command line names this test's tmp dir: only ours."""
    mark = str(tmp).encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if mark in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def stop_everything(tmp: Path, grace: float = 15.0) -> None:
    for pid in our_pids(tmp):
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while (left := our_pids(tmp)) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in left:
        _signal(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while our_pids(tmp) and time.monotonic() < deadline:
        time.sleep(0.05)


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)
