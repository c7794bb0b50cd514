"""``--app module:attr``: import the ``App`` a worker serves, like Celery's ``-A``."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from duragent import App, AppLoadError


def load_app(reference: str) -> App:
    """Import ``module.path:attribute`` and check it is an ``App`` (or a function returning one)."""
    module_name, sep, attribute = reference.partition(":")
    if not sep or not module_name or not attribute:
        raise AppLoadError(
            f"--app {reference!r} must be 'module:attribute', e.g. 'examples.customer_support.app:app'"
        )
    # Like `python -m`, resolve modules from the current directory first.
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise AppLoadError(
            f"--app {reference!r}: module {module_name!r} not found ({exc}); run from the "
            "directory that contains it or install it"
        ) from None
    try:
        value = getattr(module, attribute)
    except AttributeError:
        raise AppLoadError(
            f"--app {reference!r}: module {module_name!r} has no {attribute!r}"
        ) from None
    if callable(value) and not isinstance(value, App):
        value = value()
    if not isinstance(value, App):
        raise AppLoadError(
            f"--app {reference!r} is a {type(value).__name__}, not a duragent.App; "
            "expose `app = App(agents=[...], tools=[...])`"
        )
    return value
