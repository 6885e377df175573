"""A terminal emulator widget: pyte interprets the remote bytes, we render its cells.

Remote output never reaches the real terminal: pyte (made tolerant in ``terminal_vt``)
turns escape sequences into a grid of cells, and each cell becomes a Rich segment with
control characters removed. Keys are translated to the bytes a VT100/xterm would send
and handed to ``writer``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import pyte
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.geometry import Size
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from workbench.tui.terminal_vt import SequenceFilter, VTScreen

DECCKM = 1 << 5  # pyte stores private mode N as N << 5: application cursor keys

_PYTE_NAMES = {
    "black": "black", "red": "red", "green": "green", "brown": "yellow", "blue": "blue",
    "magenta": "magenta", "cyan": "cyan", "white": "white",
}
_COLOURS: dict[str, str] = {**_PYTE_NAMES}
_COLOURS.update({f"bright{k}": f"bright_{v}" for k, v in _PYTE_NAMES.items()})
_COLOURS["bfightmagenta"] = "bright_magenta"  # pyte's own typo for SGR 105

_KEYS: dict[str, bytes] = {
    "enter": b"\r", "tab": b"\t", "shift+tab": b"\x1b[Z", "backspace": b"\x7f",
    "ctrl+h": b"\x08", "escape": b"\x1b", "delete": b"\x1b[3~", "insert": b"\x1b[2~",
    "pageup": b"\x1b[5~", "pagedown": b"\x1b[6~",
    "f1": b"\x1bOP", "f2": b"\x1bOQ", "f3": b"\x1bOR", "f4": b"\x1bOS",
    "f5": b"\x1b[15~", "f6": b"\x1b[17~", "f7": b"\x1b[18~", "f8": b"\x1b[19~",
    "f9": b"\x1b[20~", "f10": b"\x1b[21~", "f11": b"\x1b[23~", "f12": b"\x1b[24~",
    "ctrl+space": b"\x00", "ctrl+at": b"\x00", "ctrl+backslash": b"\x1c",
    "ctrl+right_square_bracket": b"\x1d", "ctrl+circumflex_accent": b"\x1e",
    "ctrl+underscore": b"\x1f",
}
_CURSOR = {"up": "A", "down": "B", "right": "C", "left": "D", "home": "H", "end": "F"}
_MODIFIER = {"shift": 2, "alt": 3, "shift+alt": 4, "ctrl": 5, "shift+ctrl": 6, "ctrl+shift": 6}


def key_to_bytes(key: str, character: str | None, *, app_cursor: bool = False) -> bytes | None:
    """The bytes an xterm sends for a Textual key, or None when it sends nothing."""
    if key in _KEYS:
        return _KEYS[key]
    if key in _CURSOR:
        return (b"\x1bO" if app_cursor else b"\x1b[") + _CURSOR[key].encode()
    modifiers, _, base = key.rpartition("+")
    if base in _CURSOR and modifiers in _MODIFIER:
        return f"\x1b[1;{_MODIFIER[modifiers]}{_CURSOR[base]}".encode()
    if modifiers == "ctrl" and len(base) == 1 and base.isalpha():
        return bytes([ord(base.lower()) & 0x1F])
    if modifiers == "alt" and len(base) == 1:
        return b"\x1b" + base.encode()
    if character:
        return character.encode("utf-8", "replace")
    return None


def _printable(text: str) -> str:
    """Cell text with every control character removed (C0, DEL, C1)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else " " for c in text) or " "


@dataclass(frozen=True)
class _Attrs:
    fg: str
    bg: str
    bold: bool
    italics: bool
    underscore: bool
    strikethrough: bool
    reverse: bool


def _colour(name: str) -> str | None:
    if name == "default":
        return None
    if name in _COLOURS:
        return _COLOURS[name]
    if len(name) == 6:
        try:
            int(name, 16)
        except ValueError:
            return None
        return f"#{name}"
    return None


