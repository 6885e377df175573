"""Cluster pane: cluster-info services, nodes with their Ready state, pods of all namespaces."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Label

from workbench.models import ClusterInfo
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


class ClusterPane(VerticalScroll):
    ALLOW_MAXIMIZE = True
    can_focus = True

    def __init__(self, *, id: str | None = "cluster") -> None:
        super().__init__(id=id, classes="pane")
        self.info: ClusterInfo | None = None
        self.border_title = "Cluster"
        self._variables: Mapping[str, str] = {}

    def compose(self) -> ComposeResult:
        yield Label(EMPTY, id="cluster-empty", classes="empty", markup=False)
        yield Label("services", classes="section")
        yield _table("cluster-services", ("service", "url"))
        yield Label("nodes", classes="section")
        yield _table("cluster-nodes", ("node", "ready", "version"))
        yield Label("pods", classes="section")
        yield _table("cluster-pods", ("namespace", "pod", "ready", "status", "restarts"))

    def on_mount(self) -> None:
        self._variables = self.app.theme_variables
        self._redraw()

    def restyle(self, variables: Mapping[str, str]) -> None:
        self._variables = variables
        self._redraw()

    def show_info(self, info: ClusterInfo | None) -> None:
        self.info = info
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
            self.border_subtitle = "no cluster info yet"
            return
        for service in info.services:
            services.add_row(_plain(service.name, 80), _plain(service.url, 200))
        ready_nodes = 0
        for node in info.nodes:
            ready_nodes += node.ready
            nodes.add_row(
                _plain(node.name, 80),
                self._good(node.ready, "Ready" if node.ready else "NotReady"),
                _plain(node.version or "-"),
            )
        for pod in info.pods:
            status = safe_line(pod.status or "-", 40)
            pods.add_row(
                _plain(pod.namespace, 64),
                _plain(pod.name, 120),
                _plain(pod.ready or "-"),
                self._good(status in ("Running", "Succeeded", "Completed"), status),
                _plain(pod.restarts),
            )
        pod_list = info.pods
        total_nodes = len(info.nodes)
        self.border_subtitle = f"{ready_nodes}/{total_nodes} nodes ready · {len(pod_list)} pods"
