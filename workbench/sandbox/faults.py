"""The seed's failure modes, switchable at start (`--faults`) and at run time."""

from __future__ import annotations

import threading
from collections.abc import Iterable

FAULTS: dict[str, str] = {
    "leaked-ports": "deleting a server leaves its ports DOWN with no device",
    "token-regen": "the master's known_tokens.csv gets a new kubelet token out of band when switched on (and at every master highstate while on)",
    "out-of-band-delete": "deletes the named server as if someone used Horizon (one-shot)",
    "salt-race": "the salt services start late at boot; the first highstate after boot reports them not running",
    "slow-ssh": "connections stall before auth until sshd_config has UseDNS no and sshd restarts",
    "boot-error": "the next boot ends in ERROR with a Nova fault message",
    # API faults (reliability)
    "api-5xx": "a burst of 503 answers from every API",
    "api-slow": "every API answer is delayed",
    "token-expire": "the next request's token is rejected as expired",
    "port-busy": "the next port delete answers 409",
}


class FaultSet:
    """Which faults are on. ``server`` narrows a fault to one server name (None: all)."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._on: dict[str, set[str | None]] = {}
        for name in names:
            self.set(name, True)

    def set(self, name: str, on: bool = True, server: str | None = None) -> None:
        if name not in FAULTS:
            raise ValueError(f"unknown fault {name!r}; known: {', '.join(FAULTS)}")
        with self._lock:
            targets = self._on.setdefault(name, set())
            if on:
                targets.add(server)
            elif server is None:
                self._on.pop(name, None)
            else:
                targets.discard(server)

    def active(self, name: str, server: str | None = None) -> bool:
        with self._lock:
            targets = self._on.get(name)
            if not targets:
                return False
            return None in targets or server in targets

    def consume(self, name: str, server: str | None = None) -> bool:
        """True once for a one-shot fault (boot-error, token-expire, port-busy), then off."""
        with self._lock:
            targets = self._on.get(name)
            if not targets or not (None in targets or server in targets):
                return False
            targets.discard(server if server in targets else None)
            if not targets:
                self._on.pop(name, None)
            return True

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._on)
