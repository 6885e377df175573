"""Search as you type, one behaviour for the logs pane and the tables (instances, alerts).

``/`` opens a prompt at the bottom of the focused pane. Each key searches again and moves to
the first match from where the user is; enter keeps the search and goes back to the pane,
where ``n`` / ``N`` move to the next / previous match, wrapping (less, vim, k9s). The
pane's subtitle counts the matches or says "no matches"; Esc closes the prompt and clears
the search. A pane says what its lines are, where one is shown and what the prompt's text
means (``SearchablePane``'s hooks); everything else is here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.dom import DOMNode
from textual.widget import Widget
from textual.widgets import Input


def next_match(texts: Sequence[str], term: str, start: int, step: int) -> int | None:
    """The index of the first text after ``start`` going ``step`` (1 or -1, wrapping) that
    holds ``term`` (any case); None when none does. ``start`` may lie outside the texts."""
    needle = term.lower()
    count = len(texts)
    if not needle or not count:
        return None
    for offset in range(1, count + 1):
        index = (start + step * offset) % count
        if needle in texts[index].lower():
            return index
    return None


def count_matches(texts: Sequence[str], term: str) -> int:
    needle = term.lower()
    return sum(needle in text.lower() for text in texts) if needle else 0


def search_summary(term: str, count: int) -> str:
    """``search: salt (3 matches · n/N)`` or ``search: salt (no matches)``."""
    found = f"{count} match{'es' * (count != 1)} · n/N" if count else "no matches"
    return f"search: {term} ({found})"


def searchable_of(node: DOMNode | None) -> SearchablePane | None:
    """The pane a widget (its view, its prompt) belongs to."""
    while node is not None and not isinstance(node, SearchablePane):
        node = node.parent
    return node


class SearchInput(Input):
    """The ``/`` prompt: searches as you type; enter keeps the search, escape clears it.

    Both are priority keys, handled by the app in the order typed, so a key typed right
    after them (``n`` after enter) goes to the pane, not into the prompt. Keys typed before
    them may still wait in the prompt's own queue then: enter keeps the search once the
    prompt has taken them; after escape they are dropped (``on_input_changed``)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Clear search", show=False, id="search-close", priority=True),
        Binding("enter", "keep", "Keep search", show=False, id="search-keep", priority=True),
    ]

    def action_close(self) -> None:
        pane = searchable_of(self)
        if pane is not None:
            pane.clear_search()

    def action_keep(self) -> None:
        pane = searchable_of(self)
        if pane is not None:
            pane.keep_search()


class SearchablePane(Vertical):
    """A pane with a ``/`` prompt (``search_prompt()`` in its ``compose``) and ``n`` / ``N``."""

    #: the prompt's id, unique on the screen
    SEARCH_ID: ClassVar[str] = "search"
    PLACEHOLDER: ClassVar[str] = "search as you type; enter keeps, esc clears"

    match_count = 0

    # -- what a pane says -------------------------------------------------------------
    @property
    def search_term(self) -> str:
        """The words searched for ("" when none)."""
        raise NotImplementedError

    @property
    def search_active(self) -> bool:
        """A search (or, in the logs, a filter) is applied: Esc has something to clear."""
        return bool(self.search_term)

    def prompt_text(self) -> str:
        """What the prompt opens with: the search applied now."""
        return self.search_term

    def apply_search(self, text: str) -> None:
        """Apply the prompt's text (re-mark, re-count: ``count_search``)."""
        raise NotImplementedError

    def search_texts(self) -> Sequence[str]:
        """The text of each line or row, in the order shown."""
        raise NotImplementedError

    def search_view(self) -> Widget:
        """Where the keys go back to when the prompt closes."""
        raise NotImplementedError

    def search_start(self, step: int, typing: bool) -> int:
        """The index a jump starts after (typing: the current line may match itself)."""
        raise NotImplementedError

    def show_match(self, index: int) -> None:
        raise NotImplementedError

    # -- the behaviour ------------------------------------------------------------------
    def search_prompt(self) -> SearchInput:
        prompt = SearchInput(
            placeholder=self.PLACEHOLDER, id=self.SEARCH_ID,
            select_on_focus=False,  # its focus event comes after keys typed fast: keep them
        )
        prompt.display = False
        return prompt

    @property
    def prompt(self) -> SearchInput:
        return self.query_one(f"#{self.SEARCH_ID}", SearchInput)

    @property
    def searching(self) -> bool:
        """The prompt is open or a search is applied (Esc clears it)."""
        return bool(self.prompt.display) or self.search_active

    def count_search(self) -> int:
        self.match_count = count_matches(self.search_texts(), self.search_term)
        return self.match_count

    def search_subtitle(self) -> str:
        """The search's part of the pane's subtitle ("" without a search)."""
        term = self.search_term
        return search_summary(term, self.match_count) if term else ""

    def open_search(self) -> None:
        prompt = self.prompt
        prompt.value = self.prompt_text()
        prompt.cursor_position = len(prompt.value)
        prompt.display = True
        self.screen.set_focus(prompt)  # now, not scheduled: the next typed key goes to it

    def clear_search(self) -> None:
        """Esc: the prompt closes and the search goes (every line shows, unmarked)."""
        prompt = self.prompt
        was_open = bool(prompt.display)
        prompt.display = False
        if self.search_active:
            self.apply_search("")
        if was_open:
            self.screen.set_focus(self.search_view())  # now: the next key goes there

    def keep_search(self) -> None:
        """Enter: the keys go back to the pane now; the search is applied and the prompt
        closed once the prompt has taken the keys typed before the enter."""
        prompt = self.prompt
        self.screen.set_focus(self.search_view())
        prompt.call_later(self._kept)  # behind the keys already in the prompt's queue

    def _kept(self) -> None:
        prompt = self.prompt
        before = self.search_term
        self.apply_search(prompt.value)
        prompt.display = False  # changes still on their way are this one's: dropped
        if self.search_term and self.search_term != before:
            self.jump_to_match(1, typing=True)

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        if not event.input.display:
            return  # typed before an escape that closed the prompt: the search is gone
        self.apply_search(event.value)
        if self.search_term:
            self.jump_to_match(1, typing=True)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.keep_search()

    def jump_to_match(self, step: int, *, typing: bool = False) -> None:
        """To the next (``step`` 1) or previous (-1) match, wrapping; says so when there is
        no search or no match (not while typing: the subtitle says it then)."""
        term = self.search_term
        if not term:
            if not typing:
                self.notify("no search: / searches the focused pane", timeout=3)
            return
        index = next_match(self.search_texts(), term, self.search_start(step, typing), step)
        if index is not None:
            self.show_match(index)
        elif not typing:
            self.notify(f"no matches for {term!r}", severity="warning", timeout=3)
