"""The workbench app: themes, keymap, and the one worker that pumps engine events.

The engine is reached only through its facade (``EngineAPI``: the ``Engine`` or a double);
nothing here imports openstack before the first frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import work
from textual.app import App
from textual.binding import BindingType

from workbench.errors import WorkbenchError
from workbench.events import Event, LogLine
from workbench.tui.bindings import APP_BINDINGS, all_bindings
from workbench.tui.commands import WorkbenchCommands
from workbench.tui.log_file import LogFile, read_tail
from workbench.tui.messages import EngineEvents, PendingLines
from workbench.tui.panes.logs import DEFAULT_MAX_LINES, LogsPane
from workbench.tui.screens.confirm import ConfirmScreen
from workbench.tui.screens.help import HelpScreen
from workbench.tui.screens.main import MainScreen
from workbench.tui.themes import DEFAULT_THEME, VARIABLE_DEFAULTS, load_themes

if TYPE_CHECKING:
    from workbench.tui.engine_api import EngineAPI

#: How long the pump lets log lines gather before handing a batch to the logs pane.
BATCH_SECONDS = 0.025
#: Lines of workbench.log the logs pane shows again after a relaunch.
RELOAD_LINES = 500
#: The state dir's file for what the app remembers between runs (the theme).
UI_STATE = "ui.json"
#: Allocations (net) between young-generation collections; Python's default is 700.
GC_YOUNG_THRESHOLD = 5_000


class WorkbenchApp(App[None]):
    CSS_PATH = str(Path(__file__).with_name("app.tcss"))  # absolute: subclasses live elsewhere
    TITLE = "workbench"
    BINDINGS: ClassVar[list[BindingType]] = list(APP_BINDINGS)
    COMMANDS = App.COMMANDS | {WorkbenchCommands}
    ESCAPE_TO_MINIMIZE = False  # the main screen's Esc backs out one level itself

    def __init__(
        self,
        engine: EngineAPI,
        *,
        readonly: bool = False,
        clock: Callable[[], float] = time.time,
        max_log_lines: int = DEFAULT_MAX_LINES,
    ) -> None:
        super().__init__()
        self.engine = engine
        self.readonly = readonly
        self.clock = clock
        self.max_log_lines = max_log_lines
        self.subscription = engine.bus.subscribe(max_log_lines=max(2 * max_log_lines, 20_000))
        self.pending_lines: list[LogLine] = []
        self._pump: asyncio.Task[None] | None = None
        self.log_file = LogFile(engine.state.log_path)
        self._log_failure_shown = False
        self._gc_threshold: tuple[int, ...] | None = None  # set while the app tunes the GC
        self.theme_errors: list[str] = []
        themes, self.theme_errors = load_themes()
        for theme in themes:
            self.register_theme(theme)
        wanted = engine.profile.ui.theme
        remembered = self._remembered_theme()
        if remembered and self.get_theme(remembered) is not None:
            wanted = remembered  # the user's last choice with t or the palette
        if self.get_theme(wanted) is None:
            self.theme_errors.append(f"profile [ui] theme: no theme named {wanted!r}")
            wanted = DEFAULT_THEME if self.get_theme(DEFAULT_THEME) else "textual-dark"
        self.theme = wanted

    def _remembered_theme(self) -> str | None:
        try:
            value = self.engine.state.read_json(UI_STATE, {}).get("theme")
        except (WorkbenchError, OSError, AttributeError):
            return None
        return value if isinstance(value, str) else None

    def _remember_theme(self, _theme: Any = None) -> None:
        try:
            self.engine.state.write_json(UI_STATE, {"theme": self.theme}, durable=False)
        except (WorkbenchError, OSError) as exc:
            self.notify(f"could not remember the theme: {exc}", severity="warning")

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(VARIABLE_DEFAULTS)

    @property
    def keymap(self) -> dict[str, str]:
        return dict(self.engine.profile.keymap)

    def on_mount(self) -> None:
        known = {b.id for b in all_bindings()}
        unknown = sorted(set(self.keymap) - known)
        for binding_id in unknown:
            self.notify(f"profile [keymap]: {binding_id}: no such binding id", severity="warning")
        self.set_keymap({k: v for k, v in self.keymap.items() if k in known})
        for error in self.theme_errors:
            self.notify(error, severity="warning")
        self.theme_changed_signal.subscribe(self, self._restyle)
        self.theme_changed_signal.subscribe(self, self._remember_theme)
        recent = read_tail(self.engine.state.log_path, RELOAD_LINES)  # before this run writes
        self.push_screen(MainScreen())
        if recent:
            self.call_after_refresh(self._reload_recent_lines, recent)
        self.pump_events()
        self.start_engine()

    def on_ready(self) -> None:
        """After the first frame. What exists now (Textual, the panes, the modules) lives
        as long as the app: frozen, the garbage collector's full collections stop walking
        it (~77,000 objects, 40-120 ms a collection, about one a second under 50,000 log
        lines/s: the worst key latencies). A young generation of 5,000 instead of 700
        objects lets log lines in flight (~1,250 a batch) die young instead of being
        promoted, so full collections become rare too."""
        gc.freeze()
        self._gc_threshold = gc.get_threshold()
        gc.set_threshold(GC_YOUNG_THRESHOLD, *self._gc_threshold[1:])

    async def on_unmount(self) -> None:
        if self._gc_threshold is not None:  # the process goes on (tests): back to normal
            gc.set_threshold(*self._gc_threshold)
            gc.unfreeze()
            self._gc_threshold = None
        self.subscription.close()
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
        self.log_file.close()

    def _reload_recent_lines(self, rows: list[Any]) -> None:
        """After a relaunch the logs pane starts with the recent lines of workbench.log."""
        main = self.main_screen
        if main is not None and main.is_mounted:
            main.query_one(LogsPane).add_rows(rows)

    @property
    def main_screen(self) -> MainScreen | None:
        for screen in self.screen_stack:
            if isinstance(screen, MainScreen):
                return screen
        return None

    # -- the event pump -------------------------------------------------------------------
    def pump_events(self) -> None:
        """Starts the pump: a plain task, not a worker, so ``workers.wait_for_complete()``
        (tests, shutdown) is not held up by a loop that runs for the app's lifetime."""
        if self._pump is None:
            self._pump = asyncio.create_task(self._pump_events(), name="workbench-event-pump")

    async def _pump_events(self) -> None:
        """Reads the bus; log lines are batched every BATCH_SECONDS, the rest passed on.
        It only posts messages: handlers own every widget change."""
        subscription = self.subscription
        try:
            while not subscription.closed:
                batch = await subscription.get_batch()
                others: list[Event] = []
                lines = 0
                for event in batch:
                    if isinstance(event, LogLine):
                        self.pending_lines.append(event)
                        lines += 1
                    else:
                        others.append(event)
                if others:
                    self.post_message(EngineEvents(others))
                if lines:
                    self.post_message(PendingLines())
                await asyncio.sleep(BATCH_SECONDS)
        finally:
            subscription.close()

    @work(group="engine", exit_on_error=False)
    async def start_engine(self) -> None:
        await self.engine.start()

    def on_engine_events(self, message: EngineEvents) -> None:
        main = self.main_screen
        if main is None or not main.is_mounted:
            return
        for event in message.events:
            main.apply_event(event)

    def on_pending_lines(self, _message: PendingLines) -> None:
        lines, self.pending_lines = self.pending_lines, []
        main = self.main_screen
        if not lines or main is None:
            return
        records = main.query_one(LogsPane).add_lines(lines)
        self.log_file.write(records)
        if self.log_file.failed and not self._log_failure_shown:
            self._log_failure_shown = True  # once: the file stays off, the pane goes on
            self.notify(self.log_file.failed, severity="error")

    # -- app actions ------------------------------------------------------------------------
    def _restyle(self, _theme: Any = None) -> None:
        main = self.main_screen
        if main is not None and main.is_mounted:
            main.restyle(self.theme_variables)

    def action_next_theme(self) -> None:
        names = [name for name in self.available_themes if name.startswith("workbench-")]
        names = names or list(self.available_themes)
        index = names.index(self.theme) + 1 if self.theme in names else 0
        self.theme = names[index % len(names)]
        self.notify(f"theme: {self.theme}", timeout=2)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.keymap))

    def add_own_line(self, text: str, source: str = "pipeline") -> None:
        """A line of the workbench's own (a pipeline's end) in the logs pane and workbench.log."""
        main = self.main_screen
        if main is None or not main.is_mounted:
            return
        records = main.query_one(LogsPane).add_lines([LogLine(source, None, text, "stderr")])
        self.log_file.write(records)

    async def action_quit(self) -> None:
        """While a pipeline runs, asks first and names the stage quitting would cut."""
        running = self.engine.running
        main = self.main_screen
        if running and main is not None:
            if isinstance(self.screen, ConfirmScreen):
                return  # a question is open already: it answers first
            stage = main.running_stage()
            at = f" at stage {stage}" if stage else ""
            body = (f"{running} is running{at}. Quitting cancels it there (the stage cleans up "
                    "first); the next run starts that stage again.")

            async def chosen(value: str | None) -> None:
                if value == "quit":
                    await self._quit_now()

            self.push_screen(ConfirmScreen(f"Cancel {running} and quit?", body,
                                           [("Cancel it and quit", "quit")], no_label="Keep running"), chosen)
            return
        await self._quit_now()

    async def _quit_now(self) -> None:
        if self.engine.running:
            self.engine.cancel()
        self.subscription.close()
        self.log_file.close()
        self.exit()
