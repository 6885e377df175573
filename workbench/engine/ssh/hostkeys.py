"""Host keys learned from an instance's console output and pinned per instance id.

cloud-init prints the host keys it generated (``-----BEGIN SSH HOST KEY KEYS-----``) and
their fingerprints (``-----BEGIN SSH HOST KEY FINGERPRINTS-----``) on the console. The
console comes from the cloud API, so it is a trusted channel: a new instance on a reused
floating IP is trusted by its own console, and a key that neither the pin nor the
instance's current console vouches for is a genuine mismatch.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncssh

from workbench.state import StateDir

ConsoleFn = Callable[[str], Awaitable[str]]

_KEYS_BEGIN = "-----BEGIN SSH HOST KEY KEYS-----"
_KEYS_END = "-----END SSH HOST KEY KEYS-----"
_FP_BEGIN = "-----BEGIN SSH HOST KEY FINGERPRINTS-----"
_FP_END = "-----END SSH HOST KEY FINGERPRINTS-----"
_KEY = re.compile(
    r"\b((?:ssh-(?:ed25519|rsa|dss)|ecdsa-sha2-nistp(?:256|384|521)"
    r"|sk-(?:ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com))\s+(AAAA[A-Za-z0-9+/]+=*)"
)
_FINGERPRINT = re.compile(
    r"\b\d+\s+(SHA256:[A-Za-z0-9+/]+=*|MD5:(?:[0-9a-f]{2}:){15}[0-9a-f]{2}|(?:[0-9a-f]{2}:){15}[0-9a-f]{2})\b"
)


@dataclass(frozen=True)
class ConsoleHostKeys:
    """What one console says about the instance's host keys (its latest boot)."""

    keys: tuple[str, ...] = ()  # "type base64" OpenSSH public keys
    fingerprints: tuple[str, ...] = ()  # "SHA256:..." or "MD5:aa:bb:..."

    def __bool__(self) -> bool:
        return bool(self.keys or self.fingerprints)

    def vouches_for(self, key: str) -> bool:
        """True when ``key`` (an OpenSSH public key) is one this console printed."""
        body = key_body(key)
        if any(key_body(k) == body for k in self.keys):
            return True
        return bool(set(fingerprints_of(key)) & set(self.fingerprints))


def key_body(key: str) -> str:
    """``type base64`` of an OpenSSH public key line, without the comment."""
    parts = key.split()
    return " ".join(parts[:2])


def fingerprints_of(key: str) -> tuple[str, str]:
    """SHA256 and MD5 fingerprints of an OpenSSH public key, in ssh-keygen's notation."""
    blob = base64.b64decode(key.split()[1])
    sha = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    md5 = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    return f"SHA256:{sha}", "MD5:" + ":".join(md5[i : i + 2] for i in range(0, 32, 2))


def sha256_fingerprint(key: str) -> str:
    return fingerprints_of(key)[0]


def _blocks(lines: list[str]) -> list[tuple[str, list[str]]]:
    """Complete (kind, lines) blocks in order; kind is "keys" or "fingerprints"."""
    markers = {_KEYS_BEGIN: "keys", _FP_BEGIN: "fingerprints"}
    ends = {_KEYS_END: "keys", _FP_END: "fingerprints"}
    blocks: list[tuple[str, list[str]]] = []
    kind: str | None = None
    current: list[str] = []
    for line in lines:
        begin = next((k for m, k in markers.items() if m in line), None)
        end = next((k for m, k in ends.items() if m in line), None)
        if begin is not None:
            kind, current = begin, []
        elif end is not None:
            if kind == end:
                blocks.append((kind, current))
            kind = None
        elif kind is not None:
            current.append(line)
    return blocks


def _keys_in(block: list[str]) -> list[str]:
    keys: list[str] = []
    for line in block:
        for match in _KEY.finditer(line):
            candidate = f"{match.group(1)} {match.group(2)}"
            try:
                asyncssh.import_public_key(candidate)
            except (asyncssh.KeyImportError, ValueError):
                continue
            if candidate not in keys:
                keys.append(candidate)
    return keys


def _fingerprints_in(block: list[str]) -> list[str]:
    prints: list[str] = []
    for line in block:
        match = _FINGERPRINT.search(line)
        if match:
            fp = match.group(1)
            prints.append(fp if fp.startswith(("SHA256:", "MD5:")) else f"MD5:{fp}")
    return prints


