"""The node-side stages of the Engine's pipelines: connect, push, salt, verify.

Each takes the Engine, reaches the nodes through its SSH pool, and raises
``PipelineFailed`` naming the nodes when any failed (after the others finished: one
failing node never stops the rest).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from workbench.errors import PipelineFailed
from workbench.events import Bus, Event, InstancesChanged, PipelineFinished, PipelineStarted

VERIFY_SECONDS = 60.0  # kubelets register within a few heartbeats
VERIFY_POLL = 0.25

if TYPE_CHECKING:
    from collections.abc import Sequence

    from workbench.engine.cloud import Instance
    from workbench.engine.pipeline import Engine
    from workbench.engine.ssh import NodeLike


class StageBus(Bus):
    """What a module's own pipeline events become inside ours: its stages, not a pipeline."""

    def __init__(self, parent: Bus) -> None:
        super().__init__()
        self.parent = parent

    def publish(self, event: Event) -> None:
        if not isinstance(event, PipelineStarted | PipelineFinished):
            self.parent.publish(event)


async def build(engine: Engine) -> None:
    from workbench.engine.build import run_build

    result = await run_build(engine.profile, engine.bus, engine.state.ensure())
    result.raise_for_status()


async def up(engine: Engine) -> None:
    from workbench.engine.cloud import up as cloud_up

    result = await cloud_up(engine.cloud, engine.state.ensure(), StageBus(engine.bus))
    engine.bus.publish(InstancesChanged(tuple(result.instances)))
    if not result.ok:
        why = "; ".join(f"{n}: {w}" for n, w in result.failed)
        raise PipelineFailed("up", "instances", why, tuple(n for n, _ in result.failed))


async def down(engine: Engine) -> None:
    from workbench.engine.cloud import down as cloud_down

    result = await cloud_down(engine.cloud, engine.state.ensure(), StageBus(engine.bus))
    await engine.drop_connections()
    if not result.ok:
        raise PipelineFailed("down", "down", "left: " + ", ".join(result.remaining))


async def active_nodes(engine: Engine, stage: str) -> list[Instance]:
    """The cluster's ACTIVE instances, master first; fails when there are none."""
    instances = await engine.inventory.refresh()
    active = [i for i in instances if i.status == "ACTIVE" and i.role in ("master", "minion")]
    if not active:
        raise PipelineFailed(engine.running or stage, stage, "no ACTIVE instances: run up first")
    return sorted(active, key=lambda i: (i.role != "master", i.name))


async def connect(engine: Engine, stage: str) -> dict[str, tuple[Instance, Any]]:
    """Connect to every ACTIVE node; {name: (instance, connection)} or PipelineFailed."""
    nodes = await active_nodes(engine, stage)
    results = await engine.ssh.connect_all(nodes)
    failed = {name: r for name, r in results.items() if isinstance(r, Exception)}
    if failed:
        why = "; ".join(f"{exc}" for exc in failed.values())
        raise PipelineFailed(engine.running or stage, stage, why, tuple(sorted(failed)))
    return {n.name: (n, results[n.name]) for n in nodes}


async def connect_all(engine: Engine) -> None:
    await connect(engine, "connect")


async def push(engine: Engine, direct: bool) -> None:
    from workbench.engine.push import push as push_build

    targets = await connect(engine, "push")
    report = await push_build(
        engine.profile, engine.state.ensure(), targets, bus=engine.bus,
        master=engine.profile.master_name, direct=direct,
    )
    failed = [n for n in report.nodes if not n.ok]
    if failed:
        why = "; ".join(f"{n.name}: {n.error}" for n in failed)
        raise PipelineFailed(engine.running or "push", "push", why, tuple(n.name for n in failed))


async def salt(engine: Engine, failed_only: bool) -> None:
    """Highstate on every node at once (or only those that failed last time)."""
    from workbench.engine.salt import SaltRunner

    pipeline = engine.running or "salt"
    nodes = await active_nodes(engine, "salt")
    runner = SaltRunner(engine.ssh, engine.state.ensure(), engine.bus, pipeline=pipeline)
    selected = runner.select(nodes, failed=failed_only)
    if not selected:
        engine.bus.notice("salt: no node failed last time; nothing to run")
        return
    unprovisioned = await provision_nodes(engine, nodes, selected, pipeline)
    ready = [n for n in selected if n.name not in unprovisioned]
    report = await runner.run(ready) if ready else None
    runs = report.runs if report is not None else ()
    for run in runs:
        for line in summary_lines(run):
            engine.bus.log("salt", run.node, line, "info")
    failed = (*unprovisioned, *(report.failed_nodes if report is not None else ()))
    if unprovisioned:  # `salt --failed` retries them too
        runner.remember_failed(unprovisioned)
    engine.salt_failed = tuple(failed)
    if failed:
        why = "; ".join([*(f"{n}: {w}" for n, w in unprovisioned.items()),
                         *(f"{r.node}: {r.error}" for r in runs if not r.ok)])
        raise PipelineFailed(pipeline, "salt", why, tuple(failed))


