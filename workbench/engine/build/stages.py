"""Kubernetes build output -> stages, and progress estimated from earlier builds.

The build's own status lines (``+++ [MMDD HH:MM:SS] message``, from ``kube::log::status``)
mark the phases: prerequisites, build image, go targets per platform, tests, packaging.
Errors are ``!!! [...]`` lines, ``!!! Error in ...`` blocks, go compiler messages.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

STATUS = re.compile(r"^\+\+\+ \[(\d{4} \d{2}:\d{2}:\d{2})\] (.*)$")
_GO_TARGETS = re.compile(r"^Building go targets for (.+?)(?::| in parallel.*)?$")
_FAILURE = (
    re.compile(r"^!!! "),
    re.compile(r"^\S+\.go:\d+(:\d+)?: "),  # go compiler: file.go:12:3: message
    re.compile(r"^# \S+$"),  # the package a compiler error belongs to
    re.compile(r"^(make(\[\d+\])?: \*\*\*|FAIL\b|--- FAIL:|panic:|Error:|ERROR:|error:)"),
    re.compile(r"^\s+'.*' exited with status \d+$"),
)

#: Rough shares of a real first build (4 vCPU), used before there is any history.
DEFAULT_SECONDS = {"prerequisites": 2.0, "build image": 60.0, "tests": 600.0, "packaging": 60.0}
DEFAULT_GO_SECONDS = {"linux/amd64": 240.0}
DEFAULT_OTHER_GO_SECONDS = 120.0


@dataclass(frozen=True)
class StageTiming:
    name: str
    started: float
    ended: float | None = None

    @property
    def seconds(self) -> float | None:
        return None if self.ended is None else self.ended - self.started


def stage_of(message: str) -> str | None:
    """The stage a status message starts, or None when it does not start one."""
    if message.startswith("Verifying Prerequisites"):
        return "prerequisites"
    if message.startswith(("Building Docker image", "Creating data container", "Syncing sources to container")):
        return "build image"
    match = _GO_TARGETS.match(message)
    if match:
        platforms = match.group(1).strip("{} ")
        return "go " + " ".join(platforms.split())
    if message.startswith(("Running tests", "Running unit tests", "Running integration test")):
        return "tests"
    if message.startswith(("Syncing out of container", "Building tarball", "Starting tarball", "Waiting on tarballs")):
        return "packaging"
    return None


def is_failure_line(line: str) -> bool:
    return any(p.match(line) for p in _FAILURE)


class StageParser:
    """Feed lines in order; it keeps the stages seen, with start and end times."""

    def __init__(self) -> None:
        self.stages: list[StageTiming] = []
        self.failure_lines: list[str] = []
        self.tail: list[str] = []

    @property
    def current(self) -> StageTiming | None:
        if self.stages and self.stages[-1].ended is None:
            return self.stages[-1]
        return None

    def feed(self, line: str, at: float) -> tuple[StageTiming | None, StageTiming | None]:
        """Returns (stage finished, stage started) when this line moves to a new stage."""
        line = line.rstrip("\r\n")
        self.tail = [*self.tail[-19:], line]
        if is_failure_line(line):
            self.failure_lines = [*self.failure_lines[-39:], line]
        match = STATUS.match(line)
        if not match:
            return (None, None)
        name = stage_of(match.group(2))
        current = self.current
        if name is None or (current is not None and current.name == name):
            return (None, None)
        finished = self.finish(at)
        started = StageTiming(name, at)
        self.stages.append(started)
        return (finished, started)

    def finish(self, at: float) -> StageTiming | None:
        current = self.current
        if current is None:
            return None
        done = StageTiming(current.name, current.started, at)
        self.stages[-1] = done
        return done

    def explanation(self) -> list[str]:
        """The lines that explain a failure: error lines, else the last lines seen."""
        return list(self.failure_lines) or [t for t in self.tail[-10:] if t.strip()]


def planned_stages(platforms: Sequence[str], run_tests: bool) -> list[str]:
    stages = ["prerequisites", "build image", *(f"go {p}" for p in platforms)]
    if run_tests:
        stages.append("tests")
    stages.append("packaging")
    return stages


class Estimator:
    """Expected stage durations: the median of recent successful builds, else defaults."""

    def __init__(self, history: Iterable[Mapping[str, Any]], planned: Sequence[str]) -> None:
        seen: dict[str, list[float]] = {}
        self.has_history = False
        for record in list(history)[-10:]:
            if not record.get("ok"):
                continue
            for stage in record.get("stages", []):
                name, seconds = stage.get("name"), stage.get("seconds")
                if isinstance(name, str) and isinstance(seconds, int | float):
                    seen.setdefault(name, []).append(float(seconds))
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

    def progress(self, stages: Sequence[StageTiming], now: float) -> tuple[float, float | None]:
        """(percent done, seconds left or None when there is no history to go by)."""
        names = list(self.planned) + [s.name for s in stages if s.name not in self.planned]
        total = sum(self.expect(n) for n in names) or 1.0
        done = 0.0
        for stage in stages:
            if stage.ended is not None:
                done += self.expect(stage.name)
            else:
                done += min(now - stage.started, 0.95 * self.expect(stage.name))
        done = min(done, total)
        percent = round(100.0 * done / total, 1)
        left = max(0.0, total - done) if self.has_history else None
        return percent, left


def _default_seconds(name: str) -> float:
    if name.startswith("go "):
        platforms = name[3:].split()
        return max((DEFAULT_GO_SECONDS.get(p, DEFAULT_OTHER_GO_SECONDS) for p in platforms), default=DEFAULT_OTHER_GO_SECONDS)
    return DEFAULT_SECONDS.get(name, 30.0)
