"""The doctor's node checks: host keys, slow SSH, pushed files a reboot may have lost
(doctor.push), Salt's master mode (salt_master.doctor), minions Salt has not provisioned,
kubelet tokens (kube-up's tree), Ready nodes.

Masterless Salt (``salt-call --local``) needs no salt-minion daemon (Salt's packages leave
it disabled), so only an enabled minion (master mode, the seed's) that is not active is
``salt-minion-down``.

Every node is looked at in parallel; a node that cannot be reached is one alert, never
the end of the others' checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
from collections.abc import Awaitable, Callable

from workbench.engine.doctor.push import unconfirmed_alerts
from workbench.engine.kube.tokens import (
    TokenCheck,
    api_get,
    kubelet_journal,
    read_master_token,
    ready_nodes,
    token_alerts,
    unprovisioned_alert,
)
from workbench.engine.parts import Parts
from workbench.engine.provision.cluster import own_tree
from workbench.engine.salt_master.doctor import KINDS as MASTER_MODE_KINDS
from workbench.engine.salt_master.doctor import master_mode_checks, minion_down_alert
from workbench.engine.salt_master.mode import cluster_mode
from workbench.engine.ssh.pool import ConnectTiming, NodeLike, SSHPool
from workbench.errors import HostKeyMismatch, NodeError, WorkbenchError
from workbench.models.alerts import Alert, Fix

SLOW_SSH_S = 1.0  # a login slower than this is worth an alert
KINDS = ("node-unreachable", "host-key-mismatch", "slow-ssh", "salt-minion-down",
         "token-mismatch", "node-unprovisioned", "node-not-ready", *MASTER_MODE_KINDS)


async def node_checks(ctx: Parts) -> list[Alert]:
    """All node-side alerts for the cluster's ACTIVE instances."""
    pool = ctx.ssh
    nodes = [i for i in await ctx.cloud.list_instances() if i.status == "ACTIVE"]
    pool.remember(nodes)
    return await _checks(ctx, pool, list(nodes))


async def _checks(ctx: Parts, pool: SSHPool, nodes: list[NodeLike]) -> list[Alert]:
    alerts: list[Alert] = []
    probes = await asyncio.gather(*(pool.probe(n) for n in nodes), return_exceptions=True)
    reachable: list[NodeLike] = []
    for node, probe in zip(nodes, probes, strict=True):
        if isinstance(probe, HostKeyMismatch):
            alerts.append(host_key_alert(pool, node, str(probe)))
        elif isinstance(probe, WorkbenchError):
            alerts.append(Alert("node-unreachable", "error", node.name, str(probe),
                                command=shlex.join(_ssh_hint(node))))
        elif isinstance(probe, BaseException):
            raise probe
        else:
            reachable.append(node)
            if probe.total_s > SLOW_SSH_S:
                alerts.append(await slow_ssh_alert(ctx, pool, node, probe))
    master_mode = cluster_mode(ctx.profile, nodes) == "master"
    alerts += await _salt_minions(ctx, pool, reachable, nodes if master_mode else None)
    alerts += await unconfirmed_alerts(ctx, pool, reachable)
    master = next((n for n in reachable if n.role == "master"), None)
    if master is not None and master_mode:
        try:
            alerts += await master_mode_checks(pool, master, reachable, ctx.state,
                                               ping_timeout=ctx.profile.salt.ping_timeout)
        except (WorkbenchError, OSError) as exc:  # the other node checks still count
            alerts.append(Alert("check-failed", "warning", "salt-master", f"the Salt master-mode checks failed: {exc}"))
    minions = [n for n in reachable if n.role == "minion"]
    if master is None or not minions or not await _provisioned(pool, master):
        return alerts
    if own_tree(ctx.profile):  # a certificate per kubelet: no token to compare, only its kubeconfig
        found = await _unprovisioned(ctx, pool, minions)
    else:
        async def adopt(token: str) -> None:  # the workbench's credential follows the master's csv
            ctx.state.ensure().adopt_cluster_token(token)
            # rewrites <state>/kubeconfig (token and CA) for the user's own kubectl; else the next refresh does
            with contextlib.suppress(WorkbenchError):
                await ctx.kube(master).refresh()  # type: ignore[arg-type]

        found = await token_alerts(pool, ctx.profile, master, minions, provision=provisioner(ctx, pool),
                                    adopt=adopt)
    alerts += found
    mismatched = {a.subject for a in found}
    alerts += await _not_ready(ctx, pool, master, [m for m in minions if m.name not in mismatched])
    return alerts


