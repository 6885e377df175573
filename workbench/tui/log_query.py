"""Log records as the logs pane keeps them, the filter/search query, and the highlighter.

At 50,000 lines/s the pane keeps ``Row``s, plain tuples with ``LogRecord``'s fields: the
garbage collector stops tracking a plain tuple of strings and numbers, never a NamedTuple,
and 20,000 tracked records promoted to the old generation every 0.4 s made a full
collection (40-120 ms, the worst key latency) run every second or so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from rich.highlighter import Highlighter
from rich.style import Style
from rich.text import Text

from workbench.events import LogLine
from workbench.tui.safe_text import MAX_DISPLAY_CHARS, safe_line
from workbench.tui.themes import match_style, node_colour_variable, style_of

NODE_WIDTH = 20
SOURCE_WIDTH = 8
_TEXT_START = NODE_WIDTH + 1 + SOURCE_WIDTH + 1


_NAMES: dict[str, str] = {}


def _safe_name(name: str, limit: int) -> str:
    """Node and source names repeat on every line: make each safe once."""
    safe = _NAMES.get(name)
    if safe is None:
        if len(_NAMES) > 4096:
            _NAMES.clear()
        safe = _NAMES[name] = safe_line(name, limit)
    return safe


#: LogRecord's fields (node, source, stderr, text, at) as a plain tuple.
Row = tuple[str, str, bool, str, float]


def tag_prefix(node: str, source: str, stderr: bool) -> str:
    """The fixed-width tag a display line starts with: node, source, ``!`` on stderr."""
    return f"{node[:NODE_WIDTH]:<{NODE_WIDTH}} {source[:SOURCE_WIDTH]:<{SOURCE_WIDTH}}{'!' if stderr else ' '}"


class LogRecord(NamedTuple):
    """One received line. A NamedTuple, not a frozen dataclass: at 50,000 lines/s the
    dataclass's per-field ``object.__setattr__`` costs more than everything else here."""

    node: str
    source: str
    stderr: bool
    text: str  # already made safe for display
    at: float

    @classmethod
    def from_event(cls, line: LogLine) -> LogRecord:
        return cls(
            _safe_name(line.node or "-", 64), _safe_name(line.source, 32),
            line.stream == "stderr", safe_line(line.text), line.at,
        )

    def display(self) -> str:
        """Fixed-width tag (node, source, ``!`` on stderr) then the text."""
        return tag_prefix(self.node, self.source, self.stderr) + self.text


class _Tag(NamedTuple):
    node: str
    source: str
    stderr: bool
    prefix: str


class LogIngest:
    """Turns a batch of events into rows and display lines in one loop. The safe names
    and the tag of each (node, source, stream) are made once; text is made safe only
    when it is not plain printable text of a sane length."""

    def __init__(self) -> None:
        self._tags: dict[tuple[str | None, str, str], _Tag] = {}
        self.nodes: set[str] = set()
        self.sources: set[str] = set()

    def _tag(self, key: tuple[str | None, str, str]) -> _Tag:
        if len(self._tags) > 4096:
            self._tags.clear()
        node, source = _safe_name(key[0] or "-", 64), _safe_name(key[1], 32)
        stderr = key[2] == "stderr"
        self.nodes.add(node)
        self.sources.add(source)
        tag = self._tags[key] = _Tag(node, source, stderr, tag_prefix(node, source, stderr))
        return tag

    def __call__(self, lines: Iterable[LogLine]) -> tuple[list[Row], list[str]]:
        rows: list[Row] = []
        shown: list[str] = []
        tags = self._tags
        for line in lines:
            key = (line.node, line.source, line.stream)
            tag = tags.get(key) or self._tag(key)
            text = line.text
            if len(text) > MAX_DISPLAY_CHARS or not text.isprintable():
                text = safe_line(text)
            rows.append((tag.node, tag.source, tag.stderr, text, line.at))
            shown.append(tag.prefix + text)
        return rows, shown


@dataclass(frozen=True, slots=True)
class LogQuery:
    """``node:NAME source:NAME words``: node and source filters plus a search term."""

    nodes: frozenset[str] = frozenset()
    sources: frozenset[str] = frozenset()
    term: str = ""

    @classmethod
    def parse(cls, text: str) -> LogQuery:
        nodes: set[str] = set()
        sources: set[str] = set()
        words: list[str] = []
        for token in text.split():
            key, sep, value = token.partition(":")
            if sep and value and key in ("node", "n"):
                nodes.update(v for v in value.split(",") if v)
            elif sep and value and key in ("source", "src", "s"):
                sources.update(v for v in value.split(",") if v)
            else:
                words.append(token)
        return cls(frozenset(nodes), frozenset(sources), " ".join(words))

    def __str__(self) -> str:
        parts = [f"node:{','.join(sorted(self.nodes))}"] if self.nodes else []
        if self.sources:
            parts.append(f"source:{','.join(sorted(self.sources))}")
        if self.term:
            parts.append(self.term)
        return " ".join(parts)

    @property
    def active(self) -> bool:
        return bool(self.nodes or self.sources or self.term)

    @property
    def filtering(self) -> bool:
        """``node:`` / ``source:`` hide lines; the search term only highlights."""
        return bool(self.nodes or self.sources)

    def keeps(self, record: Row) -> bool:
        """The node and source filters alone (what the pane shows)."""
        if self.nodes and record[0] not in self.nodes:
            return False
        return not self.sources or record[1] in self.sources

    def matches(self, record: Row) -> bool:
        """For a ``Row`` or a ``LogRecord`` (read by position: a row has no names)."""
        if self.nodes and record[0] not in self.nodes:
            return False
        if self.sources and record[1] not in self.sources:
            return False
        return not self.term or self.term.lower() in record[3].lower()


class LogHighlighter(Highlighter):
    """Colours the tag by node and source, stderr text, and search matches."""

    def __init__(self, variables: Mapping[str, str], term: str = "", offset: int = 0) -> None:
        self._variables = dict(variables)
        self._offset = offset  # a timestamp before the tag
        self._source = style_of(variables, "wb-source")
        self._stderr = style_of(variables, "wb-stderr")
        self._match = match_style(variables)
        self._term = re.compile(re.escape(term), re.IGNORECASE) if term else None
        self._node_styles: dict[str, Style] = {}

    def _node_style(self, node: str) -> Style:
        style = self._node_styles.get(node)
        if style is None:
            style = style_of(self._variables, node_colour_variable(node), bold=True)
            self._node_styles[node] = style
        return style

    def highlight(self, text: Text) -> None:
        plain = text.plain
        at = self._offset
        start = at + _TEXT_START
        if len(plain) < start:
            return
        text.stylize(self._node_style(plain[at:at + NODE_WIDTH].rstrip()), at, at + NODE_WIDTH)
        text.stylize(self._source, at + NODE_WIDTH + 1, start - 1)
        if plain[start - 1] == "!":
            text.stylize(self._stderr, start - 1, len(plain))
        if self._term is not None:
            for match in self._term.finditer(plain, start):
                text.stylize(self._match, match.start(), match.end())
