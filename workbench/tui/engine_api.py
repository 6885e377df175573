"""What the TUI asks of the engine, as a Protocol: the real ``Engine`` satisfies it (mypy
checks that below) and so must the tests' double (``tests/tui/test_engine_double.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from workbench.events import Bus
from workbench.models import Alert
from workbench.profile import Profile
from workbench.state import StateDir

if TYPE_CHECKING:
    from workbench.engine.facade import Engine


class ShellEngine(Protocol):
    """What the embedded terminal needs: a PTY on a node, and the nodes to choose from."""

    async def open_shell(self, node_name: str, cols: int, rows: int) -> Any: ...

    def node_names(self) -> list[str]: ...


class EngineAPI(ShellEngine, Protocol):
    """Everything the TUI calls on the engine."""

    running: str | None

    @property
    def profile(self) -> Profile: ...

    @property
    def bus(self) -> Bus: ...

    @property
    def state(self) -> StateDir: ...

    async def start(self) -> None: ...

    async def refresh(self) -> None: ...

    async def build(self) -> None: ...

    async def up(self, minions: int | None = None) -> None: ...

    async def push(self, direct: bool = False) -> None: ...

    async def salt(self, failed_only: bool = False) -> None: ...

    async def redeploy(self) -> None: ...

    async def down(self) -> None: ...

    async def fix(self, alert: Alert, fix_name: str | None = None) -> str: ...

    def cancel(self) -> None: ...

    def system_ssh_argv(self, node_name: str) -> list[str]: ...

    async def close(self) -> None: ...


if TYPE_CHECKING:

    def _engine_conforms(engine: Engine) -> EngineAPI:
        return engine  # mypy: the real Engine is an EngineAPI
