"""Instances pane: the cluster's servers, live, with each node's pipeline state.

The selected row is the node that ``s`` / ``S`` connect to.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Label

from workbench.engine.doctor.boot_grace import created_at
from workbench.events import StageFinished, StageStarted
from workbench.models import Instance
from workbench.tui.nav_table import NavTable
from workbench.tui.safe_text import safe_line
from workbench.tui.table_pane import TablePane
from workbench.tui.themes import style_of

#: What matters most first: at 80 columns the name, status, pipeline state and floating IP
#: fit; the role is in the name already.
COLUMNS = ("name", "status", "pipeline", "floating IP", "fixed IP", "role", "age", "flavor")
EMPTY = "No instances yet — press u to bring the cluster up."
#: Seconds between age refreshes (ages read "40s", "12m", "4h": the next change is near).
AGE_TICK = 1.0

_STATUS_VARIABLE = {
    "ACTIVE": "wb-status-active",
    "BUILD": "wb-status-build",
    "REBUILD": "wb-status-build",
    "REBOOT": "wb-status-build",
    "HARD_REBOOT": "wb-status-build",
    "ERROR": "wb-status-error",
}


def age_text(created: str | float | datetime | None, now: float) -> str:
    """``3d``, ``4h``, ``12m``, ``40s`` from an epoch float, a datetime or an ISO string."""
    if created is None or created == "":
        return "-"
    started = created_at(created)
    if started is None:
        return "?"
    seconds = max(0, int(now - started))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


class InstancesPane(TablePane):
    ALLOW_MAXIMIZE = True
    SEARCH_ID = "instances-search"

    def __init__(self, *, clock: Callable[[], float] = time.time, id: str | None = "instances") -> None:
        super().__init__(id=id, classes="pane")
        self.clock = clock
        self.instances: tuple[Instance, ...] = ()
        self.node_state: dict[str, str] = {}
        self.border_title = "Instances"
        self._variables: Mapping[str, str] = {}

    def compose(self) -> ComposeResult:
        yield NavTable(id="instances-table", cursor_type="row", zebra_stripes=True)
        yield Label(EMPTY, id="instances-empty", classes="empty", markup=False)
        yield self.search_prompt()

    @property
    def table(self) -> NavTable:
        return self.query_one("#instances-table", NavTable)

    def on_mount(self) -> None:
        self._variables = self.app.theme_variables
        for column in COLUMNS:
            self.table.add_column(column, key=column)
        self._render_rows()
        self.set_interval(AGE_TICK, self.tick_ages)

    def tick_ages(self) -> None:
        """Ages move on without a new inventory: rewrite the cells whose text changed."""
        now = self.clock()
        table = self.table
        for inst in self.instances:
            age = age_text(inst.created, now)
            if str(table.get_cell(inst.name, "age")) != age:
                table.update_cell(inst.name, "age", Text(age))

    def restyle(self, variables: Mapping[str, str]) -> None:
        self._variables = variables
        self._render_rows()

    @property
    def selected_node(self) -> str | None:
        table = self.table
        if not self.instances or table.row_count == 0:
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return row_key.value

    def show_instances(self, instances: tuple[Instance, ...]) -> None:
        self.instances = tuple(sorted(instances, key=lambda i: (i.role != "master", i.name)))
        self._render_rows()

    def stage_event(self, event: StageStarted | StageFinished) -> None:
        """Per-node pipeline state: ``salt…`` while running, ``salt ✓`` / ``salt ✗`` after."""
        if event.node is None:
            return
        if isinstance(event, StageStarted):
            self.node_state[event.node] = f"{event.stage}…"
        else:
            self.node_state[event.node] = f"{event.stage} {'✓' if event.ok else '✗'}"
        if any(i.name == event.node for i in self.instances):
            self.table.update_cell(event.node, "pipeline", self._state_cell(event.node))

    def _state_cell(self, node: str) -> Text:
        state = self.node_state.get(node, "")
        variable = "wb-status-error" if state.endswith("✗") else (
            "wb-status-active" if state.endswith("✓") else "wb-status-build")
        return Text(state, style=style_of(self._variables, variable))

    def _render_rows(self) -> None:
        table = self.table
        selected = self.selected_node if table.row_count else None
        table.clear()
        now = self.clock()
        for inst in self.instances:
            status = inst.status
            variable = _STATUS_VARIABLE.get(status.upper(), "wb-status-other")
            table.add_row(
                self.marked(Text(safe_line(inst.name, 64))),
                self.marked(Text(status or "-", style=style_of(self._variables, variable, bold=True))),
                self._state_cell(inst.name),
                self.marked(Text(inst.floating_ip or "-")),
                self.marked(Text(inst.fixed_ip or "-")),
                self.marked(Text(inst.role or "-")),
                Text(age_text(inst.created, now)),
                Text(inst.flavor or "-"),
                key=inst.name,
            )
        count = len(self.instances)
        self.subtitle(f"{count} instance{'s' * (count != 1)}")
        table.set_class(not count, "-empty")  # header only; the hint shows below it
        self.query_one("#instances-empty").display = not count
        if selected is not None and any(i.name == selected for i in self.instances):
            table.move_cursor(row=table.get_row_index(selected), animate=False)
