"""Help: every key, generated from the same bindings the app uses."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label

from workbench.tui.bindings import key_rows


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "close", "Close", tooltip="Close the help.", id="help-close"),
    ]

    def __init__(self, keymap: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self.keymap = dict(keymap or {})

    def compose(self) -> ComposeResult:
        with Vertical(id="help-dialog", classes="dialog"):
            yield Label("Keys", classes="dialog-title")
            table: DataTable[Any] = DataTable(id="help-table", cursor_type="row", zebra_stripes=True)
            table.add_columns("key", "action", "id", "what it does")
            for keys, binding_id, description, tooltip in key_rows(self.keymap):
                table.add_row(Text(keys), Text(description), Text(binding_id), Text(tooltip))
            yield table
            yield Label(
                "Remap a key by its id in the profile's [keymap], e.g.  build = \"B\"\n"
                "Esc, ? or q closes this help.",
                id="help-footer", markup=False,
            )

    def action_close(self) -> None:
        self.dismiss(None)
