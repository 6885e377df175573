"""Run the Kubernetes build in KUBE_ROOT, streaming lines and stages onto the bus.

The build runs in its own process group (its own session), so cancelling kills
everything it started. Stage durations go to the state dir's history ("build"),
where the next build's progress estimate comes from.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from workbench.engine.build.stages import Estimator, StageParser, StageTiming, planned_stages
from workbench.errors import BuildFailed, Cancelled, ProfileError
from workbench.events import BuildProgress, Bus, StageFinished, StageProgress, StageStarted
from workbench.profile import Profile
from workbench.state import StateDir

PIPELINE = "build"
MAX_LINE = 64 * 1024


@dataclass(frozen=True)
class BuildResult:
    ok: bool
    exit_status: int | None
    seconds: float
    stages: tuple[tuple[str, float], ...]  # (name, seconds)
    artifacts: tuple[str, ...]  # paths relative to KUBE_ROOT
    failure_lines: tuple[str, ...] = ()
    cancelled: bool = False
    cause: str | None = None  # the one failure line that says why
    parallel: tuple[tuple[str, ...], ...] = ()  # stages built at once

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "exit_status": self.exit_status,
            "stages": [{"name": n, "seconds": round(s, 3)} for n, s in self.stages],
            "artifacts": list(self.artifacts),
            "failure": list(self.failure_lines),
        }

    def raise_for_status(self) -> None:
        if self.cancelled:
            raise Cancelled("build cancelled")
        if not self.ok:
            why = self.cause or (self.failure_lines[-1] if self.failure_lines else "no output")
            error = BuildFailed(f"build failed with exit status {self.exit_status}: {why}")
            error.result = self  # type: ignore[attr-defined]
            raise error


@dataclass(frozen=True)
class BuildSettings:
    root: Path
    command: str
    platforms: tuple[str, ...]
    run_tests: bool
    fastbuild: bool

    @classmethod
    def from_profile(cls, profile: Profile) -> BuildSettings:
        root = profile.kube.root
        where = profile.path or "(no profile)"
        if root is None:
            raise ProfileError(where, "kube.root", "a KUBE_ROOT directory (set [kube] root or KUBE_ROOT)")
        if not Path(root).is_dir():
            raise ProfileError(where, "kube.root", f"an existing directory ({root} is not one)")
        return cls(Path(root), profile.kube.build_command, profile.kube.platforms,
                   profile.kube.run_tests, profile.kube.fastbuild)

    def environment(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ if base is None else base)
        env["KUBE_BUILD_PLATFORMS"] = " ".join(self.platforms)
        env["KUBE_RELEASE_RUN_TESTS"] = "y" if self.run_tests else "n"
        if self.fastbuild:
            env["KUBE_FASTBUILD"] = "true"
        return env


class BuildRunner:
    """One build at a time: ``await run()``; ``cancel()`` from anywhere on the loop."""

    def __init__(self, settings: BuildSettings, bus: Bus, state: StateDir | None = None,
                 *, env: Mapping[str, str] | None = None, tick: float = 0.5) -> None:
        self.settings = settings
        self.bus = bus
        self.state = state
        self.env = settings.environment(env)
        self.tick = tick
        self._proc: asyncio.subprocess.Process | None = None
        self._cancelled = False
        self.pid: int | None = None

    def cancel(self) -> None:
        self._cancelled = True
        self._kill_group(signal.SIGTERM)

    def _kill_group(self, sig: int) -> None:
        if self.pid is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    async def run(self) -> BuildResult:
        s = self.settings
        history = self.state.history().get("build", []) if self.state else []
        estimator = Estimator(history, planned_stages(s.platforms, s.run_tests))
        parser = StageParser()
        start = time.monotonic()
        self.bus.log(PIPELINE, None, f"$ {s.command}  (in {s.root}; KUBE_BUILD_PLATFORMS="
                     f"{self.env['KUBE_BUILD_PLATFORMS']!r} KUBE_RELEASE_RUN_TESTS={self.env['KUBE_RELEASE_RUN_TESTS']})",
                     "info")
        self._proc = await asyncio.create_subprocess_exec(
            "/bin/sh", "-c", s.command, cwd=s.root, env=self.env,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, start_new_session=True,
        )
        self.pid = self._proc.pid
        ticker = asyncio.create_task(self._ticker(parser, estimator))
        status: int | None = None
        try:
            assert self._proc.stdout is not None and self._proc.stderr is not None
            await asyncio.gather(
                self._pump(self._proc.stdout, "stdout", parser, estimator),
                self._pump(self._proc.stderr, "stderr", parser, estimator),
            )
            status = await self._proc.wait()
        finally:
            ticker.cancel()
            if status is None or self._cancelled:
                self._cancelled = self._cancelled or status is None
                await self._terminate()
            self._kill_group(signal.SIGKILL)  # anything the build left in its group
            await self._wait_group_gone()
        now = time.monotonic()
        parser.finish(now)
        ok = status == 0 and not self._cancelled
        for kind, stage in parser.drain():
            if kind == "finished":
                self._publish_finished(stage, ok=ok)
        stages = tuple((t.name, t.seconds or 0.0) for t in parser.stages)
        artifacts = self._artifacts() if ok else ()
        result = BuildResult(
            ok=ok, exit_status=status, seconds=now - start, stages=stages, artifacts=artifacts,
            failure_lines=() if ok else tuple(parser.explanation()), cancelled=self._cancelled,
            cause=None if ok else parser.cause(), parallel=tuple(tuple(g) for g in parser.parallel_groups()),
        )
        if ok:
            self.bus.publish(BuildProgress("done", 100.0, 0.0, stages))
        self._record(result)
        return result

    async def _terminate(self) -> None:
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        self._kill_group(signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(proc.wait()), 3.0)
        except TimeoutError:
            self._kill_group(signal.SIGKILL)
            await proc.wait()

    async def _wait_group_gone(self, timeout: float = 3.0) -> None:
        deadline = time.monotonic() + timeout
        while self.pid is not None and group_members(self.pid) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    async def _pump(self, stream: asyncio.StreamReader, name: str, parser: StageParser,
                    estimator: Estimator) -> None:
        pending = b""
        while True:
            chunk = await stream.read(65536)
            if not chunk:
                if pending:
                    self._line(pending, name, parser, estimator)
                return
            pending += chunk
            *lines, pending = pending.split(b"\n")
            if len(pending) > MAX_LINE:
                lines.append(pending)
                pending = b""
            for raw in lines:
                self._line(raw, name, parser, estimator)

    def _line(self, raw: bytes, stream: str, parser: StageParser, estimator: Estimator) -> None:
        text = raw[:MAX_LINE].decode("utf-8", "replace").rstrip("\r")
        self.bus.log(PIPELINE, None, text, "stderr" if stream == "stderr" else "stdout")
        parser.feed(text, time.monotonic())
        events = parser.drain()
        for kind, stage in events:
            if kind == "finished":
                self._publish_finished(stage, ok=True)
            else:
                self.bus.publish(StageStarted(PIPELINE, stage.name))
        if events:
            self._progress(parser, estimator)

    def _publish_finished(self, stage: StageTiming, ok: bool) -> None:
        self.bus.publish(StageFinished(PIPELINE, stage.name, ok=ok, seconds=stage.seconds or 0.0,
                                       error=None if ok else "build failed"))

    def _progress(self, parser: StageParser, estimator: Estimator) -> None:
        current = parser.current
        percent, left = estimator.progress(parser.stages, time.monotonic())
        stages = tuple((t.name, t.seconds) for t in parser.stages)
        self.bus.publish(BuildProgress(current.name if current else "", percent, left, stages))
        if current is not None:
            eta = f"{percent:.0f}%" + (f", about {left:.0f} s left" if left is not None else "")
            self.bus.publish(StageProgress(PIPELINE, current.name, done=percent, total=100.0, detail=eta))

    async def _ticker(self, parser: StageParser, estimator: Estimator) -> None:
        while True:
            await asyncio.sleep(self.tick)
            if parser.current is not None:
                self._progress(parser, estimator)

    def _artifacts(self) -> tuple[str, ...]:
        tars = self.settings.root / "_output" / "release-tars"
        if not tars.is_dir():
            return ()
        return tuple(str(p.relative_to(self.settings.root)) for p in sorted(tars.iterdir()) if p.is_file())

    def _record(self, result: BuildResult) -> None:
        if self.state is None or result.cancelled:
            return
        self.state.append_history("build", {
            "at": time.time(), "ok": result.ok, "seconds": round(result.seconds, 3),
            "platforms": list(self.settings.platforms), "run_tests": self.settings.run_tests,
            "exit_status": result.exit_status,
            "stages": [{"name": n, "seconds": round(s, 3)} for n, s in result.stages],
            "parallel": [list(g) for g in result.parallel],
        })


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes in a process group, from /proc."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry))
    return members


async def run_build(profile: Profile, bus: Bus, state: StateDir | None = None) -> BuildResult:
    """Build with the profile's settings; returns the result (``raise_for_status`` to raise)."""
    runner = BuildRunner(BuildSettings.from_profile(profile), bus, state)
    return await runner.run()
