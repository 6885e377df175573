"""Remote text safety, theme files, and the log file's cap."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from workbench.tui.log_file import LogFile
from workbench.tui.log_query import LogQuery, LogRecord
from workbench.tui.safe_text import safe_line
from workbench.tui.themes import load_themes, node_colour_variable, parse_theme

REPO_THEMES = Path(__file__).resolve().parents[2] / "themes"


@given(st.text(max_size=300))
def test_no_control_character_survives(text: str) -> None:
    shown = safe_line(text)
    assert not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F or 0xD800 <= ord(c) <= 0xDFFF for c in shown)


def test_escape_sequences_are_removed_not_shown() -> None:
    assert safe_line("\x1b[1;31merror\x1b[0m done") == "error done"
    assert safe_line("a\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\b") == "alinkb"
    assert safe_line("\x1bP+q544e\x1b\\ok") == "ok"
    assert safe_line("bytes \udcff here") == "bytes \ufffd here"
    long = safe_line("y" * 50_000)
    assert len(long) < 2_100 and "chars cut" in long


def test_query_parsing() -> None:
    query = LogQuery.parse("node:a,b source:salt error  here")
    assert query.nodes == {"a", "b"} and query.sources == {"salt"} and query.term == "error here"
    assert str(LogQuery.parse(str(query))) == str(query)
    record = LogRecord("a", "salt", False, "an Error here", 0.0)
    assert query.matches(record)
    assert not query.matches(record._replace(node="c"))


def test_the_three_themes_load_with_app_variables() -> None:
    themes, errors = load_themes([REPO_THEMES])
    assert errors == []
    names = {t.name for t in themes}
    assert {"workbench-dark", "workbench-light", "workbench-high-contrast"} <= names
    for theme in themes:
        assert {"wb-sev-error", "wb-node-1", "wb-match-bg"} <= set(theme.variables)
    assert next(t for t in themes if t.name == "workbench-light").dark is False


def test_a_bad_theme_file_is_one_line_naming_file_and_field(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text('name = "x"\nprimary = "#fff"\ncolour = "red"\n')
    (tmp_path / "b.toml").write_text("name = [")
    (tmp_path / "c.toml").write_text('name = "ok"\nprimary = "#123456"\n')
    themes, errors = load_themes([tmp_path])
    assert [t.name for t in themes] == ["ok"]
    assert errors[0].endswith("a.toml: colour: not a theme field")
    assert "b.toml: not valid TOML" in errors[1] and "\n" not in errors[1]


def test_parse_theme_requires_name_and_primary() -> None:
    try:
        parse_theme("t.toml", 'dark = true\n')
    except ValueError as exc:
        assert str(exc) == "t.toml: name, primary: both are required strings"
    else:
        raise AssertionError("accepted a theme without a name")


def test_node_colours_are_stable_across_runs() -> None:
    assert node_colour_variable("kubernetes-master") == node_colour_variable("kubernetes-master")
    assert node_colour_variable(None) == "wb-source"


def test_log_file_rotates_at_its_cap(tmp_path: Path) -> None:
    path = tmp_path / "workbench.log"
    log = LogFile(path, max_bytes=10_000)
    for i in range(100):
        log.write([LogRecord("n", "salt", False, f"line {i} " + "x" * 100, 0.0)])
    log.close()
    assert path.stat().st_size <= 10_000 + 200
    assert path.with_name("workbench.log.1").exists()
    assert oct(path.stat().st_mode & 0o777) == "0o600"
