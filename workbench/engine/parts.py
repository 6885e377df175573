"""Parts: the profile, state dir and bus, and the clients made from them on first use.

Every stage, doctor check, fix and CLI verb takes one ``Parts``, so the cloud client,
SSH pool, inventory and Kubernetes client are wired in this one place. Heavy modules
(openstacksdk, asyncssh) are imported when a part is first asked for, never before.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import TYPE_CHECKING

from workbench.errors import NodeError
from workbench.events import Bus, Event, InstancesChanged
from workbench.profile import Profile
from workbench.state import StateDir

if TYPE_CHECKING:
    from workbench.engine.cloud import CloudClient, Inventory
    from workbench.engine.kube.client import KubeClient
    from workbench.engine.ssh.pool import SSHPool
    from workbench.models import Instance


class Parts:
    """What the engine works with; ``cloud``, ``ssh``, ``inventory`` are made on first use.

    ``cloud`` and ``ssh`` may be passed in (a test's own client or pool, a fault injected);
    parts passed in are the caller's to close, parts made here are closed by ``close``."""

    def __init__(
        self,
        profile: Profile,
        *,
        bus: Bus | None = None,
        state: StateDir | None = None,
        cloud: CloudClient | None = None,
        ssh: SSHPool | None = None,
    ) -> None:
        self.profile = profile
        self.bus = bus if bus is not None else Bus()
        self.state = state if state is not None else StateDir(profile.resolved_state_dir())
        self.instances: tuple[Instance, ...] = ()  # as the inventory last published them
        self._cloud = cloud
        self._ssh = ssh
        self._inventory: Inventory | None = None
        self._owned: set[str] = set()
        self._unlisten = self.bus.add_listener(self._on_event)

    # -- the parts -----------------------------------------------------------------------
    @property
    def cloud(self) -> CloudClient:
        if self._cloud is None:
            from workbench.engine.cloud import CloudClient

            self._cloud = CloudClient(self.profile, bus=self.bus)
            self._owned.add("cloud")
        return self._cloud

    @property
    def inventory(self) -> Inventory:
        if self._inventory is None:
            from workbench.engine.cloud import Inventory

            self._inventory = Inventory(self.cloud, self.bus)
        return self._inventory

    @property
    def inventory_made(self) -> Inventory | None:
        """The inventory if anything asked for it yet (the watcher paces it), else None."""
        return self._inventory

    @property
    def ssh(self) -> SSHPool:
        if self._ssh is None:
            from workbench.engine.ssh.pool import SSHPool

            self._ssh = SSHPool(self.profile, self.state.ensure(), console=self._console, bus=self.bus)
            self._ssh.remember(self.instances)
            self._owned.add("ssh")
        return self._ssh

    def kube(self, master: Instance) -> KubeClient:
        """A client for the master's API server (secure port, the cluster token, the CA
        read from the master over SSH; with the workbench's own tree, its admin certificate
        and CA from the state dir); ``NodeError`` when the master has no address."""
        from workbench.engine.kube.client import KubeClient, fetch_ca, server_url

        address = master.floating_ip or master.fixed_ip
        if not address:
            raise NodeError(master.name, "the master has no address")
        state = self.state.ensure()
        from workbench.engine.provision.cluster import own_tree

        if own_tree(self.profile):
            # the workbench's own tree: its CA and admin certificate, made on this workstation
            from workbench.engine.provision.bundle import ADMIN
            from workbench.engine.provision.pki import ClusterPKI

            pki = ClusterPKI(state)
            pki.client("admin", ADMIN)
            return KubeClient(server_url(address, tls=True), None, state.root, ca_pem=pki.ca().cert_pem,
                              client_pem=pki.path("admin"))
        return KubeClient(
            server_url(address, tls=True), state.cluster_token(), state.root,
            ca_loader=lambda: fetch_ca(self.ssh, master, self.profile.paths.kube_ca),
        )

    async def active_instances(self) -> list[Instance]:
        """The cluster's ACTIVE instances, read from the cloud now (the pool learns them)."""
        instances = [i for i in await self.inventory.refresh() if i.status == "ACTIVE"]
        if self._ssh is not None:
            self._ssh.remember(instances)
        return instances

    # -- changes -------------------------------------------------------------------------
    def with_minions(self, minions: int) -> None:
        """Plan ``minions`` minions from now on: the next cloud call uses the new profile
        (the inventory keeps its client: it only lists)."""
        self.profile = replace(self.profile, cluster=replace(self.profile.cluster, minions=minions))
        if "cloud" in self._owned:
            self._cloud = None
            self._owned.discard("cloud")

    async def _console(self, server_id: str) -> str:
        return await self.cloud.console_output(server_id)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, InstancesChanged):
            self.instances = tuple(event.instances)
            if self._ssh is not None:
                self._ssh.remember(self.instances)

    async def drop_connections(self) -> None:
        """Close every SSH connection (the nodes went away); the pool stays usable."""
        if self._ssh is not None:
            await self._ssh.close()

    async def close(self) -> None:
        """Stop the inventory and close what was made here (connections, the cloud client)."""
        if self._inventory is not None:
            await self._inventory.stop()
        if self._ssh is not None and "ssh" in self._owned:
            await self._ssh.close()
            self._ssh = None
            self._owned.discard("ssh")
        if self._cloud is not None and "cloud" in self._owned:
            cloud, self._cloud = self._cloud, None
            self._owned.discard("cloud")
            await asyncio.to_thread(cloud.close)
