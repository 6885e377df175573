"""Sandbox nodes: SSH-reachable machines behind the sandbox cloud's servers.

Each node is a directory tree with an asyncssh sshd on its addresses, real `/bin/sh`
sessions, SFTP, and the node commands (salt-call, systemctl, sudo, journalctl) that
provision it and fail the way the seed's nodes did.
"""

from .manager import NodeManager, cluster_of

__all__ = ["NodeManager", "cluster_of"]
