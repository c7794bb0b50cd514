"""An app module that fails to import: the CLI must say so in one line, not a traceback."""

import duragent_no_such_dependency  # noqa: F401

from duragent import App

app = App(agents=[])
