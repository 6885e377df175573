"""The build output parser on lines in the format of Kubernetes' real build output."""

from __future__ import annotations

from workbench.engine.build.stages import Estimator, StageParser, planned_stages, stage_of

# build/release.sh of early 2016 (serial build, two platforms, tests on), as printed.
SERIAL = """\
+++ [0112 14:02:11] Verifying Prerequisites....
+++ [0112 14:02:13] Building Docker image kube-build:build-d1ac2fba5d-5-v1.4.2-1.
+++ [0112 14:03:45] Creating data container kube-build-data-d1ac2fba5d-5-v1.4.2-1
+++ [0112 14:03:47] Syncing sources to container
+++ [0112 14:03:55] Running build command....
Go version: go version go1.4.2 linux/amd64
+++ [0112 14:04:01] Multiple platforms requested, but available 7G < threshold 11G, building platforms in serial
+++ [0112 14:04:01] Building go targets for linux/amd64:
    cmd/kube-proxy
    cmd/kube-apiserver
    cmd/kube-controller-manager
    cmd/kubelet
    cmd/kubemark
    cmd/hyperkube
    plugin/cmd/kube-scheduler
+++ [0112 14:08:40] Building go targets for darwin/amd64:
    cmd/kubectl
+++ [0112 14:10:02] Running build command....
+++ [0112 14:10:05] Running tests without code coverage
ok  \tk8s.io/kubernetes/pkg/api\t4.218s
ok  \tk8s.io/kubernetes/pkg/kubelet\t12.554s
+++ [0112 14:19:31] Running integration test cases
+++ [0112 14:21:00] Syncing out of container
+++ [0112 14:21:40] Building tarball: src
+++ [0112 14:21:41] Building tarball: manifests
+++ [0112 14:21:41] Starting tarball: client darwin-amd64
+++ [0112 14:21:41] Waiting on tarballs
+++ [0112 14:21:52] Building tarball: server linux-amd64
+++ [0112 14:22:30] Building tarball: salt
+++ [0112 14:22:31] Building tarball: full
"""

PARALLEL_FAILING = """\
+++ [0301 09:15:00] Verifying Prerequisites....
+++ [0301 09:15:02] Building Docker image kube-build:build-5e3f5c8f10.
+++ [0301 09:16:10] Running build command....
+++ [0301 09:16:11] Multiple platforms requested and available 64G >= threshold 40G, building platforms in parallel
+++ [0301 09:16:11] Building go targets for {linux/amd64 linux/arm64} in parallel (output will appear in a burst when complete):
    cmd/kube-proxy
    cmd/kubelet
+++ [0301 09:16:11] linux/amd64: go build started
+++ [0301 09:16:11] linux/arm64: go build started
# k8s.io/kubernetes/pkg/kubelet
pkg/kubelet/kubelet.go:2417: undefined: syncLoopIteration
!!! Error in /go/src/k8s.io/kubernetes/hack/lib/golang.sh:435
  'go install "${goflags[@]:+${goflags[@]}}" -ldflags "${goldflags}"' exited with status 2
Call stack:
  1: /go/src/k8s.io/kubernetes/hack/lib/golang.sh:435 kube::golang::build_binaries_for_platform(...)
Exiting with status 1
!!! [0301 09:18:40] Call tree:
!!! [0301 09:18:40]  1: build/release.sh:36 kube::build::run_build_command(...)
"""


def stamp(line: str) -> float:
    """Seconds of the day from a status line's [MMDD HH:MM:SS], as the build's own clock."""
    hh, mm, ss = line[10:18].split(":")
    return int(hh) * 3600 + int(mm) * 60 + int(ss)


def feed(text: str) -> StageParser:
    parser = StageParser()
    at = 0.0
    for line in text.splitlines():
        if line.startswith(("+++ [", "!!! [")):
            at = stamp(line)
        parser.feed(line, at)
    parser.finish(at + 1)
    return parser


def test_serial_build_stages_and_durations() -> None:
    parser = feed(SERIAL)
    names = [s.name for s in parser.stages]
    assert names == ["prerequisites", "build image", "go linux/amd64", "go darwin/amd64", "tests", "packaging"]
    seconds = {s.name: s.seconds for s in parser.stages}
    assert seconds["prerequisites"] == 2
    assert seconds["build image"] == 108  # 14:02:13 -> 14:04:01
    assert seconds["go linux/amd64"] == 4 * 60 + 39
    assert seconds["tests"] == (21 * 60) - (10 * 60 + 5)
    assert parser.explanation()  # no failure lines: falls back to the tail


def test_parallel_failing_build_names_platforms_and_failure_lines() -> None:
    parser = feed(PARALLEL_FAILING)
    assert [s.name for s in parser.stages] == ["prerequisites", "build image", "go linux/amd64", "go linux/arm64"]
    lines = parser.explanation()
    assert parser.cause() == "pkg/kubelet/kubelet.go:2417: undefined: syncLoopIteration"
    assert "pkg/kubelet/kubelet.go:2417: undefined: syncLoopIteration" in lines
    assert any(line.startswith("!!! Error in") for line in lines)
    assert all("go build started" not in line for line in lines)


def test_status_messages_that_start_no_stage() -> None:
    assert stage_of("Running build command....") is None
    assert stage_of("linux/amd64: go build started") is None
    assert stage_of("Building go targets for linux/arm64") == "go linux/arm64"  # newer golang.sh
    assert stage_of("Building tarball: node linux-amd64") == "packaging"


def test_estimate_uses_history_medians() -> None:
    planned = planned_stages(["linux/amd64"], run_tests=False)
    history = [
        {"ok": True, "stages": [{"name": "prerequisites", "seconds": 1}, {"name": "build image", "seconds": 9},
                                {"name": "go linux/amd64", "seconds": 80}, {"name": "packaging", "seconds": 10}]},
        {"ok": False, "stages": [{"name": "go linux/amd64", "seconds": 1000}]},
    ]
    est = Estimator(history, planned)
    parser = feed(SERIAL.split("+++ [0112 14:08:40]")[0])  # stopped inside go linux/amd64
    parser.stages[-1] = type(parser.stages[-1])(parser.stages[-1].name, parser.stages[-1].started)
    now = parser.stages[-1].started + 40
    percent, left = est.progress(parser.stages, now)
    assert percent == 50.0  # 1 + 9 + 40 of 100 seconds
    assert left == 50.0
    assert Estimator([], planned).progress([], 0)[1] is None  # no history: no ETA
