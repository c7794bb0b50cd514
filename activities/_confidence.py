"""Self-reported confidence: asked of models whose provider returns no log-probabilities.

The model is asked to end its final answer with ``Confidence: 0.NN``; the line is taken off the
answer (the user never sees it) and becomes the response's confidence, source ``self_reported``.
"""

from __future__ import annotations

import re

INSTRUCTION = (
    "\n\nWhen you give your final answer (not when calling a tool), end it with one last line "
    "`Confidence: <a number from 0 to 1>`: how sure you are that the answer is correct and "
    "complete."
)

_REPORTED = re.compile(
    r"(?:^|\n)[ \t*_`>]*confidence[ \t*_`]*[:=][ \t*_`]*(?P<value>1(?:\.0+)?|0?\.\d+|0)[ \t*_`%]*\s*$",
    re.IGNORECASE,
)


def split_self_reported(text: str) -> tuple[str, float | None]:
    """The answer without its trailing confidence line, and the confidence it reported."""
    found = _REPORTED.search(text)
    if found is None:
        return text, None
    return text[: found.start()].rstrip(), float(found.group("value"))
