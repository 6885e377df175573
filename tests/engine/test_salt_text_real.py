"""Salt's text output as real Salt prints it (tests/fixtures/real/salt, SOURCES.md): every
``--state-output`` style, colour, ``--state-verbose=False`` and test mode, 2015.8-3008."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.engine.salt.output import parse_output, readable_lines

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real" / "salt"
STYLES = ("full", "terse", "mixed", "changes", "full_id", "terse_id", "mixed_id", "changes_id")
FUNCTIONS = ["file.managed", "file.managed", "file.directory", "cmd.run", "cmd.run"]


@pytest.mark.parametrize("color", ["plain", "color"])
@pytest.mark.parametrize("style", STYLES)
def test_a_real_run_in_every_style(style: str, color: str) -> None:
    states = parse_output((REAL / "3008" / f"{style}-{color}-run.txt").read_text())
    assert [s.function for s in states] == FUNCTIONS
    assert [s.result for s in states] == [True, True, True, False, False]
    assert states[0].changed and not states[1].changed  # known_tokens.csv written, static.conf clean
    failed = [s for s in states if s.result is False]
    if style.startswith(("terse",)):
        assert [s.id for s in failed] == (["broken-service", "after-broken"] if style.endswith("_id") else
                                          ["echo starting; echo 'kubelet: unknown flag --api-servers' >&2; exit 3", "true"])
    else:  # full blocks for the failures: their comment says why
        assert [s.id for s in failed] == ["broken-service", "after-broken"]
        assert failed[1].comment == "One or more requisite failed: kube.broken-service"
        assert failed[0].comment.startswith("Command \"echo starting;") and failed[0].changed
    assert all("\x1b" not in s.id + s.name + s.comment for s in states)


@pytest.mark.parametrize("color", ["plain", "color"])
@pytest.mark.parametrize("style", STYLES)
def test_test_mode_is_would_change_not_failure(style: str, color: str) -> None:
    states = parse_output((REAL / "3008" / f"{style}-{color}-test.txt").read_text())
    assert [s.result for s in states] == [None, True, True, None, None]  # Result: None / Differs
    assert [s.changed for s in states] == [True, False, False, True, True]
    assert not [s for s in states if s.result is False]


@pytest.mark.parametrize("style", ["full", "terse", "mixed", "changes"])
def test_state_verbose_false_counts_the_hidden_clean_states(style: str) -> None:
    states = parse_output((REAL / "3008" / f"{style}-plain-run-quiet.txt").read_text())
    assert len(states) == 5  # the Summary's 3 succeeded + 2 failed
    assert sum(s.result is True for s in states) == 3 and sum(s.result is False for s in states) == 2


def test_salt_2015_and_2016_outputs() -> None:
    old = parse_output((REAL / "2015.8-issue29260-state.sls.txt").read_text())
    assert [(s.id, s.result, s.duration_ms) for s in old] == [("/etc/wgetrc", True, 83.936),
                                                              ("/etc/yum.conf", True, 1019.874)]
    dead = parse_output((REAL / "2016.3-issue37852-highstate.txt").read_text())
    assert [(s.id, s.function, s.result, s.comment) for s in dead] == [
        ("systemd-readahead-replay", "service.running", False,
         "Service systemd-readahead-replay is already enabled, and is dead")]


def test_readable_lines_of_coloured_text_have_no_escape_codes() -> None:
    lines = readable_lines((REAL / "3008" / "mixed-color-run.txt").read_text())
    assert lines[0] == "local:" and not any("\x1b" in line for line in lines)
    assert any(line.strip() == "ID: broken-service" for line in lines)
