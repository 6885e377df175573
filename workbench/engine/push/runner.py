"""Delta push: every node gets the new build, sending only the chunks it lacks.

    manifest = start_manifest(profile, state)            # optional: before connecting
    push(profile, state, {name: (node, asyncssh connection)}, bus=bus, manifest=manifest)
        -> PushReport

Files are assembled on each node by its agent and put in place atomically (old or new,
never mixed); the relay through the master sends each missing run once. How it works,
what ``[push]`` verify / fsync / swap guarantee and the figures behind them: docs/push.md.
"""
from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from workbench.engine.push.manifest import (
    ChunkCache,
    LocalFile,
    Source,
    build_manifest,
    push_roots,
    select_sources,
)
from workbench.engine.push.session import AgentSession, launch, run_digests
from workbench.events import Bus, StageFinished, StageProgress, StageStarted
from workbench.profile import Profile
from workbench.redact import REDACTOR
from workbench.state import StateDir

PIPELINE = "push"
Launcher = Callable[[str, Any], Awaitable[AgentSession]]


@dataclass(frozen=True)
class NodeResult:
    name: str
    ok: bool
    files_changed: int
    bytes_sent: int
    seconds: float
    files_planned: int = 0
    bytes_planned: int = 0
    via: str = "direct"  # direct | relay | none (dry run)
    error: str | None = None
    phases: dict[str, float] = field(default_factory=dict)  # seconds since start at each phase
    files_removed: int = 0  # files the agent had put there that the build no longer has


@dataclass(frozen=True)
class PushReport:
    nodes: tuple[NodeResult, ...]
    bytes_from_workstation: int
    seconds: float
    files: int
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return all(n.ok for n in self.nodes)

    def to_json(self) -> dict[str, Any]:
        return {"nodes": [asdict(n) for n in self.nodes], "ok": self.ok,
                "bytes_from_workstation": self.bytes_from_workstation,
                "seconds": round(self.seconds, 3), "files": self.files, "dry_run": self.dry_run}


async def push(
    profile: Profile,
    state: StateDir,
    targets: Mapping[str, tuple[Any, Any]],
    *,
    bus: Bus,
    master: str | None = None,
    direct: bool = False,
    dry_run: bool = False,
    root: Path | None = None,
    relay_host: str | None = None,
    launcher: Launcher | None = None,
    pipeline: str = PIPELINE,
    manifest: asyncio.Task[list[LocalFile]] | None = None,
) -> PushReport:
    """Push the build to every target; one failing node never stops the others.

    ``manifest`` from :func:`start_manifest`, begun before connecting, overlaps the chunking
    of what changed with the SSH handshakes.
    """
    started = time.monotonic()
    master = master or profile.master_name
    sources = select_sources(profile, root)
    # the agents start while the workstation chunks what changed
    manifest_task = manifest or start_manifest(profile, state, root, sources)
    sudo = profile.ssh.user != "root" and any(s.dest.startswith("/") for s in sources)

    async def default_launch(name: str, conn: Any) -> AgentSession:
        return await launch(conn, name, sudo=sudo)

    relay = not direct and profile.push.relay and master in targets and len(targets) > 1
    ctx = _Push(bus, manifest_task, launcher or default_launch, dry_run,
                (relay_host or profile.cluster.master_ip) if relay and not dry_run else None, pipeline)
    ctx.roots, ctx.fsync, ctx.verify = push_roots(profile), profile.push.fsync, profile.push.verify
    ctx.replace = "auto" if profile.push.swap else "rename"
    ctx.minions_left = len(targets) - 1 if ctx.relay_host else 0
    runs = [ctx.run_node(name, conn, role=("master" if name == master else "minion") if ctx.relay_host else "direct")
            for name, (_node, conn) in targets.items()]
    try:
        results = tuple(await asyncio.gather(*runs))
        files = await manifest_task
    finally:
        manifest_task.cancel()
    report = PushReport(results, ctx.bytes_from_workstation, time.monotonic() - started,
                        len(files), dry_run)
    if not dry_run:
        _remember(state, files, report)
    return report


def start_manifest(profile: Profile, state: StateDir, root: Path | None = None,
                   sources: Sequence[Source] | None = None) -> asyncio.Task[list[LocalFile]]:
    """Chunk what changed since the last push, in a thread (cached by path, size and mtime)."""
    sources = list(sources) if sources is not None else select_sources(profile, root)
    cache = ChunkCache(state.ensure().root / "push-cache.json")
    return asyncio.create_task(asyncio.to_thread(build_manifest, sources, cache))


