"""A DataTable that moves as k9s and lazygit users type: j/k, g/G, ctrl+d/ctrl+u, and n/N
through the matches of its pane's ``/`` search."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.binding import BindingType
from textual.widgets import DataTable

from workbench.tui.bindings import NAVIGATION_BINDINGS, SEARCH_BINDINGS
from workbench.tui.search import searchable_of


class NavTable(DataTable[Any]):
    BINDINGS: ClassVar[list[BindingType]] = [*NAVIGATION_BINDINGS, *SEARCH_BINDINGS]

    def row_texts(self) -> list[str]:
        """Each row's cells as plain text, in the order shown (what a search looks in)."""
        return [" ".join(str(cell) for cell in self.get_row_at(row)) for row in range(self.row_count)]

    def action_next_match(self) -> None:
        pane = searchable_of(self)
        if pane is not None:
            pane.jump_to_match(1)

    def action_previous_match(self) -> None:
        pane = searchable_of(self)
        if pane is not None:
            pane.jump_to_match(-1)

    def _half_page(self) -> int:
        return max(1, self.scrollable_content_region.height // 2)

    def action_nav_down(self) -> None:
        self.action_cursor_down()

    def action_nav_up(self) -> None:
        self.action_cursor_up()

    def action_nav_top(self) -> None:
        if self.row_count:
            self.move_cursor(row=0, animate=False)

    def action_nav_bottom(self) -> None:
        if self.row_count:
            self.move_cursor(row=self.row_count - 1, animate=False)

    def action_nav_half_down(self) -> None:
        if self.row_count:
            self.move_cursor(row=min(self.row_count - 1, self.cursor_row + self._half_page()), animate=False)

    def action_nav_half_up(self) -> None:
        if self.row_count:
            self.move_cursor(row=max(0, self.cursor_row - self._half_page()), animate=False)
