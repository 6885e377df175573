"""Helpers for the cloud engine tests: a profile + state + client, and a direct SDK view."""

from __future__ import annotations

import dataclasses
from typing import Any

from workbench.engine.cloud import CloudClient
from workbench.events import Bus
from workbench.profile import Profile, load_profile
from workbench.state import StateDir

TAG = "workbench:kubernetes"


def setup(box: Any, minions: int | None = None) -> tuple[Profile, StateDir, Bus, CloudClient]:
    profile = load_profile(box.profile_path)
    if minions is not None:
        profile = dataclasses.replace(profile, cluster=dataclasses.replace(profile.cluster, minions=minions))
    bus = Bus()
    return profile, StateDir(profile.resolved_state_dir()).ensure(), bus, CloudClient(profile, bus=bus)


def sdk(box: Any) -> Any:
    """An openstacksdk connection to the sandbox, blind to the environment."""
    import openstack.config
    import openstack.connection

    config = openstack.config.OpenStackConfig(
        config_files=[str(box.clouds_path)], load_envvars=False, vendor_files=[], secure_files=[],
    )
    return openstack.connection.Connection(config=config.get_one(cloud="sandbox"))


def ours(conn: Any) -> dict[str, list[Any]]:
    """Every server, port and floating IP carrying our tag (or our metadata)."""
    servers = [
        s for s in conn.compute.servers(details=True)
        if TAG in (s.tags or []) or (s.metadata or {}).get("workbench-cluster") == "kubernetes"
    ]
    return {
        "servers": servers,
        "ports": [p for p in conn.network.ports() if TAG in (p.tags or [])],
        "floating_ips": [f for f in conn.network.ips() if TAG in (f.tags or [])],
    }
