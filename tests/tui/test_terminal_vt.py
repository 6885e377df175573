"""The VT model on its own: sequences split across reads, resizes in the alternate screen,
a reset there, and every CSI final byte with odd parameters (none may raise)."""

from __future__ import annotations

import pyte
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.tui.terminal_vt import SequenceFilter, VTScreen


class Term:
    def __init__(self, cols: int = 20, rows: int = 5) -> None:
        self.replies: list[str] = []
        self.screen = VTScreen(cols, rows, self.replies.append)
        self.stream = pyte.ByteStream(self.screen)
        self.filter = SequenceFilter()

    def feed(self, *chunks: bytes) -> None:
        for chunk in chunks:
            self.stream.feed(self.filter(chunk))

    def lines(self) -> list[str]:
        return [line.rstrip() for line in self.screen.display]


def test_unparsed_sequences_split_across_reads_leave_nothing_behind() -> None:
    term = Term()
    term.feed(b"a\x1b", b"[>4", b";2m", b"b\x1bP+q54", b"4e\x1b", b"\\c\x1b[", b"!p", b"d")
    assert term.lines()[0] == "abcd"
    assert not term.screen.buffer[0][1].underscore


def test_a_string_too_long_to_hold_is_skipped_to_its_end() -> None:
    term = Term()
    term.feed(b"a\x1bPq" + b"#" * 70000, b"#" * 70000, b"##\x1b\\b")
    assert term.lines()[0] == "ab"


def test_alternate_screen_keeps_the_main_one_through_a_resize() -> None:
    term = Term(20, 5)
    term.feed(b"one\r\ntwo\r\nthree")
    cursor = (term.screen.cursor.x, term.screen.cursor.y)
    term.feed(b"\x1b[?1049h\x1b[HFULL")
    assert term.lines()[0] == "FULL" and "one" not in term.lines()
    term.screen.resize(8, 30)
    term.feed(b"\x1b[8;1Hbottom")
    term.feed(b"\x1b[?1049l")
    assert term.lines()[:3] == ["one", "two", "three"] and "FULL" not in term.lines()
    assert (term.screen.cursor.x, term.screen.cursor.y) == cursor
    assert (term.screen.lines, term.screen.columns) == (8, 30)
    assert all(len(row) <= 30 for row in term.screen.display)


def test_mode_47_and_1047_switch_screens_and_reset_leaves_the_alternate_one() -> None:
    for mode in (b"47", b"1047"):
        term = Term()
        term.feed(b"shell")
        term.feed(b"\x1b[?" + mode + b"h\x1b[Halt")
        assert term.lines()[0] == "alt"
        term.feed(b"\x1b[?" + mode + b"l")
        assert term.lines()[0] == "shell"
    term = Term()
    term.feed(b"shell\x1b[?1049halt\x1bc")  # RIS: the normal screen, cleared
    assert not term.screen.in_alternate_screen and term.lines()[0] == ""


def test_private_device_attributes_reply_and_secondary_is_dropped() -> None:
    term = Term()
    term.feed(b"\x1b[c\x1b[>c\x1b[?6n")
    assert term.replies == ["\x1b[?6c"]


_CSI_FINALS = st.sampled_from([chr(c) for c in range(0x40, 0x7F)])


@settings(max_examples=300, deadline=None)
@given(
    prefix=st.sampled_from(["", "?", ">", "<", "=", "!"]),
    params=st.lists(st.integers(min_value=0, max_value=99999), max_size=8),
    final=_CSI_FINALS,
    cut=st.integers(min_value=0, max_value=40),
)
def test_no_csi_sequence_raises_or_stops_the_stream(prefix: str, params: list[int], final: str,
                                                    cut: int) -> None:
    term = Term()
    data = f"x\x1b[{prefix}{';'.join(map(str, params))}{final}".encode() + b"\x1b[Hok"
    term.feed(data[:cut], data[cut:])
    assert term.lines()[0].startswith("ok")
