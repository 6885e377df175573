"""Kubelet tokens: the master's ``known_tokens.csv`` against each minion's kubeconfig.

The seed's "the master asked for credentials": provisioning minted a new token on the
master, and the minions kept the old one. Check compares them (YAML parsed, not
grepped): the kubeconfig's user is matched to its own csv row by user name/uid (current
layouts hold admin, kube-proxy, controller-manager... in any order), never to another
row. The fix writes that row's token into the minion's kubeconfig atomically, restarts
the kubelet and waits until the API server sees the node Ready. No row, or a privileged
one (``system:masters``, admin): the alert says so and offers no write. The API server reads
the csv only at start, so when it does not accept the row's token (a csv rewritten under
it) the fix restarts it first (``tokens_auth``); Ready means a heartbeat newer than the fix.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from workbench.engine.kube.token_files import (
    KnownTokensError,
    KubeconfigError,
    TokenRow,
    known_token_rows,
    kubeconfig_token,
    kubeconfig_user_name,
    master_token_from_csv,
    row_for_user,
    with_token,
)
from workbench.engine.ssh.pool import NodeLike, SSHPool
from workbench.errors import NodeError, WorkbenchError
from workbench.models.alerts import Alert, Fix
from workbench.profile import Profile
from workbench.redact import REDACTOR, mask

API_PORT = 8080
CREDENTIALS = "the server has asked for the client to provide credentials"


@dataclass(frozen=True)
class TokenCheck:
    node: str
    ok: bool
    master: str  # masked
    minion: str  # masked, or "(none)"
    error: str | None = None
    missing: bool = False  # no kubeconfig at all: Salt has not provisioned the minion yet
    unmatched: str | None = None  # why no csv row may be written here (none fits, or privileged)


def _detail(exc: KubeconfigError) -> str:
    """The message without its ``kubeconfig: `` prefix, for one that names the file."""
    return str(exc).removeprefix("kubeconfig: ")


async def _read(pool: SSHPool, node: NodeLike, path: str) -> str:
    result = await pool.run(node, f"sudo cat {shlex.quote(path)}")
    if not result.ok:
        why = (result.stderr.strip().splitlines() or [f"exit {result.exit_status}"])[-1]
        raise NodeError(node.name, f"cannot read {path}: {why}")
    return result.stdout


async def read_token_rows(pool: SSHPool, profile: Profile, master: NodeLike) -> list[TokenRow]:
    """The master's known_tokens.csv rows, every token registered with the redactor."""
    try:
        rows = known_token_rows(await _read(pool, master, profile.paths.known_tokens))
    except KnownTokensError as exc:
        raise NodeError(master.name, f"{profile.paths.known_tokens}: {str(exc).removeprefix('known_tokens.csv: ')}") from None
    for row in rows:
        REDACTOR.add(row.token)
    if not rows:
        raise NodeError(master.name, f"{profile.paths.known_tokens} holds no token")
    return rows


def minion_row(rows: list[TokenRow], kubeconfig: str, node: str, path: str) -> tuple[TokenRow | None, str | None]:
    """The csv row this kubeconfig's user may hold, or None and why none may be written."""
    try:
        user = kubeconfig_user_name(kubeconfig)
    except KubeconfigError as exc:
        raise NodeError(node, f"{path}: {_detail(exc)}") from None
    row = row_for_user(rows, user, node)
    listed = ", ".join(r.describe() for r in rows)
    if row is None:
        who = f"user {user!r}" if user else "no named user"
        return None, f"known_tokens.csv has no row for the kubeconfig's {who} (rows: {listed})"
    if row.privileged:
        return None, (f"the kubeconfig's user {user!r} is {row.describe()} in known_tokens.csv, a privileged "
                      "credential; workbench never writes it into a node's kubeconfig")
    return row, None


