"""The alerts of ``status`` and ``doctor`` as one table on stdout: a row per finding, so
``workbench doctor | grep minion-1`` shows every finding about that node, whole."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from workbench.cli import render
from workbench.redact import redact

if TYPE_CHECKING:
    from workbench.models import Alert

COLUMNS = ("severity", "kind", "subject", "message", "fixes")
NARROW = 100  # a terminal narrower than this has no room for a fixes column
SUBJECT_MIN = 20  # cells: "kubernetes-minion-10" fits whole
_STYLES = {"critical": "bold red", "error": "red", "warning": "yellow", "info": ""}


def message_cell(alert: Alert) -> str:
    """The message on one line, without the subject it starts with (the subject has its
    own column): "kubernetes-minion-1 is in ERROR: …" -> "is in ERROR: …"."""
    text = " ".join(alert.message.split())
    subject = alert.subject
    if subject and text.startswith(f"{subject}: "):
        return text[len(subject) + 2:]
    if subject and text.startswith(f"{subject} "):
        return text[len(subject) + 1:]
    return text


def print_alerts(alerts: Iterable[Alert]) -> None:
    """The table on the verb's result console (stdout; stderr under --json). The equivalent
    command follows the message in its cell: under it on a terminal, on the same line in a
    pipe (a row stays one line there); on a terminal under NARROW columns the fixes join
    them. Cells are Text: a "[" is never markup."""
    from rich.table import Table
    from rich.text import Text

    alerts = list(alerts)
    console = render.out()
    stacked = console.is_terminal
    narrow = stacked and console.width < NARROW
    table = Table(title="alerts", title_justify="left")
    # the message wraps on a terminal; node names are never cut (ports' ids may fold)
    whole = ("severity", "kind", "subject") if all(len(a.subject) <= SUBJECT_MIN for a in alerts) else ()
    for column in COLUMNS[:-1] if narrow else COLUMNS:
        table.add_column(column, no_wrap=column in whole, overflow="fold")
    for alert in alerts:
        message = Text(redact(message_cell(alert)))
        command = " ".join(alert.command.split())
        fixes = ", ".join(f.name for f in alert.fixes) or "-"
        if command:
            message.append("\n" if stacked else "  ")
            message.append(redact(f"$ {command}"), style="dim")
        if narrow and alert.fixes:
            message.append(f"\nfixes: {fixes}", style="dim")
        cells = [Text(alert.severity), Text(alert.kind), Text(redact(alert.subject)), message, Text(fixes)]
        table.add_row(*cells[:len(table.columns)], style=_STYLES.get(alert.severity) or None)
    console.print(table)
