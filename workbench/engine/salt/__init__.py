"""Salt on the nodes: parallel state runs and their output."""

from workbench.engine.salt.runner import SaltRunner, salt_minion_down_alert

__all__ = ["SaltRunner", "salt_minion_down_alert"]
