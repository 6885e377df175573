"""Logs pane: every line from build, Salt, push and journals, filterable and searchable.

Lines arrive in batches (``add_lines``) and go to Textual's ``Log`` with one
``write_lines`` per batch: it renders only visible lines and keeps the user's scroll
position unless following. The pane keeps its own capped ring of rows (plain tuples, which
the garbage collector stops tracking: see ``log_query``) so a new filter can be applied to
what was already received.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from typing import ClassVar

from rich.cells import cell_len
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Input, Label, Log

from workbench.events import LogLine
from workbench.tui.log_query import LogHighlighter, LogIngest, LogQuery, LogRecord, Row

DEFAULT_MAX_LINES = 20_000
EMPTY = ("Output of builds, pushes, Salt runs and kubelets appears here, tagged by node and "
         "source. / searches, F pauses following.")


class LogView(Log):
    """Textual's ``Log`` with the width of each batch measured in place: ``Log`` hands it
    to a thread worker per ``write_lines`` (40 a second here, each a thread hop, state
    messages and garbage cycles) for what is ``len`` on a printable ASCII line."""

    def _update_size(self, updates: int, lines: list[str]) -> None:  # type: ignore[override]
        if not lines:
            return
        joined = "".join(lines)
        if joined.isascii() and joined.isprintable():  # the usual batch: one C-speed check
            width = max(map(len, lines))
        else:
            process = self._process_line
            width = max(
                len(line) if line.isascii() and line.isprintable() else cell_len(process(line))
                for line in lines
            )
        self._update_maximum_width(updates, width)


class SearchInput(Input):
    """The ``/`` prompt: escape closes it and leaves the query applied."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Close search", show=False, id="search-close")]

    def action_close(self) -> None:
        self.display = False
        pane = self.parent
        if isinstance(pane, LogsPane):
            pane.log_view.focus()


class LogsPane(Vertical):
    ALLOW_MAXIMIZE = True

    def __init__(self, *, max_lines: int = DEFAULT_MAX_LINES, id: str | None = "logs") -> None:
        super().__init__(id=id, classes="pane")
        self.max_lines = max_lines
        self.rows: deque[Row] = deque(maxlen=max_lines)
        self.query_filter = LogQuery()
        self.follow = True
        self._ingest = LogIngest()
        self.nodes: set[str] = self._ingest.nodes
        self.sources: set[str] = self._ingest.sources
        self.received = 0
        self.border_title = "Logs"

    def compose(self) -> ComposeResult:
        yield Label(EMPTY, id="logs-empty", classes="empty", markup=False)
        log = LogView(max_lines=self.max_lines, highlight=True, id="log-view")
        log.can_focus = True
        yield log
        search = SearchInput(
            placeholder="search; node:NAME source:NAME narrow it; enter applies, esc closes",
            id="log-search",
        )
        search.display = False
        yield search

    @property
    def log_view(self) -> LogView:
        return self.query_one("#log-view", LogView)

    def on_mount(self) -> None:
        self.restyle(self.app.theme_variables)
        self._update_subtitle()

    def restyle(self, variables: Mapping[str, str]) -> None:
        """Rebuild the highlighter from the theme's variables (on start and theme change)."""
        self.log_view.highlighter = LogHighlighter(variables, self.query_filter.term)
        self.log_view.refresh()

    @property
    def records(self) -> list[LogRecord]:
        """What the pane holds, oldest first (a copy, built on demand)."""
        return [LogRecord._make(row) for row in self.rows]

    # -- lines ------------------------------------------------------------------------
    def add_lines(self, lines: Iterable[LogLine]) -> list[Row]:
        """Append a batch; returns its rows (for the log file)."""
        rows, shown = self._ingest(lines)
        if not rows:
            return rows
        if not self.received:
            self.query_one("#logs-empty").display = False
            if self.follow:  # the log grows into the hint's place: follow once laid out
                self.call_after_refresh(self.log_view.scroll_end, animate=False)
        self.rows.extend(rows)
        self.received += len(rows)
        query = self.query_filter
        if query.active:
            shown = [line for row, line in zip(rows, shown, strict=True) if query.matches(row)]
        if shown:  # after a stall the batch can outgrow the view: it keeps the newest
            self.log_view.write_lines(shown[-self.max_lines:])
        return rows

    def note_dropped(self, count: int) -> None:
        record = LogRecord("-", "workbench", True, f"… {count} lines dropped: the display fell behind", 0.0)
        self.rows.append(tuple(record))  # type: ignore[arg-type]
        self.log_view.write_line(record.display())

    # -- filter, search, follow ----------------------------------------------------------
    def set_query(self, text: str) -> None:
        self.query_filter = LogQuery.parse(text)
        self.log_view.highlighter = LogHighlighter(self.app.theme_variables, self.query_filter.term)
        self._rewrite()
        self._update_subtitle()

    def _rewrite(self) -> None:
        log = self.log_view
        log.clear()
        query = self.query_filter
        lines = [LogRecord._make(r).display() for r in self.rows if not query.active or query.matches(r)]
        if lines:
            log.write_lines(lines, scroll_end=self.follow)

    def open_search(self) -> None:
        search = self.query_one("#log-search", SearchInput)
        search.value = str(self.query_filter)
        search.display = True
        search.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.set_query(event.value)
        event.input.display = False
        self.log_view.focus()

    def set_follow(self, follow: bool) -> None:
        self.follow = follow
        self.log_view.auto_scroll = follow
        if follow:
            self.log_view.scroll_end(animate=False)
        self._update_subtitle()

    def _update_subtitle(self) -> None:
        parts = [f"filter: {self.query_filter}"] if self.query_filter.active else []
        parts.append("follow" if self.follow else "paused")
        self.border_subtitle = " · ".join(parts)
