"""Help: every key, generated from the same bindings the app uses.

A Rich table in a scrolling view, so what a key does wraps instead of being cut at 80
columns."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from workbench.tui.bindings import key_rows


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "close", "Close", tooltip="Close the help.", id="help-close"),
        Binding("j", "scroll('down')", "Down", show=False, id="help-down"),
        Binding("k", "scroll('up')", "Up", show=False, id="help-up"),
    ]

    def __init__(self, keymap: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self.keymap = dict(keymap or {})
        #: (keys, id, description, tooltip) as shown, in binding order
        self.rows = key_rows(self.keymap)

    def compose(self) -> ComposeResult:
        table = Table(box=None, expand=True, pad_edge=False, header_style="bold")
        table.add_column("key", no_wrap=True, style="bold")
        table.add_column("action", no_wrap=True)
        table.add_column("what it does", ratio=1, overflow="fold")
        table.add_column("id", no_wrap=True, style="dim")
        for keys, binding_id, description, tooltip in self.rows:
            table.add_row(Text(keys), Text(description), Text(tooltip), Text(binding_id))
        with Vertical(id="help-dialog", classes="dialog"):
            yield Label("Keys", classes="dialog-title")
            with VerticalScroll(id="help-scroll"):
                yield Static(table, id="help-table")
            yield Label(
                "Remap a key by its id in the profile's [keymap], e.g.  build = \"B\"\n"
                "Esc, ? or q closes this help; j/k scroll.",
                id="help-footer", markup=False,
            )

    def on_mount(self) -> None:
        self.query_one("#help-scroll").focus()

    def action_scroll(self, direction: str) -> None:
        scroll = self.query_one("#help-scroll", VerticalScroll)
        scroll.scroll_down(animate=False) if direction == "down" else scroll.scroll_up(animate=False)

    def action_close(self) -> None:
        self.dismiss(None)
