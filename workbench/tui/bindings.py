"""Every key of the workbench, defined once.

The main screen and the app take their ``BINDINGS`` from here; the help screen, the
command palette and the README key table are generated from the same list.
``python -m workbench.tui.bindings --markdown`` prints the README table.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence

from textual.binding import Binding

#: Actions that change the cloud or a node: refused in ``--readonly``.
MUTATING_ACTIONS = frozenset(
    {"build", "up", "push", "redeploy", "salt_failed", "down", "fix", "fix_kind", "ssh", "ssh_system"}
)

#: Bindings of the main screen (pipelines, nodes, panes). Modal screens don't see these.
SCREEN_BINDINGS: list[Binding] = [
    Binding("b", "build", "Build", tooltip="Run the Kubernetes build in KUBE_ROOT.", id="build"),
    Binding("u", "up", "Up", tooltip="Create the master and minions that are missing.", id="up"),
    Binding("p", "push", "Push", tooltip="Push the release to every node (delta).", id="push"),
    Binding(
        "r", "redeploy", "Redeploy",
        tooltip="Build, create missing nodes, push, run Salt and verify; stops at the first failure.", id="redeploy",
    ),
    Binding(
        "a", "salt_failed", "Salt failed",
        tooltip="Run Salt again on the nodes where it failed last time.", id="salt-failed",
    ),
    Binding("d", "down", "Down", tooltip="Delete the cluster's instances (asks first).", id="down"),
    Binding("f", "fix", "Fix", tooltip="Run a fix for the selected alert (asks first).", id="fix"),
    Binding(
        "ctrl+f", "fix_kind", "Fix all of kind",
        tooltip="Fix every alert of the selected alert's kind (one confirmation lists them).",
        id="fix-kind", show=False,
    ),
    Binding("s", "ssh", "SSH", tooltip="Open a shell on the selected node, inside the app.", id="ssh"),
    Binding(
        "S", "ssh_system", "SSH (system)",
        tooltip="Suspend the app and run the system ssh to the selected node (prints the command).",
        id="ssh-system", show=False,
    ),
    Binding(
        "ctrl+c", "cancel", "Cancel",
        tooltip="Cancel the running pipeline (asks first; the stage cleans up).", id="cancel",
    ),
    Binding(
        "escape", "back", "Back",
        tooltip="Back out one level: search, zoom. Never cancels a pipeline.", id="back", show=False,
    ),
    Binding(
        "slash", "search", "Search",
        tooltip="Search the focused table (instances, alerts) or the logs as you type.", id="search",
        priority=True,  # the search box takes the keys typed right after it, however fast
    ),
    Binding("F", "toggle_follow", "Follow", tooltip="Follow new log lines on or off.", id="logs-follow", show=False),
    Binding(
        "T", "toggle_timestamps", "Timestamps", tooltip="Show each log line's time, or hide it.",
        id="logs-timestamps", show=False,
    ),
    Binding(
        "E", "export_logs", "Export logs",
        tooltip="Save the log lines shown (the filter applied) and say where workbench.log is.",
        id="logs-export", show=False,
    ),
    Binding(
        "z", "zoom", "Zoom", tooltip="Show the focused pane full screen, or restore.", id="zoom",
        show=False,
    ),
    # priority, as /: handled in the order typed, so a / right after a Tab searches the pane
    # Tab went to (a widget's own queue would see the Tab after the /)
    Binding("tab", "next_pane", "Next pane", tooltip="Move to the next pane.", id="next-pane", show=False,
            priority=True),
    Binding(
        "shift+tab", "previous_pane", "Previous pane",
        tooltip="Move to the previous pane.", id="previous-pane", show=False, priority=True,
    ),
]

#: Moving in tables, the cluster pane and the logs, as k9s, lazygit and less users type.
NAVIGATION_BINDINGS: list[Binding] = [
    Binding("j", "nav_down", "Down", tooltip="One row or line down.", id="nav-down", show=False),
    Binding("k", "nav_up", "Up", tooltip="One row or line up.", id="nav-up", show=False),
    Binding("g", "nav_top", "Top", tooltip="To the first row or line.", id="nav-top", show=False),
    Binding("G", "nav_bottom", "Bottom", tooltip="To the last row or line (logs: follow again).", id="nav-bottom",
            show=False),
    Binding("ctrl+d", "nav_half_down", "Half page down", tooltip="Half a page down.", id="nav-half-down",
            show=False),
    Binding("ctrl+u", "nav_half_up", "Half page up", tooltip="Half a page up.", id="nav-half-up", show=False),
]

#: After a ``/`` search, in the tables and the logs.
SEARCH_BINDINGS: list[Binding] = [
    Binding("n", "next_match", "Next match", tooltip="Jump to the next row or line matching the search.",
            id="search-next", show=False),
    Binding("N", "previous_match", "Previous match",
            tooltip="Jump to the previous row or line matching the search.", id="search-previous", show=False),
]

#: Bindings of the logs view (besides navigation and search).
LOG_BINDINGS: list[Binding] = [
    Binding("pageup", "page_up_pause", "Page up", tooltip="Scroll up a page; following pauses.",
            id="logs-page-up", show=False),
    Binding("end", "resume_follow", "Follow again", tooltip="To the newest line and follow again.",
            id="logs-end", show=False),
]

#: Bindings of the app: available on every screen.
APP_BINDINGS: list[Binding] = [
    Binding("t", "next_theme", "Theme", tooltip="Switch to the next colour theme (remembered).", id="theme",
            show=False),
    Binding("question_mark", "help", "Help", tooltip="Show every key and what it does.", id="help"),
    Binding("q", "quit", "Quit", tooltip="Quit the workbench (asks first while a pipeline runs).", id="quit"),
    Binding(
        "ctrl+p", "command_palette", "Commands",
        tooltip="Search every command by name.", id="command-palette",
        show=False,  # the footer shows the palette key on its right already
    ),
]

_KEY_NAMES = {
    "slash": "/", "question_mark": "?", "escape": "Esc", "tab": "Tab", "shift+tab": "Shift+Tab",
    "pageup": "PageUp", "end": "End",
}


def all_bindings() -> list[Binding]:
    return [*SCREEN_BINDINGS, *NAVIGATION_BINDINGS, *SEARCH_BINDINGS, *LOG_BINDINGS, *APP_BINDINGS]


def display_keys(binding: Binding, keymap: Mapping[str, str] | None = None) -> str:
    """The keys of a binding as a person types them, after the profile's ``[keymap]``."""
    keys = (keymap or {}).get(binding.id or "", binding.key)
    shown = []
    for key in keys.split(","):
        key = key.strip()
        shown.append(_KEY_NAMES.get(key, key.replace("ctrl+", "Ctrl+")))
    return ", ".join(shown)


def key_rows(keymap: Mapping[str, str] | None = None) -> list[tuple[str, str, str, str]]:
    """(keys, id, description, tooltip) for every binding, in definition order."""
    return [
        (display_keys(b, keymap), b.id or "", b.description, b.tooltip) for b in all_bindings()
    ]


def markdown_table(keymap: Mapping[str, str] | None = None) -> str:
    """The README key table."""
    lines = ["| Key | Id | Action | What it does |", "| --- | --- | --- | --- |"]
    for keys, binding_id, description, tooltip in key_rows(keymap):
        shown = keys.replace("|", "\\|")
        lines.append(f"| `{shown}` | `{binding_id}` | {description} | {tooltip} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args not in ([], ["--markdown"]):
        print("usage: python -m workbench.tui.bindings [--markdown]", file=sys.stderr)
        return 2
    if args:
        sys.stdout.write(markdown_table())
    else:
        for keys, binding_id, description, _ in key_rows():
            print(f"{keys:<12} {binding_id:<16} {description}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
