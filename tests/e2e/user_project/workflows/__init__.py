"""The project's own workflows (its own ``workflows`` package: duragent's is ``duragent.workflows``)."""
