"""A DataTable that moves as k9s and lazygit users type: j/k, g/G, ctrl+d/ctrl+u."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.binding import BindingType
from textual.widgets import DataTable

from workbench.tui.bindings import NAVIGATION_BINDINGS


class NavTable(DataTable[Any]):
    BINDINGS: ClassVar[list[BindingType]] = list(NAVIGATION_BINDINGS)

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