async def read_master_token(pool: SSHPool, profile: Profile, master: NodeLike) -> str:
    """A token to read the API server with (never written to a node)."""
    try:
        token = master_token_from_csv(await _read(pool, master, profile.paths.known_tokens))
    except KnownTokensError as exc:
        raise NodeError(master.name, f"{profile.paths.known_tokens}: {str(exc).removeprefix('known_tokens.csv: ')}") from None
    if not token:
        raise NodeError(master.name, f"{profile.paths.known_tokens} holds no token")
    REDACTOR.add(token)
    return token


def read_token_text(text: str, node: str, path: str) -> str | None:
    """The kubeconfig's token (registered with the redactor); NodeError naming the file."""
    try:
        token = kubeconfig_token(text)
    except KubeconfigError as exc:
        raise NodeError(node, f"{path}: {_detail(exc)}") from None
    REDACTOR.add(token)
    return token


async def read_minion_token(pool: SSHPool, profile: Profile, minion: NodeLike) -> str | None:
    path = profile.paths.kubelet_kubeconfig
    return read_token_text(await _read(pool, minion, path), minion.name, path)


async def check_tokens(
    pool: SSHPool, profile: Profile, master: NodeLike, minions: Sequence[NodeLike]
) -> list[TokenCheck]:
    """Compare every minion's kubelet token with its own csv row's, in parallel."""
    rows = await read_token_rows(pool, profile, master)
    path = profile.paths.kubelet_kubeconfig

    async def one(minion: NodeLike) -> TokenCheck:
        try:
            text = await _read(pool, minion, path)
            got = read_token_text(text, minion.name, path)
            row, why = minion_row(rows, text, minion.name, path)
        except WorkbenchError as exc:
            missing = await _missing(pool, minion, path)
            return TokenCheck(minion.name, False, "(unknown)", "(none)" if missing else "(unreadable)",
                              str(exc), missing=missing)
        shown = mask(got) if got else "(none)"
        if row is None:
            return TokenCheck(minion.name, False, "(no row)", shown, unmatched=why)
        return TokenCheck(minion.name, got == row.token, mask(row.token), shown)

    return list(await asyncio.gather(*(one(m) for m in minions)))


async def _missing(pool: SSHPool, node: NodeLike, path: str) -> bool:
    """True when ``path`` does not exist on the node (not merely unreadable)."""
    try:
        result = await pool.run(node, f"sudo test -e {shlex.quote(path)}")
    except WorkbenchError:
        return False
    return result.exit_status == 1


Provision = Callable[[NodeLike], Awaitable[str]]


def unprovisioned_alert(profile: Profile, check: TokenCheck, minion: NodeLike,
                        provision: Provision | None) -> Alert:
    """A minion with no kubelet kubeconfig: new or recreated, Salt has not run there yet.
    Writing a token into a file that is not there fixes nothing; a Salt run does."""
    fixes: tuple[Fix, ...] = ()
    if provision is not None:
        async def fix() -> str:
            return await provision(minion)

        fixes = (Fix("provision", f"push the build to {check.node}, then run Salt there "
                     "(highstate, with the cluster's token)", fix, destructive=False),)
    return Alert(
        kind="node-unprovisioned", severity="warning", subject=check.node,
        message=(f"{check.node} has no kubelet kubeconfig ({profile.paths.kubelet_kubeconfig}): "
                 "Salt has not provisioned it yet (a new or recreated instance)"),
        command=f"workbench push && workbench salt --nodes {check.node}",
        details=check.error or "", fixes=fixes,
    )


