"""In-tree modules are never optional: no ``try: import ... except ImportError`` around one.

import-linter cannot express this, so the AST is read here. An in-tree module is
``workbench.*``, a relative import, or a sibling file (the node commands import each
other by bare name). A guard around a third-party or stdlib module is fine.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "workbench"
IMPORT_ERRORS = {"ImportError", "ModuleNotFoundError"}


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(k, ast.Name) and k.id in IMPORT_ERRORS for k in kinds)


def _in_tree(node: ast.AST, siblings: set[str]) -> list[str]:
    """The in-tree modules ``node`` imports, directly (not inside a nested function)."""
    names: list[str] = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Import):
            names += [a.name for a in sub.names]
        elif isinstance(sub, ast.ImportFrom):
            names.append("." * sub.level + (sub.module or ""))
        elif (isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute)
              and sub.func.attr == "import_module" and sub.args
              and isinstance(sub.args[0], ast.Constant) and isinstance(sub.args[0].value, str)):
            names.append(sub.args[0].value)
    return [n for n in names
            if n.startswith(("workbench", ".")) or n.split(".")[0] in siblings]


def guarded_in_tree_imports(root: Path = PACKAGE) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        siblings = {p.stem for p in path.parent.glob("*.py")} - {"__init__"}
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Try):
                continue
            if not any(_catches_import_error(h) for h in node.handlers):
                continue
            for stmt in node.body:
                for name in _in_tree(stmt, siblings):
                    found.append(f"{path.relative_to(root.parent)}:{stmt.lineno}: {name}")
    return found


def test_no_in_tree_module_is_imported_as_optional() -> None:
    assert guarded_in_tree_imports() == []


def test_the_rule_sees_a_guarded_in_tree_import(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "sibling.py").write_text("")
    (tmp_path / "pkg" / "a.py").write_text(
        "try:\n    from workbench.engine import doctor\nexcept ImportError:\n    doctor = None\n"
        "try:\n    import sibling\nexcept (OSError, ModuleNotFoundError):\n    pass\n"
        "try:\n    import zstandard\nexcept ImportError:\n    zstandard = None\n"
    )
    found = guarded_in_tree_imports(tmp_path / "pkg")
    assert [f.rsplit(": ", 1)[1] for f in found] == ["workbench.engine", "sibling"]
