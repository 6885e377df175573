"""Alerts pane: one row per alert, severity-coloured; resolved alerts disappear."""

from __future__ import annotations

from collections.abc import Mapping

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Label

from workbench.models import Alert
from workbench.tui.nav_table import NavTable
from workbench.tui.safe_text import safe_line
from workbench.tui.table_pane import TablePane
from workbench.tui.themes import style_of

SEVERITY_ORDER = {"critical": 0, "error": 1, "warning": 2, "info": 3}
SUBJECT_WIDTH = 22
EMPTY = "No alerts: nothing needs fixing."


def clipped(text: str, width: int) -> str:
    """``text`` in at most ``width`` cells, an ellipsis marking the cut (ids are long)."""
    return text if len(text) <= width else text[: width - 1] + "…"


def alert_row_key(alert: Alert) -> str:
    return f"{alert.kind}:{alert.subject}"


class AlertsPane(TablePane):
    ALLOW_MAXIMIZE = True
    SEARCH_ID = "alerts-search"

    def __init__(self, *, id: str | None = "alerts") -> None:
        super().__init__(id=id, classes="pane")
        self.alerts: tuple[Alert, ...] = ()
        self.border_title = "Alerts"
        self._variables: Mapping[str, str] = {}

    def compose(self) -> ComposeResult:
        table = NavTable(id="alerts-table", cursor_type="row")
        for column in ("severity", "kind", "subject", "message", "fixes"):
            table.add_column(column, key=column)
        yield table
        yield Label(EMPTY, id="alerts-empty", classes="empty", markup=False)
        yield self.search_prompt()

    @property
    def table(self) -> NavTable:
        return self.query_one("#alerts-table", NavTable)

    def on_mount(self) -> None:
        self._variables = self.app.theme_variables
        self._render_rows()

    def restyle(self, variables: Mapping[str, str]) -> None:
        self._variables = variables
        self._render_rows()

    def show_alerts(self, alerts: tuple[Alert, ...]) -> None:
        self.alerts = tuple(
            sorted(alerts, key=lambda a: (SEVERITY_ORDER.get(a.severity, 9), a.kind, a.subject))
        )
        self._render_rows()

    @property
    def selected_alert(self) -> Alert | None:
        table = self.table
        if not self.alerts or table.row_count == 0:
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return next((a for a in self.alerts if alert_row_key(a) == row_key.value), None)

    def _render_rows(self) -> None:
        table = self.table
        previous = self.selected_alert if table.row_count else None
        table.clear()
        for alert in self.alerts:
            style = style_of(self._variables, f"wb-sev-{alert.severity}", bold=True)
            table.add_row(
                Text(alert.severity.upper(), style=style),
                self.marked(Text(safe_line(alert.kind, 40))),
                self.marked(Text(clipped(safe_line(alert.subject, 60), SUBJECT_WIDTH))),
                self.marked(Text(safe_line(alert.message, 200))),
                self.marked(Text(", ".join(f.name for f in alert.fixes) or "-")),
                key=alert_row_key(alert),
            )
        count = len(self.alerts)
        table.set_class(not count, "-empty")
        self.query_one("#alerts-empty").display = not count
        self.subtitle("no alerts" if not count else f"{count} alert{'s' * (count != 1)} · enter: details · f: fix")
        if previous is not None and any(alert_row_key(a) == alert_row_key(previous) for a in self.alerts):
            table.move_cursor(row=table.get_row_index(alert_row_key(previous)), animate=False)
