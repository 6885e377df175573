"""Real Kubernetes build output, 2014-2023 (tests/fixtures/real/build, SOURCES.md): stages,
progress at the end of the go phase, and the lines a failure is explained with."""

from __future__ import annotations

import asyncio
import re
import shlex
from pathlib import Path

import pytest

from workbench.engine.build import BuildRunner, BuildSettings
from workbench.engine.build.stages import Estimator, StageParser, planned_stages
from workbench.errors import BuildFailed
from workbench.events import Bus, StageStarted

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real" / "build"
STAMP = re.compile(r"^(?:\+\+\+|!!!) \[\d{4} (\d\d):(\d\d):(\d\d)\]")
PLATFORMS = ("linux/amd64", "linux/arm", "linux/arm64", "linux/s390x", "linux/ppc64le")


def replay(name: str) -> StageParser:
    """Feed a log with the build's own clock (seconds of the day from its stamps)."""
    parser = StageParser()
    at = 0.0
    for line in (REAL / name).read_text().splitlines():
        stamp = STAMP.match(line)
        if stamp:
            hh, mm, ss = (int(g) for g in stamp.groups())
            at = hh * 3600 + mm * 60 + ss
        parser.feed(line, at)
    return parser


def hms(text: str) -> float:
    hh, mm, ss = (int(p) for p in text.split(":"))
    return hh * 3600 + mm * 60 + ss


def test_parallel_line_starts_every_platform_and_their_burst_ends_them() -> None:
    parser = replay("make-cross-2020-v1.17-parallel.log")
    assert [s.name for s in parser.stages] == [f"go {p}" for p in PLATFORMS]
    assert {s.started for s in parser.stages} == {hms("23:43:19")}
    ends = {s.name: s.ended for s in parser.stages}
    assert ends["go linux/amd64"] == hms("23:47:24") and ends["go linux/arm"] == hms("23:47:23")
    assert parser.parallel_groups() == [[f"go {p}" for p in PLATFORMS]]


def test_estimate_is_right_at_the_end_of_the_parallel_go_phase() -> None:
    planned = planned_stages(PLATFORMS, run_tests=False)
    history = [{"ok": True, "stages": [{"name": "prerequisites", "seconds": 2}, {"name": "build image", "seconds": 60},
                                       *({"name": f"go {p}", "seconds": 245} for p in PLATFORMS),
                                       {"name": "packaging", "seconds": 60}],
                "parallel": [[f"go {p}" for p in PLATFORMS]]}]
    est = Estimator(history, planned)
    parser = StageParser()
    for line in (REAL / "make-cross-2020-v1.17-parallel.log").read_text().splitlines()[:12]:
        parser.feed(line, 1000.0)  # the parallel line and its targets: all five running
    parser.feed("+++ [0116 23:43:19] linux/amd64: build started", 1000.0)
    assert est.progress(parser.stages, 1100.0) == (27.2, 267.0)  # 100 s of one 245 s unit, of 367 s
    for platform in PLATFORMS:
        parser.feed(f"+++ [0116 23:47:24] {platform}: build finished", 1245.0)
    # every platform done: only what was not run (prerequisites, image) and packaging remain
    assert est.progress(parser.stages, 1245.0) == (66.8, 122.0)


def test_a_first_parallel_build_has_no_history_but_counts_the_group_once() -> None:
    est = Estimator([], planned_stages(PLATFORMS, run_tests=False))
    parser = replay("make-cross-2020-v1.17-parallel.log")
    percent, left = est.progress(parser.stages, hms("23:47:24"))
    # defaults: prerequisites 2 + image 60 + go (max of 240, 120) + packaging 60 = 362
    assert (percent, left) == (round(100 * 240 / 362, 1), None)


@pytest.mark.parametrize(("name", "stages", "go_start"), [
    ("kind-quick-release-images-2022-v1.23.log", ["prerequisites", "build image", "go linux/amd64", "packaging"],
     "22:31:41"),
    ("make-2018-v1.10-codegen.log", ["go linux/amd64"], "02:56:57"),
    ("make-2016-v1.3-toolchain.log", ["go linux/amd64"], "15:43:05"),
    ("local-up-2014.log", ["go linux/amd64"], None),
])
def test_helper_builds_are_no_platform_stage(name: str, stages: list[str], go_start: str | None) -> None:
    parser = replay(name)
    parser.finish(10**6)
    assert [s.name for s in parser.stages] == stages
    go = next(s for s in parser.stages if s.name == "go linux/amd64")
    if go_start:
        assert go.started == hms(go_start)


