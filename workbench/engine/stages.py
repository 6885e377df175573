"""The stages of the Engine's pipelines: build, up, down, connect, push, salt, verify.

Each takes the ``Parts`` (and the running pipeline's name), reaches the nodes through its
SSH pool, and raises ``PipelineFailed`` naming the nodes when any failed (after the others
finished: one failing node never stops the rest). Only the ``Engine`` runs them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from workbench.errors import PipelineFailed
from workbench.events import Bus, Event, InstancesChanged, PipelineFinished, PipelineStarted

VERIFY_SECONDS = 60.0  # kubelets register within a few heartbeats
VERIFY_POLL = 0.25

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from workbench.engine.build import BuildResult
    from workbench.engine.cloud import DownResult, UpResult
    from workbench.engine.kube.client import KubeClient
    from workbench.engine.parts import Parts
    from workbench.engine.push.runner import PushReport
    from workbench.engine.salt.runner import NodeRun, SaltReport
    from workbench.engine.ssh import NodeLike
    from workbench.models import ClusterInfo, Instance


class StageBus(Bus):
    """What a module's own pipeline events become inside ours: its stages, not a pipeline."""

    def __init__(self, parent: Bus) -> None:
        super().__init__()
        self.parent = parent

    def publish(self, event: Event) -> None:
        if not isinstance(event, PipelineStarted | PipelineFinished):
            self.parent.publish(event)


async def build(parts: Parts, done: Callable[[BuildResult], None] | None = None) -> None:
    """The build; ``done`` gets its result before a failure is raised (the headless verb
    prints it either way)."""
    from workbench.engine.build import run_build

    result = await run_build(parts.profile, parts.bus, parts.state.ensure())
    if done is not None:
        done(result)
    result.raise_for_status()


async def up(parts: Parts, *, fix_leaked: bool = False, timeout: float = 600.0,
             done: Callable[[UpResult], None] | None = None, pipeline: str = "up",
             stage: str = "instances") -> None:
    """Create what is missing (a complete cluster is left as it is)."""
    from workbench.engine.cloud import up as cloud_up

    result = await cloud_up(parts.cloud, parts.state.ensure(), StageBus(parts.bus),
                            fix_leaked=fix_leaked, timeout=timeout)
    if done is not None:
        done(result)
    parts.bus.publish(InstancesChanged(tuple(result.instances)))
    if not result.ok:
        why = "; ".join(f"{n}: {w}" for n, w in result.failed)
        raise PipelineFailed(pipeline, stage, why, tuple(n for n, _ in result.failed))


async def down(parts: Parts, done: Callable[[DownResult], None] | None = None) -> None:
    from workbench.engine.cloud import down as cloud_down

    result = await cloud_down(parts.cloud, parts.state.ensure(), StageBus(parts.bus))
    if done is not None:
        done(result)
    await parts.drop_connections()
    if not result.ok:
        raise PipelineFailed("down", "down", "left: " + ", ".join(result.remaining))


async def active_nodes(parts: Parts, pipeline: str, stage: str) -> list[Instance]:
    """The cluster's ACTIVE instances, master first; fails when there are none."""
    instances = await parts.inventory.refresh()
    active = [i for i in instances if i.status == "ACTIVE" and i.role in ("master", "minion")]
    if not active:
        raise PipelineFailed(pipeline, stage, "no ACTIVE instances: run up first")
    return sorted(active, key=lambda i: (i.role != "master", i.name))


async def connect(parts: Parts, pipeline: str, stage: str) -> dict[str, tuple[Instance, Any]]:
    """Connect to every ACTIVE node; {name: (instance, connection)} or PipelineFailed."""
    nodes = await active_nodes(parts, pipeline, stage)
    results = await parts.ssh.connect_all(nodes)
    failed = {name: r for name, r in results.items() if isinstance(r, Exception)}
    if failed:
        why = "; ".join(f"{exc}" for exc in failed.values())
        raise PipelineFailed(pipeline, stage, why, tuple(sorted(failed)))
    return {n.name: (n, results[n.name]) for n in nodes}


async def push(parts: Parts, pipeline: str, direct: bool) -> None:
    """The build to every ACTIVE node (master first)."""
    await push_nodes(parts, pipeline, await active_nodes(parts, pipeline, "push"), direct=direct)


@dataclass(frozen=True)
class PushOutcome:
    """A push to chosen nodes: the push report (None when no node could be reached) and the
    nodes that could not be reached ({name: why}); those never stop the others."""

    report: PushReport | None
    unreachable: dict[str, str]

    @property
    def failed(self) -> dict[str, str]:
        pushed = self.report.nodes if self.report is not None else ()
        return {**{n.name: str(n.error) for n in pushed if not n.ok}, **self.unreachable}


