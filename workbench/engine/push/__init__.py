"""Delta push of a build to the nodes; ``node_agent.py`` is the part that runs on a node."""

from workbench.engine.push.runner import PushReport, push, start_manifest

__all__ = ["PushReport", "push", "start_manifest"]