def parse_console_host_keys(text: str) -> ConsoleHostKeys:
    """Host keys and fingerprints of the latest boot's cloud-init blocks in ``text``.

    Lines may carry prefixes (``<14>Jan 1 00:00:00 ec2: ``, ``[  5.1] cloud-init[9]: ``)
    and kernel messages may be interleaved; only key-shaped text counts, and keys that do
    not decode are dropped. A console shows every boot: cloud-init prints the fingerprints
    block, then the keys block; a block of a kind already seen starts the next boot.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    boots: list[dict[str, list[str]]] = []
    for kind, block in _blocks(lines):
        if not boots or kind in boots[-1] or (kind == "fingerprints" and "keys" in boots[-1]):
            boots.append({})
        boots[-1][kind] = _keys_in(block) if kind == "keys" else _fingerprints_in(block)
    if not boots:
        return ConsoleHostKeys()
    last = boots[-1]
    return ConsoleHostKeys(tuple(last.get("keys", ())), tuple(last.get("fingerprints", ())))


@dataclass(frozen=True)
class HostKeyProblem:
    """A refused host key: what the node presented and what its instance vouches for."""

    node: str
    instance_id: str
    address: str
    presented: str  # SHA256 fingerprint
    expected: tuple[str, ...]


@dataclass(frozen=True)
class Trusted:
    """The keys a connection to one instance may present."""

    instance_id: str
    keys: tuple[str, ...]
    fingerprints: tuple[str, ...] = ()
    source: str = "pinned"  # pinned | console | none

    def ssh_keys(self) -> list[asyncssh.SSHKey]:
        return [asyncssh.import_public_key(k) for k in self.keys]

    def accepts(self, key: str) -> bool:
        return ConsoleHostKeys(self.keys, self.fingerprints).vouches_for(key)


class HostKeyTrust:
    """Pinned keys per instance id, learned from the console on first contact."""

    def __init__(self, state: StateDir, console: ConsoleFn | None, *, wait: float = 20.0) -> None:
        self.state = state
        self.console = console
        self.wait = wait
        self._locks: dict[str, asyncio.Lock] = {}

    def pinned(self, instance_id: str) -> tuple[str, ...]:
        entry = self.state.host_keys().get(instance_id) or {}
        keys = entry.get("keys") if isinstance(entry, dict) else None
        return tuple(k for k in keys or () if isinstance(k, str))

    async def trusted(self, instance_id: str, name: str) -> Trusted:
        """Pinned keys, else the console's (pinned now). ``source="none"`` if neither."""
        lock = self._locks.setdefault(instance_id, asyncio.Lock())
        async with lock:
            keys = self.pinned(instance_id)
            if keys:
                return Trusted(instance_id, keys, source="pinned")
            seen = await self.read_console(instance_id)
            if seen.keys:
                self.state.pin_host_keys(instance_id, name, list(seen.keys))
            if not seen:
                return Trusted(instance_id, (), source="none")
            return Trusted(instance_id, seen.keys, seen.fingerprints, source="console")

    async def read_console(self, instance_id: str, *, want: str | None = None) -> ConsoleHostKeys:
        """The console's host keys, polled until a block appears (or ``want`` shows)."""
        if self.console is None:
            return ConsoleHostKeys()
        deadline = time.monotonic() + self.wait
        delay = 0.05
        while True:
            seen = parse_console_host_keys(await self.console(instance_id))
            done = seen and (want is None or seen.vouches_for(want))
            if done or time.monotonic() >= deadline:
                return seen
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def reconfirm(self, instance_id: str, name: str, presented: str) -> bool:
        """A pinned instance shows another key: re-pin only if its console vouches for it.

        A rebuild keeps the instance id and prints a new key block; anything else that
        presents an unknown key (another machine on the address) is refused.
        """
        if self.console is None:
            return False
        seen = parse_console_host_keys(await self.console(instance_id))
        if not seen.vouches_for(presented):
            return False
        keys = list(seen.keys) if seen.keys else [key_body(presented)]
        self.state.pin_host_keys(instance_id, name, keys)
        return True

    def pin_presented(self, instance_id: str, name: str, presented: str) -> None:
        """Pin a key the console vouched for by fingerprint only."""
        self.state.pin_host_keys(instance_id, name, [key_body(presented)])
