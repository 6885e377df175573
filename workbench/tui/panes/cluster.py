"""Cluster pane: cluster-info services, nodes with their Ready state, pods of all namespaces."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Label

from workbench.models import ClusterInfo
from workbench.tui.bindings import NAVIGATION_BINDINGS
from workbench.tui.safe_text import safe_line
from workbench.tui.themes import style_of

EMPTY = "No cluster info yet: it appears once the master's API server answers (u, then r)."


def _plain(value: object, limit: int = 64) -> Text:
    """Remote text as a cell: never parsed as markup, escapes removed."""
    return Text(safe_line(str(value), limit))


def _table(table_id: str, columns: tuple[str, ...]) -> DataTable[Any]:
    table: DataTable[Any] = DataTable(id=table_id, cursor_type="none", show_cursor=False)
    table.can_focus = False
    for column in columns:
        table.add_column(column, key=column)
    return table


def age_text(seconds: float) -> str:
    """``12s ago``, ``4m ago``, ``2h ago``."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s ago"
    if seconds < 3600:
        return f"{seconds // 60}m ago"
    return f"{seconds // 3600}h ago"


class ClusterPane(VerticalScroll):
    ALLOW_MAXIMIZE = True
    can_focus = True
    BINDINGS: ClassVar[list[BindingType]] = list(NAVIGATION_BINDINGS)

    def __init__(self, *, id: str | None = "cluster", clock: Callable[[], float] = time.time) -> None:
        super().__init__(id=id, classes="pane")
        self.info: ClusterInfo | None = None
        self.clock = clock
        self.refreshed_at: float | None = None  # when the last cluster info arrived
        self.border_title = "Cluster"
        self._variables: Mapping[str, str] = {}

    def compose(self) -> ComposeResult:
        yield Label(EMPTY, id="cluster-empty", classes="empty", markup=False)
        # what matters most first: are the nodes Ready, are the pods running
        yield Label("nodes", classes="section")
        yield _table("cluster-nodes", ("node", "status", "roles", "version"))
        yield Label("pods", classes="section")
        yield _table("cluster-pods", ("pod", "status", "ready", "restarts", "namespace"))
        yield Label("services", classes="section")
        yield _table("cluster-services", ("service", "url"))

    def on_mount(self) -> None:
        self._variables = self.app.theme_variables
        self._redraw()
        self.set_interval(5, self._update_subtitle)

    def action_nav_down(self) -> None:
        self.scroll_down(animate=False)

    def action_nav_up(self) -> None:
        self.scroll_up(animate=False)

    def action_nav_top(self) -> None:
        self.scroll_home(animate=False)

    def action_nav_bottom(self) -> None:
        self.scroll_end(animate=False)

    def action_nav_half_down(self) -> None:
        self.scroll_relative(y=max(1, self.scrollable_content_region.height // 2), animate=False)

    def action_nav_half_up(self) -> None:
        self.scroll_relative(y=-max(1, self.scrollable_content_region.height // 2), animate=False)

    def restyle(self, variables: Mapping[str, str]) -> None:
        self._variables = variables
        self._redraw()

    def show_info(self, info: ClusterInfo | None) -> None:
        """New cluster info; None (after ``down``) empties the pane."""
        self.info = info
        self.refreshed_at = self.clock() if info is not None else None
        self._redraw()

    def _good(self, ok: bool, text: str) -> Text:
        return Text(text, style=style_of(self._variables, "wb-status-active" if ok else "wb-status-error", bold=True))

    def _redraw(self) -> None:
        info = self.info
        services = self.query_one("#cluster-services", DataTable)
        nodes = self.query_one("#cluster-nodes", DataTable)
        pods = self.query_one("#cluster-pods", DataTable)
        for table in (services, nodes, pods):
            table.clear()
        for widget in self.query(".section, DataTable"):
            widget.display = info is not None
        self.query_one("#cluster-empty").display = info is None
        if info is None:
            self._update_subtitle()
            return
        for service in info.services:
            services.add_row(_plain(service.name, 80), _plain(service.url, 200))
        ready_nodes = 0
        for node in info.nodes:
            ready_nodes += node.ready
            # kubectl's STATUS ("Ready", "NotReady", "Ready,SchedulingDisabled") and ROLES
            status = safe_line(node.status or ("Ready" if node.ready else "NotReady"), 60)
            nodes.add_row(
                _plain(node.name, 80),
                self._good(status == "Ready", status),
                _plain(node.roles or "<none>"),
                _plain(node.version or "-"),
            )
        for pod in info.pods:
            status = safe_line(pod.status or "-", 40)
            pods.add_row(
                _plain(pod.name, 120),
                self._good(status in ("Running", "Succeeded", "Completed"), status),
                _plain(pod.ready or "-"),
                _plain(pod.restarts_text or pod.restarts),
                _plain(pod.namespace, 64),
            )
        self._summary = f"{ready_nodes}/{len(info.nodes)} nodes ready · {len(info.pods)} pods"
        self._update_subtitle()

    _summary = ""

    def _update_subtitle(self) -> None:
        if self.info is None:
            self.border_subtitle = "no cluster info yet"
            self.border_title = "Cluster"
            return
        server = self.info.server or ""
        when = f" · {age_text(self.clock() - self.refreshed_at)}" if self.refreshed_at is not None else ""
        self.border_subtitle = f"{self._summary}{when}"
        self.border_title = f"Cluster · {safe_line(server, 60)}" if server else "Cluster"
