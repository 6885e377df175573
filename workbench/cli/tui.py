"""`workbench` / `workbench tui`: the Textual workbench, on a cloud or on the sandbox.

With no cloud configured anywhere (no ``--profile``, no profile file, no ``OS_CLOUD`` /
``OS_AUTH_URL``) the sandbox starts in-process with its state in the user's state dir;
``--sandbox`` forces that. Quitting stops the sandbox.

Launch speed: the first frame comes before any cloud call (so before ``import
openstack``): the engine's watch loops and pipelines wait for it. When the sandbox's
profile exists from an earlier run, the sandbox boots on a thread after the first frame
(its imports would otherwise compete with the app's for the CPU).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

HELP = "open the workbench TUI (what `workbench` with no verb does)"
#: A terminal that shows no frame this long (a broken driver) still gets its engine.
FIRST_FRAME_TIMEOUT = 30.0
#: Too narrow for the pane titles: the gate opens this long after every pane had its place.
SETTLE_S = 1.0
#: After SIGHUP/SIGTERM the app gets this long to exit before the watchdog ends the process.
EXIT_GRACE_S = 10.0
# What the driver writes besides text: CSI, OSC (BEL or ST), charset and keypad escapes.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>78]")


def add_arguments(parser: argparse.ArgumentParser, verb: str) -> None:
    parser.add_argument(
        "--sandbox", action="store_true",
        help="run on the embedded sandbox cloud even when a cloud is configured",
    )
    parser.add_argument(
        "--sandbox-dir", metavar="DIR",
        help="the sandbox's state dir (implies --sandbox; default: <user state dir>/sandbox)",
    )
    parser.add_argument(
        "--readonly", action="store_true",
        help="disable every action that changes the cloud or a node",
    )


def cloud_configured(profile_arg: str | None, environ: Mapping[str, str] | None = None) -> bool:
    """True when the user pointed us at a cloud: a profile anywhere, or OS_* variables."""
    from workbench.profile import find_profile_path

    env = os.environ if environ is None else environ
    if profile_arg or find_profile_path(None) is not None:
        return True
    return bool(env.get("OS_CLOUD") or env.get("OS_AUTH_URL"))


def default_sandbox_dir() -> Path:
    from platformdirs import user_state_path

    return user_state_path("workbench") / "sandbox"


class SandboxStarter:
    """Starts the in-process sandbox (realistic delays) on a thread; ``wait`` for it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.profile_path = directory / "profile.toml"
        self.box: Any = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._start, name="sandbox-start", daemon=True)

    def start(self) -> None:
        if self._thread.ident is None:
            self._thread.start()

    def _start(self) -> None:
        try:
            from workbench.sandbox.core import SandboxThread

            self.box = SandboxThread(self.directory)
            self.box.start()
        except BaseException as exc:  # re-raised by wait() on the main thread
            self.error = exc

    def wait(self) -> Any:
        self.start()
        self._thread.join()
        if self.error is not None:
            raise self.error
        return self.box

    def stop(self) -> None:
        if self._thread.ident is None:
            return
        self._thread.join()
        if self.box is not None and self.error is None:
            self.box.stop()


class ExitWatchdog:
    """Ends the process if a signal's exit has not finished ``grace`` seconds later.

    A Textual driver whose terminal is gone can block the main thread for good (its
    bounded output queue full, no writer left); then no signal handler on the event
    loop runs any more either. ``arm`` is safe from a Python signal handler: it only
    sets an event for a thread started beforehand. On expiry ``cleanup`` (stopping the
    sandbox, which kills its node processes) gets at most ``grace`` seconds more, then
    ``exit(128 + signum)``.
    """

    def __init__(self, cleanup: Callable[[], None], grace: float = EXIT_GRACE_S,
                 exit: Callable[[int], object] = os._exit) -> None:
        self.cleanup = cleanup
        self.grace = grace
        self._exit = exit
        self.signum: int | None = None
        self._armed = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="exit-watchdog", daemon=True)

    def start(self) -> ExitWatchdog:
        self._thread.start()
        return self

    def arm(self, signum: int) -> None:
        if self.signum is None:
            self.signum = signum
        self._armed.set()

    def disarm(self) -> None:
        """The process is exiting normally: the watchdog stands down."""
        self._done.set()
        self._armed.set()

    def _watch(self) -> None:
        self._armed.wait()
        if self._done.wait(self.grace) or self.signum is None:
            return
        cleaner = threading.Thread(target=self._cleanup, name="exit-cleanup", daemon=True)
        cleaner.start()
        cleaner.join(self.grace)
        self._exit(128 + self.signum)

    def _cleanup(self) -> None:
        with contextlib.suppress(BaseException):
            self.cleanup()


def run(args: argparse.Namespace) -> int:
    from workbench.errors import UsageError
    from workbench.profile import load_profile

    profile_arg = getattr(args, "profile", None)
    use_sandbox = bool(args.sandbox or args.sandbox_dir) or not cloud_configured(profile_arg)
    starter: SandboxStarter | None = None
    watchdog = ExitWatchdog(lambda: starter.stop() if starter is not None else None).start()
    try:
        if use_sandbox:
            directory = Path(args.sandbox_dir) if args.sandbox_dir else default_sandbox_dir()
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise UsageError(f"--sandbox-dir {directory}: {exc.strerror or exc}") from None
            starter = SandboxStarter(directory.resolve())
            if not starter.profile_path.is_file():
                starter.wait()  # the first run: its profile is written as it starts
            profile = load_profile(starter.profile_path, environ={})
        else:
            profile = load_profile(profile_arg)
        return asyncio.run(_run_app(profile, readonly=bool(args.readonly), starter=starter,
                                    watchdog=watchdog))
    finally:
        if starter is not None:
            starter.stop()
        watchdog.disarm()


