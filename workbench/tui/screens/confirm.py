"""A yes/no question before anything destructive; dismisses with the chosen value or None."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static


class ConfirmScreen(ModalScreen[str | None]):
    """``choices`` are (label, value); ``y``/enter picks the first, ``n``/escape cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "choose_first", "Yes", tooltip="Confirm.", id="confirm-yes"),
        Binding("n,escape", "cancel", "No", tooltip="Cancel; nothing is changed.", id="confirm-no"),
    ]

    def __init__(self, title: str, body: str, choices: Sequence[tuple[str, str]], *,
                 no_label: str = "Cancel") -> None:
        super().__init__()
        self.no_label = no_label
        self.title_text = title
        self.body = body
        self.choices = list(choices)

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog", classes="dialog"):
            yield Label(self.title_text, id="confirm-title", classes="dialog-title", markup=False)
            yield Static(self.body, id="confirm-body", markup=False)
            with Horizontal(id="confirm-buttons"):
                for index, (label, _) in enumerate(self.choices):
                    yield Button(label, id=f"choice-{index}", variant="error" if index == 0 else "warning")
                yield Button(self.no_label, id="cancel", variant="default")
            first = self.choices[0][0] if self.choices else "Yes"
            yield Label(f"y: {first} · n or Esc: {self.no_label}", id="confirm-hint", markup=False)

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        button_id = event.button.id or ""
        if button_id.startswith("choice-"):
            self.dismiss(self.choices[int(button_id.removeprefix("choice-"))][1])
        else:
            self.dismiss(None)

    def action_choose_first(self) -> None:
        self.dismiss(self.choices[0][1] if self.choices else None)

    def action_cancel(self) -> None:
        self.dismiss(None)
