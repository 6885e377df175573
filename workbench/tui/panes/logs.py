"""Logs pane: every line from build, Salt, push and journals, filterable and searchable.

Lines arrive in batches (``add_lines``) and go to Textual's ``Log`` with one
``write_lines`` per batch: it renders only visible lines and keeps the user's scroll
position unless following. The pane keeps its own capped ring of rows (plain tuples, which
the garbage collector stops tracking: see ``log_query``) so a new filter can be applied to
what was already received.

``node:`` and ``source:`` filter the lines; the words of a search highlight and ``n`` /
``N`` jump between matching lines (as in less and k9s). Scrolling up pauses following;
End (or G) resumes it.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import ClassVar

from rich.cells import cell_len
from textual import events
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.widget import Widget
from textual.widgets import Label, Log

from workbench.events import LogLine
from workbench.tui.bindings import LOG_BINDINGS, NAVIGATION_BINDINGS, SEARCH_BINDINGS
from workbench.tui.log_query import LogHighlighter, LogIngest, LogQuery, LogRecord, Row, tag_prefix
from workbench.tui.search import SearchablePane

DEFAULT_MAX_LINES = 20_000
EMPTY = ("Output of builds, pushes, Salt runs and kubelets appears here, tagged by node and "
         "source. / searches, F pauses following.")
STAMP_WIDTH = 9  # "HH:MM:SS "


class LogView(Log):
    """Textual's ``Log`` with the width of each batch measured in place: ``Log`` hands it
    to a thread worker per ``write_lines`` (40 a second here, each a thread hop, state
    messages and garbage cycles) for what is ``len`` on a printable ASCII line.
    Its keys move as in less; moving up pauses the pane's following."""

    BINDINGS: ClassVar[list[BindingType]] = [*NAVIGATION_BINDINGS, *SEARCH_BINDINGS, *LOG_BINDINGS]

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

    @property
    def pane(self) -> LogsPane | None:
        parent = self.parent
        return parent if isinstance(parent, LogsPane) else None

    def _paused_by_user(self) -> None:
        pane = self.pane
        if pane is not None and pane.follow:
            pane.set_follow(False)

    def action_scroll_up(self) -> None:
        self._paused_by_user()
        super().action_scroll_up()

    def action_page_up(self) -> None:
        self._paused_by_user()
        super().action_page_up()

    def action_scroll_home(self) -> None:
        self._paused_by_user()
        super().action_scroll_home()

    def _on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self._paused_by_user()
        super()._on_mouse_scroll_up(event)

    def action_nav_down(self) -> None:
        self.scroll_down(animate=False)

    def action_nav_up(self) -> None:
        self.action_scroll_up()

    def action_nav_top(self) -> None:
        self.action_scroll_home()

    def action_nav_bottom(self) -> None:
        self.action_resume_follow()

    def action_nav_half_down(self) -> None:
        self.scroll_relative(y=max(1, self.scrollable_content_region.height // 2), animate=False)

    def action_nav_half_up(self) -> None:
        self._paused_by_user()
        self.scroll_relative(y=-max(1, self.scrollable_content_region.height // 2), animate=False)

    def action_page_up_pause(self) -> None:
        self.action_page_up()

    def action_resume_follow(self) -> None:
        pane = self.pane
        if pane is not None:
            pane.set_follow(True)

    def action_next_match(self) -> None:
        if self.pane is not None:
            self.pane.jump_to_match(1)

    def action_previous_match(self) -> None:
        if self.pane is not None:
            self.pane.jump_to_match(-1)

    def on_resize(self, _event: events.Resize) -> None:
        """A resize changes how many lines fit: a following view stays at the bottom."""
        pane = self.pane
        if pane is not None and pane.follow:
            self.call_after_refresh(self.scroll_end, animate=False)


class LogsPane(SearchablePane):
    ALLOW_MAXIMIZE = True
    SEARCH_ID = "log-search"
    PLACEHOLDER = "search as you type; node:NAME source:NAME filter; enter keeps, esc clears"

    def __init__(self, *, max_lines: int = DEFAULT_MAX_LINES, id: str | None = "logs") -> None:
        super().__init__(id=id, classes="pane")
        self.max_lines = max_lines
        self.rows: deque[Row] = deque(maxlen=max_lines)
        self.query_filter = LogQuery()
        self.follow = True
        self.timestamps = False
        self._ingest = LogIngest()
        self.nodes: set[str] = self._ingest.nodes
        self.sources: set[str] = self._ingest.sources
        self.received = 0
        self.match_count = 0
        self._match_line: int | None = None  # the line n / N last jumped to
        self.border_title = "Logs"

    def compose(self) -> ComposeResult:
        yield Label(EMPTY, id="logs-empty", classes="empty", markup=False)
        log = LogView(max_lines=self.max_lines, highlight=True, id="log-view")
        log.can_focus = True
        yield log
        yield self.search_prompt()

    @property
    def log_view(self) -> LogView:
        return self.query_one("#log-view", LogView)

    def on_mount(self) -> None:
        self.restyle(self.app.theme_variables)
        self._update_subtitle()

    def restyle(self, variables: Mapping[str, str]) -> None:
        """Rebuild the highlighter from the theme's variables (on start and theme change)."""
        self.log_view.highlighter = self._highlighter(variables)
        self.log_view.refresh()

    def _highlighter(self, variables: Mapping[str, str]) -> LogHighlighter:
        return LogHighlighter(variables, self.query_filter.term, offset=STAMP_WIDTH if self.timestamps else 0)

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
        self._append(rows, shown)
        return rows

    def add_rows(self, rows: list[Row]) -> None:
        """Rows read back from workbench.log (a relaunch): shown, not written again."""
        if rows:
            self._append(rows, [self._display(row) for row in rows])

    def _append(self, rows: list[Row], shown: list[str]) -> None:
        if not self.received:
            self.query_one("#logs-empty").display = False
            if self.follow:  # the log grows into the hint's place: follow once laid out
                self.call_after_refresh(self.log_view.scroll_end, animate=False)
        self.rows.extend(rows)
        self.received += len(rows)
        query = self.query_filter
        if query.filtering or self.timestamps:
            shown = [self._display(row) for row in rows if query.keeps(row)]
        if shown:  # after a stall the batch can outgrow the view: it keeps the newest
            self.log_view.write_lines(shown[-self.max_lines:])

    def _display(self, row: Row) -> str:
        line = tag_prefix(row[0], row[1], row[2]) + row[3]
        if self.timestamps:
            return time.strftime("%H:%M:%S ", time.localtime(row[4])) + line
        return line

    def note_dropped(self, count: int) -> None:
        record = LogRecord("-", "workbench", True, f"… {count} lines dropped: the display fell behind", 0.0)
        self.rows.append(tuple(record))  # type: ignore[arg-type]
        self.log_view.write_line(self._display(tuple(record)))  # type: ignore[arg-type]

    def shown_lines(self) -> list[str]:
        """The lines the view shows now (filter applied), for an export."""
        return list(self.log_view.lines)

    # -- filter, search, follow ----------------------------------------------------------
    def set_query(self, text: str) -> None:
        before = self.query_filter
        self.query_filter = LogQuery.parse(text)
        self.log_view.highlighter = self._highlighter(self.app.theme_variables)
        if (before.nodes, before.sources) != (self.query_filter.nodes, self.query_filter.sources):
            self._rewrite()
        else:
            self.log_view.refresh()
        if before != self.query_filter:
            self._match_line = None
        self.count_search()
        self._update_subtitle()

    def _rewrite(self) -> None:
        log = self.log_view
        log.clear()
        query = self.query_filter
        lines = [self._display(r) for r in self.rows if query.keeps(r)]
        if lines:
            log.write_lines(lines, scroll_end=self.follow)

    # -- search hooks (workbench.tui.search) ------------------------------------------------
    @property
    def search_term(self) -> str:
        return self.query_filter.term

    @property
    def search_active(self) -> bool:
        return self.query_filter.active

    def prompt_text(self) -> str:
        return str(self.query_filter)

    def apply_search(self, text: str) -> None:
        self.set_query(text)

    def search_texts(self) -> Sequence[str]:
        return self.log_view.lines

    def search_view(self) -> Widget:
        return self.log_view

    def search_start(self, step: int, typing: bool) -> int:
        """After the line n / N last went to; else from the top (or bottom) of the view."""
        if self._match_line is not None:
            return self._match_line
        view = self.log_view
        return int(view.scroll_y) - 1 if step > 0 else int(view.scroll_y) + view.size.height

    def show_match(self, index: int) -> None:
        self._match_line = index
        if self.follow:
            self.set_follow(False)
        view = self.log_view
        view.scroll_to(y=max(0, index - view.size.height // 2), animate=False)
        self._update_subtitle()

    def set_follow(self, follow: bool) -> None:
        self.follow = follow
        self.log_view.auto_scroll = follow
        if follow:
            self.log_view.scroll_end(animate=False)
        self._update_subtitle()

    def toggle_timestamps(self) -> None:
        self.timestamps = not self.timestamps
        self.log_view.highlighter = self._highlighter(self.app.theme_variables)
        self._rewrite()
        self._update_subtitle()

    def _update_subtitle(self) -> None:
        query = self.query_filter
        parts = []
        if query.filtering:
            parts.append("filter: " + str(LogQuery(query.nodes, query.sources)))
        if query.term:
            parts.append(self.search_subtitle())
        parts.append("follow" if self.follow else "paused · End follows")
        self.border_subtitle = " · ".join(parts)
        self.border_title = "Logs" if self.follow else "Logs (paused)"
