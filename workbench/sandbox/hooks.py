"""The contract between the sandbox's cloud (Nova/Neutron) and its nodes.

    cloud.Store --(NodeHooks)--> nodes.NodeManager

The cloud calls NodeHooks when a server's life changes. What runs on a node (Salt,
Kubernetes) is the node's own business: the sandbox serves nothing on its behalf.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

Role = Literal["master", "minion", "other"]


@dataclass(frozen=True)
class ServerInfo:
    """What a node needs to know about its server (as cloud-init would)."""

    id: str
    name: str
    fixed_ips: tuple[str, ...]
    floating_ips: tuple[str, ...] = ()
    public_keys: tuple[str, ...] = ()  # from the keypair given at boot
    metadata: dict[str, str] = field(default_factory=dict)
    image: str = ""  # the image's name
    user_data: str = ""  # as given at create (decoded), for cloud-init

    @property
    def role(self) -> Role:
        role = self.metadata.get("workbench-role")
        if role in ("master", "minion"):
            return role  # type: ignore[return-value]
        if self.name.endswith("-master"):
            return "master"
        if "-minion-" in self.name:
            return "minion"
        return "other"

    @property
    def addresses(self) -> tuple[str, ...]:
        return self.fixed_ips + self.floating_ips


class NodeHooks(Protocol):
    async def boot(self, server: ServerInfo) -> None: ...
    async def destroy(self, server_id: str) -> None: ...
    async def reboot(self, server_id: str, hard: bool) -> None: ...
    async def rebuild(self, server: ServerInfo) -> None: ...
    async def set_addresses(self, server: ServerInfo) -> None: ...
    def console(self, server_id: str) -> str: ...
    async def close(self) -> None: ...


class NullNodes:
    """Used until a node manager is plugged in: servers have no machines behind them."""

    async def boot(self, server: ServerInfo) -> None:
        pass

    async def destroy(self, server_id: str) -> None:
        pass

    async def reboot(self, server_id: str, hard: bool) -> None:
        pass

    async def rebuild(self, server: ServerInfo) -> None:
        pass

    async def set_addresses(self, server: ServerInfo) -> None:
        pass

    def console(self, server_id: str) -> str:
        return ""

    async def close(self) -> None:
        pass