async def token_alerts(
    pool: SSHPool, profile: Profile, master: NodeLike, minions: Sequence[NodeLike],
    *, provision: Provision | None = None, adopt: Callable[[str], Awaitable[None]] | None = None,
) -> list[Alert]:
    """A ``token-mismatch`` alert per minion whose kubelet token is not the master's; a
    ``node-unprovisioned`` one (fixed by ``provision``, a Salt run) where it has none."""
    from workbench.engine.provision.cluster import tree_layout

    if profile.kube.root is not None and tree_layout(profile.kube.root) == "current":
        return []  # the workbench's own tree: a certificate per component, no shared token

    alerts = []
    for check in await check_tokens(pool, profile, master, minions):
        if check.ok:
            continue
        minion = next(m for m in minions if m.name == check.node)
        if check.missing:
            alerts.append(unprovisioned_alert(profile, check, minion, provision))
            continue
        if check.unmatched:
            alerts.append(Alert(
                kind="token-mismatch", severity="error", subject=check.node,
                message=f"{check.node}: {check.unmatched}; no token is written (fix the csv or the kubeconfig's user by hand)",
                command=f"workbench ssh {master.name} -- sudo cat {profile.paths.known_tokens}",
                details=check.error or "", fixes=(),
            ))
            continue

        async def fix(minion: NodeLike = minion) -> str:
            return await fix_token(pool, profile, master, minion, adopt=adopt)

        alerts.append(Alert(
            kind="token-mismatch", severity="error", subject=check.node,
            message=(
                f"{check.node}: kubelet token {check.minion} is not the master's {check.master} "
                "(its row in known_tokens.csv); "
                "the kubelet cannot register (\"the master asked for credentials\")"
            ),
            command=f"workbench ssh {check.node} -- sudo cat {profile.paths.kubelet_kubeconfig}",
            details=check.error or "",
            fixes=(Fix(
                "write-token",
                f"write the kubelet's token from known_tokens.csv into {check.node}:{profile.paths.kubelet_kubeconfig} "
                "and restart the kubelet", fix, destructive=False,
            ),),
        ))
    return alerts


async def fix_token(
    pool: SSHPool, profile: Profile, master: NodeLike, minion: NodeLike, *, deadline: float = 60.0,
    adopt: Callable[[str], Awaitable[None]] | None = None,
) -> str:
    """Write the kubeconfig user's own csv token into it, restart the kubelet, wait Ready.
    Refused (NodeError) when no row fits or the row is privileged. ``adopt`` gets the
    kubelet row's token once the node is Ready: the workbench keeps it as the cluster's
    (its own API client and every later provisioning use it, so neither the workbench
    nor the next Salt run brings the mismatch back)."""
    rows = await read_token_rows(pool, profile, master)
    path = profile.paths.kubelet_kubeconfig
    current = await _read(pool, minion, path)
    row, why = minion_row(rows, current, minion.name, path)
    if row is None:
        raise NodeError(minion.name, f"{why}; nothing written")
    token = row.token
    try:
        text = with_token(current, token)
    except KubeconfigError as exc:
        raise NodeError(minion.name, f"{path}: {_detail(exc)}") from None
    quoted, tmp = shlex.quote(path), shlex.quote(f"{path}.workbench-tmp")
    await pool.run(
        minion, f"sudo sh -c 'umask 077 && cat > {tmp} && mv -f {tmp} {quoted}'",
        input=text, check=True,
    )
    reloaded = await _load_token(pool, master, token, deadline=deadline)
    before = (await _node_state(pool, master, token, minion.name))[1]
    await pool.run(minion, "sudo systemctl restart kubelet", check=True, source="kubelet")
    if not await wait_ready(pool, master, token, minion.name, deadline=deadline, newer_than=before):
        tail = await kubelet_journal(pool, minion, lines=3)
        raise NodeError(minion.name, f"token written, but the node is not Ready after {deadline:g}s: {tail[-1:] or ''}")
    if adopt is not None and row.user == "kubelet":
        await adopt(token)
    extra = " (kube-apiserver restarted: it had not loaded known_tokens.csv)" if reloaded else ""
    return f"{minion.name}: kubelet token replaced, kubelet restarted, node Ready{extra}"


async def _load_token(pool: SSHPool, master: NodeLike, token: str, *, deadline: float) -> bool:
    """Make the running API server accept ``token``: restart it when it answers 401 (it read
    known_tokens.csv before the row changed). True when it was restarted."""
    from workbench.engine.kube.tokens_auth import token_status

    if await token_status(pool, master, token) not in (0, 401):
        return False
    await pool.run(master, "sudo systemctl restart kube-apiserver", check=True, source="kube-apiserver")
    end = time.monotonic() + deadline
    while (status := await token_status(pool, master, token)) in (0, 401):
        if time.monotonic() > end:
            why = "still refuses" if status == 401 else "does not answer"
            raise NodeError(master.name, f"kube-apiserver restarted but {why} the kubelet's token from known_tokens.csv")
        await asyncio.sleep(0.2)
    return True


