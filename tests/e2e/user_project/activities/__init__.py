"""The project's own activities."""
