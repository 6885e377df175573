"""Salt on the nodes: parallel state runs and their output."""

from workbench.engine.salt.runner import SaltRunner

__all__ = ["SaltRunner"]
