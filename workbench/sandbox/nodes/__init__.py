"""Sandbox nodes: SSH-reachable machines behind the sandbox cloud's servers.

Each node is a set of Linux namespaces (mount, UTS, IPC, PID) whose PID 1 is the node's
init (``nodebin/nodeinit.py``), over a stock image; an asyncssh sshd on its addresses runs
every session inside it, as the SSH user, with real sudo, systemctl and journalctl.
"""

from .manager import NodeManager, cluster_of

__all__ = ["NodeManager", "cluster_of"]
