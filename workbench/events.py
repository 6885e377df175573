"""Events: the only thing the engine says, and the bus that carries them.

Every event is a frozen dataclass. ``Bus.publish`` never blocks and never awaits: each
subscriber has its own bounded buffer. Log lines beyond a subscriber's cap are dropped
oldest-first and counted (the subscriber sees a ``LinesDropped``); every other event is
kept, so a slow pane never loses a stage.

Secrets never leave the bus: a listener gets each event redacted; a subscription redacts
what it hands out, its log lines as one batch (``redact_many``: at 50,000 lines/s the
per-line calls cost more than the regex scanning).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from workbench.models import Alert, ClusterInfo, Instance
from workbench.redact import redact, redact_many

Stream = Literal["stdout", "stderr", "info"]
Severity = Literal["info", "warning", "error", "critical"]


@dataclass(frozen=True, slots=True)
class Event:
    pass


@dataclass(frozen=True, slots=True)
class LogLine(Event):
    """One line of output. ``source`` is build, salt, push, kubelet, ssh, cloud, ..."""

    source: str
    node: str | None
    text: str
    stream: Stream = "stdout"
    at: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True)
class LinesDropped(Event):
    count: int


@dataclass(frozen=True, slots=True)
class PipelineStarted(Event):
    pipeline: str
    stages: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PipelineFinished(Event):
    pipeline: str
    ok: bool
    error: str | None = None
    failed_stage: str | None = None
    failed_nodes: tuple[str, ...] = ()
    cancelled: bool = False  # the user cancelled it: not a failure


@dataclass(frozen=True, slots=True)
class StageStarted(Event):
    pipeline: str
    stage: str
    node: str | None = None


@dataclass(frozen=True, slots=True)
class StageProgress(Event):
    pipeline: str
    stage: str
    node: str | None = None
    done: float = 0
    total: float | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class StageFinished(Event):
    pipeline: str
    stage: str
    node: str | None = None
    ok: bool = True
    error: str | None = None
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class BuildProgress(Event):
    stage: str
    percent: float
    eta_seconds: float | None = None
    stages: tuple[tuple[str, float | None], ...] = ()  # (name, seconds or None if running)


@dataclass(frozen=True, slots=True)
class InstancesChanged(Event):
    instances: tuple[Instance, ...]


@dataclass(frozen=True, slots=True)
class AlertsChanged(Event):
    alerts: tuple[Alert, ...]


@dataclass(frozen=True, slots=True)
class ClusterInfoChanged(Event):
    info: ClusterInfo | None  # None: no master any more (after down)


@dataclass(frozen=True, slots=True)
class Notice(Event):
    """A short message for a person (a toast in the TUI, a line on stderr headless)."""

    text: str
    severity: Severity = "info"


class Subscription:
    """One subscriber's buffer. Iterate it, or call ``get_batch``."""

    def __init__(self, bus: Bus, max_log_lines: int, predicate: Callable[[Event], bool] | None) -> None:
        self._bus = bus
        self._events: deque[Event] = deque()
        self._log_lines = 0
        self._max_log_lines = max_log_lines
        self._dropped = 0
        self._wakeup = asyncio.Event()
        self._predicate = predicate
        self.closed = False

    def _put(self, event: Event) -> None:
        if self.closed:
            return
        if self._predicate is not None:  # it sees what the subscriber will: redacted
            event = _redacted(event)
            if not self._predicate(event):
                return
        if isinstance(event, LogLine):
            if self._log_lines >= self._max_log_lines:
                self._drop_oldest_line()
            self._log_lines += 1
        self._events.append(event)
        self._wakeup.set()

    def _drop_oldest_line(self) -> None:
        for i, queued in enumerate(self._events):
            if isinstance(queued, LogLine):
                del self._events[i]
                self._log_lines -= 1
                self._dropped += 1
                return

    def get_nowait(self) -> list[Event]:
        """Everything buffered, in order (a ``LinesDropped`` first if lines were lost)."""
        out: list[Event] = []
        if self._dropped:
            out.append(LinesDropped(self._dropped))
            self._dropped = 0
        if self._predicate is None:
            out.extend(_redacted_batch(self._events))
        else:
            out.extend(self._events)  # redacted before the predicate saw them
        self._events.clear()
        self._log_lines = 0
        self._wakeup.clear()
        return out

    async def get_batch(self) -> list[Event]:
        while not self._events and not self._dropped:
            if self.closed:
                return []
            await self._wakeup.wait()
            self._wakeup.clear()
        return self.get_nowait()

    async def __aiter__(self) -> AsyncIterator[Event]:
        while True:
            batch = await self.get_batch()
            if not batch:
                return
            for event in batch:
                yield event

    def close(self) -> None:
        self.closed = True
        self._wakeup.set()
        self._bus._unsubscribe(self)


