"""Build pane: the running build's stages, progress and time left, and past durations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.markup import escape
from textual.widgets import Label, ProgressBar, Sparkline, Static

from workbench.events import (
    BuildProgress,
    Event,
    PipelineFinished,
    PipelineStarted,
    StageFinished,
    StageStarted,
)

HISTORY_POINTS = 30
STAGE_WIDTH = 20


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "…"
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s"


def history_durations(history: dict[str, list[dict[str, Any]]]) -> list[float]:
    """Durations of the last builds from ``StateDir.history()`` (``seconds`` or ``duration``)."""
    out: list[float] = []
    for record in history.get("build", [])[-HISTORY_POINTS:]:
        if not isinstance(record, dict):
            continue
        value = record.get("seconds", record.get("duration"))
        if isinstance(value, (int, float)) and value >= 0:
            out.append(float(value))
    return out


class BuildPane(Vertical):
    ALLOW_MAXIMIZE = True
    can_focus = True

    def __init__(self, *, id: str | None = "build") -> None:
        super().__init__(id=id, classes="pane")
        self.stages: dict[str, tuple[str, float | None]] = {}  # name -> (state, seconds)
        self.percent = 0.0
        self.eta: float | None = None
        self.current = ""
        self.outcome = ""  # "done" / "failed" once the build has ended
        self.border_title = "Build"

    def compose(self) -> ComposeResult:
        with Horizontal(id="build-progress-row"):
            yield ProgressBar(total=100, show_eta=False, id="build-progress")
            yield Label("", id="build-eta")
        yield Static("", id="build-stages")
        with Horizontal(id="build-history-row"):
            yield Label("history", id="build-history-label")
            yield Sparkline([], id="build-history")

    def on_mount(self) -> None:
        self._redraw()

    last_build: float | None = None  # seconds of the last recorded build (its history)

    def show_history(self, durations: Sequence[float]) -> None:
        self.last_build = durations[-1] if durations else None
        if not self.stages:
            self._redraw()  # the idle text says what the history says
        spark = self.query_one("#build-history", Sparkline)
        spark.data = list(durations)
        label = self.query_one("#build-history-label", Label)
        spark.display = bool(durations)  # an empty sparkline draws a misleading flat line
        if durations:
            label.update(f"last {len(durations)}: {duration_text(durations[-1])}")
        else:
            label.update("no builds yet")

    def pipeline_event(self, event: Event) -> None:
        if isinstance(event, PipelineStarted):
            if event.pipeline in ("build", "redeploy"):
                self.stages = {}
                self.percent, self.eta, self.current, self.outcome = 0.0, None, "", ""
        elif isinstance(event, BuildProgress):
            self.percent = max(0.0, min(100.0, event.percent))
            self.eta = event.eta_seconds
            for name, seconds in event.stages:
                self.stages[name] = ("done" if seconds is not None else "running", seconds)
            if self.percent < 100.0:  # the runner's last report ("done", 100%) is not a stage
                self.current = event.stage
                if event.stage and event.stage not in self.stages:
                    self.stages[event.stage] = ("running", None)
        elif isinstance(event, StageStarted) and event.pipeline == "build" and event.node is None:
            self.stages[event.stage] = ("running", None)
            self.current = event.stage
        elif isinstance(event, StageFinished) and event.pipeline == "build" and event.node is None:
            self.stages[event.stage] = ("done" if event.ok else "failed", event.seconds)
        elif isinstance(event, PipelineFinished) and event.pipeline in ("build", "redeploy"):
            self._finish(event)
        self._redraw()

    def _finish(self, event: PipelineFinished) -> None:
        """No stage is left "running" once its pipeline has ended (ok, failed or cancelled)."""
        built = self.percent >= 100.0
        for name, (state, seconds) in self.stages.items():
            if state == "running":
                self.stages[name] = ("done" if event.ok or built else "failed", seconds)
        if built or (event.ok and event.pipeline == "build"):
            self.percent, self.eta, self.current, self.outcome = 100.0, None, "", "done"
        elif event.pipeline == "build" or event.failed_stage == "build":
            self.eta, self.outcome = None, "failed"
            self.current = f"failed: {event.error or event.failed_stage or ''}"

    def on_resize(self) -> None:
        self.call_after_refresh(self._redraw)  # how many stage rows fit has changed

    def _stage_rows(self) -> list[str]:
        """One row per stage; when they don't fit, the latest ones (the running stage)."""
        marks = {"done": "[$success]✓[/]", "running": "[$accent]▶[/]", "failed": "[$error]✗[/]"}
        room = self.query_one("#build-stages", Static).size.width
        width = max(8, min(STAGE_WIDTH, room - 12)) if room else STAGE_WIDTH  # a narrow terminal
        rows = [
            f" {marks.get(state, ' ')} {escape(f'{name[:width]:<{width}}')}"
            f"{duration_text(seconds) if state != 'running' else '…':>8}"
            for name, (state, seconds) in self.stages.items()
        ]
        height = self.query_one("#build-stages", Static).size.height
        if height and len(rows) > height:
            hidden = len(rows) - height + 1
            rows = [f" [$foreground-muted]… {hidden} earlier[/]", *rows[hidden:]]
        return rows

    def _redraw(self) -> None:
        self.query_one("#build-progress", ProgressBar).update(progress=self.percent)
        if self.eta is not None and self.percent < 100.0:
            eta = f"{duration_text(self.eta)} left"
        else:
            eta = self.outcome
        self.query_one("#build-eta", Label).update(eta)
        rows = self._stage_rows()
        idle = (f" last build took {duration_text(self.last_build)} — b builds again"
                if self.last_build is not None else " no build yet — press b to build")
        text = "\n".join(rows) if rows else idle
        self.query_one("#build-stages", Static).update(text)
        self.border_subtitle = self.current
