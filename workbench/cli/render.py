"""Shared helpers for the headless verbs: profile + state, progress on stderr, results on stdout.

What a verb found (tables, verdicts) goes to stdout, so ``workbench status | grep minion``
works; progress, log lines and questions go to stderr. With ``--json`` stdout holds exactly
one JSON document (a failing run's has an ``error`` object) and progress still goes to
stderr unless ``-q``. Log lines are also appended to the state dir's ``workbench.log``,
the file the TUI writes.

Usage in a verb module::

    parts = render.parts(args)  # profile, state dir, bus; clients made on first use
    with render.Progress(parts.bus):
        result = render.run(work(parts))  # closes the parts it used when done
    render.emit_json(doc) if args.json else render.out().print(...)
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
    PipelineFinished,
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
_out: Any = None


class _Mode:
    """Set once by ``workbench.cli.main`` from ``--json`` and ``-q``."""

    json = False
    quiet = False
    log_path: Any = None  # the state dir's workbench.log, once a verb loaded its profile


MODE = _Mode()


def configure(*, json_output: bool, quiet: bool) -> None:
    MODE.json, MODE.quiet = json_output, quiet


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


def out() -> Any:
    """A Rich console for what the verb found: stdout, or stderr while stdout is kept for
    the JSON document. Piped or redirected, it never truncates or wraps."""
    if MODE.json:
        return console()
    global _out
    if _out is None:
        from rich.console import Console

        _out = Console(highlight=False, soft_wrap=True)
        if not _out.is_terminal:
            _out = Console(highlight=False, soft_wrap=True, width=PIPE_WIDTH)
    return _out


def load(args: Any) -> tuple[Profile, StateDir]:
    """(Profile, StateDir) for ``--profile``; ProfileError (exit 2) on a bad profile."""
    from workbench.profile import load_profile
    from workbench.state import StateDir

    profile = load_profile(getattr(args, "profile", None))
    state = StateDir(profile.resolved_state_dir()).ensure()
    MODE.log_path = state.log_path
    return profile, state


def parts(args: Any) -> Parts:
    """The engine's ``Parts`` for ``--profile``, on a fresh bus; ProfileError (exit 2) on a bad
    profile. Every verb works through these (and the ``Engine`` over them for pipelines)."""
    from workbench.engine.parts import Parts

    profile, state = load(args)
    return Parts(profile, state=state)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def emit_json(doc: Any) -> None:
    """Exactly one JSON document on stdout, secrets redacted. A failing run's document
    carries ``error: {message, kind}`` (a string error becomes its message)."""
    if isinstance(doc, dict) and doc.get("ok") is False and not isinstance(doc.get("error"), dict):
        doc = {**doc, "error": {"message": failure_message(doc), "kind": "failed"}}
    sys.stdout.write(redact(json.dumps(doc, indent=2, default=str)) + "\n")
    sys.stdout.flush()


def error_document(exc: BaseException) -> dict[str, Any]:
    """The one JSON document of a run that stopped on an error."""
    return {"ok": False, "error": {"message": str(exc), "kind": error_kind(exc)}}


def error_kind(exc: BaseException) -> str:
    """``ProfileError`` -> ``profile``, ``CloudUnreachable`` -> ``cloud-unreachable``."""
    import re

    name = type(exc).__name__.removesuffix("Error") or "workbench"
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def failure_message(doc: dict[str, Any]) -> str:
    """One line saying why a verb's document says ``ok: false``."""
    if isinstance(doc.get("error"), str) and doc["error"]:
        where = f" at {doc['failed_stage']}" if doc.get("failed_stage") else ""
        return f"failed{where}: {doc['error']}"
    for key in ("failed", "nodes"):
        bad = [n for n in doc.get(key) or () if isinstance(n, dict) and not n.get("ok", False)]
        if bad:
            return "; ".join(f"{n.get('name', '?')}: {n.get('error') or 'failed'}" for n in bad)
    for key in ("errors", "remaining", "problems"):
        if doc.get(key):
            return f"{key}: " + "; ".join(map(str, doc[key]))
    return "failed"


def say(text: str, style: str = "") -> None:
    """A line of the verb's result: stdout (stderr under --json)."""
    out().print(redact(text), style=style or None, markup=False)


def warn(text: str, style: str = "yellow") -> None:
    """A line for the person watching, not the result: stderr."""
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
    answer = console().input(f"{redact(question)} [y/N] ", markup=False)
    return answer.strip().lower() in ("y", "yes")


class Progress:
    """Renders the bus on stderr while a verb runs: Rich bars on a terminal, lines otherwise."""

    def __init__(self, bus: Any, *, logs: bool = True, quiet: bool = False, log_path: Any = None) -> None:
        self.bus = bus
        self.logs = logs
        self.quiet = quiet or MODE.quiet
        self.log_path = log_path if log_path is not None else MODE.log_path
        self._log_file: Any = None
        self._remove: Any = None
        self._live: Any = None
        self._tasks: dict[tuple[str, str, str | None], Any] = {}
        self._started: dict[tuple[str, str, str | None], float] = {}

    def __enter__(self) -> Progress:
        con = console()
        if self.log_path is not None:
            from workbench.tui.log_file import LogFile  # no Textual: a file appender

            self._log_file = LogFile(self.log_path)
        if con.is_terminal and not self.quiet:
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
        if self._log_file is not None:
            self._log_file.close()

    def _print(self, text: str, style: str = "") -> None:
        target = self._live.console if self._live is not None else console()
        target.print(redact(text), style=style or None, markup=False, highlight=False)

    def _append(self, event: LogLine) -> None:
        if self._log_file is not None:
            self._log_file.write([(event.node or "-", event.source, event.stream == "stderr", event.text, event.at)])

    def on_event(self, event: Event) -> None:
        if isinstance(event, Notice):
            self._print(f"{event.severity}: {event.text}", "yellow" if event.severity != "info" else "")
        elif isinstance(event, PipelineFinished):
            if not event.ok:
                self._append(LogLine("pipeline", None, pipeline_outcome(event), "stderr"))
        elif isinstance(event, LogLine):
            self._append(event)
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


def pipeline_outcome(event: PipelineFinished) -> str:
    """``redeploy failed at verify: …`` or ``redeploy cancelled at build``."""
    where = f" at {event.failed_stage}" if event.failed_stage else ""
    if event.cancelled:
        return f"{event.pipeline} cancelled{where}"
    return f"{event.pipeline} failed{where}: {event.error or ''}"
