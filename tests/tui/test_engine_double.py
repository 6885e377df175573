"""The TUI's engine double keeps up with the real Engine: both offer every ``EngineAPI``
member, with the same parameters (mypy checks the types: see both modules' last lines)."""

from __future__ import annotations

import inspect

from workbench.engine import Engine
from workbench.tui.engine_api import EngineAPI

from .engine_double import RecordingEngine


def _members() -> list[str]:
    names = [n for n in dir(EngineAPI) if not n.startswith("_")]
    return sorted({*names, *EngineAPI.__annotations__})


def _offers(cls: type, name: str) -> bool:
    """A class attribute, method or property, or an attribute its ``__init__`` sets."""
    init = inspect.getsource(cls.__init__)
    return hasattr(cls, name) or f"self.{name} =" in init or f"self.{name}:" in init


def _parameters(cls: type, name: str) -> list[tuple[str, object]]:
    member = inspect.getattr_static(cls, name)
    if isinstance(member, property) or not callable(member):
        return []
    return [(p.name, p.default) for p in inspect.signature(member).parameters.values()]


def test_the_double_and_the_engine_offer_what_the_tui_calls() -> None:
    members = _members()
    assert {"fix", "push", "cancel", "running", "profile", "node_names"} <= set(members)
    for name in members:
        for cls in (Engine, RecordingEngine):
            assert _offers(cls, name), f"{cls.__name__} has no {name}"
        if callable(getattr(EngineAPI, name, None)) and not isinstance(
                inspect.getattr_static(EngineAPI, name), property):
            want = _parameters(EngineAPI, name)
            assert _parameters(Engine, name) == want, f"Engine.{name} drifted from EngineAPI"
            assert _parameters(RecordingEngine, name) == want, f"RecordingEngine.{name} drifted"
