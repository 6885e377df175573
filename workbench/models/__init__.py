"""What the engine tells the TUI about: plain frozen dataclasses, below ``events``."""
