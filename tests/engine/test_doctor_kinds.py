"""One registry of alert kinds, filled by the check modules: every kind an alert can carry
is known to ``doctor --fix KIND``, and an unknown one is refused with the list."""

from __future__ import annotations

import ast
from pathlib import Path

from workbench.engine.doctor.core import known_kinds

ENGINE = Path(__file__).resolve().parents[2] / "workbench" / "engine"


def _kinds_in_source() -> dict[str, str]:
    """Every literal kind an ``Alert(...)`` is built with anywhere in the engine -> file."""
    found: dict[str, str] = {}
    for path in ENGINE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Alert"):
                continue
            kind = next((k.value for k in node.keywords if k.arg == "kind"), None)
            if kind is None and node.args:
                kind = node.args[0]
            if isinstance(kind, ast.Constant) and isinstance(kind.value, str):
                found[kind.value] = str(path.relative_to(ENGINE))
    return found


def test_every_kind_an_alert_is_built_with_is_registered() -> None:
    in_source = _kinds_in_source()
    assert {"node-unprovisioned", "leaked-port", "output-bloat", "token-mismatch"} <= set(in_source)
    known = set(known_kinds())
    forgotten = {k: f for k, f in in_source.items() if k not in known}
    assert not forgotten, f"kinds raised but not registered with register_kinds: {forgotten}"


def test_doctor_fix_accepts_node_unprovisioned_and_refuses_an_unknown_kind(make_sandbox) -> None:
    from tests.cli.test_cloud_cli_helpers import wb

    box = make_sandbox(minions=0)
    profile = str(box.profile_path)
    ok = wb("doctor", "--fix", "node-unprovisioned", "--yes", "--profile", profile, "--json")
    assert ok.returncode == 0, ok.stderr  # accepted; no cluster, nothing to fix
    bad = wb("doctor", "--fix", "node-unprovisoned", "--profile", profile)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
    assert "unknown kind node-unprovisoned" in bad.stderr
    listed = bad.stderr.split("(known: ", 1)[1].rstrip(")\n").split(", ")
    assert listed == list(known_kinds()) and "node-unprovisioned" in listed
