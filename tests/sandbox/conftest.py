"""Fixtures of the node tests: a bare node rig (no cloud), closed at teardown."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from workbench.sandbox.nodes.rig import Rig


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    """Node servers without a cloud; files that need other services override it."""
    rig = Rig(tmp_path)
    yield rig
    assert rig.manager is not None
    await rig.manager.close()
