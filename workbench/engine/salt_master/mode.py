"""Masterless or master: the profile's ``[salt] mode``, or by the cluster's size.

Why a threshold at all: a master job costs a fixed start (a ping, an event listener, the
publish: a few seconds of the master's CPU) that masterless does not pay, while masterless
costs the workstation one SSH session and one output stream per node, and every node a
whole ``salt-call`` start-up. ``bench/salt_scale.py`` measures both; the default
``master_from_nodes`` comes from it (README, "Salt modes").
"""

from __future__ import annotations

from typing import Literal

from workbench.profile import Profile

Mode = Literal["masterless", "master"]


def salt_mode(profile: Profile, nodes: int) -> Mode:
    """The mode for a cluster of ``nodes`` nodes (master and minions)."""
    chosen = profile.salt.mode
    if chosen == "master":
        return "master"
    if chosen == "masterless":
        return "masterless"
    return "master" if nodes >= profile.salt.master_from_nodes else "masterless"