def _remember(state: StateDir, manifest: Sequence[LocalFile], report: PushReport) -> None:
    files = json.dumps({"at": time.time(), "files": {f.dest: f.digest for f in manifest}}, indent=2)
    for n in report.nodes:  # rewritten only when it changes: a no-change push writes nothing
        path = state.manifest_path(n.name)
        if n.ok and (n.files_changed or n.files_removed or not path.exists()):
            # informational (the node's agent index is the truth): atomic, but no fsync, which
            # on ext4 would wait for the writeback of everything just written
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(files + "\n")
            os.replace(tmp, path)
    if any(n.files_changed or n.files_removed or not n.ok for n in report.nodes):
        state.append_history("push", {"at": time.time(), "seconds": round(report.seconds, 3),
                                      "ok": report.ok, "bytes": report.bytes_from_workstation})


class _Push:
    """Shared state of one push: the manifest, the relay rendezvous, byte counters."""

    def __init__(self, bus: Bus, manifest: asyncio.Task[list[LocalFile]], launcher: Launcher,
                 dry_run: bool, relay_host: str | None, pipeline: str) -> None:
        self.bus, self.manifest, self.launcher = bus, manifest, launcher
        self.pipeline = pipeline
        self.dry_run, self.relay_host = dry_run, relay_host
        self.roots: list[str] = []
        self.fsync = False
        self.verify = "full"
        self.replace = "rename"  # or "auto": swap where the kernel can (profile push.swap)
        self.secret = secrets.token_hex(32)
        REDACTOR.add(self.secret)
        self.relay_port: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self.minions_left = 0
        self.minions_done = asyncio.Event()
        self.sessions: list[AgentSession] = []
        self._digests: dict[tuple[object, ...], asyncio.Task[list[list[str]]]] = {}

    async def digests(self, files: Sequence[LocalFile], missing: Sequence[Sequence[tuple[int, int]]]
                      ) -> list[list[str]]:
        """sha256 of every run a minion fetches from the relay, computed once per push for
        minions that lack the same runs (usually all of them)."""
        key = tuple((f.dest, f.digest, tuple(map(tuple, runs))) for f, runs in zip(files, missing, strict=True))
        if key not in self._digests:
            self._digests[key] = asyncio.create_task(asyncio.to_thread(run_digests, files, missing))
        return await asyncio.shield(self._digests[key])

    @property
    def bytes_from_workstation(self) -> int:
        return sum(s.bytes_written for s in self.sessions)

    async def run_node(self, name: str, conn: Any, *, role: str) -> NodeResult:
        """role: ``master`` (serves the relay while pushing), ``minion`` (fetches), ``direct``."""
        session: AgentSession | None = None
        started = time.monotonic()
        result: NodeResult | None = None
        try:
            result, session = await self._node(name, conn, role)
            if role == "master" and session is not None:
                await self._serve_until_minions_done(name, session)
                result.phases["relay_stopped"] = round(time.monotonic() - started, 4)
            return result
        finally:
            if role == "master":
                self._set_relay(None)
            if role == "minion":
                self.minions_left -= 1
                if not self.minions_left:
                    self.minions_done.set()
            if session is not None:
                await session.close()
                if result is not None:
                    result.phases["closed"] = round(time.monotonic() - started, 4)

    async def _serve_until_minions_done(self, name: str, session: AgentSession) -> None:
        try:
            if self.minions_left:
                await self.minions_done.wait()
            served = await session.stop_serving()
            self.bus.log("push", name, f"relay served {_mb(served)} to the minions")
        except Exception as exc:
            self.bus.log("push", name, f"relay failed: {exc}", "stderr")

    def _set_relay(self, port: int | None) -> None:
        if not self.relay_port.done():
            self.relay_port.set_result(port)

    async def _node(self, name: str, conn: Any, role: str) -> tuple[NodeResult, AgentSession | None]:
        started = time.monotonic()
        self.bus.publish(StageStarted(self.pipeline, "push", name))
        progress = _Progress(self.bus, name, started, self.pipeline)
        session: AgentSession | None = None
        phases: dict[str, float] = {}

        def mark(phase: str) -> None:
            phases[phase] = round(time.monotonic() - started, 4)

        via = "none" if self.dry_run else "direct"
        removed = 0
        try:
            session = await self.launcher(name, conn)
            mark("launched")
            self.sessions.append(session)
            session.on_file = progress.file_done
            manifest = await asyncio.shield(self.manifest)
            mark("manifest")
            changed = await session.check(manifest, self.roots)
            mark("checked")
            missing = await session.plan(changed) if changed else []
            mark("planned")
            planned = sum(_run_bytes(f, runs) for f, runs in zip(changed, missing, strict=True))
            progress.plan(len(changed), planned)
            if role == "master":
                port = await session.serve(self.relay_host or "", self.secret)
                self.bus.log("push", name, f"relay serving on {self.relay_host}:{port}")
                self._set_relay(port)
            sent = 0
            done: dict[str, Any] = {"ok": True}
            if changed and not self.dry_run:
                relay_port = await self.relay_port if role == "minion" else None
                if relay_port is not None and self.relay_host is not None:
                    via = "relay"
                    digests = await self.digests(changed, missing)
                    done = await session.fetch(self.relay_host, relay_port, self.secret, fsync=self.fsync,
                                               verify=self.verify, replace=self.replace, files=changed, missing=missing,
                                               digests=digests)
                    sent = planned if done.get("ok") else 0
                    if not done.get("ok"):
                        self.bus.log("push", name, "relay fetch failed; pushing directly", "stderr")
                        progress.failed.clear()
                        via, changed = "direct", await session.check(manifest, self.roots)
                        missing = await session.plan(changed) if changed else []
                if via == "direct":
                    done, sent = await session.send(changed, missing, progress.sent, fsync=self.fsync,
                                                    verify=self.verify, replace=self.replace)
                mark("sent")
            ok = bool(done.get("ok"))
            if ok and session.stale and not self.dry_run:
                removed = await session.prune(session.stale)
                mark("pruned")
            phases.update({f"agent_{k}": round(v, 4) for k, v in done.get("stats", {}).items()})
            phases["agent_plan"] = round(session.plan_seconds, 4)
            error = None if ok else f"{len(progress.failed)} file(s) failed: {'; '.join(progress.failed[:3])}"
            files = len(changed) if self.dry_run else progress.files
            result = NodeResult(name, ok, files, sent, time.monotonic() - started,
                                len(changed), planned, via, error, phases,
                                removed if not self.dry_run else len(session.stale))
        except Exception as exc:
            result = NodeResult(name, False, progress.files, 0, time.monotonic() - started,
                                error=str(exc) or type(exc).__name__, via=via, phases=phases)
            if session is not None:
                await session.close()
                session = None
        self.bus.log("push", name, _summary(result), "stdout" if result.ok else "stderr")
        self.bus.publish(StageFinished(self.pipeline, "push", name, result.ok, result.error, result.seconds))
        return result, session


