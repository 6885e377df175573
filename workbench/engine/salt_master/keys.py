"""Minion keys, accepted only when verified: the key is read from the minion itself over
SSH (whose host key is pinned from the instance's console), and exactly that key is
written into the master's accepted keys. Any other key presented under the node's id
(pending, rejected or denied) is dropped from pending and reported; once the verified key
is accepted, Salt itself denies every other key using that id.

Keys are compared by the SHA-256 of their DER public key: Salt's own fingerprints differ
between tools (``salt-call key.finger`` hashes the PEM body, 3008's ``salt-key -f`` the
whole PEM), so neither is a stable identity.
"""

from __future__ import annotations

import hashlib
import shlex
from dataclasses import dataclass
from typing import Any, Literal

from cryptography.hazmat.primitives import serialization

from workbench.engine.salt_master.place import SaltPlace
from workbench.engine.ssh.pool import NodeLike
from workbench.errors import NodeError
from workbench.state import StateDir

KeyState = Literal["accepted", "pending", "rejected", "denied"]
DIRS: dict[KeyState, str] = {
    "accepted": "minions", "pending": "minions_pre", "rejected": "minions_rejected",
    "denied": "minions_denied",
}
ACCEPTED_FILE = "salt-master-keys.json"  # node -> {instance_id, fingerprint}
_MARK = "=== workbench-key "


def fingerprint(pem: str) -> str:
    """SHA-256 of the DER public key, as colon-separated hex; ValueError if not a key."""
    key = serialization.load_pem_public_key(pem.strip().encode())
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    digest = hashlib.sha256(der).hexdigest()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def short(finger: str) -> str:
    return finger[:23]


@dataclass(frozen=True)
class MasterKey:
    minion: str
    state: KeyState
    fingerprint: str  # "" when the file is not a public key


def list_keys_command(place: SaltPlace) -> str:
    pki = shlex.quote(place.pki_dir("salt-master"))
    dirs = " ".join(DIRS.values())
    return place.as_root(
        f"cd {pki} || exit 3; for d in {dirs}; do for f in \"$d\"/*; do "
        f"[ -f \"$f\" ] || continue; printf '{_MARK}%s\\n' \"$f\"; cat \"$f\"; echo; done; done"
    )


def parse_key_listing(text: str) -> list[MasterKey]:
    """``list_keys_command``'s output: one ``=== workbench-key DIR/ID`` line, then the PEM."""
    states = {d: s for s, d in DIRS.items()}
    found: list[MasterKey] = []
    current: tuple[str, KeyState] | None = None
    body: list[str] = []

    def flush() -> None:
        if current is not None:
            try:
                finger = fingerprint("\n".join(body))
            except ValueError:
                finger = ""
            found.append(MasterKey(current[0], current[1], finger))

    for line in text.splitlines():
        if line.startswith(_MARK):
            flush()
            folder, _, minion = line[len(_MARK):].partition("/")
            current = (minion, states[folder]) if folder in states and minion else None
            body = []
        else:
            body.append(line)
    flush()
    return found


async def master_keys(pool: Any, master: NodeLike, place: SaltPlace) -> list[MasterKey]:
    result = await pool.run(master, list_keys_command(place), timeout=300)
    if result.exit_status == 3:
        raise NodeError(master.name, f"no salt-master pki dir {place.pki_dir('salt-master')} (is salt-master installed?)")
    if not result.ok:
        raise NodeError(master.name, f"cannot list the master's minion keys: {result.stderr.strip()[:200]}")
    return parse_key_listing(result.stdout)


async def minion_key(pool: Any, node: NodeLike, place: SaltPlace) -> str:
    """The minion's own public key (PEM), read on the node (the minion makes it at first start)."""
    path = f"{place.pki_dir('salt-minion')}/minion.pub"
    result = await pool.run(node, place.as_root(f"cat {shlex.quote(path)}"), timeout=60)
    if not result.ok or "BEGIN PUBLIC KEY" not in result.stdout:
        raise NodeError(node.name, f"salt-minion has no key at {path} yet (has it started once?)")
    return str(result.stdout)


@dataclass(frozen=True)
class KeyOutcome:
    node: str
    fingerprint: str  # the minion's own key, now accepted
    action: Literal["kept", "accepted", "replaced"]
    others: tuple[MasterKey, ...] = ()  # keys under this id that are not the minion's
    instance_changed: bool = False

    @property
    def forged(self) -> tuple[MasterKey, ...]:
        """Keys presented under this id that were never the node's (pending, denied)."""
        return tuple(k for k in self.others if k.state in ("pending", "denied", "rejected"))


def accept_command(place: SaltPlace, minion: str, drop_denied: bool) -> str:
    """Write the key on stdin as ``minion``'s accepted key; drop its pending and rejected
    ones (and its denied one when that was the verified key itself)."""
    pki = shlex.quote(place.pki_dir("salt-master"))
    name = shlex.quote(minion)
    denied = f"rm -f minions_denied/{name}; " if drop_denied else ""
    return place.as_root(
        f"set -e; cd {pki}; mkdir -p minions; t=$(mktemp minions/.{name}.XXXXXX); cat > \"$t\"; "
        f"chmod 0644 \"$t\"; mv -f \"$t\" minions/{name}; rm -f minions_pre/{name} minions_rejected/{name}; "
        f"{denied}echo accepted"
    )


async def accept_verified(
    pool: Any, master: NodeLike, master_place: SaltPlace, node: NodeLike, node_place: SaltPlace,
    state: StateDir, known: list[MasterKey] | None = None, pem: str | None = None,
) -> KeyOutcome:
    """Accept exactly the key ``node``'s own minion holds (``pem``: read from it already);
    report any other under its id."""
    pem = pem if pem is not None else await minion_key(pool, node, node_place)
    finger = fingerprint(pem)
    keys = known if known is not None else await master_keys(pool, master, master_place)
    mine = [k for k in keys if k.minion == node.name]
    others = tuple(k for k in mine if k.fingerprint != finger)
    accepted = [k for k in mine if k.state == "accepted"]
    record = state.read_json(ACCEPTED_FILE, {})
    before = record.get(node.name, {}) if isinstance(record, dict) else {}
    changed_instance = bool(before) and before.get("instance_id") != node.id
    kept = bool(accepted) and accepted[0].fingerprint == finger
    action: Literal["kept", "accepted", "replaced"] = "kept" if kept else ("replaced" if accepted else "accepted")
    if not kept or [k for k in others if k.state != "denied"]:  # write it; drop pending and rejected
        drop_denied = any(k.state == "denied" and k.fingerprint == finger for k in mine)
        done = await pool.run(master, accept_command(master_place, node.name, drop_denied), input=pem, timeout=300)
        if not done.ok or "accepted" not in done.stdout:
            raise NodeError(master.name, f"could not accept {node.name}'s key: {done.stderr.strip()[:200]}")
    record = state.read_json(ACCEPTED_FILE, {})  # again: other nodes' accepts ran meanwhile
    record = record if isinstance(record, dict) else {}
    record[node.name] = {"instance_id": node.id, "fingerprint": finger}
    state.write_json(ACCEPTED_FILE, record)
    return KeyOutcome(node.name, finger, action, others, changed_instance)
