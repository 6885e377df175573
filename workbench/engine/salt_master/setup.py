"""Bring master mode up, idempotently: salt-master configured on the master, salt-minion on
every node, each minion's own key (read over SSH) accepted, the rest reported as alerts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from workbench.engine.salt_master.config import (
    Configured,
    MasterSettings,
    configure,
    master_config,
    minion_config,
)
from workbench.engine.salt_master.keys import (
    KeyOutcome,
    accept_verified,
    master_keys,
    minion_key,
    short,
)
from workbench.engine.salt_master.place import SaltPlace
from workbench.engine.ssh.pool import NodeLike
from workbench.errors import NodeError, WorkbenchError
from workbench.events import Bus, LogLine
from workbench.models.alerts import Alert, Fix
from workbench.state import StateDir

ACCEPT_AT_ONCE = 8  # key writes on the master at a time (each is a sudo shell there)


@dataclass(frozen=True)
class MasterSetup:
    configured: tuple[Configured, ...]
    keys: tuple[KeyOutcome, ...]
    alerts: tuple[Alert, ...]
    errors: tuple[str, ...]  # one line per node that could not be set up

    @property
    def ok(self) -> bool:
        return not self.errors


async def set_up(
    pool: Any, master: NodeLike, minions: Sequence[NodeLike], settings: MasterSettings,
    state: StateDir, *, place: Callable[[NodeLike], SaltPlace] = lambda _n: SaltPlace(),
    bus: Bus | None = None, install: bool = True, key_wait: float = 60.0,
) -> MasterSetup:
    """Configure and start the master, then every minion (in parallel); accept verified keys.
    A node that fails is one line in ``errors``; the others go on."""
    mplace = place(master)
    configured = [await configure(pool, master, mplace, "salt-master", master_config(settings, mplace), install=install)]

    async def minion(node: NodeLike) -> tuple[Configured, str] | str:
        nplace = place(node)
        try:
            done = await configure(pool, node, nplace, "salt-minion", minion_config(settings, nplace, node.name), install=install)
            return done, await _wait_for_key(pool, node, nplace, key_wait)
        except (WorkbenchError, OSError) as exc:
            return str(exc) if isinstance(exc, NodeError) else f"{node.name}: {exc}"

    results = await asyncio.gather(*(minion(n) for n in minions))
    listed = await master_keys(pool, master, mplace)  # once, not once a minion
    gate = asyncio.Semaphore(ACCEPT_AT_ONCE)

    async def accept(node: NodeLike, pem: str) -> KeyOutcome | str:
        async with gate:
            try:
                return await accept_verified(pool, master, mplace, node, place(node), state, known=listed, pem=pem)
            except (WorkbenchError, OSError, ValueError) as exc:
                return str(exc) if isinstance(exc, NodeError) else f"{node.name}: {exc}"

    errors = [r for r in results if isinstance(r, str)]
    ready = [(n, r) for n, r in zip(minions, results, strict=True) if not isinstance(r, str)]
    configured += [done for _, (done, _) in ready]
    accepted = await asyncio.gather(*(accept(n, pem) for n, (_, pem) in ready))
    keys = [k for k in accepted if not isinstance(k, str)]
    errors += [k for k in accepted if isinstance(k, str)]
    for outcome in keys:
        if bus is not None:
            what = {"kept": "already accepted", "accepted": "accepted", "replaced": "replaced the old key with"}[outcome.action]
            bus.publish(LogLine("salt", outcome.node, f"salt-key: {what} the minion's own key {short(outcome.fingerprint)}", "info"))
    alerts = tuple(key_mismatch_alert(pool, master, mplace, by, place(by), state)
                   for by, outcome in _nodes_with(minions, keys) if outcome.forged)
    return MasterSetup(tuple(configured), tuple(keys), alerts, tuple(errors))


def _nodes_with(minions: Sequence[NodeLike], keys: Sequence[KeyOutcome]) -> list[tuple[NodeLike, KeyOutcome]]:
    by_name = {n.name: n for n in minions}
    return [(by_name[k.node], k) for k in keys]


async def _wait_for_key(pool: Any, node: NodeLike, place: SaltPlace, within: float) -> str:
    """A minion writes its key pair at its first start: poll until it is there; its PEM."""
    deadline = time.monotonic() + within
    while True:
        try:
            return await minion_key(pool, node, place)
        except NodeError:
            if time.monotonic() >= deadline:
                raise
        await asyncio.sleep(0.2)


def key_mismatch_alert(
    pool: Any, master: NodeLike, mplace: SaltPlace, node: NodeLike, nplace: SaltPlace, state: StateDir,
) -> Alert:
    """A key under ``node``'s id that its own minion does not hold: someone else's."""

    async def fix() -> str:
        keys = await master_keys(pool, master, mplace)
        outcome = await accept_verified(pool, master, mplace, node, nplace, state, known=keys)
        return (f"{node.name}: accepted only the minion's own key {short(outcome.fingerprint)}; "
                f"{len(outcome.forged)} other key(s) refused")

    return Alert(
        kind="salt-key-mismatch", severity="critical", subject=node.name,
        message=(f"{node.name}: the salt-master holds a key for this id that the node's own "
                 "minion does not have: another process is using its id"),
        command=f"workbench ssh {master.name} -- {mplace.salt('salt-key', '-f', node.name)}",
        details="only the key read from the node itself over SSH is accepted; Salt denies the other",
        fixes=(Fix("accept-verified", f"accept only {node.name}'s own key, drop the others", fix, destructive=False),),
    )


async def ensure(
    pool: Any, master: NodeLike, nodes: Sequence[NodeLike], settings: MasterSettings, state: StateDir,
    *, place: Callable[[NodeLike], SaltPlace] = lambda _n: SaltPlace(), bus: Bus | None = None,
) -> MasterSetup:
    """Set up only what is missing: when every node's key is already accepted (read over the
    master's one connection), nothing else is touched; otherwise ``set_up`` those nodes."""
    try:
        keys = await master_keys(pool, master, place(master))
        active = await pool.run(master, place(master).is_active("salt-master"), timeout=30)
    except (WorkbenchError, OSError):
        keys, active = [], None
    accepted = {k.minion for k in keys if k.state == "accepted"}
    missing = [n for n in nodes if n.name not in accepted]
    if active is not None and active.ok and not missing:
        return MasterSetup((), (), (), ())
    return await set_up(pool, master, missing, settings, state, place=place, bus=bus)
