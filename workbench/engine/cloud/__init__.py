"""The cloud engine: an async openstacksdk facade, the cluster's inventory, up and down.

``import openstack`` happens only when a call needs it, never at import time.
"""

from workbench.engine.cloud.api import CloudClient, FloatingIP, Port, Resolved
from workbench.engine.cloud.down import DownResult, down
from workbench.engine.cloud.inventory import Inventory
from workbench.engine.cloud.lifecycle import Lifecycle, Outcome
from workbench.engine.cloud.models import Instance, cluster_tag
from workbench.engine.cloud.up import PreflightError, UpResult, up

__all__ = [
    "CloudClient",
    "DownResult",
    "FloatingIP",
    "Instance",
    "Inventory",
    "Lifecycle",
    "Outcome",
    "Port",
    "PreflightError",
    "Resolved",
    "UpResult",
    "cluster_tag",
    "down",
    "up",
]
