"""The TUI on a real Engine and sandbox: canaries never reach the logs pane or the log
file, and remote text (terminal escapes, invalid UTF-8, 1 MB lines) arrives inert."""

from __future__ import annotations

import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.engine.facade import Engine
from workbench.events import LogLine
from workbench.profile import load_profile
from workbench.tui.app import WorkbenchApp
from workbench.tui.panes.logs import LogsPane
from workbench.tui.safe_text import MAX_DISPLAY_CHARS, decode_remote, safe_line

from .conftest import count
from .test_secrets import key_material, node_tokens, seed_canaries

UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
#: what a node may print: clear screen, set the clipboard (OSC 52), retitle, DCS, 8-bit CSI, NUL, CR
HOSTILE = [
    "\x1b[2J\x1b[Hcleared", "\x1b]52;c;ZWNobyBwd25lZA==\x07clipboard", "\x1b]0;owned title\x1b\\title",
    "\x1bP+q544e\x1b\\dcs", "\x9b31mred8bit", "nul\x00byte", "carriage\rreturn", "bell\x07",
    "\x1b[6n report cursor", "tab\tand\x0bvt",
]
RAW = [b"\xff\xfe invalid utf-8 \xc3\x28", b"\xed\xa0\x80 surrogate", b"x" * 1_000_000 + b"\x1b[31m"]


async def settle(pilot: Any, pane: LogsPane, want: int) -> None:
    for _ in range(500):
        if pane.received >= want:
            return
        await pilot.pause(0.02)
    raise AssertionError(f"the logs pane received {pane.received} of {want} lines")


def visible(app: WorkbenchApp) -> tuple[LogsPane, list[str]]:
    pane = app.screen.query_one(LogsPane)
    return pane, [str(line) for line in pane.log_view.lines]


@pytest.mark.slow
async def test_hostile_remote_text_reaches_the_logs_pane_inert(make_sandbox: Callable[..., Any]) -> None:
    box = make_sandbox(minions=1)
    engine = Engine(load_profile(box.profile_path, environ={}))
    app = WorkbenchApp(engine)
    lines = HOSTILE + [decode_remote(raw) for raw in RAW]
    try:
        async with app.run_test(size=(140, 40)) as pilot:
            pane = app.screen.query_one(LogsPane)
            before = pane.received
            for i, text in enumerate(lines):
                engine.bus.publish(LogLine("salt", f"node-{i % 3}\x1b[1m", text, "stderr" if i % 2 else "stdout"))
            await settle(pilot, pane, before + len(lines))
            await pilot.press("tab")  # still answering keys
            pane, shown = visible(app)
            assert shown, "nothing reached the pane"
            for line in shown:
                assert not UNSAFE.search(line), repr(line[:200])
                assert len(line) < MAX_DISPLAY_CHARS + 200
            joined = "\n".join(shown)
            assert "cleared" in joined and "\ufffd" in joined and "chars cut" in joined
    finally:
        await engine.close()
    text = engine.state.log_path.read_text(errors="strict")
    for line in text.splitlines():
        assert not UNSAFE.search(line), repr(line[:200])
        assert len(line) < MAX_DISPLAY_CHARS + 200
    count("hostile remote lines shown", len(lines))


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.characters(codec=None), max_size=300)
       | st.binary(max_size=300).map(decode_remote))
def test_safe_line_leaves_nothing_a_terminal_acts_on(text: str) -> None:
    count("inputs fuzzed: remote text")
    shown = safe_line(text)
    assert not UNSAFE.search(shown)
    assert len(shown) <= MAX_DISPLAY_CHARS + 40


@pytest.mark.slow
async def test_no_canary_in_the_tui_logs_or_log_file(make_sandbox: Callable[..., Any], tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKBENCH_FAKE_BUILD_SECONDS", "0.2")
    monkeypatch.setenv("WORKBENCH_FAKE_BINARY_MB", "1")
    box, canaries = seed_canaries(make_sandbox, tmp_path)
    engine = Engine(load_profile(box.profile_path, environ={}))
    app = WorkbenchApp(engine)
    try:
        async with app.run_test(size=(160, 50)) as pilot:
            await engine.up()
            await engine.redeploy()
            regen = node_tokens(box)
            await engine.down()
            pane = app.screen.query_one(LogsPane)
            await settle(pilot, pane, 1)
            await pilot.pause(0.2)
            _, shown = visible(app)
    finally:
        await engine.close()
    watched = dict(canaries) | {f"node token {t[:4]}": t for t in regen}
    watched |= {f"private key line {i}": line for i, line in enumerate(key_material(box.private_key_path))}
    log_path = engine.state.log_path
    assert stat.S_IMODE(log_path.stat().st_mode) & 0o077 == 0
    texts = {"logs pane": "\n".join(shown), "log file": log_path.read_text()}
    assert "salt" in texts["log file"] and len(shown) > 10, "the loop produced no logs"
    leaks = [f"{what} in {where}" for where, text in texts.items() for what, s in watched.items() if s in text]
    assert not leaks, leaks
    count("canary outputs scanned", len(texts))