async def _run_app(profile: Any, *, readonly: bool, starter: SandboxStarter | None,
                   watchdog: ExitWatchdog | None = None) -> int:
    from workbench.engine.facade import Engine
    from workbench.tui.app import WorkbenchApp

    engine = Engine(profile)
    ready = asyncio.Event()
    engine.start_gate = ready.wait  # no cloud call (so no `import openstack`) before it
    app = WorkbenchApp(engine, readonly=readonly)
    watch = FrameWatch(app)
    loop = asyncio.get_running_loop()

    def on_signal(signum: int, _frame: object) -> None:
        # A plain handler, not loop.add_signal_handler: it must run (and arm the
        # watchdog) even when the loop is stuck in a blocked driver call.
        if watchdog is not None:
            watchdog.arm(signum)
        loop.call_soon_threadsafe(app.exit)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGHUP)}
    running = asyncio.create_task(app.run_async())
    opener = asyncio.create_task(_open_gate(app, running, ready, starter, watch))
    try:
        await running
    finally:
        opener.cancel()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        await engine.close()
    if opener.done() and not opener.cancelled() and opener.exception() is not None:
        raise opener.exception()  # type: ignore[misc]
    return int(app.return_code or 0)


async def _open_gate(app: Any, running: asyncio.Task[Any], ready: asyncio.Event,
                     starter: SandboxStarter | None, watch: FrameWatch) -> None:
    """Open the engine's gate once the app's screen is painted and the sandbox answers."""
    try:
        await _first_frame(app, running, watch)
        if starter is not None:
            try:
                await asyncio.to_thread(starter.wait)
            except BaseException:
                app.exit(1)
                raise
    finally:
        ready.set()


class FrameWatch:
    """Watches what the app writes to its terminal until its own screen has been shown whole.

    Textual paints a pushed screen in several partial updates (its first paint, made
    inside a batch, is dropped), and ``call_after_refresh`` may run before any of them;
    so "shown" is read from the bytes written: every bordered pane's title has reached
    the terminal. Where a terminal is too narrow to print a title whole, a screen whose
    panes all have their place and have been written once counts after SETTLE_S.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.shown = asyncio.Event()
        self.settled_at: float | None = None
        self._text: list[str] = []
        watch = self

        base: Any = app.driver_class

        class WatchedDriver(base):  # type: ignore[misc]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                file = getattr(self, "_file", None)  # the writer thread's file: see TerminalOut
                if file is not None:
                    self._file = TerminalOut(file)

            def _sigcont_application(self, *args: Any) -> None:
                # The kernel sends SIGCONT (after SIGHUP) when the terminal hangs up;
                # only a SIGCONT after our own SIGTSTP is a resume. Textual's resume
                # would start a second writer thread that dies on the dead tty.
                if getattr(self, "_must_signal_resume", True):
                    super()._sigcont_application(*args)

            def write(self, data: str) -> None:
                super().write(data)
                if not watch.shown.is_set():
                    watch.wrote(data)

        app.driver_class = WatchedDriver

    def wrote(self, data: str) -> None:
        self._text.append(_ESCAPES.sub("", data))
        app = self.app
        if len(app.screen_stack) < 2 or not app.screen.is_mounted:
            return  # Textual's default screen: not ours yet
        panes = [w for w in app.screen.query("*") if w.border_title]
        if not panes:
            return
        text = "".join(self._text)
        if all(str(w.border_title) in text for w in panes):
            self.shown.set()
        elif self.settled_at is None and all(w.region.area for w in panes):
            self.settled_at = asyncio.get_running_loop().time()


class TerminalOut:
    """The driver's output file; once the terminal is gone (EIO) it drops what is written.

    Textual's writer thread dies on the first OSError, and with no reader its bounded
    queue fills: the next ``write`` (or the ``None`` that stops it) blocks forever.
    """

    def __init__(self, file: Any) -> None:
        self._file = file
        self.gone = False

    def write(self, text: str) -> None:
        if not self.gone:
            try:
                self._file.write(text)
            except (OSError, ValueError):
                self.gone = True

    def flush(self) -> None:
        if not self.gone:
            try:
                self._file.flush()
            except (OSError, ValueError):
                self.gone = True

    def fileno(self) -> int:
        return int(self._file.fileno())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)


async def _first_frame(app: Any, running: asyncio.Task[Any], watch: FrameWatch,
                       timeout: float = FIRST_FRAME_TIMEOUT) -> None:
    """Return once the app's own screen has reached the terminal whole (every pane).

    ``timeout`` only keeps a terminal that never paints from leaving the engine asleep.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not running.done() and not watch.shown.is_set() and loop.time() < deadline:
        if watch.settled_at is not None and loop.time() - watch.settled_at >= SETTLE_S:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(watch.shown.wait(), 0.05)
