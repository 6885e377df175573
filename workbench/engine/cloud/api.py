"""``CloudClient``: the cloud operations the workbench uses, as awaitables.

Ports and floating IPs come back as small frozen records, so callers reason about
ownership (our tag) without touching openstacksdk objects.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from typing import Any

from workbench.engine.cloud.client import CloudCore
from workbench.engine.cloud.models import Instance, cluster_tag, instance_from_server
from workbench.errors import CloudError, CloudResourceMissing


@dataclass(frozen=True)
class Port:
    id: str
    name: str
    network_id: str
    status: str
    device_id: str
    device_owner: str
    fixed_ips: tuple[str, ...]
    tags: tuple[str, ...]
    created: str = ""

    @property
    def unattached(self) -> bool:
        return not self.device_id and not self.device_owner


@dataclass(frozen=True)
class FloatingIP:
    id: str
    address: str
    port_id: str | None
    fixed_ip: str | None
    network_id: str
    tags: tuple[str, ...]


@dataclass(frozen=True)
class Resolved:
    """The profile's named cloud resources, resolved to ids."""

    image_id: str
    flavor_id: str
    flavor_vcpus: int
    flavor_ram: int
    keypair: str
    network_id: str
    pool_id: str
    availability_zone: str | None = None  # None: the cloud's default


def _port(p: Any) -> Port:
    return Port(
        id=p.id, name=p.name or "", network_id=p.network_id or "", status=p.status or "",
        device_id=p.device_id or "", device_owner=p.device_owner or "",
        fixed_ips=tuple(f.get("ip_address", "") for f in (p.fixed_ips or [])),
        tags=tuple(p.tags or ()), created=str(p.created_at or ""),
    )


def _fip(f: Any) -> FloatingIP:
    return FloatingIP(
        id=f.id, address=f.floating_ip_address or "", port_id=f.port_id or None,
        fixed_ip=f.fixed_ip_address or None, network_id=f.floating_network_id or "",
        tags=tuple(f.tags or ()),
    )


