"""Every exception class under ``workbench/`` is drawn in ``workbench.errors``'s tree, under
its real base (read from the source, so node-side scripts count too)."""

from __future__ import annotations

import ast
import builtins
import re
from pathlib import Path

import workbench.errors

PACKAGE = Path(workbench.errors.__file__).resolve().parent


def exception_classes(root: Path = PACKAGE) -> dict[str, str]:
    """{class name: its first base's name} for every class deriving from an exception."""
    bases: dict[str, str] = {}
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef) and node.bases:
                base = node.bases[0]
                name = base.id if isinstance(base, ast.Name) else getattr(base, "attr", "")
                bases[node.name] = name

    def is_exception(name: str, seen: frozenset[str] = frozenset()) -> bool:
        builtin = getattr(builtins, name, None)
        if isinstance(builtin, type) and issubclass(builtin, BaseException):
            return True
        return name in bases and name not in seen and is_exception(bases[name], seen | {name})

    return {name: base for name, base in bases.items() if is_exception(name)}


def drawn_parents(doc: str) -> dict[str, str | None]:
    """{class: parent, or None for a root} from the tree drawing (indentation gives the parent)."""
    parents: dict[str, str | None] = {}
    stack: list[tuple[int, str]] = []
    for line in doc.splitlines():
        found = re.match(r"^(\s*(?:[│ ]\s*)*(?:[├└]── )?)([A-Z]\w+)\s", line + " ")
        if not found or not line.startswith("    "):
            continue
        depth = len(found.group(1))
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parents[found.group(2)] = stack[-1][1] if stack else None
        stack.append((depth, found.group(2)))
    return parents


def test_every_exception_class_is_drawn_under_its_base() -> None:
    classes = exception_classes()
    assert {"WorkbenchError", "KubeError", "PreflightError", "StreamError"} <= set(classes)
    drawn = drawn_parents(workbench.errors.__doc__ or "")
    missing = sorted(set(classes) - set(drawn))
    assert not missing, f"not drawn in workbench/errors.py's tree: {missing}"
    builtin = {n for n, b in classes.items() if b not in classes}  # derives from a builtin
    wrong = {n: (drawn[n], b) for n, b in classes.items()
             if drawn[n] != b and not (drawn[n] is None and n in builtin)}
    assert not wrong, f"drawn under another base (drawn, real): {wrong}"
