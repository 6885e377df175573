"""Figures of the reliability suite (faults injected, runs survived, inputs fuzzed).

Tests add to ``FIGURES``; at the end of the session they are printed in pytest's summary
and, when ``WORKBENCH_RELIABILITY_FIGURES`` names a file, written there as JSON (the
numbers docs/reliability.md quotes).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

FIGURES: Counter[str] = Counter()


def count(name: str, n: int = 1) -> None:
    FIGURES[name] += n


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FIGURES:
        return
    terminalreporter.section("reliability figures")
    for name in sorted(FIGURES):
        terminalreporter.write_line(f"{name}: {FIGURES[name]}")
    target = os.environ.get("WORKBENCH_RELIABILITY_FIGURES")
    if target:
        Path(target).write_text(json.dumps(dict(sorted(FIGURES.items())), indent=2) + "\n")
