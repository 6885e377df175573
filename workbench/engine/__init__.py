"""The engine: OpenStack, nodes, builds and kubectl. Knows nothing of Textual; speaks in
events on a ``workbench.events.Bus``. ``Engine`` is the facade the TUI and the CLI talk
to; ``Parts`` wires the clients every stage, check and verb works with."""

from workbench.engine.facade import Engine
from workbench.engine.parts import Parts

__all__ = ["Engine", "Parts"]
