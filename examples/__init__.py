"""Runnable example systems built on duragent; each exposes ``app`` in its ``app.py``."""
