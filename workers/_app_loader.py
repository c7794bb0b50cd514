"""``--app module:attr``: import the ``App`` a worker serves, like Celery's ``-A``.

Whatever goes wrong is raised as one ``DuragentError`` whose message fits on one line: a bad
spec as the ``SpecError`` its ``Agent(...)`` or ``App(...)`` raised (file, agent, field), any
other failure of the user's module as an ``AppLoadError`` chained to the original exception,
so the CLI can print one line and keep the traceback for its debug flag.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from duragent import App, AppLoadError, DuragentError


def load_app(reference: str) -> App:
    """Import ``module.path:attribute`` and check it is an ``App`` (or a function returning one)."""
    module_name, sep, attribute = reference.partition(":")
    if not sep or not module_name or not attribute:
        raise AppLoadError(
            f"--app {reference!r} must be 'module:attribute', e.g. 'duragent.examples.customer_support.app:app'"
        )
    # Like `python -m`, resolve modules from the current directory first.
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except DuragentError:
        raise  # a bad spec: the SpecError already names the module, the agent and the field
    except ModuleNotFoundError as exc:
        hint = ""
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            hint = "; run from the directory that contains it or install it"
        raise _cannot(reference, "import", exc, hint) from exc
    except Exception as exc:
        raise _cannot(reference, "import", exc) from exc
    try:
        value = getattr(module, attribute)
    except AttributeError:
        raise AppLoadError(
            f"--app {reference!r}: module {module_name!r} has no {attribute!r}"
        ) from None
    if callable(value) and not isinstance(value, App):
        try:
            value = value()
        except DuragentError:
            raise
        except Exception as exc:
            raise _cannot(reference, "build", exc) from exc
    if not isinstance(value, App):
        raise AppLoadError(
            f"--app {reference!r} is a {type(value).__name__}, not a duragent.App; "
            "expose `app = App(agents=[...], tools=[...])`"
        )
    return value


def _cannot(reference: str, verb: str, exc: Exception, hint: str = "") -> AppLoadError:
    # An exception's text can span lines (a pydantic error, a SyntaxError's caret): one line here.
    text = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return AppLoadError(
        f"cannot {verb} app {reference!r}: {type(exc).__name__}{': ' + text if text else ''}{hint}"
    )
