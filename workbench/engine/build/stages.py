"""Kubernetes build output -> stages, and progress estimated from earlier builds.

The build's own status lines (``+++ [MMDD HH:MM:SS] message``, from ``kube::log::status``)
mark the phases: prerequisites, build image, go targets per platform (several at once
when built in parallel), tests, packaging. Failure lines: ``failure.py``.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from workbench.engine.build.failure import CAUSE, FRAME, FailureLines

STATUS = re.compile(r"^\+\+\+ (?:\[(\d{4} \d{2}:\d{2}:\d{2})\] )?(.*)$")  # 2014-15 builds had no time
_GO_TARGETS = re.compile(r"^Building go targets for (.+?)(?::| in parallel.*)?$")
_PLATFORM_DONE = re.compile(r"^(\S+/\S+): (?:go )?build finished$")
#: Helper binaries built for the host before the real targets: code generators, bindata,
#: test tools. Their "Building go targets" lines are no platform stage.
_HELPER = re.compile(r"code-generator/|kube-openapi/cmd/|go-bindata|gotestsum|teststale|(?:^|/)hack/|-gen$")

#: Rough shares of a real first build (4 vCPU), used before there is any history.
DEFAULT_SECONDS = {"prerequisites": 2.0, "build image": 60.0, "tests": 600.0, "packaging": 60.0}
DEFAULT_GO_SECONDS = {"linux/amd64": 240.0}
DEFAULT_OTHER_GO_SECONDS = 120.0


@dataclass(frozen=True)
class StageTiming:
    name: str
    started: float
    ended: float | None = None
    group: str = ""  # platforms built in parallel share one group

    @property
    def seconds(self) -> float | None:
        return None if self.ended is None else self.ended - self.started


def go_platforms(message: str) -> list[str] | None:
    """The platforms a "Building go targets for ..." status names (braced when parallel)."""
    match = _GO_TARGETS.match(message)
    return match.group(1).strip("{} ").split() if match else None


def stage_of(message: str) -> str | None:
    """The stage a status message starts, or None when it does not start one."""
    if message.startswith("Verifying Prerequisites"):
        return "prerequisites"
    if message.startswith(("Building Docker image", "Creating data container", "Syncing sources to container")):
        return "build image"
    platforms = go_platforms(message)
    if platforms:
        return "go " + " ".join(platforms)
    if message.startswith(("Running tests", "Running unit tests", "Running integration test")):
        return "tests"
    if message.startswith(("Syncing out of container", "Building tarball", "Starting tarball", "Waiting on tarballs",
                           "Building images:")):
        return "packaging"
    return None


def is_failure_line(line: str) -> bool:
    return any(p.search(line) for p in (*CAUSE, *FRAME))


def is_helper_target(target: str) -> bool:
    return bool(_HELPER.search(target.split(" (")[0].strip()))


class StageParser:
    """Feed lines in order; it keeps the stages seen, with start and end times.

    A "Building go targets" line waits for its indented target lines: helper builds (code
    generators) start no stage; a parallel line starts one stage per platform, each ended by
    its "<platform>: build finished" line or by the next stage."""

    def __init__(self) -> None:
        self.stages: list[StageTiming] = []
        self.tail: list[str] = []
        self.failures = FailureLines()
        self._go: tuple[list[str], float, list[str]] | None = None  # platforms, at, targets
        self._groups = 0
        self._events: list[tuple[str, StageTiming]] = []  # ("started" | "finished", stage)

    def drain(self) -> list[tuple[str, StageTiming]]:
        """Every stage start and end since the last call, in order (a parallel line starts several)."""
        events, self._events = self._events, []
        return events

    @property
    def failure_lines(self) -> list[str]:
        return self.failures.lines()

    @property
    def current(self) -> StageTiming | None:
        return next((s for s in reversed(self.stages) if s.ended is None), None)

    def feed(self, line: str, at: float) -> tuple[StageTiming | None, StageTiming | None]:
        """Returns (a stage finished, a stage started) when this line moves to a new stage."""
        line = line.rstrip("\r\n")
        self.tail = [*self.tail[-19:], line]
        self.failures.feed(line)
        if self._go is not None:
            if line[:1].isspace() and line.strip():
                self._go[2].append(line.strip())
                return (None, None)
            pending, self._go = self._go, None
            finished, started = self._start_go(*pending)
            later = self._status(line, at)
            return (later[0] or finished, later[1] or started)
        return self._status(line, at)

    def _status(self, line: str, at: float) -> tuple[StageTiming | None, StageTiming | None]:
        match = STATUS.match(line)
        if not match:
            return (None, None)
        message = match.group(2)
        done = _PLATFORM_DONE.match(message)
        if done:
            return (self._end(f"go {done.group(1)}", at), None)
        platforms = go_platforms(message)
        if platforms:
            self._go = (platforms, at, [])
            return (None, None)
        name = stage_of(message)
        current = self.current
        if name is None or (current is not None and current.name == name):
            return (None, None)
        finished = self.finish(at)
        started = StageTiming(name, at)
        self.stages.append(started)
        self._events.append(("started", started))
        return (finished, started)

    def _start_go(self, platforms: list[str], at: float, targets: list[str]) -> tuple[StageTiming | None, StageTiming | None]:
        if targets and all(is_helper_target(t) for t in targets):
            return (None, None)
        names = [f"go {p}" for p in platforms]
        if len(names) == 1 and self.current is not None and self.current.name == names[0]:
            return (None, None)
        finished = self.finish(at)
        self._groups += 1
        group = f"parallel-{self._groups}" if len(names) > 1 else ""
        started: StageTiming | None = None
        for name in names:
            earlier = next((i for i, s in enumerate(self.stages) if s.name == name), None)
            if earlier is not None:  # make cross builds the same platforms twice: one stage
                old = self.stages.pop(earlier)
                started = StageTiming(name, old.started, None, old.group or group)
            else:
                started = StageTiming(name, at, None, group)
            self.stages.append(started)
            self._events.append(("started", started))
        return (finished, started)

    def _end(self, name: str, at: float) -> StageTiming | None:
        for i, stage in enumerate(self.stages):
            if stage.name == name and stage.ended is None:
                self.stages[i] = StageTiming(stage.name, stage.started, at, stage.group)
                self._events.append(("finished", self.stages[i]))
                return self.stages[i]
        return None

    def finish(self, at: float) -> StageTiming | None:
        """End every open stage (and a go line still waiting for its targets); the last ended."""
        if self._go is not None:
            pending, self._go = self._go, None
            self._start_go(*pending)
        last = None
        for i, stage in enumerate(self.stages):
            if stage.ended is None:
                self.stages[i] = last = StageTiming(stage.name, stage.started, at, stage.group)
                self._events.append(("finished", last))
        return last

    def explanation(self) -> list[str]:
        """The lines that explain a failure: the cause lines, then where it stopped; else the tail."""
        self.failures.finish()
        return self.failures.lines() or [t for t in self.tail[-10:] if t.strip()]

    def cause(self) -> str | None:
        self.failures.finish()
        return self.failures.cause()

    def parallel_groups(self) -> list[list[str]]:
        return _groups(self.stages)


def planned_stages(platforms: Sequence[str], run_tests: bool) -> list[str]:
    stages = ["prerequisites", "build image", *(f"go {p}" for p in platforms)]
    if run_tests:
        stages.append("tests")
    stages.append("packaging")
    return stages


class Estimator:
    """Expected stage durations: the median of recent successful builds, else defaults.

    Platforms built in parallel (seen now, or in the last successful build) count as one
    unit of time, the longest of them: the estimate is right at the end of the go phase."""

    def __init__(self, history: Iterable[Mapping[str, Any]], planned: Sequence[str]) -> None:
        seen: dict[str, list[float]] = {}
        self.has_history = False
        self.parallel: list[set[str]] = []
        for record in list(history)[-10:]:
            if not record.get("ok"):
                continue
            for stage in record.get("stages", []):
                name, seconds = stage.get("name"), stage.get("seconds")
                if isinstance(name, str) and isinstance(seconds, int | float):
                    seen.setdefault(name, []).append(float(seconds))
            groups = record.get("parallel")
            if isinstance(groups, list):
                self.parallel = [set(g) for g in groups if isinstance(g, list)]
        self.planned = list(planned)
        self.expected: dict[str, float] = {}
        for name in self.planned:
            if name in seen:
                self.expected[name] = statistics.median(seen[name])
                self.has_history = True
            else:
                self.expected[name] = _default_seconds(name)

    def expect(self, name: str) -> float:
        return self.expected.get(name) or _default_seconds(name)

    def _units(self, stages: Sequence[StageTiming]) -> list[list[str]]:
        """The names, grouped where they run at once (this build's groups, else history's)."""
        names = list(self.planned) + [s.name for s in stages if s.name not in self.planned]
        groups = [set(g) for g in _groups(stages)] or [g & set(names) for g in self.parallel]
        units: list[list[str]] = []
        placed: set[str] = set()
        for name in names:
            if name in placed:
                continue
            group = next((g for g in groups if name in g), {name})
            unit = [n for n in names if n in group]
            placed.update(unit)
            units.append(unit)
        return units

    def progress(self, stages: Sequence[StageTiming], now: float) -> tuple[float, float | None]:
        """(percent done, seconds left or None when there is no history to go by)."""
        by_name = {s.name: s for s in stages}
        total = done = 0.0
        for unit in self._units(stages):
            expected = max(self.expect(n) for n in unit)
            total += expected
            timings = [by_name[n] for n in unit if n in by_name]
            if not timings:
                continue
            if len(timings) == len(unit) and all(t.ended is not None for t in timings):
                done += expected
            else:
                done += min(now - min(t.started for t in timings), 0.95 * expected)
        total = total or 1.0
        done = min(done, total)
        percent = round(100.0 * done / total, 1)
        left = max(0.0, total - done) if self.has_history else None
        return percent, left


def _groups(stages: Sequence[StageTiming]) -> list[list[str]]:
    found: dict[str, list[str]] = {}
    for stage in stages:
        if stage.group:
            found.setdefault(stage.group, []).append(stage.name)
    return list(found.values())


def _default_seconds(name: str) -> float:
    if name.startswith("go "):
        platforms = name[3:].split()
        return max((DEFAULT_GO_SECONDS.get(p, DEFAULT_OTHER_GO_SECONDS) for p in platforms), default=DEFAULT_OTHER_GO_SECONDS)
    return DEFAULT_SECONDS.get(name, 30.0)
