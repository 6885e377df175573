"""A sandbox cluster seen through the engine's own clients: brought up and provisioned by the
workbench itself (``workbench --json redeploy``, tests/realcluster.py), or only created.

No tests here: helpers for the salt, push, token and node-doctor tests. ``view`` gives the
session's shared ``real_cluster`` the same shape, for the tests that only read it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.realcluster import RealCluster, bring_up
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


async def _clients(box: Any) -> tuple[Profile, StateDir, Bus, list[Event], CloudClient]:
    profile = load_profile(box.profile_path, environ={})
    state = StateDir(profile.resolved_state_dir()).ensure()
    bus = Bus()
    events: list[Event] = []
    bus.add_listener(events.append)
    return profile, state, bus, events, CloudClient(profile, bus=bus)


async def _cluster(box: Any) -> Cluster:
    """The engine's view of a cluster that is up: its ACTIVE nodes, master first."""
    profile, state, bus, events, client = await _clients(box)
    found = [i for i in await client.list_instances() if i.status == "ACTIVE"]
    instances = tuple(sorted(found, key=lambda i: (i.role != "master", i.name)))
    pool = SSHPool(profile, state, console=client.console_output, bus=bus)
    return Cluster(box, profile, state, bus, events, client, pool, instances)


async def start_cluster(make_sandbox: Callable[..., Any], *, provisioned: bool = True, **kw: Any) -> Cluster:
    """A fresh sandbox (``kw`` for ``make_sandbox``) with the cluster created by ``up``; with
    ``provisioned`` (the default) the workbench's own ``redeploy`` has also pushed the build,
    provisioned every node and run real Salt there, so Kubernetes runs."""
    box = make_sandbox(**kw)
    if provisioned:
        await asyncio.to_thread(bring_up, box)
        return await _cluster(box)
    profile, state, bus, events, client = await _clients(box)
    result = await up(client, state, bus)
    assert result.ok, result
    pool = SSHPool(profile, state, console=client.console_output, bus=bus)
    return Cluster(box, profile, state, bus, events, client, pool, tuple(result.instances))


async def view(real: RealCluster) -> Cluster:
    """The session's shared cluster, with a bus and SSH pool of the test's own."""
    return await _cluster(real.box)