def _run_bytes(f: LocalFile, runs: Sequence[tuple[int, int]]) -> int:
    if not runs:
        return 0
    sizes = [n for _, _, n in f.chunks()]
    return sum(sum(sizes[a : a + n]) for a, n in runs)


class _Progress:
    """Turns the agent's per-file replies and the byte counter into StageProgress events."""

    def __init__(self, bus: Bus, node: str, started: float, pipeline: str) -> None:
        self.bus, self.node, self.started, self.pipeline = bus, node, started, pipeline
        self.files_planned = self.files = self.bytes_planned = self.bytes_sent = 0
        self.failed: list[str] = []
        self.last = 0.0

    def plan(self, files: int, planned: int) -> None:
        self.files_planned, self.bytes_planned = files, planned
        self._publish(force=True)

    def sent(self, n: int) -> None:
        self.bytes_sent = n
        self._publish()

    def file_done(self, msg: dict[str, Any]) -> None:
        if msg.get("ok"):
            self.files += 1
        else:
            self.failed.append(f"{msg.get('path')}: {msg.get('error')}")
            self.bus.log("push", self.node, f"{msg.get('path')}: {msg.get('error')}", "stderr")
        self._publish(force=True)  # one per file: few, and the UI wants each

    def _publish(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < 0.1:
            return
        self.last = now
        rate = self.bytes_sent / max(now - self.started, 1e-6)
        detail = f"files {self.files}/{self.files_planned}, {_mb(self.bytes_sent)} of {_mb(self.bytes_planned)}, {_mb(rate)}/s"
        self.bus.publish(StageProgress(self.pipeline, "push", self.node, self.bytes_sent,
                                       self.bytes_planned, detail))


def _mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


def _summary(r: NodeResult) -> str:
    if not r.ok:
        return f"push failed after {r.seconds:.2f} s: {r.error}"
    if r.via == "none":
        return f"dry run: {r.files_planned} file(s) differ, {_mb(r.bytes_planned)} would travel"
    gone = f", {r.files_removed} removed" if r.files_removed else ""
    return f"{r.files_changed} file(s) updated{gone}, {_mb(r.bytes_sent)} sent ({r.via}) in {r.seconds:.2f} s"
