"""Helpers for the cloud engine tests: a profile + state + client, and a direct SDK view."""

from __future__ import annotations

import dataclasses
from typing import Any

from tests.sandbox_helpers import TAG, ours, sdk
from workbench.engine.cloud import CloudClient
from workbench.events import Bus
from workbench.profile import Profile, load_profile
from workbench.state import StateDir

__all__ = ["TAG", "ours", "sdk", "setup"]


def setup(box: Any, minions: int | None = None) -> tuple[Profile, StateDir, Bus, CloudClient]:
    profile = load_profile(box.profile_path)
    if minions is not None:
        profile = dataclasses.replace(profile, cluster=dataclasses.replace(profile.cluster, minions=minions))
    bus = Bus()
    return profile, StateDir(profile.resolved_state_dir()).ensure(), bus, CloudClient(profile, bus=bus)