async def push_nodes(parts: Parts, pipeline: str, nodes: Sequence[Instance], *, direct: bool = False,
                     dry_run: bool = False, done: Callable[[PushOutcome], None] | None = None) -> PushOutcome:
    """Push the build to these nodes (only the chunks each lacks); a node that cannot be
    reached is reported, the others are still pushed. Raises PipelineFailed naming the nodes
    that failed, after ``done`` got the outcome."""
    from workbench.engine.push.runner import push as push_build
    from workbench.engine.push.runner import start_manifest

    manifest = start_manifest(parts.profile, parts.state.ensure())  # chunking overlaps the handshakes
    conns = await parts.ssh.connect_all(nodes)
    targets = {i.name: (i, conns[i.name]) for i in nodes if not isinstance(conns[i.name], Exception)}
    report = None
    if targets:
        report = await push_build(parts.profile, parts.state, targets, bus=parts.bus,
                                  master=parts.profile.master_name, direct=direct, dry_run=dry_run,
                                  manifest=manifest, pipeline=pipeline)
    else:
        manifest.cancel()
    outcome = PushOutcome(report, {i.name: str(conns[i.name]) for i in nodes if i.name not in targets})
    if done is not None:
        done(outcome)
    failed = outcome.failed
    if failed:
        raise PipelineFailed(pipeline, "push", "; ".join(f"{n}: {w}" for n, w in failed.items()), tuple(failed))
    return outcome


async def salt(parts: Parts, pipeline: str, failed_only: bool) -> tuple[str, ...]:
    """Highstate on every node at once (or only those that failed last time); returns the
    nodes that failed (an empty tuple when nothing ran)."""
    nodes = await active_nodes(parts, pipeline, "salt")
    outcome = await salt_nodes(parts, pipeline, nodes, failed_only=failed_only)
    if outcome is None:
        parts.bus.notice("salt: no node failed last time; nothing to run")
        return ()
    if outcome.failed:
        raise PipelineFailed(pipeline, "salt", outcome.why(), outcome.failed)
    return ()


@dataclass(frozen=True)
class SaltOutcome:
    """One Salt step: the nodes provisioning could not prepare (they never ran Salt) and
    the Salt report of the others."""

    unprovisioned: dict[str, str]
    report: SaltReport | None

    @property
    def failed(self) -> tuple[str, ...]:
        return (*self.unprovisioned, *(self.report.failed_nodes if self.report is not None else ()))

    def why(self) -> str:
        runs = self.report.runs if self.report is not None else ()
        return "; ".join([*(f"{n}: {w}" for n, w in self.unprovisioned.items()),
                          *(f"{r.node}: {r.error}" for r in runs if not r.ok)])

    def to_json(self) -> dict[str, Any]:
        """The report's document, the unprovisioned nodes as failed entries."""
        doc: dict[str, Any] = self.report.to_json() if self.report is not None else {"nodes": [], "ok": True, "wall_s": 0.0,
                                                                         "alerts": []}
        left = [{"name": n, "ok": False, "succeeded": 0, "failed": 0, "changed": 0, "seconds": 0.0,
                 "retried": False, "error": f"not provisioned: {w}", "failed_states": []}
                for n, w in self.unprovisioned.items()]
        return {**doc, "nodes": [*left, *doc["nodes"]], "ok": bool(doc["ok"]) and not left}


async def salt_nodes(parts: Parts, pipeline: str, nodes: Sequence[Instance], *,
                     names: Sequence[str] | None = None, failed_only: bool = False,
                     state_name: str | None = None) -> SaltOutcome | None:
    """Provision (engine/provision) then Salt the chosen nodes (``names``, or those that failed
    last time, or all of ``nodes``); None when none is chosen. The one way the engine runs
    Salt: the salt stage, ``workbench salt`` and the doctor's provisioning fix."""
    from workbench.engine.salt_master.mode import cluster_mode
    from workbench.engine.salt_master.runner import salt_runner

    mode = cluster_mode(parts.profile, nodes)  # provisioning and the runner agree on it
    runner = salt_runner(parts.profile, parts.ssh, parts.state.ensure(), parts.bus, nodes, pipeline=pipeline, mode=mode)
    selected = runner.select(nodes, names, failed_only)
    if not selected:
        return None
    unprovisioned = await provision_nodes(parts, pipeline, nodes, selected, mode=mode)
    ready = [n for n in selected if n.name not in unprovisioned]
    report = await runner.run(ready, state_name=state_name) if ready else None
    for run in report.runs if report is not None else ():
        for line in summary_lines(run):
            parts.bus.log("salt", run.node, line, "info")
    if unprovisioned:  # `salt --failed` retries them too
        runner.remember_failed(unprovisioned)
    return SaltOutcome(unprovisioned, report)


