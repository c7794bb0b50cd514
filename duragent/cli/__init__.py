"""The ``duragent`` command line.

Every command that talks to Temporal takes ``--address`` and ``--namespace`` (defaults from
``TEMPORAL_ADDRESS``/``TEMPORAL_NAMESPACE``, then ``localhost:7233``/``default``). An error the
user can fix (a bad spec, an app that does not import) is one line and exit code 2; the global
``--debug`` flag (``duragent --debug worker ...``, or ``DURAGENT_DEBUG=1``) adds the traceback.
"""

from __future__ import annotations

import os
import sys
import traceback

from duragent.cli._app import cli


def main() -> None:
    """Entry point of the ``duragent`` console script.

    Commands clean up after themselves (workers drained, dev server stopped) before returning;
    then the process exits without interpreter teardown. The Temporal client's Rust threads can
    outlive the event loop and abort the interpreter while it finalizes ("PyGILState_Release:
    thread state must be current", temporalio/sdk-python#300), turning a clean exit into a crash.
    """
    code = 0
    try:
        cli()
    except SystemExit as exc:
        if isinstance(exc.code, int):
            code = exc.code
        elif exc.code is not None:
            print(exc.code, file=sys.stderr)
            code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


__all__ = ["cli", "main"]