class Bus:
    """Fan-out of events to subscribers; publish is sync and never blocks.

    Thread-safe publishing: ``publish`` called from another thread hops onto the loop the
    bus was first used on.
    """

    def __init__(self) -> None:
        self._subscriptions: list[Subscription] = []
        self._listeners: list[Callable[[Event], None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def subscribe(
        self, *, max_log_lines: int = 20_000, predicate: Callable[[Event], bool] | None = None
    ) -> Subscription:
        self._remember_loop()
        sub = Subscription(self, max_log_lines, predicate)
        self._subscriptions.append(sub)
        return sub

    def add_listener(self, listener: Callable[[Event], None]) -> Callable[[], None]:
        """A synchronous callback for every event (headless renderers, log files)."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subscriptions:
            self._subscriptions.remove(sub)

    def _remember_loop(self) -> None:
        if self._loop is None:
            with contextlib.suppress(RuntimeError):
                self._loop = asyncio.get_running_loop()

    def publish(self, event: Event) -> None:
        loop = self._loop
        if loop is None:
            self._remember_loop()
            loop = self._loop
        if loop is not None:
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is not loop and not loop.is_closed():
                loop.call_soon_threadsafe(self._deliver, event)
                return
        self._deliver(event)

    def publish_many(self, events: Sequence[Event]) -> None:
        for event in events:
            self.publish(event)

    def _deliver(self, event: Event) -> None:
        for sub in list(self._subscriptions):
            sub._put(event)  # redacted as the subscriber takes it
        if self._listeners:
            event = _redacted(event)
            for listener in list(self._listeners):
                listener(event)

    def log(self, source: str, node: str | None, text: str, stream: Stream = "stdout") -> None:
        self.publish(LogLine(source=source, node=node, text=text, stream=stream))

    def notice(self, text: str, severity: Severity = "info") -> None:
        self.publish(Notice(text, severity))


def _redacted(event: Event) -> Event:
    """Secrets never leave the bus: free text in events is redacted on delivery."""
    if isinstance(event, LogLine):
        text = redact(event.text)
        return event if text == event.text else LogLine(event.source, event.node, text, event.stream, event.at)
    if isinstance(event, Notice):
        return Notice(redact(event.text), event.severity)
    if isinstance(event, (StageFinished, PipelineFinished)) and event.error:
        from dataclasses import replace

        return replace(event, error=redact(event.error))
    return event


def _redacted_batch(events: Sequence[Event]) -> list[Event]:
    """``[_redacted(e) for e in events]`` with the log lines' texts redacted as one batch."""
    out = list(events)
    at = [i for i, event in enumerate(out) if type(event) is LogLine]
    texts = [out[i].text for i in at]  # type: ignore[attr-defined]
    redacted = redact_many(texts)
    if redacted is not texts:
        for i, old, new in zip(at, texts, redacted, strict=True):
            if new != old:
                line: LogLine = out[i]  # type: ignore[assignment]
                out[i] = LogLine(line.source, line.node, new, line.stream, line.at)
    if len(at) != len(out):
        lines = set(at)
        out = [event if i in lines else _redacted(event) for i, event in enumerate(out)]
    return out