async def kubelet_journal(pool: SSHPool, node: NodeLike, *, lines: int = 20) -> list[str]:
    result = await pool.run(node, f"sudo journalctl -u kubelet -n {lines} --no-pager")
    return result.stdout.strip().splitlines()


async def api_get(pool: SSHPool, master: NodeLike, token: str, path: str) -> Any:
    """GET from the master's API server through the SSH connection (no port on the workstation)."""
    conn = await pool.connect(master)
    last: Exception | None = None
    for host in (master.fixed_ip, "127.0.0.1"):
        if not host:
            continue
        try:
            reader, writer = await asyncio.wait_for(conn.open_connection(host, API_PORT), 5)
        except Exception as exc:  # asyncssh.ChannelOpenError, timeouts: try the next host
            last = exc
            continue
        request = (f"GET {path} HTTP/1.0\r\nHost: {host}:{API_PORT}\r\n"
                   f"Authorization: Bearer {token}\r\nAccept: application/json\r\n\r\n")
        writer.write(request.encode())
        raw = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        head, _, body = raw.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
        if status != 200:
            raise NodeError(master.name, f"API server answered {status} for {path}")
        try:
            return json.loads(body)
        except ValueError:
            raise NodeError(master.name, f"API server answered {path} with something that is not JSON") from None
    raise NodeError(master.name, f"API server not reachable on port {API_PORT}: {last}")


def ready_nodes(doc: Any) -> dict[str, bool]:
    """{node name: Ready} from a NodeList."""
    out: dict[str, bool] = {}
    items = doc.get("items") if isinstance(doc, dict) else None
    for item in items if isinstance(items, list) else []:
        meta, status = (item.get(k) if isinstance(item, dict) else None for k in ("metadata", "status"))
        name = meta.get("name") if isinstance(meta, dict) else None
        conditions = status.get("conditions") if isinstance(status, dict) else None
        if isinstance(name, str):
            out[name] = any(isinstance(c, dict) and c.get("type") == "Ready" and c.get("status") == "True"
                            for c in (conditions if isinstance(conditions, list) else []))
    return out


def node_heartbeat(doc: Any, name: str) -> str:
    """The Ready condition's lastHeartbeatTime of node ``name`` in a NodeList ("" if none)."""
    for item in doc.get("items", []) if isinstance(doc, dict) and isinstance(doc.get("items"), list) else []:
        if isinstance(item, dict) and (item.get("metadata") or {}).get("name") == name:
            for cond in (item.get("status") or {}).get("conditions") or []:
                if isinstance(cond, dict) and cond.get("type") == "Ready":
                    return str(cond.get("lastHeartbeatTime") or "")
    return ""


async def _node_state(pool: SSHPool, master: NodeLike, token: str, name: str) -> tuple[bool, str]:
    """(Ready, last heartbeat) of node ``name``; (False, "") when the API cannot say."""
    try:
        doc = await api_get(pool, master, token, "/api/v1/nodes")
    except NodeError:
        return False, ""
    return ready_nodes(doc).get(name, False), node_heartbeat(doc, name)


async def wait_ready(
    pool: SSHPool, master: NodeLike, token: str, name: str, *, deadline: float = 60.0,
    newer_than: str | None = None,
) -> bool:
    """Poll the API server until ``name`` is Ready; with ``newer_than``, with a heartbeat
    other than that one (a status the kubelet posted since, not one left from before)."""
    end = time.monotonic() + deadline
    delay = 0.05
    while time.monotonic() < end:
        ready, beat = await _node_state(pool, master, token, name)
        if ready and (newer_than is None or beat != newer_than):
            return True
        await asyncio.sleep(delay)
        delay = min(delay * 2, 1.0)
    return False
