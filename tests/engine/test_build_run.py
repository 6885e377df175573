"""The build runner driving the sandbox's fake KUBE_ROOT for real (a subprocess)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from workbench.engine.build import (
    BuildRunner,
    BuildSettings,
    measure_output,
    output_bloat_alert,
)
from workbench.engine.build.runner import group_members
from workbench.events import BuildProgress, Bus, LogLine, StageFinished, StageStarted
from workbench.sandbox.kuberoot import SEED_VERSION, set_build_failure, write_kube_root
from workbench.state import StateDir

ONE = ("linux/amd64",)
SEVERAL = ("linux/amd64", "linux/arm64", "darwin/amd64", "windows/amd64")


@pytest.fixture
def kube_root(tmp_path: Path) -> Path:
    return write_kube_root(tmp_path / "kube", size_mb=1, build_seconds=0.3, version=SEED_VERSION)


def settings(root: Path, platforms: tuple[str, ...] = ONE, command: str = "build/release.sh") -> BuildSettings:
    return BuildSettings(root, command, platforms, run_tests=False, fastbuild=True)


async def run(runner: BuildRunner, bus: Bus) -> tuple[object, list[object]]:
    sub = bus.subscribe()
    result = await runner.run()
    await asyncio.sleep(0)
    events = sub.get_nowait()
    sub.close()
    return result, events


async def test_build_sees_every_stage_and_linux_amd64_artifacts(kube_root: Path, tmp_path: Path) -> None:
    bus = Bus()
    state = StateDir(tmp_path / "state").ensure()
    result, events = await run(BuildRunner(settings(kube_root), bus, state, tick=0.05), bus)
    assert result.ok, result.failure_lines
    names = [n for n, _ in result.stages]
    assert names == ["prerequisites", "build image", "go linux/amd64", "packaging"]
    assert all(seconds > 0 for _, seconds in result.stages)
    assert sorted(Path(a).name for a in result.artifacts) == [
        "etcd-v2.2.1-linux-amd64.tar.gz",  # the seed-era fake build drops etcd's own release tar beside them
        "kubernetes-client-linux-amd64.tar.gz",
        "kubernetes-node-linux-amd64.tar.gz",
        "kubernetes-salt.tar.gz",
        "kubernetes-server-linux-amd64.tar.gz",
        "kubernetes.tar.gz",
    ]
    assert sorted(os.listdir(kube_root / "_output/dockerized/bin")) == ["linux"]
    started = [e.stage for e in events if isinstance(e, StageStarted)]
    finished = [e.stage for e in events if isinstance(e, StageFinished) and e.ok]
    assert started == finished == names
    assert any(isinstance(e, LogLine) and e.source == "build" and e.text.startswith("+++ [") for e in events)
    progress = [e.percent for e in events if isinstance(e, BuildProgress)]
    assert progress == sorted(progress) and progress[-1] == 100.0
    # the second build estimates from the first one's stages: it has an ETA
    result2, events2 = await run(BuildRunner(settings(kube_root), bus, state, tick=0.05), bus)
    assert result2.ok
    etas = [e.eta_seconds for e in events2 if isinstance(e, BuildProgress) and e.stage != "done"]
    assert etas and all(eta is not None for eta in etas)
    assert len(state.history()["build"]) == 2


async def test_failing_build_reports_exit_status_and_lines(kube_root: Path) -> None:
    set_build_failure(kube_root)
    bus = Bus()
    result, events = await run(BuildRunner(settings(kube_root), bus), bus)
    assert not result.ok and result.exit_status == 1
    assert any("kubelet.go:2417: undefined" in line for line in result.failure_lines)
    assert any(line.startswith("!!! Error in") for line in result.failure_lines)
    assert [n for n, _ in result.stages][-1] == "go linux/amd64"
    failed = [e for e in events if isinstance(e, StageFinished) and not e.ok]
    assert [e.stage for e in failed] == ["go linux/amd64"]
    with pytest.raises(Exception, match="exit status 1"):
        result.raise_for_status()


async def test_cancel_kills_the_whole_process_group(kube_root: Path) -> None:
    bus = Bus()
    # a grandchild (sleep) in the build's group proves the group is killed, not just the shell
    command = "sleep 300 & build/release.sh; wait"
    runner = BuildRunner(settings(kube_root, command=command), bus,
                         env={**os.environ, "WORKBENCH_FAKE_BUILD_SECONDS": "60"})
    sub = bus.subscribe()
    task = asyncio.create_task(runner.run())
    deadline = time.monotonic() + 20
    seen: list[object] = []
    while not any(isinstance(e, StageStarted) and e.stage == "build image" for e in seen):
        assert time.monotonic() < deadline, "build never started its image"
        seen += await asyncio.wait_for(sub.get_batch(), 20)
    assert runner.pid is not None
    os.killpg(runner.pid, 0)  # the group is alive
    runner.cancel()
    result = await asyncio.wait_for(task, 10)
    assert result.cancelled and not result.ok
    assert group_members(runner.pid) == []  # zombies wait for init; nothing runs


async def test_output_bloat_on_multi_platform_tree_and_its_fix(kube_root: Path) -> None:
    bus = Bus()
    result, _ = await run(BuildRunner(settings(kube_root, SEVERAL), bus), bus)
    assert result.ok, result.failure_lines
    alert = output_bloat_alert(kube_root, ONE)
    assert alert is not None and alert.kind == "output-bloat"
    assert "release-stage" in alert.message
    before = measure_output(kube_root, ONE)
    assert before.skippable_bytes > before.pushed_bytes
    summary = await alert.fixes[0].run()
    assert "pruned" in summary
    after = measure_output(kube_root, ONE)
    assert after.skippable == ()
    assert after.pushed == before.pushed  # what a node needs is untouched
    tars = sorted(os.listdir(kube_root / "_output/release-tars"))
    assert tars == ["kubernetes-client-linux-amd64.tar.gz", "kubernetes-node-linux-amd64.tar.gz",
                    "kubernetes-salt.tar.gz", "kubernetes-server-linux-amd64.tar.gz"]
    assert os.listdir(kube_root / "_output/dockerized/bin") == ["linux"]
    assert os.listdir(kube_root / "_output/dockerized/bin/linux") == ["amd64"]
    assert output_bloat_alert(kube_root, ONE) is None


async def test_single_platform_build_raises_no_bloat_alert(kube_root: Path) -> None:
    bus = Bus()
    result, _ = await run(BuildRunner(settings(kube_root), bus), bus)
    assert result.ok
    assert output_bloat_alert(kube_root, ONE) is None


async def test_rebuild_changes_one_or_two_binaries_a_little(kube_root: Path) -> None:
    bus = Bus()
    await run(BuildRunner(settings(kube_root), bus), bus)
    bins = kube_root / "_output/dockerized/bin/linux/amd64"
    before = {p.name: p.read_bytes() for p in bins.iterdir()}
    await run(BuildRunner(settings(kube_root), bus), bus)
    after = {p.name: p.read_bytes() for p in bins.iterdir()}
    changed = [n for n in before if before[n] != after[n]]
    assert 1 <= len(changed) <= 2
    for name in changed:
        assert abs(len(after[name]) - len(before[name])) <= 4 * 8 * 1024
        assert after[name][:4096] == before[name][:4096] or after[name][-4096:] == before[name][-4096:]
