"""Textual messages the event pump posts; handlers (not workers) change widgets."""

from __future__ import annotations

from textual.message import Message

from workbench.events import Event


class EngineEvents(Message):
    """A batch of non-log engine events, in bus order."""

    def __init__(self, events: list[Event]) -> None:
        super().__init__()
        self.events = events


class PendingLines(Message):
    """Log lines are waiting in the app's buffer; coalesced so a busy UI drains once."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, PendingLines)