class CloudClient(CloudCore):
    """Async OpenStack operations for one profile's cloud and cluster."""

    @property
    def tag(self) -> str:
        return cluster_tag(self.profile.cluster.name)

    # -- lookups ------------------------------------------------------------------------
    async def resolve(self) -> Resolved:
        """Find the profile's image, flavor, keypair, network and pool, or say which is missing."""
        c = self.profile.cluster

        def run(conn: Any) -> Resolved:
            missing: list[str] = []
            image = conn.image.find_image(c.image, ignore_missing=True) if c.image else None
            if image is None:
                missing.append(f"image {c.image!r} (cluster.image)")
            flavor = conn.compute.find_flavor(c.flavor, ignore_missing=True) if c.flavor else None
            if flavor is None:
                missing.append(f"flavor {c.flavor!r} (cluster.flavor)")
            keypair = conn.compute.find_keypair(c.keypair, ignore_missing=True) if c.keypair else None
            if keypair is None:
                missing.append(f"keypair {c.keypair!r} (cluster.keypair)")
            net = conn.network.find_network(c.network, ignore_missing=True) if c.network else None
            if net is None:
                missing.append(f"network {c.network!r} (cluster.network)")
            pool = (
                conn.network.find_network(c.floating_ip_pool, ignore_missing=True)
                if c.floating_ip_pool else None
            )
            if pool is None:
                missing.append(f"floating IP pool {c.floating_ip_pool!r} (cluster.floating_ip_pool)")
            elif not pool.is_router_external:
                missing.append(f"floating IP pool {c.floating_ip_pool!r}: not an external network")
            # each None added to ``missing``; naming them again narrows their types
            if missing or image is None or flavor is None or keypair is None or net is None or pool is None:
                raise CloudResourceMissing(f"cloud {self.cloud_label}: not found: {'; '.join(missing)}")
            return Resolved(
                image_id=image.id, flavor_id=flavor.id, flavor_vcpus=int(flavor.vcpus or 0),
                flavor_ram=int(flavor.ram or 0), keypair=keypair.name, network_id=net.id,
                pool_id=pool.id,
            )

        return await self.call(run, "look up image, flavor, keypair, network and pool")

    async def with_flavor(self, resolved: Resolved, flavor: str) -> Resolved:
        """``resolved`` with another flavor (by name or id), e.g. one from cluster.fallback_flavors."""
        def run(conn: Any) -> Resolved:
            found = conn.compute.find_flavor(flavor, ignore_missing=True)
            if found is None:
                raise CloudResourceMissing(f"cloud {self.cloud_label}: not found: flavor {flavor!r} (cluster.fallback_flavors)")
            return dataclasses.replace(resolved, flavor_id=found.id, flavor_vcpus=int(found.vcpus or 0),
                                       flavor_ram=int(found.ram or 0))

        return await self.call(run, f"look up flavor {flavor}")

    async def limits(self) -> dict[str, int]:
        def run(conn: Any) -> dict[str, int]:
            a = conn.compute.get_limits().absolute
            return {
                "instances": _int(a.instances), "instances_used": _int(a.instances_used),
                "cores": _int(a.total_cores), "cores_used": _int(a.total_cores_used),
                "ram": _int(a.total_ram), "ram_used": _int(a.total_ram_used),
            }

        return await self.call(run, "read compute limits")

    # -- servers --------------------------------------------------------------------------
    async def servers(self) -> list[Any]:
        return await self.call(lambda conn: list(conn.compute.servers(details=True)), "list servers")

    async def list_instances(self) -> list[Instance]:
        """The cluster's servers: tagged ours, or named like a member of the plan."""
        cluster = self.profile.cluster.name
        names = {name for name, _, _ in self.profile.node_plan()}
        prefix = f"{cluster}-minion-"
        out = []
        for server in await self.servers():
            inst = instance_from_server(server, self.tag, cluster)
            if inst.tagged or inst.name in names or inst.name.startswith(prefix):
                out.append(inst)
        order = {"master": 0, "minion": 1, "other": 2}
        return sorted(out, key=lambda i: (order[i.role], _natural(i.name), i.id))

    async def get_instance(self, server_id: str) -> Instance | None:
        def run(conn: Any) -> Any:
            return conn.compute.get_server(server_id)

        try:
            server = await self.call(run, f"get server {server_id}")
        except CloudResourceMissing:
            return None
        return instance_from_server(server, self.tag, self.profile.cluster.name)

    async def create_server(
        self, name: str, role: str, port_id: str, resolved: Resolved
    ) -> Instance:
        cluster = self.profile.cluster.name

        def run(conn: Any) -> Any:
            zone = {"availability_zone": resolved.availability_zone} if resolved.availability_zone else {}
            created = conn.compute.create_server(
                name=name, image_id=resolved.image_id, flavor_id=resolved.flavor_id,
                key_name=resolved.keypair, networks=[{"port": port_id}],
                metadata={"workbench-cluster": cluster, "workbench-role": role},
                tags=[self.tag], **zone,
            )
            return conn.compute.get_server(created.id)  # Nova's create answer has no status

        server = await self.call(run, f"create server {name}")
        return instance_from_server(server, self.tag, cluster)

    async def delete_server(self, server_id: str) -> None:
        await self.call(
            lambda conn: conn.compute.delete_server(server_id, ignore_missing=True),
            f"delete server {server_id}",
        )

    async def reboot(self, server_id: str, hard: bool = True) -> None:
        kind = "HARD" if hard else "SOFT"
        await self.call(lambda conn: conn.compute.reboot_server(server_id, kind), f"reboot {server_id}")

    async def rebuild(self, server_id: str, image_id: str) -> None:
        await self.call(
            lambda conn: conn.compute.rebuild_server(server_id, image=image_id),
            f"rebuild {server_id}",
        )

    async def console_output(self, server_id: str, length: int | None = None) -> str:
        def run(conn: Any) -> str:
            doc = conn.compute.get_server_console_output(server_id, length=length)
            return str((doc or {}).get("output") or "")

        return await self.call(run, f"console output of {server_id}")

    # -- ports ----------------------------------------------------------------------------
    async def ports(self, *, ours: bool = False, **filters: Any) -> list[Port]:
        """Ports matching ``filters``; ``ours=True`` keeps only those with our tag."""
        if ours:
            filters["tags"] = self.tag

        def run(conn: Any) -> list[Port]:
            return [_port(p) for p in conn.network.ports(**filters)]

        found = await self.call(run, "list ports")
        return [p for p in found if self.tag in p.tags] if ours else found

    async def create_port(self, name: str, network_id: str, ip: str) -> Port:
        def run(conn: Any) -> Port:
            port = conn.network.create_port(
                name=name, network_id=network_id, fixed_ips=[{"ip_address": ip}], tags=[self.tag],
                description=f"workbench cluster {self.profile.cluster.name}",
            )
            if self.tag not in (port.tags or []):
                conn.network.set_tags(port, [self.tag])
                port = conn.network.get_port(port.id)
            return _port(port)

        return await self.call(run, f"create port {name} on {ip}")

    async def get_port(self, port_id: str) -> Port | None:
        try:
            return await self.call(lambda conn: _port(conn.network.get_port(port_id)), f"get port {port_id}")
        except CloudResourceMissing:
            return None

    async def delete_port(self, port: Port) -> None:
        """Delete one of OUR ports; refuses anything without our tag."""
        self._require_ours(port.tags, f"port {port.id}")
        await self.call(
            lambda conn: conn.network.delete_port(port.id, ignore_missing=True), f"delete port {port.id}"
        )

    # -- floating IPs -----------------------------------------------------------------------
    async def floating_ips(self, *, ours: bool = False, **filters: Any) -> list[FloatingIP]:
        if ours:
            filters["tags"] = self.tag

        def run(conn: Any) -> list[FloatingIP]:
            return [_fip(f) for f in conn.network.ips(**filters)]

        found = await self.call(run, "list floating IPs")
        return [f for f in found if self.tag in f.tags] if ours else found

    async def create_floating_ip(self, pool_id: str, port_id: str) -> FloatingIP:
        # Neutron takes tags on POST for ports only ("Attribute 'tags' not allowed in POST"):
        # tag the floating IP in a call of its own (retried alone), and release it when
        # it cannot be tagged, since untagged it is not ours to find or delete later.
        def create(conn: Any) -> str:
            return str(conn.network.create_ip(
                floating_network_id=pool_id, port_id=port_id, description=self.fip_description,
            ).id)

        def tag(conn: Any) -> FloatingIP:
            conn.network.set_tags(conn.network.get_ip(fip_id), [self.tag])
            return _fip(conn.network.get_ip(fip_id))

        fip_id = await self.call(create, "allocate a floating IP")
        try:
            return await self.call(tag, f"tag floating IP {fip_id}")
        except CloudError:
            with contextlib.suppress(CloudError):
                await self.call(lambda conn: conn.network.delete_ip(fip_id, ignore_missing=True),
                                f"release untagged floating IP {fip_id}")
            raise

    @property
    def fip_description(self) -> str:
        return f"workbench cluster {self.profile.cluster.name}"

    async def adopt_floating_ip(self, port_id: str) -> FloatingIP | None:
        """Tag the floating IP on our port that a killed run created but never tagged
        (untagged, with our description); None when there is none."""
        def run(conn: Any) -> FloatingIP | None:
            for f in conn.network.ips(port_id=port_id):
                if not f.tags and f.description == self.fip_description:
                    conn.network.set_tags(f, [self.tag])
                    return _fip(conn.network.get_ip(f.id))
            return None

        return await self.call(run, f"adopt the floating IP of port {port_id}")

    async def associate(self, fip: FloatingIP, port_id: str) -> FloatingIP:
        self._require_ours(fip.tags, f"floating IP {fip.address}")
        return await self.call(
            lambda conn: _fip(conn.network.update_ip(fip.id, port_id=port_id)),
            f"associate {fip.address}",
        )

    async def get_floating_ip(self, fip_id: str) -> FloatingIP | None:
        try:
            return await self.call(lambda conn: _fip(conn.network.get_ip(fip_id)), f"get floating IP {fip_id}")
        except CloudResourceMissing:
            return None

    async def delete_floating_ip(self, fip: FloatingIP) -> None:
        self._require_ours(fip.tags, f"floating IP {fip.address}")
        await self.call(
            lambda conn: conn.network.delete_ip(fip.id, ignore_missing=True),
            f"release floating IP {fip.address}",
        )

    def _require_ours(self, tags: tuple[str, ...], what: str) -> None:
        if self.tag not in tags:
            raise CloudError(f"refusing to touch {what}: it lacks the tag {self.tag}")


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def _natural(name: str) -> tuple[str, int]:
    head, _, tail = name.rpartition("-")
    return (head, int(tail)) if tail.isdigit() else (name, 0)
