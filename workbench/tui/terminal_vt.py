"""The VT model behind ``TerminalView``: a pyte screen that survives whatever a program sends.

pyte 0.8 dispatches ``CSI ? ... <final>`` to every CSI handler with ``private=True`` and
passes every parameter it parsed, while most handlers accept neither; one ``TypeError``
ended the session (``vi`` sends ``CSI ? 4 m``). Here every handler takes what it
understands and drops the rest, a private sequence a handler does not implement is
ignored, and a handler that still fails costs that one sequence, never the stream.

pyte also misreads sequences it has no grammar for (``CSI > 4;2 m`` became SGR 4;2,
underlining everything after ``vi`` started; ``CSI ! p`` printed a ``p``; DCS strings
printed their payload): ``SequenceFilter`` removes those before pyte sees them.

The alternate screen (DECSET 47, 1047, 1049) keeps the shell's screen, cursor and
margins aside while ``vi``, ``top`` or ``less`` run, and puts them back afterwards.
"""

from __future__ import annotations

import copy
import inspect
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyte
from pyte.screens import Char, Cursor, Margins, StaticDefaultDict

ALT_SCREEN_MODES = frozenset({47, 1047, 1049})  # DEC private modes, unshifted
_SAVES_CURSOR = 1049
SAVE_CURSOR_MODE = 1048  # DECSET saves the cursor as DECSC does, DECRST restores it

# CSI with a private-use prefix other than "?" (<, =, >), with ":" sub-parameters, or
# with intermediates pyte cannot parse (anything but SP and $); DCS/SOS/PM/APC strings.
_UNPARSED = re.compile(
    rb"\x1b\[(?:[<=>][\x30-\x3f]*[\x20-\x2f]*"
    rb"|[0-9;?]*:[\x30-\x3f]*[\x20-\x2f]*"
    rb"|[\x30-\x3f]*[\x20-\x2f]*[!-#%-/][\x20-\x2f]*)[\x40-\x7e]"
    rb"|\x1b[P_^X][^\x07\x1b]*(?:\x1b\\|\x07)",
)
# A chunk that ends inside an escape sequence: kept until the next chunk completes it.
_PARTIAL = re.compile(rb"\x1b(?:\[[\x30-\x3f]*[\x20-\x2f]*|[P_^X][^\x07\x1b]*\x1b?)?\Z")
_STRING_END = re.compile(rb"\x1b\\|\x07")
MAX_HELD = 65536  # an unterminated string longer than this is dropped, not buffered forever


class SequenceFilter:
    """Removes the escape sequences pyte would misparse; stateful across chunks."""

    def __init__(self) -> None:
        self._held = b""
        self._skipping = False  # inside a string too long to hold: drop up to its end

    def __call__(self, data: bytes) -> bytes:
        if self._skipping:
            end = _STRING_END.search(data)
            if end is None:
                return b""
            data, self._skipping = data[end.end():], False
        data = self._held + data
        self._held = b""
        tail = _PARTIAL.search(data)
        if tail is not None:
            data, self._held = data[: tail.start()], data[tail.start():]
            if len(self._held) > MAX_HELD:
                self._held, self._skipping = b"", True
        return _UNPARSED.sub(b"", data)


@dataclass(frozen=True)
class _Arity:
    """What a handler accepts: how many positionals, which keywords."""

    positional: int | None  # None: any number
    keywords: frozenset[str] | None  # None: any keyword

    @classmethod
    def of(cls, function: Callable[..., Any]) -> _Arity:
        params = list(inspect.signature(function).parameters.values())[1:]  # without self
        kinds = inspect.Parameter
        varargs = any(p.kind is kinds.VAR_POSITIONAL for p in params)
        varkw = any(p.kind is kinds.VAR_KEYWORD for p in params)
        positional = sum(p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD) for p in params)
        keywords = frozenset(p.name for p in params
                             if p.kind in (kinds.POSITIONAL_OR_KEYWORD, kinds.KEYWORD_ONLY))
        return cls(None if varargs else positional, None if varkw else keywords)