def provisioner(ctx: Parts, pool: SSHPool) -> Callable[[NodeLike], Awaitable[str]]:
    """Push the build to one node, then provision it and run Salt there (the push and salt
    stages' own steps, ``stages.push_nodes`` and ``stages.salt_nodes``): what a new or recreated minion lacks.
    A minion's Salt needs its master's (the CA, the API server): an unprovisioned master
    is provisioned first."""

    async def provision(node: NodeLike) -> str:
        master = next((n for n in pool.nodes.values() if n.role == "master"), None)
        if node.role != "master" and master is not None and not await _provisioned(pool, master):
            ctx.bus.log("fix", master.name, f"{node.name} needs a provisioned master: provisioning "
                        f"{master.name} first", "info")
            first = await provision_one(master)
            return f"{first}; {await provision_one(node)}"
        return await provision_one(node)

    async def provision_one(node: NodeLike) -> str:
        from workbench.engine.stages import push_nodes, salt_nodes
        from workbench.errors import PipelineFailed

        try:  # the push stage's and the salt stage's own steps, for this one node
            await push_nodes(ctx, "fix", [node], direct=True)  # type: ignore[list-item]
        except PipelineFailed as exc:
            raise NodeError(node.name, f"push failed (is there a build? press b): {exc.message}") from None
        nodes = list(pool.nodes.values())
        outcome = await salt_nodes(ctx, "fix", nodes, names=[node.name])  # type: ignore[arg-type]
        if outcome is None or outcome.report is None or not outcome.report.runs:
            why = outcome.unprovisioned.get(node.name, "nothing ran") if outcome is not None else "nothing ran"
            raise NodeError(node.name, f"build pushed, but provisioning failed: {why}")
        run = outcome.report.runs[0]
        if not run.ok:
            raise NodeError(node.name, f"build pushed, but Salt failed: {run.error}")
        return f"{node.name}: build pushed and provisioned by Salt ({run.succeeded} states ok)"

    return provision


def _ssh_hint(node: NodeLike) -> list[str]:
    return ["workbench", "ssh", node.name, "--", "true"]


# -- host keys ------------------------------------------------------------------------------

def host_key_alert(pool: SSHPool, node: NodeLike, message: str) -> Alert:
    problem = pool.mismatches.get(node.name)
    details = ""
    if problem is not None:
        details = (f"address {problem.address} presented {problem.presented}; instance "
                   f"{problem.instance_id} vouches for {', '.join(problem.expected) or 'nothing'}")
    return Alert(
        kind="host-key-mismatch", severity="critical", subject=node.name, message=message,
        command=f"openstack console log show {node.id} | grep -A5 'BEGIN SSH HOST KEY'",
        details=details,
    )


# -- slow ssh -------------------------------------------------------------------------------

def slow_cause(timing: ConnectTiming) -> str:
    """Where the time went, and what usually causes it there."""
    if timing.tcp_s > SLOW_SSH_S / 2:
        return f"TCP connect took {timing.tcp_s:.1f}s: the network or a security group, not sshd"
    if timing.kex_s >= timing.auth_s:
        return f"key exchange took {timing.kex_s:.1f}s: the server is starved for CPU or entropy"
    return (
        f"authentication took {timing.auth_s:.1f}s with GSSAPI off on our side: the server's "
        "reverse DNS lookup of the client (UseDNS) is the likely cause (a client with "
        "GSSAPIAuthentication yes stalls the same way)"
    )


