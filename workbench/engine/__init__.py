"""The engine: OpenStack, nodes, builds and kubectl. Knows nothing of Textual; speaks in
events on a ``workbench.events.Bus``."""