def _tolerant(name: str, handler: Callable[..., Any]) -> Callable[..., Any]:
    arity = _Arity.of(handler)

    def tolerant(self: Any, *args: Any, **kwargs: Any) -> Any:
        if arity.keywords is not None:
            if kwargs.get("private") and "private" not in arity.keywords:
                return None  # a DEC private sequence this handler does not implement
            kwargs = {k: v for k, v in kwargs.items() if k in arity.keywords}
        if arity.positional is not None:
            args = args[: arity.positional]
        try:
            return handler(self, *args, **kwargs)
        except Exception:  # one bad sequence must not end the session
            return None

    tolerant.__name__ = name
    tolerant.__doc__ = handler.__doc__
    return tolerant


@dataclass(frozen=True)
class _Saved:
    """The main screen while the alternate one is shown."""

    buffer: Any
    cursor: Cursor
    margins: Margins | None


class VTScreen(pyte.Screen):
    """A pyte screen with the alternate screen, tolerant handlers, and replies to the remote."""

    def __init__(self, columns: int, lines: int, reply: Callable[[str], None]) -> None:
        self._main: _Saved | None = None  # before super().__init__: it calls reset()
        self._alt_mode = 0
        super().__init__(columns, lines)
        self._reply = reply

    @property
    def in_alternate_screen(self) -> bool:
        return self._main is not None

    def write_process_input(self, data: str) -> None:
        self._reply(data)

    def reset(self) -> None:
        if self._main is not None:  # RIS leaves the alternate screen, as xterm does
            self.buffer, self._main = self._main.buffer, None
        super().reset()

    # -- the alternate screen --------------------------------------------------------
    def set_mode(self, *modes: int, **kwargs: Any) -> None:
        if kwargs.get("private"):
            for mode in modes:
                if mode in ALT_SCREEN_MODES:
                    self._enter_alternate(mode)
                elif mode == SAVE_CURSOR_MODE:
                    self.save_cursor()
            modes = tuple(m for m in modes if m not in ALT_SCREEN_MODES and m != SAVE_CURSOR_MODE)
        if modes:
            super().set_mode(*modes, **kwargs)

    def reset_mode(self, *modes: int, **kwargs: Any) -> None:
        if kwargs.get("private"):
            for mode in modes:
                if mode in ALT_SCREEN_MODES:
                    self._leave_alternate(mode)
                elif mode == SAVE_CURSOR_MODE:
                    self.restore_cursor()
            modes = tuple(m for m in modes if m not in ALT_SCREEN_MODES and m != SAVE_CURSOR_MODE)
        if modes:
            super().reset_mode(*modes, **kwargs)

    def _blank_buffer(self) -> Any:
        return defaultdict(lambda: StaticDefaultDict[int, Char](self.default_char))

    def _enter_alternate(self, mode: int) -> None:
        if self._main is not None:
            return  # already there: xterm ignores it too
        self._main = _Saved(self.buffer, copy.copy(self.cursor), self.margins)
        self._alt_mode = mode
        self.buffer = self._blank_buffer()
        self.dirty.update(range(self.lines))

    def _leave_alternate(self, mode: int) -> None:
        main = self._main
        if main is None:
            return
        self._main = None
        self.buffer = main.buffer
        self.margins = main.margins
        if _SAVES_CURSOR in (mode, self._alt_mode):
            self.cursor = main.cursor
        self.ensure_hbounds()
        self.ensure_vbounds()
        self.dirty.update(range(self.lines))

    def resize(self, lines: int | None = None, columns: int | None = None) -> None:
        """Resize the shown screen and, in the alternate screen, the kept main one too."""
        main = self._main
        if main is not None:
            size, shown = (self.lines, self.columns), (self.buffer, self.cursor, self.margins)
            self.buffer, self.cursor, self.margins = main.buffer, main.cursor, main.margins
            super().resize(lines, columns)
            self.ensure_hbounds()
            self.ensure_vbounds()
            self._main = _Saved(self.buffer, self.cursor, self.margins)
            (self.lines, self.columns), (self.buffer, self.cursor, self.margins) = size, shown
        super().resize(lines, columns)
        self.ensure_hbounds()
        self.ensure_vbounds()


# Every handler a pyte stream may dispatch to becomes tolerant (our overrides included).
for _name in sorted(pyte.Stream.events):
    _handler = getattr(VTScreen, _name, None)
    if callable(_handler):
        setattr(VTScreen, _name, _tolerant(_name, _handler))
del _name, _handler


__all__ = ["ALT_SCREEN_MODES", "SequenceFilter", "VTScreen"]
