"""Which fixes can help a server in ERROR, by the kind of its Nova fault (engine/cloud/faults.py).

Capacity (no valid host, scheduling attempts exhausted) is not cured by the same flavor
in the same zone: offer the profile's other flavors and zones, and "retry later" said as
such. A port-binding failure is Neutron's to fix first. Hard-reboot and rebuild need a
server that got a host and a port; recreate always applies.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from workbench.models.alerts import Fix, FixFn
from workbench.models.instance import Instance
from workbench.profile import ClusterSection


def triage(
    cluster: ClusterSection, inst: Instance, recreate: Fix, attached: bool, *,
    recreate_with: Callable[[str | None, str | None], Fix], action: Callable[[str], FixFn],
) -> tuple[str, list[Fix]]:
    """What the fault means and the fixes that can help with it, best first."""
    if inst.fault_kind == "capacity":
        flavors = [f for f in cluster.fallback_flavors if f not in (inst.flavor, cluster.flavor)]
        fixes = [recreate_with(f, None) for f in flavors]
        fixes += [recreate_with(None, z) for z in cluster.availability_zones]
        fixes.append(dataclasses.replace(
            recreate, name="retry-later",
            description=f"{recreate.description}; the same flavor in the same zone: helps only once the cloud has room again"))
        hint = "" if flavors or cluster.availability_zones else (
            " (list others in the profile's cluster.fallback_flavors or cluster.availability_zones to be offered them)")
        return (f"the cloud has no host for flavor {inst.flavor or cluster.flavor} now (capacity); recreating the same "
                f"flavor in the same zone fails the same way: use another flavor or zone, or retry later{hint}", fixes)
    if inst.fault_kind in ("port-binding", "network"):
        # a member user sees no ``details`` for a code-500 fault (Nova's policy), so a binding
        # failure often reaches us only as "Failed to allocate the network(s)": Neutron's either way
        what = ("Neutron could not bind its port (no network agent on the chosen host, or a mismatched mechanism "
                "driver)" if inst.fault_kind == "port-binding" else
                "Nova gave up waiting for Neutron to set up its port (a network agent down, or a binding failure)")
        return (f"{what}: check `openstack network agent list`; recreating helps once Neutron can bind ports",
                [dataclasses.replace(recreate, description=f"{recreate.description} (once Neutron is fixed)")])
    why = ""
    if not attached:
        return why, [recreate]
    return why, [
        Fix("hard-reboot", f"hard-reboot {inst.name} (power off and on; its disk is kept)",
            action("hard-reboot"), destructive=False),
        Fix("rebuild", f"rebuild {inst.name} from its image (its disk is wiped)", action("rebuild")),
        recreate,
    ]
