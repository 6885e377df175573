"""Pillar from ``pillar_roots`` as Salt compiles it: top.sls, then the sls files it names.

Stdlib only (runs on the node), so the YAML read is the subset pillar files use here:
JSON documents (JSON is YAML) and block mappings/lists of plain scalars, e.g.
``base:\\n  '*':\\n    - workbench``. The first root holding ``top.sls`` wins, as in Salt.
"""

from __future__ import annotations

import fnmatch
import json
import os
from pathlib import Path

import nodelib


def roots(options: list[str]) -> list[Path]:
    """``--pillar-root`` values (relative to the cwd, absolute ones inside the node), else /srv/pillar."""
    if not options:
        return [nodelib.ROOT / "srv" / "pillar"]
    return [nodelib.ROOT / p.lstrip("/") if p.startswith("/") else Path(os.getcwd()) / p for p in options]


def _scalar(text: str) -> object:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    try:
        return json.loads(text)
    except ValueError:
        return text


def load_yaml(text: str) -> object:
    """A JSON document, or block mappings / lists of scalars (indentation-nested)."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    lines = [(len(raw) - len(raw.lstrip(" ")), raw.strip()) for raw in text.splitlines()
             if raw.strip() and not raw.lstrip().startswith("#")]
    value, _ = _block(lines, 0, lines[0][0] if lines else 0)
    return value


def _block(lines: list[tuple[int, str]], i: int, indent: int) -> tuple[object, int]:
    if i < len(lines) and lines[i][1].startswith("- "):
        items: list[object] = []
        while i < len(lines) and lines[i][0] == indent and lines[i][1].startswith("- "):
            items.append(_scalar(lines[i][1][2:]))
            i += 1
        return items, i
    mapping: dict[object, object] = {}
    while i < len(lines) and lines[i][0] == indent:
        key, _, rest = lines[i][1].partition(":")
        i += 1
        if rest.strip():
            mapping[_scalar(key)] = _scalar(rest)
        elif i < len(lines) and (lines[i][0] > indent or lines[i][1].startswith("- ")):
            mapping[_scalar(key)], i = _block(lines, i, lines[i][0])
        else:
            mapping[_scalar(key)] = None
    return mapping, i


def _find(dirs: list[Path], name: str) -> Path | None:
    return next((d / name for d in dirs if (d / name).is_file()), None)


def _merge(into: dict, new: dict) -> None:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def compile_pillar(options: list[str]) -> dict:
    """The node's pillar: every sls that base's matching targets in top.sls list, merged."""
    dirs = roots(options)
    top_path = _find(dirs, "top.sls")
    if top_path is None:
        return {}
    top = load_yaml(top_path.read_text())
    base = top.get("base") if isinstance(top, dict) else None
    minion_id = str(nodelib.node().get("name") or "local")
    pillar: dict = {}
    for target, names in (base.items() if isinstance(base, dict) else ()):
        if not fnmatch.fnmatch(minion_id, str(target)) or not isinstance(names, list):
            continue
        for name in names:
            rel = str(name).replace(".", "/")
            path = _find(dirs, f"{rel}.sls") or _find(dirs, f"{rel}/init.sls")
            data = load_yaml(path.read_text()) if path else None
            if isinstance(data, dict):
                _merge(pillar, data)
    return pillar
