"""The Engine's pipelines against the sandbox: stage events, one at a time, clean cancel."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from workbench.engine.facade import Engine
from workbench.errors import Cancelled, PipelineBusy, PipelineFailed
from workbench.events import (
    Bus,
    Event,
    LogLine,
    PipelineFinished,
    PipelineStarted,
    StageFinished,
    StageStarted,
)
from workbench.profile import load_profile


def fake_build(box: Any, seconds: float, binary_mb: float = 1.0) -> None:
    config = Path(box.kube_root) / "build" / "fake-build.json"
    data = json.loads(config.read_text())
    data.update(seconds=seconds, binary_mb=binary_mb)
    config.write_text(json.dumps(data))


def engine_for(box: Any) -> tuple[Engine, list[Event]]:
    bus = Bus()
    seen: list[Event] = []
    bus.add_listener(seen.append)
    return Engine(load_profile(box.profile_path, environ={}), bus=bus), seen


def pipeline_events(seen: list[Event], name: str) -> list[Event]:
    kinds = (PipelineStarted, PipelineFinished, StageStarted, StageFinished)
    return [e for e in seen if isinstance(e, kinds) and e.pipeline == name and getattr(e, "node", None) is None]


def build_processes(kube_root: Path) -> list[int]:
    """Pids of processes running the fake build of this KUBE_ROOT."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
            cwd = os.readlink(f"/proc/{entry}/cwd")
        except OSError:
            continue
        if b"release.sh" in cmdline and cwd.startswith(str(kube_root)):
            found.append(int(entry))
    return found


