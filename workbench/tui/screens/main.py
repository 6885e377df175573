"""The main screen: five panes, and the keys that drive the engine.

Engine calls run in workers (one pipeline at a time); workers never touch widgets.
Events come back through the app's event pump and ``apply_event``.
"""

from __future__ import annotations

import shlex
import subprocess
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import DataTable, Footer
from textual.worker import Worker, WorkerState

from workbench.errors import Cancelled, PipelineBusy, PipelineFailed, WorkbenchError
from workbench.events import (
    AlertsChanged,
    BuildProgress,
    ClusterInfoChanged,
    Event,
    InstancesChanged,
    LinesDropped,
    Notice,
    PipelineFinished,
    PipelineStarted,
    StageFinished,
    StageStarted,
)
from workbench.models import Alert
from workbench.tui.bindings import MUTATING_ACTIONS, SCREEN_BINDINGS
from workbench.tui.header import WorkbenchHeader, outcome_text
from workbench.tui.panes.alerts import AlertsPane, alert_row_key
from workbench.tui.panes.build import BuildPane, duration_text
from workbench.tui.panes.cluster import ClusterPane
from workbench.tui.panes.instances import InstancesPane
from workbench.tui.panes.logs import LogsPane
from workbench.tui.screens.alert_detail import AlertDetailScreen
from workbench.tui.screens.confirm import ConfirmScreen
from workbench.tui.search import SearchablePane, SearchInput, searchable_of

if TYPE_CHECKING:
    from workbench.tui.app import WorkbenchApp

PALETTE_KEY_MIN_WIDTH = 112
#: Below this many columns the footer leaves out FOOTER_OPTIONAL and the build pane narrows.
NARROW_WIDTH = 100
FOOTER_OPTIONAL = frozenset({"push", "salt_failed", "down"})
PANE_ORDER = ("build", "instances", "logs", "cluster", "alerts")
_FOCUS_TARGET = {
    "build": "#build", "instances": "#instances-table", "logs": "#log-view",
    "cluster": "#cluster", "alerts": "#alerts-table",
}
_NOTIFY_SEVERITY = {"info": "information", "warning": "warning", "error": "error", "critical": "error"}


def failure_text(event: PipelineFinished) -> str:
    """``up failed at instances (kubernetes-minion-1): <error>`` or ``up cancelled at instances``."""
    return outcome_text(event)[2:]


class MainScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = list(SCREEN_BINDINGS)
    ALLOW_IN_MAXIMIZED_VIEW = "#header, Footer"

    app: WorkbenchApp

    def __init__(self) -> None:
        super().__init__()
        self._started: dict[str, float] = {}  # pipeline -> monotonic start, for "finished in"
        self._alert_keys: set[str] | None = None  # alerts of the last check; None before the first

    def compose(self) -> ComposeResult:
        yield WorkbenchHeader(self.app.engine.profile, readonly=self.app.readonly)
        with Horizontal(id="top-row"):
            yield BuildPane()
            yield InstancesPane(clock=self.app.clock)
        yield LogsPane(max_lines=self.app.max_log_lines)
        with Horizontal(id="bottom-row"):
            yield ClusterPane(clock=self.app.clock)
            yield AlertsPane()
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#instances-table").focus()
        self.refresh_history()

    def on_resize(self, event: events.Resize) -> None:
        """Below ~110 columns the palette key gives its place to Help and Quit (Ctrl+P still works);
        below 100 the footer drops the rarer keys (still bound, and in ? help) and the
        build pane narrows."""
        footer = self.query_one(Footer)
        footer.show_command_palette = event.size.width >= PALETTE_KEY_MIN_WIDTH
        narrow = event.size.width < NARROW_WIDTH
        self.set_class(narrow, "-narrow")
        self.refresh_bindings()
        self.call_after_refresh(self._place_toasts)

    def _place_toasts(self) -> None:
        """Toasts stack up from the bottom of the logs pane, never over the alerts table."""
        from textual.widgets._toast import ToastRack

        above_bottom_row = self.size.height - self.query_one("#bottom-row").region.y
        for rack in self.query(ToastRack):
            rack.styles.margin = (0, 0, max(1, above_bottom_row), 0)

    @property
    def active_bindings(self) -> dict[str, Any]:
        """The footer's keys; in a narrow terminal without the rarer ones."""
        active = super().active_bindings
        if self.size.width >= NARROW_WIDTH:
            return active
        return {k: b for k, b in active.items() if b.binding.action not in FOOTER_OPTIONAL}

    # -- events -------------------------------------------------------------------------
    def apply_event(self, event: Event) -> None:
        if isinstance(event, (StageStarted, StageFinished)):
            self.query_one(InstancesPane).stage_event(event)
        if isinstance(event, (PipelineStarted, PipelineFinished, StageStarted)):
            self.query_one(WorkbenchHeader).pipeline_event(event)
        if isinstance(event, (PipelineStarted, PipelineFinished, StageStarted, StageFinished, BuildProgress)):
            self.query_one(BuildPane).pipeline_event(event)
        if isinstance(event, (PipelineStarted, PipelineFinished)):
            self.refresh_bindings()  # Esc (cancel) comes and goes with a running pipeline
        if isinstance(event, PipelineStarted):
            self._started[event.pipeline] = time.monotonic()
        if isinstance(event, PipelineFinished):
            self.refresh_history()
            started = self._started.pop(event.pipeline, None)
            if event.ok and event.pipeline != "fix":  # a fix's own result is its toast
                took = f" in {duration_text(time.monotonic() - started)}" if started is not None else ""
                self.notify(f"{event.pipeline} finished{took}", timeout=4)
            elif not event.ok:
                text = failure_text(event)
                self.app.add_own_line(text)  # stays in the logs pane and workbench.log
                if event.cancelled:
                    self.notify(text, severity="warning", timeout=6)
                elif event.error:
                    self.notify(text, severity="error", timeout=10)
        elif isinstance(event, InstancesChanged):
            self.query_one(InstancesPane).show_instances(event.instances)
        elif isinstance(event, ClusterInfoChanged):
            self.query_one(ClusterPane).show_info(event.info)
        elif isinstance(event, AlertsChanged):
            self._announce_new_alerts(event.alerts)  # booting nodes: left out by the engine
            self.query_one(AlertsPane).show_alerts(event.alerts)
        elif isinstance(event, LinesDropped):
            self.query_one(LogsPane).note_dropped(event.count)
        elif isinstance(event, Notice):
            self.notify(event.text, severity=_NOTIFY_SEVERITY.get(event.severity, "information"))  # type: ignore[arg-type]

    def _announce_new_alerts(self, alerts: tuple[Alert, ...]) -> None:
        """A toast for each alert that appeared since the last check (not for the first
        check, which the engine always publishes: those are in the pane as the app opens)."""
        keys = {alert_row_key(a) for a in alerts}
        seen, self._alert_keys = self._alert_keys, keys
        if seen is None:
            return
        new = [a for a in alerts if alert_row_key(a) not in seen and a.severity != "info"]
        for alert in new[:3]:
            about = "" if alert.subject in alert.message else f" on {alert.subject}"
            self.notify(f"{alert.kind}{about}: {alert.message}",
                        title="new alert · Tab to Alerts, Enter for details",
                        severity="error" if alert.severity in ("error", "critical") else "warning",
                        timeout=8)
        if len(new) > 3:
            self.notify(f"… and {len(new) - 3} more new alerts in the Alerts pane", severity="warning")

    def refresh_history(self) -> None:
        from workbench.tui.panes.build import history_durations

        try:
            history = self.app.engine.state.history()
        except (WorkbenchError, OSError):
            history = {}
        self.query_one(BuildPane).show_history(history_durations(history))

    def restyle(self, variables: dict[str, str]) -> None:
        self.query_one(InstancesPane).restyle(variables)
        self.query_one(ClusterPane).restyle(variables)
        self.query_one(AlertsPane).restyle(variables)
        self.query_one(LogsPane).restyle(variables)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Ctrl+C is in the footer only while there is something to cancel: the footer then
        has room for Help and Quit."""
        if action == "cancel":
            return bool(self.busy_with())
        return True

    # -- guards and workers ---------------------------------------------------------------
    def refused(self, action: str, description: str) -> bool:
        if self.app.readonly and action in MUTATING_ACTIONS:
            self.notify(f"readonly: {description} is disabled (started with --readonly)", severity="warning")
            return True
        return False

    def busy_with(self) -> str | None:
        running = self.app.engine.running
        if running:
            return str(running)
        active = [w for w in self.workers if w.group == "pipeline" and w.state in (WorkerState.PENDING, WorkerState.RUNNING)]
        return active[0].name if active else None

    def start_pipeline(self, name: str, description: str, call: Callable[[], Awaitable[Any]]) -> None:
        if self.refused(name, description):
            return
        busy = self.busy_with()
        if busy:
            self.notify(f"{busy} is running: wait for it, or press ctrl+c to cancel it", severity="warning")
            return
        self.query_one(WorkbenchHeader).set_running(name)
        self.run_pipeline(name, call)

    @work(exclusive=True, group="pipeline", exit_on_error=False)
    async def run_pipeline(self, name: str, call: Callable[[], Awaitable[Any]]) -> Any:
        return await call()

    @work(group="fix", exit_on_error=False)
    async def run_fix(self, alert: Alert, fix_name: str | None) -> str:
        return await self.app.engine.fix(alert, fix_name)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group not in ("pipeline", "fix"):
            return
        if event.state == WorkerState.SUCCESS and worker.group == "fix" and worker.result:
            self.notify(str(worker.result), title="fix")
        if event.state == WorkerState.ERROR:
            error = worker.error
            if isinstance(error, Cancelled):
                self.notify("cancelled", severity="warning")
            elif isinstance(error, PipelineFailed):
                pass  # its PipelineFinished event already told the user where it stopped
            elif isinstance(error, PipelineBusy):
                self.notify(f"refused: {error}", severity="warning")
            elif isinstance(error, WorkbenchError):
                self.notify(str(error), severity="error", timeout=10)
            else:
                self.notify(f"{type(error).__name__}: {error}", severity="error", timeout=10)
        self.refresh_bindings()
        finished = event.state in (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED)
        if finished and worker.group == "pipeline":
            self.query_one(WorkbenchHeader).set_running(self.app.engine.running)

    # -- pipeline actions -----------------------------------------------------------------
    def action_build(self) -> None:
        self.start_pipeline("build", "build", lambda: self.app.engine.build())

    def action_up(self) -> None:
        self.start_pipeline("up", "up", lambda: self.app.engine.up())

    def action_push(self) -> None:
        self.start_pipeline("push", "push", lambda: self.app.engine.push())

    def action_redeploy(self) -> None:
        self.start_pipeline("redeploy", "redeploy", lambda: self.app.engine.redeploy())

    def action_salt_failed(self) -> None:
        self.start_pipeline("salt_failed", "salt", lambda: self.app.engine.salt(failed_only=True))

    def action_down(self) -> None:
        if self.refused("down", "down") or self._refuse_busy():
            return
        cluster = self.app.engine.profile.cluster.name
        count = len(self.query_one(InstancesPane).instances)
        body = (f"Delete the {count} instance(s) of cluster '{cluster}', their ports and floating IPs?\n"
                "Only resources tagged as the workbench's are deleted.")

        def chosen(value: str | None) -> None:
            if value == "down":
                self.start_pipeline("down", "down", lambda: self.app.engine.down())

        self.app.push_screen(ConfirmScreen(f"Tear down {cluster}?", body, [("Delete", "down")]), chosen)

    def _refuse_busy(self) -> bool:
        busy = self.busy_with()
        if busy:
            self.notify(f"{busy} is running: wait for it, or press ctrl+c to cancel it", severity="warning")
        return bool(busy)

    def running_stage(self) -> str | None:
        header = self.query_one(WorkbenchHeader)
        return header.stage if header.running else None

    def action_cancel(self) -> None:
        """Asks first: a stray key must not cut a redeploy short."""
        busy = self.busy_with()
        if not busy:
            self.notify("nothing to cancel: no pipeline is running", timeout=3)
            return
        stage = self.running_stage()
        at = f" at stage {stage}" if stage else ""
        body = (f"{busy} is running{at}. Cancelling stops it there; the stage cleans up first "
                "(the build's processes, a push's temporary files). It is shown as cancelled.")

        def chosen(value: str | None) -> None:
            if value == "cancel" and self.busy_with():
                self.app.engine.cancel()
                self.notify(f"cancelling {busy}…", severity="warning")

        self.app.push_screen(ConfirmScreen(f"Cancel {busy}?", body, [("Cancel it", "cancel")],
                                           no_label="Keep running"), chosen)

    def action_back(self) -> None:
        """Esc: back out one level (the focused pane's search, another's, then zoom); never
        cancels a pipeline."""
        focused = searchable_of(self.focused)
        searching = [p for p in (focused, *self.query(SearchablePane)) if p is not None and p.searching]
        if searching:
            searching[0].clear_search()
        elif self.maximized is not None:
            self.minimize()
            self.refresh_bindings()

    # -- alerts ---------------------------------------------------------------------------
    def action_fix(self, alert: Alert | None = None) -> None:
        alert = alert or self.query_one(AlertsPane).selected_alert
        if self.refused("fix", "fix") or self._refuse_busy():
            return
        if alert is None:
            self.notify("no alert selected", severity="warning")
            return
        if not alert.fixes:
            self.notify(f"no automatic fix for {alert.kind}; run: {alert.command or '-'}", severity="warning")
            return
        body = "\n".join(f"{fix.name}: {fix.description}" for fix in alert.fixes)

        def chosen(value: str | None) -> None:
            if value is not None:
                self.notify(f"fixing {alert.kind} on {alert.subject} ({value})…", title="fix", timeout=4)
                self.run_fix(alert, value)

        choices = [(fix.name.capitalize(), fix.name) for fix in alert.fixes]
        self.app.push_screen(ConfirmScreen(f"Fix {alert.kind} on {alert.subject}?", body, choices), chosen)

    def action_fix_kind(self) -> None:
        """Every alert of the selected alert's kind, fixed one after another after one
        confirmation that lists them (as ``workbench doctor --fix KIND``)."""
        selected = self.query_one(AlertsPane).selected_alert
        if self.refused("fix_kind", "fix") or self._refuse_busy():
            return
        if selected is None:
            self.notify("no alert selected", severity="warning")
            return
        alerts = [a for a in self.query_one(AlertsPane).alerts if a.kind == selected.kind and a.fixes]
        if not alerts:
            self.notify(f"no automatic fix for {selected.kind}; run: {selected.command or '-'}", severity="warning")
            return
        listed = "\n".join(f"  {a.subject}: {a.fixes[0].name}" for a in alerts[:12])
        more = f"\n  … and {len(alerts) - 12} more" if len(alerts) > 12 else ""
        body = f"{alerts[0].fixes[0].description}\n\n{listed}{more}"

        def chosen(value: str | None) -> None:
            if value == "all":
                self.notify(f"fixing {len(alerts)} {selected.kind} alert(s)…", title="fix", timeout=4)
                self.run_fixes(alerts)

        self.app.push_screen(ConfirmScreen(f"Fix all {len(alerts)} {selected.kind} alert(s)?", body,
                                           [(f"Fix {len(alerts)}", "all")]), chosen)

    @work(group="fix", exit_on_error=False)
    async def run_fixes(self, alerts: list[Any]) -> str:
        """One fix at a time (the engine runs one pipeline at a time); a failure does not
        stop the others."""
        done, failed = 0, []
        for alert in alerts:
            try:
                await self.app.engine.fix(alert, None)
                done += 1
            except WorkbenchError as exc:
                failed.append(f"{alert.subject}: {exc}")
        summary = f"{alerts[0].kind}: {done} of {len(alerts)} fixed"
        if failed:
            self.notify("; ".join(failed), title="fix failed", severity="error", timeout=10)
        return summary

    @on(DataTable.RowSelected, "#alerts-table")
    def show_alert(self, event: DataTable.RowSelected) -> None:
        alert = self.query_one(AlertsPane).selected_alert
        if alert is None:
            return

        def closed(value: str | None) -> None:
            if value == "fix":
                self.action_fix(alert)

        self.app.push_screen(AlertDetailScreen(alert, readonly=self.app.readonly), closed)

    # -- nodes ------------------------------------------------------------------------------
    def _selected_node(self) -> str | None:
        node = self.query_one(InstancesPane).selected_node
        if node is None:
            self.notify("no node selected: pick one in the instances pane", severity="warning")
        return node

    def action_ssh(self) -> None:
        if self.refused("ssh", "ssh") or (node := self._selected_node()) is None:
            return
        from workbench.tui.screens.terminal import TerminalScreen

        self.app.push_screen(TerminalScreen(self.app.engine, node))

    def action_ssh_system(self) -> None:
        if self.refused("ssh_system", "ssh") or (node := self._selected_node()) is None:
            return
        from textual.app import SuspendNotSupported

        try:
            argv = self.app.engine.system_ssh_argv(node)
            command = shlex.join(argv)
            self.app.add_own_line(f"$ {command}", source="cmd")
            with self.app.suspend():
                print(f"workbench: $ {command}", flush=True)  # what runs, to reuse outside
                status = subprocess.run(argv, check=False).returncode
        except SuspendNotSupported:
            self.notify("this terminal cannot suspend the app; use s for the embedded shell", severity="warning")
            return
        except (OSError, WorkbenchError) as exc:
            self.notify(f"ssh {node}: {exc}", severity="error")
            return
        if status not in (0, 130):
            self.notify(f"ssh {node} exited with status {status}", severity="warning")

    # -- panes ------------------------------------------------------------------------------
    def action_search(self) -> None:
        """``/``: search the focused pane when it is a table or the logs, else the logs."""
        if isinstance(self.focused, SearchInput):  # "/" typed into a search itself (a path)
            self.focused.insert_text_at_cursor("/")
            return
        self.search_pane().open_search()

    def search_pane(self) -> SearchablePane:
        pane = searchable_of(self.focused)
        return pane if pane is not None else self.query_one(LogsPane)

    def action_toggle_follow(self) -> None:
        logs = self.query_one(LogsPane)
        logs.set_follow(not logs.follow)

    def action_toggle_timestamps(self) -> None:
        self.query_one(LogsPane).toggle_timestamps()

    def action_export_logs(self) -> None:
        """The lines shown (filter applied) to a file beside workbench.log; both paths said."""
        lines = self.query_one(LogsPane).shown_lines()
        state = self.app.engine.state
        path = state.root / time.strftime("logs-%Y%m%d-%H%M%S.txt", time.localtime(self.app.clock()))
        try:
            path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
        except OSError as exc:
            self.notify(f"{path}: cannot write ({exc.strerror})", severity="error")
            return
        self.notify(f"saved {len(lines)} lines to {path}\nevery line: {state.log_path}", title="logs", timeout=10)

    def current_pane(self) -> str:
        node: Any = self.focused
        while node is not None and not (isinstance(node, Widget) and node.has_class("pane")):
            node = node.parent
        return node.id if node is not None and node.id in PANE_ORDER else "instances"

    def action_zoom(self) -> None:
        if self.maximized is not None:
            self.minimize()
        else:
            self.maximize(self.query_one(f"#{self.current_pane()}"), container=False)
        self.refresh_bindings()

    def _move_pane(self, step: int) -> None:
        index = (PANE_ORDER.index(self.current_pane()) + step) % len(PANE_ORDER)
        pane = PANE_ORDER[index]
        # set_focus now, not focus() (scheduled): the next Tab in the same batch of keys
        # must see where this one went
        self.set_focus(self.query_one(_FOCUS_TARGET[pane]))
        if self.maximized is not None:
            self.maximize(self.query_one(f"#{pane}"), container=False)

    def action_next_pane(self) -> None:
        self._move_pane(1)

    def action_previous_pane(self) -> None:
        self._move_pane(-1)
