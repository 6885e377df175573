"""Shared helpers for the headless verbs: profile + state, progress on stderr, JSON on stdout.

Usage in a verb module::

    parts = render.parts(args)  # profile, state dir, bus; clients made on first use
    with render.Progress(parts.bus, quiet=args.json):
        result = render.run(work(parts))  # closes the parts it used when done
    render.emit_json(doc) if args.json else render.console().print(...)
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Coroutine
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from workbench.errors import WorkbenchError
from workbench.events import (
    Event,
    LogLine,
    Notice,
    StageFinished,
    StageProgress,
    StageStarted,
)
from workbench.redact import redact

if TYPE_CHECKING:
    from workbench.engine.parts import Parts
    from workbench.profile import Profile
    from workbench.state import StateDir

T = TypeVar("T")
_console: Any = None


#: Columns of the console when stderr is not a terminal (a pipe, a log file): wide enough
#: that no table cell is ever cut ("kubernete…"); COLUMNS is ignored there.
PIPE_WIDTH = 10_000


def console() -> Any:
    """A Rich console on stderr (stdout is kept for the JSON document). On a terminal it
    fits the window; piped or redirected, it never truncates or wraps."""
    global _console
    if _console is None:
        from rich.console import Console

        _console = Console(stderr=True, highlight=False, soft_wrap=True)
        if not _console.is_terminal:
            _console = Console(stderr=True, highlight=False, soft_wrap=True, width=PIPE_WIDTH)
    return _console


def load(args: Any) -> tuple[Profile, StateDir]:
    """(Profile, StateDir) for ``--profile``; ProfileError (exit 2) on a bad profile."""
    from workbench.profile import load_profile
    from workbench.state import StateDir

    profile = load_profile(getattr(args, "profile", None))
    return profile, StateDir(profile.resolved_state_dir()).ensure()


def parts(args: Any) -> Parts:
    """The engine's ``Parts`` for ``--profile``, on a fresh bus; ProfileError (exit 2) on a bad
    profile. Every verb works through these (and the ``Engine`` over them for pipelines)."""
    from workbench.engine.parts import Parts

    profile, state = load(args)
    return Parts(profile, state=state)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def emit_json(doc: Any) -> None:
    """Exactly one JSON document on stdout, secrets redacted."""
    sys.stdout.write(redact(json.dumps(doc, indent=2, default=str)) + "\n")
    sys.stdout.flush()


def say(text: str, style: str = "") -> None:
    console().print(redact(text), style=style or None, markup=False)


def about(kind: str, subject: str, text: str) -> str:
    """``kind subject: text``, naming the subject once: most messages already start with it
    ("kubernetes-minion-1 is in ERROR", "kubernetes-minion-1: salt-minion is inactive")."""
    if subject and (text.startswith(f"{subject}: ") or text.startswith(f"{subject} ")):
        return f"{kind}: {text}"
    return f"{kind} {subject}: {text}"


def confirm(question: str, *, assume_yes: bool) -> bool:
    """Ask on a terminal; without one (and without --yes) refuse: one line, exit 1."""
    if assume_yes:
        return True
    if not sys.stdin.isatty():
        raise WorkbenchError(f"{question}: refusing without a terminal to ask on; pass --yes")
    answer = console().input(f"{redact(question)} [y/N] ")
    return answer.strip().lower() in ("y", "yes")


class Progress:
    """Renders the bus on stderr while a verb runs: Rich bars on a terminal, lines otherwise."""

    def __init__(self, bus: Any, *, logs: bool = True, quiet: bool = False) -> None:
        self.bus = bus
        self.logs = logs
        self.quiet = quiet
        self._remove: Any = None
        self._live: Any = None
        self._tasks: dict[tuple[str, str, str | None], Any] = {}
        self._started: dict[tuple[str, str, str | None], float] = {}

    def __enter__(self) -> Progress:
        con = console()
        if con.is_terminal:
            from rich.progress import BarColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as RichProgress

            self._live = RichProgress(
                SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                TextColumn("{task.fields[detail]}"), TimeElapsedColumn(),
                console=con, transient=False,
            )
            self._live.start()
        self._remove = self.bus.add_listener(self.on_event)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._remove is not None:
            self._remove()
        if self._live is not None:
            self._live.stop()

    def _print(self, text: str, style: str = "") -> None:
        target = self._live.console if self._live is not None else console()
        target.print(redact(text), style=style or None, markup=False, highlight=False)

    def on_event(self, event: Event) -> None:
        if isinstance(event, Notice):
            self._print(f"{event.severity}: {event.text}", "yellow" if event.severity != "info" else "")
        elif isinstance(event, LogLine):
            if self.logs and not self.quiet:
                where = f"[{event.node}] " if event.node else ""
                self._print(f"{where}{event.text}", "dim")
        elif isinstance(event, StageStarted):
            self._stage_started(event)
        elif isinstance(event, StageProgress):
            self._stage_progress(event)
        elif isinstance(event, StageFinished):
            self._stage_finished(event)

    def _label(self, pipeline: str, stage: str, node: str | None) -> str:
        return f"{pipeline} {stage}" + (f" {node}" if node else "")

    def _stage_started(self, e: StageStarted) -> None:
        key = (e.pipeline, e.stage, e.node)
        self._started[key] = time.monotonic()
        if self._live is not None:
            self._tasks[key] = self._live.add_task(self._label(*key), total=None, detail="")
        elif not self.quiet:
            self._print(f"{self._label(*key)} ...")

    def _stage_progress(self, e: StageProgress) -> None:
        task = self._tasks.get((e.pipeline, e.stage, e.node))
        if task is not None and self._live is not None:
            self._live.update(task, completed=e.done, total=e.total, detail=e.detail)

    def _stage_finished(self, e: StageFinished) -> None:
        key = (e.pipeline, e.stage, e.node)
        task = self._tasks.pop(key, None)
        verdict = "ok" if e.ok else f"FAILED: {e.error}"
        if task is not None and self._live is not None:
            self._live.update(task, completed=1, total=1, detail=verdict)
        elif not self.quiet or not e.ok:
            self._print(f"{self._label(*key)}: {verdict} ({e.seconds:.1f} s)", "" if e.ok else "red")
