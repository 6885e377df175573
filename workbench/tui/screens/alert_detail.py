"""One alert in full: message, the equivalent command, details, and what each fix does."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from workbench.models import Alert
from workbench.tui.safe_text import safe_line


def _block(text: str) -> str:
    return "\n".join(safe_line(line, 500) for line in text.splitlines()) or "-"


class AlertDetailScreen(ModalScreen[str | None]):
    """Dismisses with ``"fix"`` when the person asks for the fix, else None."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f", "fix", "Fix", tooltip="Run a fix for this alert (asks first).", id="detail-fix"),
        Binding("escape,q", "close", "Close", tooltip="Back to the panes.", id="detail-close"),
    ]

    def __init__(self, alert: Alert, readonly: bool = False) -> None:
        super().__init__()
        self.alert = alert
        self.readonly = readonly

    def compose(self) -> ComposeResult:
        alert = self.alert
        with Vertical(id="alert-dialog", classes="dialog"):
            yield Label(
                f"{alert.severity.upper()}  {safe_line(alert.kind, 40)}: {safe_line(alert.subject, 80)}",
                id="alert-title", classes=f"dialog-title severity-{alert.severity}", markup=False,
            )
            with VerticalScroll(id="alert-body"):
                yield Label("Message", classes="section")
                yield Static(_block(alert.message), markup=False, id="alert-message")
                yield Label("Equivalent command", classes="section")
                yield Static(_block(alert.command), markup=False, id="alert-command", classes="command")
                if alert.details:
                    yield Label("Details", classes="section")
                    yield Static(_block(alert.details), markup=False, id="alert-details")
                yield Label("Fixes", classes="section")
                fixes = "\n".join(
                    f"{fix.name}{' (destructive)' if fix.destructive else ''}: {safe_line(fix.description, 300)}"
                    for fix in alert.fixes
                ) or "no automatic fix; run the command above by hand"
                yield Static(fixes, markup=False, id="alert-fixes")
            hint = "readonly: fixes are disabled" if self.readonly else "f: fix (asks first) · esc: back"
            yield Label(hint, id="alert-hint", markup=False)

    def action_fix(self) -> None:
        self.dismiss("fix")

    def action_close(self) -> None:
        self.dismiss(None)
