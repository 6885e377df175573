"""The command palette: every binding, every theme, and log filters, by name."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from textual.command import DiscoveryHit, Hit, Hits, Provider

from workbench.tui.bindings import APP_BINDINGS, SCREEN_BINDINGS, display_keys

_SKIP = {"command_palette", "next_pane", "previous_pane", "back"}


class WorkbenchCommands(Provider):
    def _commands(self) -> Iterator[tuple[str, str, Callable[[], Any]]]:
        """(name, help, callback) for everything the palette offers right now."""
        from workbench.tui.app import WorkbenchApp  # imports this module: here, not at the top

        app = self.app
        if not isinstance(app, WorkbenchApp):
            return
        main = app.main_screen
        keymap = app.keymap
        if main is not None:
            for binding in SCREEN_BINDINGS:
                if binding.action not in _SKIP:
                    yield (
                        f"{binding.description} ({display_keys(binding, keymap)})",
                        binding.tooltip,
                        partial(main.run_action, binding.action),
                    )
        for binding in APP_BINDINGS:
            if binding.action not in _SKIP:
                yield (
                    f"{binding.description} ({display_keys(binding, keymap)})",
                    binding.tooltip,
                    partial(app.run_action, binding.action),
                )
        for name in sorted(app.available_themes):
            if name.startswith("workbench-"):
                yield f"Theme: {name}", "Switch to this colour theme.", partial(setattr, app, "theme", name)
        if main is not None:
            from workbench.tui.panes.logs import LogsPane

            logs = main.query_one(LogsPane)
            yield "Logs: clear filter", "Show every log line again.", partial(logs.set_query, "")
            for node in sorted(logs.nodes - {"-"}):
                yield f"Logs: only node {node}", f"Show only lines from {node}.", partial(logs.set_query, f"node:{node}")
            for source in sorted(logs.sources):
                yield (f"Logs: only source {source}", f"Show only {source} lines.",
                       partial(logs.set_query, f"source:{source}"))

    async def discover(self) -> Hits:
        for name, help_text, callback in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