async def provision_nodes(parts: Parts, pipeline: str, nodes: Sequence[Instance],
                          selected: Sequence[NodeLike], *, mode: str = "masterless") -> dict[str, str]:
    """Minion config, grains, pillar and certificates on the selected nodes before Salt runs
    (engine/provision); {node: why} for those it could not provision."""
    from workbench.engine.provision.run import provision
    from workbench.errors import WorkbenchError

    try:
        report = await provision(parts.profile, parts.state.ensure(), parts.ssh, nodes,
                                 selected=[n.name for n in selected], bus=parts.bus, pipeline=pipeline,
                                 salt_mode=mode)
    except WorkbenchError as exc:
        raise PipelineFailed(pipeline, "provision", str(exc), tuple(n.name for n in selected)) from None
    return dict(report.errors)


def summary_lines(run: NodeRun) -> list[str]:
    """Salt's own summary block for one node (the JSON output has none)."""
    total = len(run.states)
    lines = [f"Summary for {run.node}", "------------",
             f"Succeeded: {run.succeeded} (changed={run.changed})", f"Failed: {run.failed:>4}"]
    if run.error and not total:
        lines.append(f"Error: {run.error}")
    return [*lines, "------------", f"Total states run: {total:>5}",
            f"Total run time: {run.seconds:8.3f} s"]


def kube_client(parts: Parts, pipeline: str, master: Instance) -> KubeClient:
    """A client for the master's API server, authenticated with the cluster's token."""
    if not (master.floating_ip or master.fixed_ip):
        raise PipelineFailed(pipeline, "verify", "the master has no address", (master.name,))
    return parts.kube(master)


async def verify(parts: Parts, pipeline: str, *, deadline: float = VERIFY_SECONDS) -> None:
    """The cluster works: the API answers, every minion's token matches, every node is Ready."""
    from workbench.engine.kube.tokens import check_tokens
    from workbench.errors import WorkbenchError
    from workbench.events import ClusterInfoChanged, StageProgress

    nodes = await active_nodes(parts, pipeline, "verify")
    master = next((n for n in nodes if n.role == "master"), None)
    if master is None:
        raise PipelineFailed(pipeline, "verify", "no ACTIVE master")
    minions = [n for n in nodes if n.role == "minion"]
    # kube-up's tree shares a token between known_tokens.csv and each kubeconfig; the
    # workbench's own authenticates every component by its certificate instead
    from workbench.engine.provision.cluster import own_tree

    checks = [] if own_tree(parts.profile) else await check_tokens(parts.ssh, parts.profile, master, minions)
    mismatched = [c for c in checks if not c.ok]
    if mismatched:
        why = "; ".join(f"{c.node}: {c.unmatched}" if c.unmatched else
                        f"{c.node}: kubelet token {c.minion} is not the master's {c.master}" for c in mismatched)
        raise PipelineFailed(pipeline, "verify", why, tuple(c.node for c in mismatched))
    client = kube_client(parts, pipeline, master)
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    wanted = {n.name for n in minions}
    info: ClusterInfo | None = None
    last_error = ""
    said = ""
    while True:
        try:
            info = await client.refresh()
            last_error = ""
        except WorkbenchError as exc:
            last_error = str(exc)
        ready = {n.name for n in info.nodes if n.ready} if info is not None else set()
        if info is not None and wanted <= ready:
            break
        not_ready = sorted(wanted - ready)
        waiting = f"waiting for {', '.join(not_ready)} to be Ready" if info is not None else (
            f"waiting for the API server on {master.name}" + (f": {last_error}" if last_error else ""))
        if waiting != said:  # what verify waits for, once per change (the heartbeat shows it)
            said = waiting
            parts.bus.publish(StageProgress(pipeline, "verify", None, detail=waiting))
        if loop.time() > end:
            missing = tuple(sorted(wanted - ready)) or (master.name,)
            why = last_error or f"not Ready after {deadline:.0f} s"
            raise PipelineFailed(pipeline, "verify", why, missing)
        await asyncio.sleep(VERIFY_POLL)
    parts.bus.publish(ClusterInfoChanged(info))
    for service in info.services:
        parts.bus.log("kube", None, f"{service.name} is running at {service.url}", "info")
    ready_line = ", ".join(f"{n.name} Ready" for n in info.nodes if n.ready)
    parts.bus.log("kube", None, f"nodes: {ready_line or 'none'}", "info")
