"""workbench: a keyboard-driven terminal workbench for Kubernetes on OpenStack."""

__version__ = "0.1.0"
