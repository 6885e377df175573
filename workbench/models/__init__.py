"""What the engine tells the TUI and the CLI about: frozen dataclasses, below ``events``."""

from workbench.models.alerts import Alert, Fix, FixFn, Severity
from workbench.models.cluster import ClusterInfo, NodeInfo, PodInfo, Service
from workbench.models.instance import TRANSITIONAL, Instance, Role

__all__ = [
    "TRANSITIONAL", "Alert", "ClusterInfo", "Fix", "FixFn", "Instance", "NodeInfo", "PodInfo",
    "Role", "Service", "Severity",
]
