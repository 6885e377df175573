"""TUI fixtures: the app on a recording engine with a real bus and state dir."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from workbench.tui.app import WorkbenchApp

from .engine_double import RecordingEngine
from .scenes import NOW


@pytest.fixture
def engine(tmp_path: Path) -> RecordingEngine:
    return RecordingEngine(tmp_path / "state")


@pytest.fixture
def make_app(engine: RecordingEngine) -> Callable[..., WorkbenchApp]:
    def make(**kw: Any) -> WorkbenchApp:
        kw.setdefault("clock", lambda: NOW)
        return WorkbenchApp(kw.pop("engine", engine), **kw)

    return make