async def provision_nodes(engine: Engine, nodes: list[Instance], selected: Sequence[NodeLike], pipeline: str) -> dict[str, str]:
    """Minion config, grains, pillar and certificates on the selected nodes before Salt runs
    (engine/provision); {node: why} for those it could not provision."""
    from workbench.engine.provision.run import provision
    from workbench.errors import WorkbenchError

    try:
        report = await provision(engine.profile, engine.state.ensure(), engine.ssh, nodes,
                                 selected=[n.name for n in selected], bus=engine.bus, pipeline=pipeline)
    except WorkbenchError as exc:
        raise PipelineFailed(pipeline, "provision", str(exc), tuple(n.name for n in selected)) from None
    return dict(report.errors)


def summary_lines(run: Any) -> list[str]:
    """Salt's own summary block for one node (the JSON output has none)."""
    total = len(run.states)
    lines = [f"Summary for {run.node}", "------------",
             f"Succeeded: {run.succeeded} (changed={run.changed})", f"Failed: {run.failed:>4}"]
    if run.error and not total:
        lines.append(f"Error: {run.error}")
    return [*lines, "------------", f"Total states run: {total:>5}",
            f"Total run time: {run.seconds:8.3f} s"]


def own_tree(engine: Engine) -> bool:
    """The workbench's own Salt tree provisions this cluster (KUBE_ROOT has no cluster/saltbase)."""
    from workbench.engine.provision.cluster import tree_layout

    return engine.profile.kube.root is not None and tree_layout(engine.profile.kube.root) == "current"


def kube_client(engine: Engine, master: Instance) -> Any:
    """A client for the master's API server, authenticated with the cluster's token."""
    from workbench.engine.kube import KubeClient, fetch_ca, server_url

    address = master.floating_ip or master.fixed_ip
    if not address:
        raise PipelineFailed(engine.running or "verify", "verify", "the master has no address", (master.name,))
    state = engine.state.ensure()
    if own_tree(engine):
        # the workbench's own tree: its CA and admin certificate, made on this workstation
        from workbench.engine.provision.bundle import ADMIN
        from workbench.engine.provision.pki import ClusterPKI

        pki = ClusterPKI(state)
        pki.client("admin", ADMIN)
        return KubeClient(server_url(address, tls=True), None, state.root, ca_pem=pki.ca().cert_pem,
                          client_pem=pki.path("admin"))
    # The secure port checks the token; its CA comes from the master over SSH.
    return KubeClient(
        server_url(address, tls=True), state.cluster_token(), state.root,
        ca_loader=lambda: fetch_ca(engine.ssh, master, engine.profile.paths.kube_ca),
    )


async def verify(engine: Engine, *, deadline: float = VERIFY_SECONDS) -> None:
    """The cluster works: the API answers, every minion's token matches, every node is Ready."""
    from workbench.engine.tokens import check_tokens
    from workbench.errors import WorkbenchError
    from workbench.events import ClusterInfoChanged

    pipeline = engine.running or "verify"
    nodes = await active_nodes(engine, "verify")
    master = next((n for n in nodes if n.role == "master"), None)
    if master is None:
        raise PipelineFailed(pipeline, "verify", "no ACTIVE master")
    minions = [n for n in nodes if n.role == "minion"]
    # kube-up's tree shares a token between known_tokens.csv and each kubeconfig; the
    # workbench's own authenticates every component by its certificate instead
    checks = [] if own_tree(engine) else await check_tokens(engine.ssh, engine.profile, master, minions)
    mismatched = [c for c in checks if not c.ok]
    if mismatched:
        why = "; ".join(f"{c.node}: kubelet token {c.minion} is not the master's {c.master}" for c in mismatched)
        raise PipelineFailed(pipeline, "verify", why, tuple(c.node for c in mismatched))
    client = kube_client(engine, master)
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    wanted = {n.name for n in minions}
    info: Any = None
    last_error = ""
    while True:
        try:
            info = await client.refresh()
            last_error = ""
        except WorkbenchError as exc:
            last_error = str(exc)
        ready = {n.name for n in info.nodes if n.ready} if info is not None else set()
        if info is not None and wanted <= ready:
            break
        if loop.time() > end:
            missing = tuple(sorted(wanted - ready)) or (master.name,)
            why = last_error or f"not Ready after {deadline:.0f} s"
            raise PipelineFailed(pipeline, "verify", why, missing)
        await asyncio.sleep(VERIFY_POLL)
    engine.bus.publish(ClusterInfoChanged(info))
    for service in info.services:
        engine.bus.log("kube", None, f"{service.name} is running at {service.url}", "info")
    ready_line = ", ".join(f"{n.name} Ready" for n in info.nodes if n.ready)
    engine.bus.log("kube", None, f"nodes: {ready_line or 'none'}", "info")
