"""A pane around one ``NavTable`` (instances, alerts) with the ``/`` search of
``workbench.tui.search``: a match is a row, the cursor goes to it and its words are marked."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.text import Text
from textual.widget import Widget

from workbench.tui.nav_table import NavTable
from workbench.tui.search import SearchablePane
from workbench.tui.themes import match_style


class TablePane(SearchablePane):
    """Subclasses hold a ``NavTable`` as ``table``, keep the theme's variables in
    ``_variables`` and re-render their rows in ``_render_rows`` (marking cells with
    ``marked`` and ending with ``subtitle``)."""

    _term = ""
    _variables: Mapping[str, str] = {}

    @property
    def table(self) -> NavTable:
        raise NotImplementedError

    def _render_rows(self) -> None:
        raise NotImplementedError

    def marked(self, text: Text) -> Text:
        """A cell with the search's words marked."""
        if self._term:
            text.highlight_words([self._term], match_style(self._variables), case_sensitive=False)
        return text

    def subtitle(self, text: str) -> None:
        """The pane's own subtitle, or while it searches the search's (its matches counted
        again): a small pane has room for one of them."""
        self.count_search()
        self.border_subtitle = self.search_subtitle() or text

    # -- search hooks ---------------------------------------------------------------------
    @property
    def search_term(self) -> str:
        return self._term

    def apply_search(self, text: str) -> None:
        term = " ".join(text.split())
        if term != self._term:
            self._term = term
            self._render_rows()

    def search_texts(self) -> Sequence[str]:
        return self.table.row_texts()

    def search_view(self) -> Widget:
        return self.table

    def search_start(self, step: int, typing: bool) -> int:
        """From the cursor's row: while typing it may match itself, n / N move off it."""
        row = self.table.cursor_row
        return row - step if typing else row

    def show_match(self, index: int) -> None:
        self.table.move_cursor(row=index, animate=False)