async def slow_ssh_alert(ctx: Parts, pool: SSHPool, node: NodeLike, timing: ConnectTiming) -> Alert:
    path = ctx.profile.paths.sshd_config
    found = await pool.run(node, f"sudo grep -i '^[[:space:]]*usedns' {shlex.quote(path)}")
    setting = found.stdout.strip() or "UseDNS not set (the server's default applies)"

    async def fix() -> str:
        return await fix_slow_ssh(pool, node, path)

    return Alert(
        kind="slow-ssh", severity="warning", subject=node.name,
        message=(f"{node.name}: SSH login takes {timing.total_s:.1f}s "
                 f"(TCP {timing.tcp_s:.2f}s, kex {timing.kex_s:.2f}s, auth {timing.auth_s:.2f}s); "
                 + slow_cause(timing)),
        command=f"workbench ssh {node.name} -- sudo grep -i usedns {path}",
        details=f"{path}: {setting}",
        fixes=(Fix("use-dns-no", f"set 'UseDNS no' in {node.name}:{path} and restart sshd",
                   fix, destructive=False),),
    )


def use_dns_no_command(path: str) -> str:
    """Rewrite sshd_config with ``UseDNS no`` before any Match block, atomically."""
    f, tmp = shlex.quote(path), shlex.quote(path + ".workbench-tmp")
    awk = ("BEGIN{d=0} tolower($1)==\"usedns\"{next} "
           "!d && tolower($1)==\"match\"{print \"UseDNS no\"; d=1} {print} END{if(!d) print \"UseDNS no\"}")
    script = f"cp -p {f} {tmp} && awk {shlex.quote(awk)} {f} > {tmp} && mv -f {tmp} {f}"
    return f"sudo sh -c {shlex.quote(script)}"


async def fix_slow_ssh(pool: SSHPool, node: NodeLike, path: str) -> str:
    await pool.run(node, use_dns_no_command(path), check=True)
    await pool.run(node, "sudo systemctl restart sshd", check=True)
    timing = await pool.probe(node)
    if timing.total_s > SLOW_SSH_S:
        raise NodeError(node.name, f"UseDNS no set and sshd restarted, but login still takes {timing.total_s:.1f}s")
    return f"{node.name}: UseDNS no, sshd restarted; login now {timing.total_s:.2f}s"


# -- salt minion ----------------------------------------------------------------------------

async def _salt_minions(ctx: Parts, pool: SSHPool, nodes: list[NodeLike],
                        cluster: list[NodeLike] | None = None) -> list[Alert]:
    """salt-minion not running where Salt is installed; in master mode (``cluster``: all its
    nodes) the fix restarts it and reruns the state as a master job."""
    master_runner = None
    if cluster is not None:
        from workbench.engine.salt_master.jobs import MasterSaltRunner
        from workbench.engine.salt_master.runner import salt_runner

        made = salt_runner(ctx.profile, pool, ctx.state, ctx.bus, cluster, pipeline="doctor", mode="master")
        master_runner = made if isinstance(made, MasterSaltRunner) else None

    async def one(node: NodeLike) -> Alert | None:
        # only a minion meant to run (enabled: master mode, the seed's) is down when inactive
        result = await pool.run(
            node, "command -v salt-call >/dev/null 2>&1 || exit 0; "
                  "systemctl is-enabled --quiet salt-minion 2>/dev/null || exit 0; systemctl is-active salt-minion"
        )
        state = result.stdout.strip()
        if result.ok or not state:
            return None
        alert = (minion_down_alert(master_runner, node, None) if master_runner is not None
                 else salt_minion_down_alert(ctx, pool, node, state))
        return Alert(alert.kind, alert.severity, alert.subject,
                     f"{node.name}: salt-minion is {state}", alert.command, fixes=alert.fixes)

    found = await asyncio.gather(*(one(n) for n in nodes), return_exceptions=True)
    return [a for a in found if isinstance(a, Alert)]


