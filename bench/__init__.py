"""Benchmarks: ``python -m bench.<name>`` prints figures. Not timed tests: nothing here asserts."""
