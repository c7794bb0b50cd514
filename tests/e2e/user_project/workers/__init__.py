"""The project's worker processes."""