async def until(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def test_up_publishes_its_stages_and_reaches_the_nodes(make_sandbox: Callable[..., Any]) -> None:
    box = make_sandbox(minions=1)
    engine, seen = engine_for(box)
    try:
        await engine.up()
        events = pipeline_events(seen, "up")
        assert events[0] == PipelineStarted("up", ("instances", "connect"))
        assert [(type(e).__name__, getattr(e, "stage", None)) for e in events[1:]] == [
            ("StageStarted", "instances"), ("StageFinished", "instances"),
            ("StageStarted", "connect"), ("StageFinished", "connect"),
            ("PipelineFinished", None),
        ]
        assert isinstance(events[-1], PipelineFinished) and events[-1].ok
        assert sorted(engine.node_names()) == [engine.profile.master_name, engine.profile.minion_name(0)]
        argv = engine.system_ssh_argv(engine.profile.minion_name(0))
        assert argv[0] == "ssh" and argv[-1].endswith(engine.profile.minion_name(0))
        history = engine.state.history()["pipelines"]
        assert history[-1]["pipeline"] == "up" and history[-1]["ok"]
    finally:
        await engine.close()


async def test_a_second_pipeline_is_refused_while_one_runs(make_sandbox: Callable[..., Any]) -> None:
    box = make_sandbox(minions=0)
    fake_build(box, seconds=30)
    engine, seen = engine_for(box)
    try:
        build = asyncio.create_task(engine.build())
        await until(lambda: engine.running == "build")
        with pytest.raises(PipelineBusy):
            await engine.up()
        engine.cancel()
        with pytest.raises(Cancelled):
            await build
        assert engine.running is None
        assert not [e for e in seen if isinstance(e, PipelineStarted) and e.pipeline == "up"]
    finally:
        await engine.close()


async def test_cancel_mid_build_kills_the_build_and_frees_the_engine(make_sandbox: Callable[..., Any]) -> None:
    box = make_sandbox(minions=1)
    fake_build(box, seconds=30)
    engine, seen = engine_for(box)
    kube_root = Path(box.kube_root).resolve()
    try:
        await engine.up()
        redeploy = asyncio.create_task(engine.redeploy())
        await until(lambda: any(isinstance(e, LogLine) and e.source == "build" for e in seen))
        await until(lambda: bool(build_processes(kube_root)))
        engine.cancel()
        with pytest.raises(Cancelled):
            await redeploy
        assert build_processes(kube_root) == []  # the build's whole process group is gone
        finished = pipeline_events(seen, "redeploy")[-1]
        assert isinstance(finished, PipelineFinished)
        assert (finished.ok, finished.failed_stage, finished.error) == (False, "build", "cancelled")
        assert not any(isinstance(e, StageStarted) and e.stage == "push" for e in pipeline_events(seen, "redeploy"))
        assert engine.running is None
        # Nothing half-done: a new pipeline runs right away.
        fake_build(box, seconds=0.2)
        await engine.build()
        assert (kube_root / "_output" / "release-tars").is_dir()
    finally:
        await engine.close()


async def test_a_failing_stage_stops_the_pipeline_and_is_named(make_sandbox: Callable[..., Any]) -> None:
    box = make_sandbox(minions=1)
    engine, seen = engine_for(box)
    try:
        await engine.up()
        # No build yet: the push has nothing to send and says so.
        with pytest.raises(PipelineFailed) as failed:
            await engine.push()
        assert failed.value.stage == "push" and "build" in failed.value.message
        finished = pipeline_events(seen, "push")[-1]
        assert isinstance(finished, PipelineFinished) and finished.failed_stage == "push"
        # A failing build stops redeploy before push.
        (Path(box.kube_root) / "build" / ".fake-build-fail").touch()
        fake_build(box, seconds=0.2)
        with pytest.raises(PipelineFailed) as failed:
            await engine.redeploy()
        assert failed.value.stage == "build"
        stages = [e.stage for e in pipeline_events(seen, "redeploy") if isinstance(e, StageStarted)]
        assert stages == ["build"]
    finally:
        await engine.close()


async def test_up_then_redeploy_end_to_end(make_sandbox: Callable[..., Any]) -> None:
    from workbench.events import ClusterInfoChanged

    box = make_sandbox(minions=2)
    fake_build(box, seconds=0.3)
    engine, seen = engine_for(box)
    try:
        await engine.up()
        await engine.redeploy()
        events = pipeline_events(seen, "redeploy")
        assert events[0] == PipelineStarted("redeploy", ("build", "push", "salt", "verify"))
        assert [(type(e).__name__, getattr(e, "stage", None)) for e in events[1:]] == [
            (kind, stage) for stage in ("build", "push", "salt", "verify")
            for kind in ("StageStarted", "StageFinished")
        ] + [("PipelineFinished", None)]
        assert all(e.ok for e in events if isinstance(e, StageFinished | PipelineFinished))
        # Salt ran on every node, in the redeploy pipeline, and its summary reached the logs.
        salted = {e.node for e in seen if isinstance(e, StageFinished) and e.pipeline == "redeploy"
                  and e.stage == "salt" and e.node}
        assert salted == {engine.profile.master_name, *(engine.profile.minion_name(i) for i in range(2))}
        summaries = [e.text for e in seen if isinstance(e, LogLine) and e.source == "salt" and e.text.startswith("Summary for")]
        assert len(summaries) == 3
        # Verify published the cluster as kubectl sees it: the seed's services, all nodes Ready.
        info = [e.info for e in seen if isinstance(e, ClusterInfoChanged)][-1]
        assert "Kubernetes master" in {s.name for s in info.services}
        assert {n.name for n in info.nodes if n.ready} >= {engine.profile.minion_name(i) for i in range(2)}
        assert any(isinstance(e, LogLine) and e.text.startswith("Kubernetes master is running at") for e in seen)
    finally:
        await engine.close()


async def test_verify_names_the_minions_whose_token_drifted_and_redeploy_mends_it(seed_cluster) -> None:
    """kube-up's tree: after the master's token is regenerated out of band, the verify stage
    fails naming every minion; a redeploy provisions the state dir's token again (never a
    new one), so it ends verified with the token it had before."""
    from tests.seedcluster import MINIONS, kubelet_row, ready_nodes, regen_token, restore
    from workbench.engine.parts import Parts
    from workbench.engine.stages import verify

    c = seed_cluster
    try:
        new = regen_token(c)
        parts = Parts(load_profile(c.profile_path, environ={}))
        try:
            with pytest.raises(PipelineFailed) as failed:
                await verify(parts, "redeploy", deadline=5)
        finally:
            await parts.close()
        assert failed.value.stage == "verify" and failed.value.nodes == MINIONS
        assert "is not the master's" in str(failed.value) and new not in str(failed.value)
        doc = json.loads(c.cli("--json", "redeploy").stdout)
        assert doc["ok"] and not doc["failed_nodes"], doc
        assert kubelet_row(c) == c.state.cluster_token() != new
        assert set(MINIONS) <= set(ready_nodes(c))
    finally:
        if kubelet_row(c) != c.state.cluster_token():
            restore(c)
