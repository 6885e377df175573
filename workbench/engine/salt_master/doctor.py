"""The doctor in master mode: the master down, a minion's key pending, rejected or not the
minion's own, a minion not connected. Each alert names the command a person would run
(``salt-key -L``, ``salt-run manage.status``) and carries a fix."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from workbench.engine.salt_master.keys import (
    MasterKey,
    accept_verified,
    fingerprint,
    master_keys,
    minion_key,
    short,
)
from workbench.engine.salt_master.place import SaltPlace
from workbench.engine.salt_master.setup import key_mismatch_alert
from workbench.engine.ssh.pool import NodeLike
from workbench.errors import WorkbenchError
from workbench.models.alerts import Alert, Fix
from workbench.state import StateDir

if TYPE_CHECKING:
    from workbench.engine.salt_master.jobs import MasterSaltRunner

RECONNECT_S = 90.0  # a restarted minion authenticates again before it answers
KINDS = ("salt-master-down", "salt-key-pending", "salt-key-rejected",
         "salt-key-mismatch", "salt-minion-not-connected")


async def master_mode_checks(
    pool: Any, master: NodeLike, minions: Sequence[NodeLike], state: StateDir, *,
    place: Callable[[NodeLike], SaltPlace] = lambda _n: SaltPlace(), ping_timeout: float = 5.0,
) -> list[Alert]:
    mplace = place(master)
    active = await pool.run(master, mplace.is_active("salt-master"), timeout=30)
    if not active.ok:
        return [master_down_alert(pool, master, mplace)]
    keys = await master_keys(pool, master, mplace)
    own = await asyncio.gather(*(_own_key(pool, n, place(n)) for n in minions))
    alerts: list[Alert] = []
    for node, finger in zip(minions, own, strict=True):
        alerts += _key_alerts(pool, master, mplace, node, place(node), state, keys, finger)
    keyed = {n.name for n in minions if any(k.minion == n.name and k.state == "accepted" for k in keys)}
    if keyed:
        status = await _manage_status(pool, master, mplace, ping_timeout)
        for node in minions:
            if node.name in keyed and node.name not in status:
                alerts.append(not_connected_alert(pool, master, mplace, node, place(node)))
    return alerts


async def _own_key(pool: Any, node: NodeLike, place: SaltPlace) -> str | None:
    try:
        return fingerprint(await minion_key(pool, node, place))
    except (WorkbenchError, ValueError, OSError):
        return None


def _key_alerts(
    pool: Any, master: NodeLike, mplace: SaltPlace, node: NodeLike, nplace: SaltPlace,
    state: StateDir, keys: list[MasterKey], own: str | None,
) -> list[Alert]:
    mine = [k for k in keys if k.minion == node.name]
    listing = mplace.salt("salt-key", "-L")
    if own is not None and any(k.fingerprint != own and k.state != "accepted" for k in mine):
        return [key_mismatch_alert(pool, master, mplace, node, nplace, state)]
    accepted = [k for k in mine if k.state == "accepted"]
    if own is not None and accepted and accepted[0].fingerprint != own:
        return [_accept_alert(pool, master, mplace, node, nplace, state, "salt-key-mismatch", "error",
                              f"{node.name}: the master accepted key {short(accepted[0].fingerprint)}, but the "
                              f"node's minion holds {short(own)} (a replaced instance?)", listing)]
    if any(k.state == "rejected" for k in mine):
        return [_accept_alert(pool, master, mplace, node, nplace, state, "salt-key-rejected", "error",
                              f"{node.name}: its minion key is rejected on the master", listing)]
    if any(k.state == "pending" for k in mine):
        return [_accept_alert(pool, master, mplace, node, nplace, state, "salt-key-pending", "warning",
                              f"{node.name}: its minion key waits on the master, unaccepted", listing)]
    return []


def _accept_alert(
    pool: Any, master: NodeLike, mplace: SaltPlace, node: NodeLike, nplace: SaltPlace,
    state: StateDir, kind: str, severity: Any, message: str, command: str,
) -> Alert:
    async def fix() -> str:
        outcome = await accept_verified(pool, master, mplace, node, nplace, state)
        return f"{node.name}: {outcome.action} the minion's own key {short(outcome.fingerprint)}"

    return Alert(kind, severity, node.name, message, command=f"workbench ssh {master.name} -- {command}",
                 fixes=(Fix("accept-verified", f"read {node.name}'s key on the node and accept exactly that one",
                            fix, destructive=False),))


async def _manage_status(pool: Any, master: NodeLike, mplace: SaltPlace, timeout: float) -> set[str]:
    wait = f"{max(1, round(timeout))}"
    result = await pool.run(master, mplace.salt("salt-run", "manage.status", f"timeout={wait}",
                                                f"gather_job_timeout={wait}", "--out=json"), timeout=timeout * 3 + 60)
    start = result.stdout.find("{")
    try:
        doc = json.JSONDecoder().raw_decode(result.stdout[start:])[0] if start >= 0 else {}
    except ValueError:
        return set()
    up = doc.get("up", []) if isinstance(doc, dict) else []
    return {str(name) for name in up} if isinstance(up, list) else set()


def master_down_alert(pool: Any, master: NodeLike, mplace: SaltPlace) -> Alert:
    async def fix() -> str:
        done = await pool.run(master, mplace.restart("salt-master"), timeout=120)
        return f"{master.name}: salt-master {'restarted' if done.ok else 'did not restart: ' + done.stderr.strip()[:120]}"

    return Alert(
        "salt-master-down", "critical", master.name, f"{master.name}: salt-master is not running",
        command=f"workbench ssh {master.name} -- {mplace.is_active('salt-master')}",
        details=f"why it stopped: workbench ssh {master.name} -- {mplace.journal('salt-master')}",
        fixes=(Fix("restart", f"restart salt-master on {master.name}", fix, destructive=False),),
    )


def not_connected_alert(pool: Any, master: NodeLike, mplace: SaltPlace, node: NodeLike, nplace: SaltPlace) -> Alert:
    async def fix() -> str:
        done = await pool.run(node, nplace.restart("salt-minion"), timeout=120)
        return f"{node.name}: salt-minion {'restarted' if done.ok else 'did not restart: ' + done.stderr.strip()[:120]}"

    return Alert(
        "salt-minion-not-connected", "error", node.name,
        f"{node.name}: its key is accepted but its minion does not answer the master",
        command=f"workbench ssh {master.name} -- {mplace.salt('salt-run', 'manage.status')}",
        details=f"on the node: workbench ssh {node.name} -- {nplace.journal('salt-minion')}",
        fixes=(Fix("restart", f"restart salt-minion on {node.name}", fix, destructive=False),),
    )


def minion_down_alert(runner: MasterSaltRunner, node: NodeLike, state_name: str | None) -> Alert:
    """The minion did not answer or return: restart it over SSH, wait for it, run again."""
    place = runner.place(node)

    async def fix() -> str:
        await runner.pool.run(node, place.restart("salt-minion"), check=True, source="salt", timeout=120)
        wait = max(runner.race_wait, RECONNECT_S)
        if not await runner.wait_connected([node], wait):
            return f"restarted salt-minion on {node.name}, but it did not connect to the master within {wait:g}s"
        run = (await runner.run([node], state_name=state_name)).runs[0]
        return f"restarted salt-minion on {node.name}; state run {'ok' if run.ok else 'failed: ' + str(run.error)}"

    return Alert(
        kind="salt-minion-down", severity="error", subject=node.name,
        message=f"{node.name}: salt-minion did not answer the master (not connected or no return)",
        command=f"workbench ssh {node.name} -- {place.restart('salt-minion')}",
        details=f"on the master: {runner.place(runner.master).salt('salt-run', 'manage.status')}",
        fixes=(Fix("restart", f"restart salt-minion on {node.name} and rerun the state", fix, destructive=False),),
    )
