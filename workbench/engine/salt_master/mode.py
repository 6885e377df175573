"""Masterless or master: the profile's ``[salt] mode``, or by the cluster's size.

Why a threshold at all: a master job costs a fixed start (a ping, an event listener, the
publish: a few seconds of the master's CPU) that masterless does not pay, while masterless
costs the workstation one SSH session and one output stream per node, and every node a
whole ``salt-call`` start-up. ``bench/salt_scale.py`` measures both; the default
``master_from_nodes`` comes from it (README, "Salt modes").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from workbench.engine.ssh.pool import NodeLike
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


def cluster_mode(profile: Profile, nodes: Sequence[NodeLike]) -> Mode:
    """The one decision provisioning and the runner share: ``salt_mode`` for these nodes;
    masterless without a master with a fixed IP, and under "auto" for kube-up's tree (its
    generated overlay is per node; master mode serves the workbench's own tree)."""
    master = next((n for n in nodes if n.role == "master"), None)
    if master is None or not master.fixed_ip:
        return "masterless"
    mode = salt_mode(profile, len(nodes))
    if mode == "master" and profile.salt.mode == "auto" and profile.kube.root is not None:
        from workbench.engine.provision.cluster import tree_layout

        if tree_layout(profile.kube.root) == "seed":
            return "masterless"
    return mode
