"""The Textual app: renders the engine's events into panes and turns keys into engine calls."""