class TerminalView(Widget, can_focus=True):
    """Renders a pyte screen; ``feed`` it remote bytes, read keys from ``writer``."""

    DEFAULT_CSS = """
    TerminalView { width: 1fr; height: 1fr; }
    """

    class Resized(Message):
        """The view's character grid changed size: forward it to the PTY."""

        def __init__(self, view: TerminalView, cols: int, rows: int) -> None:
            super().__init__()
            self.view = view
            self.cols = cols
            self.rows = rows

    def __init__(
        self,
        *,
        writer: Callable[[bytes], None] | None = None,
        cols: int = 80,
        rows: int = 24,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.writer = writer
        self.screen_buffer = VTScreen(cols, rows, self._reply)
        self.stream = pyte.ByteStream(self.screen_buffer)
        self._filter = SequenceFilter()
        self.sized = asyncio.Event()
        self._styles: dict[tuple[_Attrs, bool], Style] = {}

    # -- data in / out -------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        """Interpret remote output (any bytes: escapes, invalid UTF-8, controls).

        Never raises: the screen's handlers tolerate what they do not implement, and
        should pyte itself still fail, the rest of this chunk is lost, not the session."""
        with contextlib.suppress(Exception):  # pyte has reset its parser; keep the session
            self.stream.feed(self._filter(data))
        self.screen_buffer.dirty.clear()
        self.refresh()

    def _reply(self, data: str) -> None:
        if self.writer is not None:
            self.writer(data.encode())

    def send(self, data: bytes) -> None:
        if self.writer is not None and data:
            self.writer(data)

    def text(self) -> str:
        """The screen's text, one line per row, trailing blanks stripped."""
        return "\n".join(line.rstrip() for line in self.screen_buffer.display)

    # -- keys ------------------------------------------------------------------------
    async def _on_key(self, event: events.Key) -> None:
        app_cursor = DECCKM in self.screen_buffer.mode
        data = key_to_bytes(event.key, event.character, app_cursor=app_cursor)
        if data is not None:
            event.stop()
            event.prevent_default()
            self.send(data)

    def _on_paste(self, event: events.Paste) -> None:
        event.stop()
        self.send(event.text.replace("\r\n", "\r").replace("\n", "\r").encode())

    # -- size ------------------------------------------------------------------------
    def _on_resize(self, event: events.Resize) -> None:
        cols, rows = event.size.width, event.size.height
        if cols <= 0 or rows <= 0:
            return
        buf = self.screen_buffer
        if (cols, rows) != (buf.columns, buf.lines):
            buf.resize(rows, cols)
            self.post_message(self.Resized(self, cols, rows))
        self.sized.set()
        self.refresh()

    def get_content_width(self, container: Size, viewport: Size) -> int:
        return self.screen_buffer.columns

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return self.screen_buffer.lines

    # -- rendering -------------------------------------------------------------------
    def _on_focus(self, event: events.Focus) -> None:
        self.refresh()

    def _on_blur(self, event: events.Blur) -> None:
        self.refresh()

    def _style(self, attrs: _Attrs, cursor: bool) -> Style:
        key = (attrs, cursor)
        style = self._styles.get(key)
        if style is None:
            fg, bg = _colour(attrs.fg), _colour(attrs.bg)
            reverse = attrs.reverse != cursor
            style = Style(
                color=fg, bgcolor=bg, bold=attrs.bold or None, italic=attrs.italics or None,
                underline=attrs.underscore or None, strike=attrs.strikethrough or None,
                reverse=reverse or None,
            )
            self._styles[key] = style
        return style

    def render_line(self, y: int) -> Strip:
        buf = self.screen_buffer
        width = self.size.width
        if y >= buf.lines:
            return Strip.blank(width, self.rich_style)
        row = buf.buffer[y]
        cursor = buf.cursor
        cursor_x = cursor.x if (y == cursor.y and not cursor.hidden and self.has_focus) else -1
        base = self.rich_style
        segments: list[Segment] = []
        text: list[str] = []
        current: Style | None = None
        for x in range(buf.columns):
            char = row[x]
            if char.data == "":  # the right half of a wide character
                continue
            attrs = _Attrs(char.fg, char.bg, char.bold, char.italics, char.underscore,
                           char.strikethrough, char.reverse)
            style = self._style(attrs, x == cursor_x)
            if style is not current:
                if text and current is not None:
                    segments.append(Segment("".join(text), base + current))
                text, current = [], style
            text.append(_printable(char.data))
        if text and current is not None:
            segments.append(Segment("".join(text), base + current))
        return Strip(segments).adjust_cell_length(width, base)


__all__ = ["TerminalView", "key_to_bytes"]
