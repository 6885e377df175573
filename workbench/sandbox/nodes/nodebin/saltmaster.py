"""The Salt master's file server, as a minion's ``salt://`` URLs reach it (stdlib only).

Kubernetes' salt tree kept generated files in the master's ``/srv/salt-overlay`` (part
of its ``file_roots``) and minions fetched them as ``salt://...``. On the sandbox the
master's highstate publishes there, on its own disk, and a minion's highstate reads the
file from the node whose address is its ``master_ip`` grain: the sandbox's stand-in for
the salt-master transport. A minion whose master has not published yet waits, as a
minion waits for an unresponsive master.
"""

from __future__ import annotations

import time
from pathlib import Path

import nodelib

OVERLAY = Path("srv") / "salt-overlay" / "salt"


def publish(rel: str, data: bytes) -> bool:
    """Put ``salt://rel`` in this master's file roots; True when it changed."""
    path = nodelib.ROOT / OVERLAY / rel
    try:
        if path.read_bytes() == data:
            return False
    except OSError:
        pass
    nodelib.write_atomic(path, data.decode("ascii"), 0o644)
    return True


def _master_root(master_ip: str) -> Path | None:
    """The disk of the node that holds ``master_ip`` (run/sandbox/node.json of each node)."""
    for facts_path in nodelib.ROOT.parent.parent.glob("*/root/run/sandbox/node.json"):
        facts = nodelib.read_json(facts_path, {})
        if isinstance(facts, dict) and facts.get("role") == "master" and master_ip in (facts.get("addresses") or []):
            return facts_path.parents[2]
    return None


def fetch(master_ip: str, rel: str, wait: float) -> tuple[bytes | None, str]:
    """``salt://rel`` from the master at ``master_ip``: (data, "") or (None, why)."""
    deadline = time.monotonic() + wait
    why = f"Source file salt://{rel} not found in saltenv 'base'"
    while True:
        root = _master_root(master_ip)
        if root is None:
            why = f"Salt master {master_ip} is not responding: no master node holds that address"
        else:
            try:
                return (root / OVERLAY / rel).read_bytes(), ""
            except OSError:
                why = f"Source file salt://{rel} not found in saltenv 'base' (the master has not published it)"
        if root is None or time.monotonic() >= deadline:
            return None, why
        time.sleep(0.1)