def test_kind_go_stage_lasts_from_the_real_targets_to_syncing_out() -> None:
    parser = replay("kind-quick-release-images-2022-v1.23.log")
    seconds = {s.name: s.seconds for s in parser.stages}
    assert seconds["build image"] == hms("22:31:41") - hms("22:24:36")  # codegen stays in the image stage
    assert seconds["go linux/amd64"] == hms("22:36:48") - hms("22:31:41")


@pytest.mark.parametrize(("name", "cause", "also"), [
    ("release-2015-cp-failure.log", "!!! [0929 14:07:49] Timed out waiting for binaries...",
     "cp: /tmp/kubernetes/_output/dockerized/bin/linux/amd64/kube-proxy: No such file or directory"),
    ("release-2016-container-command.log", "Container command '/bin/sh' not found or does not exist.",
     "+++ Docker build command failed for kube-build:build-41a795c3c3"),
    ("release-2016-rsync.log", "rsync: failed to connect to 127.0.0.1 (127.0.0.1): Connection refused (111)",
     "rsync error: error in socket IO (code 10) at clientserver.c(128) [sender=3.1.0]"),
    ("release-2016-cp-cannot-stat.log", "cp: cannot stat 'build/build-image/Dockerfile': No such file or directory",
     "!!! Error in ./../build/common.sh:424"),
    ("kind-gnu-tar-2022.log", "  !!! Cannot find GNU tar. Build on Linux or install GNU tar",
     "make: *** [quick-release-images] Error 1"),
    ("kind-docker-load-2023-v1.25.log", "unknown flag: --load",
     "+++ Docker build command failed for kube-build:build-718ad5336b-5-v1.25.0-go1.19.5-bullseye.0"),
    ("quick-release-2019-rsync-port.log", "!!! [0611 17:06:01] Could not get effective rsync port",
     "make: *** [Makefile:430: quick-release] Error 1"),
    ("make-2021-v1.20-codegen-permission.log",
     "./hack/run-in-gopath.sh: line 34: _output/bin/prerelease-lifecycle-gen: Permission denied",
     "make[1]: *** [Makefile.generated_files:148: gen_prerelease_lifecycle] Error 1"),
])
def test_failure_explanation_leads_with_the_real_cause(name: str, cause: str, also: str) -> None:
    parser = replay(name)
    lines = parser.explanation()
    assert parser.cause() == cause
    assert cause in lines and also in lines
    framing = [i for i, line in enumerate(lines) if line.startswith(("make", "!!! Error in"))]
    assert all(i > lines.index(cause) for i in framing)  # the cause before where it stopped
    assert not any(line.startswith(("To retry manually", "docker build", "DOCKER_CLI")) for line in lines)


async def test_the_runner_reports_the_cause_and_every_parallel_platform(tmp_path: Path) -> None:
    script = tmp_path / "build.sh"
    log = REAL / "make-cross-2020-v1.17-parallel.log"
    failing = REAL / "release-2016-container-command.log"
    script.write_text(f"cat {shlex.quote(str(log))}\ncat {shlex.quote(str(failing))} >&2\nexit 2\n")
    bus = Bus()
    sub = bus.subscribe()
    runner = BuildRunner(BuildSettings(tmp_path, f"sh {script}", PLATFORMS, False, True), bus, None, tick=10)
    result = await runner.run()
    await asyncio.sleep(0)
    events = sub.get_nowait()
    sub.close()
    started = [e.stage for e in events if isinstance(e, StageStarted)]
    assert set(started) >= {f"go {p}" for p in PLATFORMS}
    with pytest.raises(BuildFailed) as caught:
        result.raise_for_status()
    assert str(caught.value) == ("build failed with exit status 2: "
                                 "Container command '/bin/sh' not found or does not exist.")