def salt_minion_down_alert(ctx: Parts, pool: SSHPool, node: NodeLike, state: str) -> Alert:
    """An enabled salt-minion that is not running: restart it, then rerun Salt on that node."""

    async def fix() -> str:
        from workbench.engine.salt_master.runner import salt_runner

        await pool.run(node, "sudo systemctl restart salt-minion", check=True, source="salt")
        nodes = list(pool.nodes.values())
        runner = salt_runner(ctx.profile, pool, ctx.state.ensure(), ctx.bus, nodes, pipeline="fix")
        run = (await runner.run([node])).runs[0]
        return f"restarted salt-minion on {node.name}; state run {'ok' if run.ok else 'failed: ' + str(run.error)}"

    return Alert(
        kind="salt-minion-down", severity="error", subject=node.name,
        message=f"{node.name}: salt-minion is {state}",
        command=f"workbench ssh {node.name} -- sudo systemctl restart salt-minion",
        fixes=(Fix("restart", f"restart salt-minion on {node.name} and rerun the state", fix, destructive=False),),
    )


# -- provisioned minions (the workbench's own tree) -----------------------------------------

async def _unprovisioned(ctx: Parts, pool: SSHPool, minions: list[NodeLike]) -> list[Alert]:
    """A ``node-unprovisioned`` alert per minion with no kubelet kubeconfig (new or recreated)."""
    path = ctx.profile.paths.kubelet_kubeconfig

    async def one(minion: NodeLike) -> Alert | None:
        result = await pool.run(minion, f"sudo test -e {shlex.quote(path)}")
        if result.exit_status != 1:
            return None
        check = TokenCheck(minion.name, False, "(unknown)", "(none)", missing=True)
        return unprovisioned_alert(ctx.profile, check, minion, provisioner(ctx, pool))

    return [a for a in await asyncio.gather(*(one(m) for m in minions)) if a is not None]


# -- node readiness -------------------------------------------------------------------------

async def _provisioned(pool: SSHPool, master: NodeLike) -> bool:
    """The master runs an API server (else tokens and readiness mean nothing yet)."""
    result = await pool.run(master, "systemctl is-active kube-apiserver")
    return result.ok


async def node_ready(ctx: Parts, pool: SSHPool, master: NodeLike) -> dict[str, bool]:
    """{node: Ready} from the API server: with the workbench's own tree through its admin
    kubeconfig (the kube client), with kube-up's over SSH with the cluster token."""
    if own_tree(ctx.profile):
        info = await ctx.kube(master).refresh()  # type: ignore[arg-type]
        return {n.name: n.ready for n in info.nodes}
    token = await read_master_token(pool, ctx.profile, master)
    return ready_nodes(await api_get(pool, master, token, "/api/v1/nodes"))


async def wait_node_ready(ctx: Parts, pool: SSHPool, master: NodeLike, name: str, deadline: float) -> bool:
    """Poll the API server until ``name`` is Ready; False after ``deadline`` seconds."""
    end = asyncio.get_running_loop().time() + deadline
    while True:
        try:
            if (await node_ready(ctx, pool, master)).get(name):
                return True
        except WorkbenchError:
            pass
        if asyncio.get_running_loop().time() > end:
            return False
        await asyncio.sleep(0.5)


async def _not_ready(ctx: Parts, pool: SSHPool, master: NodeLike, minions: list[NodeLike]) -> list[Alert]:
    if not minions:
        return []
    ready = await node_ready(ctx, pool, master)
    alerts = []
    for minion in minions:
        if ready.get(minion.name):
            continue
        journal = await kubelet_journal(pool, minion, lines=5)

        async def fix(minion: NodeLike = minion) -> str:
            await pool.run(minion, "sudo systemctl restart kubelet", check=True)
            if not await wait_node_ready(ctx, pool, master, minion.name, deadline=30):
                raise NodeError(minion.name, "kubelet restarted, node still not Ready after 30s")
            return f"{minion.name}: kubelet restarted, node Ready"

        state = "NotReady" if minion.name in ready else "not registered"
        alerts.append(Alert(
            kind="node-not-ready", severity="error", subject=minion.name,
            message=f"{minion.name}: {state} in the API server; kubelet says: "
                    + (journal[-1].split("]", 1)[-1].strip() if journal else "(no journal)"),
            command=f"workbench ssh {minion.name} -- sudo journalctl -u kubelet -n 20",
            details="\n".join(journal),
            fixes=(Fix("restart-kubelet", f"restart the kubelet on {minion.name} and wait for Ready",
                       fix, destructive=False),),
        ))
    return alerts
