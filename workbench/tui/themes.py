"""Themes: one ``textual.theme.Theme`` per ``themes/*.toml`` file, plus app variables.

In a checkout the files come from the repo's ``themes/``; an installed wheel carries
them as the package resource ``workbench/_themes``.
"""

from __future__ import annotations

import tomllib
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import fields
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

from rich.style import Style
from textual.theme import Theme

DEFAULT_THEME = "workbench-dark"
NODE_COLOURS = 6

#: Fallbacks for every app variable, so any theme (even Textual's own) parses our tcss.
VARIABLE_DEFAULTS: dict[str, str] = {
    "wb-sandbox": "#e0a84f",
    "wb-readonly": "#c678dd",
    "wb-running": "#4f9dde",
    "wb-sev-critical": "#ff4d6d",
    "wb-sev-error": "#e0605a",
    "wb-sev-warning": "#e0a84f",
    "wb-sev-info": "#7c8fa6",
    "wb-status-active": "#5fb878",
    "wb-status-build": "#4f9dde",
    "wb-status-error": "#e0605a",
    "wb-status-other": "#a0a8b4",
    "wb-stderr": "#e8877f",
    "wb-match-fg": "#161a20",
    "wb-match-bg": "#e0a84f",
    "wb-source": "#7c8fa6",
    **{f"wb-node-{i}": c for i, c in enumerate(
        ["#61afef", "#98c379", "#e5c07b", "#c678dd", "#56b6c2", "#d19a66"], start=1)},
}

_THEME_FIELDS = {f.name for f in fields(Theme)} - {"variables"}


class ThemeFileError(ValueError):
    """A theme file that cannot be read; the message names the file and the field."""


def theme_dirs() -> list[Traversable]:
    """Where theme files live: the checkout's ``themes/`` first, then the wheel's copy."""
    found: list[Traversable] = []
    repo = Path(__file__).resolve().parents[2] / "themes"
    if repo.is_dir():
        found.append(repo)
    packaged = resources.files("workbench") / "_themes"
    if packaged.is_dir():
        found.append(packaged)
    return found


def parse_theme(name: str, text: str) -> Theme:
    """One theme from TOML text; ``name`` (the file) is used in error messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ThemeFileError(f"{name}: not valid TOML ({exc})") from None
    variables = data.pop("variables", {})
    if not isinstance(variables, dict) or not all(isinstance(v, str) for v in variables.values()):
        raise ThemeFileError(f"{name}: [variables]: a table of name = \"colour\" strings")
    unknown = sorted(set(data) - _THEME_FIELDS)
    if unknown:
        raise ThemeFileError(f"{name}: {unknown[0]}: not a theme field")
    if not isinstance(data.get("name"), str) or not isinstance(data.get("primary"), str):
        raise ThemeFileError(f"{name}: name, primary: both are required strings")
    return Theme(**data, variables={str(k): v for k, v in variables.items()})


def load_themes(dirs: Iterable[Traversable] | None = None) -> tuple[list[Theme], list[str]]:
    """All themes found (first file wins per name) and one error line per bad file."""
    themes: dict[str, Theme] = {}
    errors: list[str] = []
    for folder in theme_dirs() if dirs is None else dirs:
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if not entry.name.endswith(".toml"):
                continue
            try:
                theme = parse_theme(str(entry), entry.read_text(encoding="utf-8"))
            except (ThemeFileError, OSError, UnicodeDecodeError) as exc:
                errors.append(str(exc))
                continue
            themes.setdefault(theme.name, theme)
    return list(themes.values()), errors


def node_colour_variable(node: str | None) -> str:
    """A stable colour slot per node name (crc32, not ``hash``: same colour every run)."""
    if not node:
        return "wb-source"
    return f"wb-node-{zlib.crc32(node.encode()) % NODE_COLOURS + 1}"


def style_of(variables: Mapping[str, str], name: str, *, bold: bool = False) -> Style:
    """A Rich style from a theme variable (for DataTable cells and the log highlighter)."""
    value = variables.get(name) or VARIABLE_DEFAULTS.get(name, "")
    try:
        return Style(color=value or None, bold=bold)
    except Exception:  # a theme variable that is not a colour: fall back to plain text
        return Style(bold=bold)


def match_style(variables: Mapping[str, str]) -> Style:
    """How a search match is marked, in the logs and in the tables."""
    try:
        return Style(color=variables.get("wb-match-fg") or None, bgcolor=variables.get("wb-match-bg") or None,
                     bold=True)
    except Exception:  # not colours: bold alone still marks it
        return Style(bold=True)
