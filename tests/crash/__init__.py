"""Crash tests: runs that survive a SIGKILLed worker and a restarted dev server."""
