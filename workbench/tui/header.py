"""The header: SANDBOX / READONLY badges, the cloud, the cluster, the running pipeline,
and how the last one ended when it failed or was cancelled (until the next run)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label

from workbench.events import Event, PipelineFinished, PipelineStarted, StageStarted
from workbench.profile import Profile


class WorkbenchHeader(Horizontal):
    def __init__(self, profile: Profile, *, readonly: bool) -> None:
        super().__init__(id="header")
        self.profile = profile
        self.readonly = readonly
        self.running: str | None = None
        self.stage: str | None = None
        #: "✗ redeploy failed at verify: …" or "⊘ up cancelled at instances"; None after a success
        self.outcome: str | None = None

    def compose(self) -> ComposeResult:
        cloud = self.profile.cloud.name
        cluster = self.profile.cluster.name
        yield Label("workbench", id="header-title")
        sandbox = Label(" SANDBOX ", id="badge-sandbox", classes="badge")
        sandbox.display = self.profile.sandbox
        yield sandbox
        readonly = Label(" READONLY ", id="badge-readonly", classes="badge")
        readonly.display = self.readonly
        yield readonly
        yield Label(f"cloud: {cloud or 'OS_* environment'}", id="header-cloud", markup=False)
        yield Label(f"cluster: {cluster}", id="header-cluster", markup=False)
        yield Label("", id="header-running", markup=False)

    def on_mount(self) -> None:
        self._render_running()

    def pipeline_event(self, event: Event) -> None:
        if isinstance(event, PipelineStarted):
            self.running, self.stage, self.outcome = event.pipeline, None, None
        elif isinstance(event, StageStarted) and event.pipeline == self.running and event.node is None:
            self.stage = event.stage
        elif isinstance(event, PipelineFinished):
            if event.pipeline == self.running:
                self.running, self.stage = None, None
            self.outcome = None if event.ok else outcome_text(event)
        self._render_running()

    def set_running(self, pipeline: str | None) -> None:
        if pipeline != self.running:
            self.running, self.stage = pipeline, None
            self._render_running()

    def _render_running(self) -> None:
        label = self.query_one("#header-running", Label)
        label.set_class(bool(self.running), "-running")
        label.set_class(not self.running and self.outcome is not None, "-failed")
        if self.running:
            label.update(f"▶ {self.running}" + (f" · {self.stage}" if self.stage else ""))
        elif self.outcome:
            label.update(self.outcome)
        else:
            label.update("idle")


def outcome_text(event: PipelineFinished) -> str:
    """``✗ redeploy failed at verify (node): reason`` or ``⊘ redeploy cancelled at build``;
    nodes the error already names are not repeated."""
    where = event.failed_stage or ""
    if event.cancelled:
        return f"⊘ {event.pipeline} cancelled" + (f" at {where}" if where else "")
    error = event.error or ""
    nodes = [n for n in event.failed_nodes if n not in error]
    if nodes:
        where = f"{where} ({', '.join(nodes)})" if where else ", ".join(nodes)
    return f"✗ {event.pipeline} failed{f' at {where}' if where else ''}: {error}"
