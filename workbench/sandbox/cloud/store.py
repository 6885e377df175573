"""The cloud's resources (plain JSON-able dicts) and their persistence in STATE/cloud.json.

Resources are kept as the dicts the APIs answer with (minus computed fields), so the
state file is readable and a restart restores exactly what the clients saw.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from workbench.errors import StateError, UsageError
from workbench.state import atomic_write

LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")
REGION = "RegionOne"
PROJECT_NAME = "workbench"
USER_NAME = "workbench"
STATE_VERSION = 1

Resource = dict[str, Any]


def now() -> str:
    """Timestamps as OpenStack prints them: ``2024-05-01T12:00:00Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_id() -> str:
    return str(uuid.uuid4())


def require_loopback(what: str, value: str) -> None:
    """Refuse any address (or network) outside 127.0.0.0/8: the sandbox lives on loopback."""
    try:
        net = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise UsageError(f"{what}: {value!r} is not an IPv4 address or network") from None
    if net.version != 4 or not net.subnet_of(LOOPBACK):
        raise UsageError(f"{what}: {value} is outside 127.0.0.0/8; the sandbox serves loopback only")


@dataclass
class Store:
    """Every resource of the cloud, keyed by id (keypairs by name)."""

    octet: int  # N: mgmt is 127.N.0.0/24, the floating pool 127.(N+1).0.0/24
    password: str
    project_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    user_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    api_port: int = 0
    networks: dict[str, Resource] = field(default_factory=dict)
    subnets: dict[str, Resource] = field(default_factory=dict)
    ports: dict[str, Resource] = field(default_factory=dict)
    floatingips: dict[str, Resource] = field(default_factory=dict)
    security_groups: dict[str, Resource] = field(default_factory=dict)
    servers: dict[str, Resource] = field(default_factory=dict)
    keypairs: dict[str, Resource] = field(default_factory=dict)
    images: dict[str, Resource] = field(default_factory=dict)
    flavors: dict[str, Resource] = field(default_factory=dict)

    # -- addresses ------------------------------------------------------------------
    @property
    def mgmt_cidr(self) -> str:
        return f"127.{self.octet}.0.0/24"

    @property
    def public_cidr(self) -> str:
        return f"127.{self.octet + 1}.0.0/24"

    def by_name(self, table: dict[str, Resource], name: str) -> Resource | None:
        return next((r for r in table.values() if r.get("name") == name), None)

    def used_ips(self, subnet_id: str) -> set[str]:
        used = {
            ip["ip_address"]
            for port in self.ports.values()
            for ip in port["fixed_ips"]
            if ip["subnet_id"] == subnet_id
        }
        subnet = self.subnets[subnet_id]
        if subnet.get("gateway_ip"):
            used.add(subnet["gateway_ip"])
        used |= {
            f["floating_ip_address"]
            for f in self.floatingips.values()
            if f.get("_subnet_id") == subnet_id
        }
        return used

    def pool_ips(self, subnet_id: str) -> list[str]:
        out: list[str] = []
        for pool in self.subnets[subnet_id]["allocation_pools"]:
            start = ipaddress.IPv4Address(pool["start"])
            end = ipaddress.IPv4Address(pool["end"])
            out += [str(ipaddress.IPv4Address(i)) for i in range(int(start), int(end) + 1)]
        return out

    # -- persistence ----------------------------------------------------------------
    _TABLES = (
        "networks", "subnets", "ports", "floatingips", "security_groups", "servers", "keypairs",
        "images", "flavors",
    )

    def to_json(self) -> str:
        doc: dict[str, Any] = {
            "version": STATE_VERSION,
            "octet": self.octet,
            "password": self.password,
            "project_id": self.project_id,
            "user_id": self.user_id,
            "api_port": self.api_port,
        }
        for table in self._TABLES:
            doc[table] = getattr(self, table)
        return json.dumps(doc, indent=1, sort_keys=True)

    def save(self, path: Path) -> None:
        atomic_write(path, self.to_json(), mode=0o600)

    @classmethod
    def load(cls, path: Path) -> Store | None:
        """The saved store, or None when there is none yet."""
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise StateError(f"{path}: unreadable sandbox state ({exc})") from None
        if not isinstance(doc, dict) or doc.get("version") != STATE_VERSION:
            raise StateError(f"{path}: not a sandbox state file of version {STATE_VERSION}")
        store = cls(
            octet=int(doc["octet"]),
            password=str(doc["password"]),
            project_id=str(doc["project_id"]),
            user_id=str(doc["user_id"]),
            api_port=int(doc.get("api_port", 0)),
        )
        for table in cls._TABLES:
            setattr(store, table, dict(doc.get(table, {})))
        return store


def new_password() -> str:
    return secrets.token_urlsafe(18)
