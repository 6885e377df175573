"""Remote text shown as text: a node's escape sequences must never drive our terminal."""

from __future__ import annotations

import re

MAX_DISPLAY_CHARS = 2_000
REPLACEMENT = "\ufffd"

# CSI (ESC [ ... final), OSC (ESC ] ... BEL/ST), DCS/SOS/PM/APC (ESC P/X/^/_ ... ST),
# two-byte ESC sequences, and the 8-bit C1 forms of the same.
_ESCAPES = re.compile(
    r"""
    (?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?          # CSI
  | (?:\x1b\]|\x9d).*?(?:\x07|\x1b\\|\x9c|$)   # OSC
  | (?:\x1b[PX^_]|[\x90\x98\x9e\x9f]).*?(?:\x1b\\|\x9c|$)  # DCS, SOS, PM, APC
  | \x1b[ -/]*[0-~]?                           # other ESC sequences
    """,
    re.VERBOSE | re.DOTALL,
)
_HAS_ESCAPE = re.compile(r"[\x1b\x80-\x9f]")
# Controls, lone surrogates, and the Unicode line/paragraph separators (a display line is
# one line: the log view does not split it again).
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def safe_line(text: str, limit: int = MAX_DISPLAY_CHARS) -> str:
    """One display line: escapes removed, controls and lone surrogates replaced, tabs
    expanded, newlines flattened, and absurdly long lines cut with a marker."""
    if len(text) <= limit and text.isprintable():  # the common case, at C speed
        return text
    if len(text) > limit * 4:
        text = text[: limit * 4]  # bound the regex work on megabyte lines
    if _HAS_ESCAPE.search(text):
        text = _ESCAPES.sub("", text)
    text = text.replace("\r\n", "\n").replace("\n", " ⏎ ").replace("\r", "")
    text = _CONTROLS.sub(REPLACEMENT, text.expandtabs(4) if "\t" in text else text)
    if len(text) > limit:
        text = f"{text[:limit]} … [{len(text) - limit}+ chars cut]"
    return text


def decode_remote(data: bytes) -> str:
    """Bytes from a node as text; invalid UTF-8 becomes U+FFFD, never an exception."""
    return data.decode("utf-8", errors="replace")
