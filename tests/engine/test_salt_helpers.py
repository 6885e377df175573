"""A sandbox cluster brought up by the engine, with a release and salt tree on every node.

No tests here: helpers for the salt, token and node-doctor tests.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from workbench.engine.cloud import CloudClient, Instance, up
from workbench.engine.ssh.pool import SSHPool
from workbench.events import Bus, Event
from workbench.profile import Profile, load_profile
from workbench.state import StateDir


@dataclass
class Cluster:
    box: Any
    profile: Profile
    state: StateDir
    bus: Bus
    events: list[Event]
    client: CloudClient
    pool: SSHPool
    instances: tuple[Instance, ...]

    @property
    def master(self) -> Instance:
        return next(i for i in self.instances if i.role == "master")

    @property
    def minions(self) -> list[Instance]:
        return [i for i in self.instances if i.role == "minion"]

    async def close(self) -> None:
        await self.pool.close()


def _release_tar() -> bytes:
    """A small server release tar with the binaries the sandbox's Salt states install."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name in ("kube-apiserver", "kubelet", "kube-proxy", "kubectl"):
            data = f"#!/bin/sh\necho {name}\n".encode()
            info = tarfile.TarInfo(f"kubernetes/server/bin/{name}")
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def seed_tar(profile: Profile) -> bytes:
    """release tar + salt tree as one tar, laid out under the nodes' paths (from /)."""
    assert profile.kube.root is not None
    salt = profile.kube.root / "cluster" / "saltbase" / "salt"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        release = _release_tar()
        info = tarfile.TarInfo(f"{profile.paths.release_dir.lstrip('/')}/kubernetes-server-linux-amd64.tar.gz")
        info.size = len(release)
        tar.addfile(info, io.BytesIO(release))
        tar.add(salt, arcname=profile.paths.salt_tree.lstrip("/"))
    return buf.getvalue()


#: what a push does with the seed tar: root's files, unpacked from / with sudo
SEED_COMMAND = "sudo tar -xf - -C / --no-same-owner"


async def seed_nodes(pool: SSHPool, profile: Profile, nodes: list[Instance]) -> None:
    payload = seed_tar(profile)
    for node in nodes:
        await pool.run(node, SEED_COMMAND, input=payload, check=True)


async def start_cluster(make_sandbox: Callable[..., Any], *, seed: bool = True, **kw: Any) -> Cluster:
    box = make_sandbox(**kw)
    profile = load_profile(box.profile_path, environ={})
    state = StateDir(profile.resolved_state_dir()).ensure()
    bus = Bus()
    events: list[Event] = []
    bus.add_listener(events.append)
    client = CloudClient(profile, bus=bus)
    result = await up(client, state, bus)
    assert result.ok, result
    pool = SSHPool(profile, state, console=client.console_output, bus=bus)
    cluster = Cluster(box, profile, state, bus, events, client, pool, tuple(result.instances))
    if seed:
        await seed_nodes(pool, profile, list(cluster.instances))
    return cluster
