"""The header: SANDBOX / READONLY badges, the cloud, the cluster and the running pipeline."""

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
            self.running, self.stage = event.pipeline, None
        elif isinstance(event, StageStarted) and event.pipeline == self.running and event.node is None:
            self.stage = event.stage
        elif isinstance(event, PipelineFinished) and event.pipeline == self.running:
            self.running, self.stage = None, None
        self._render_running()

    def set_running(self, pipeline: str | None) -> None:
        if pipeline != self.running:
            self.running, self.stage = pipeline, None
            self._render_running()

    def _render_running(self) -> None:
        label = self.query_one("#header-running", Label)
        if self.running:
            label.update(f"▶ {self.running}" + (f" · {self.stage}" if self.stage else ""))
            label.set_class(True, "-running")
        else:
            label.update("idle")
            label.set_class(False, "-running")
