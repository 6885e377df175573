"""The five panes of the main screen."""
