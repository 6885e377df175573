"""Nodes over SSH: the connection pool, host-key trust, ssh_config for real ssh."""

from workbench.engine.ssh.connect import ConnectTiming
from workbench.engine.ssh.pool import NodeLike, SSHPool

__all__ = ["ConnectTiming", "NodeLike", "SSHPool"]
