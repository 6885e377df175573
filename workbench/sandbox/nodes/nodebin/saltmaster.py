"""The Salt master's file server, as a minion's ``salt://`` URLs reach it (stdlib only).

Kubernetes' salt tree kept generated files in the master's ``/srv/salt-overlay`` (part
of its ``file_roots``) and minions fetched them as ``salt://...``. On the sandbox the
master's highstate publishes there, on its own disk, and a minion's highstate asks its
node's init, which asks the sandbox to read it from the node whose address is its
``master_ip``: the sandbox's stand-in for the salt-master transport (until issue 17). A minion whose master has not published yet waits, as a
minion waits for an unresponsive master.
"""

from __future__ import annotations

import base64
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


def fetch(master_ip: str, rel: str, wait: float) -> tuple[bytes | None, str]:
    """``salt://rel`` from the master at ``master_ip``: (data, "") or (None, why)."""
    deadline = time.monotonic() + wait
    while True:
        answer = nodelib.fetch(master_ip, rel)
        if "data" in answer:
            return base64.b64decode(answer["data"]), ""
        why = str(answer.get("error") or f"Source file salt://{rel} not found in saltenv 'base'")
        if answer.get("final") or time.monotonic() >= deadline:
            return None, why
        time.sleep(0.1)
