"""Helpers for tests that look at the sandbox cloud directly, not through the engine:
an openstacksdk connection, our tagged resources, and polling with a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from tests.conftest import os_conn

TAG = "workbench:kubernetes"
T = TypeVar("T")


def sdk(box: Any) -> Any:
    """An openstacksdk connection to the sandbox, blind to the environment."""
    return os_conn(box)


def ours(conn: Any) -> dict[str, list[Any]]:
    """Every server, port and floating IP carrying our tag (or our metadata)."""
    servers = [
        s for s in conn.compute.servers(details=True)
        if TAG in (s.tags or []) or (s.metadata or {}).get("workbench-cluster") == "kubernetes"
    ]
    return {
        "servers": servers,
        "ports": [p for p in conn.network.ports() if TAG in (p.tags or [])],
        "floating_ips": [f for f in conn.network.ips() if TAG in (f.tags or [])],
    }


def until(predicate: Callable[[], T], what: str, timeout: float = 20.0) -> T:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")
