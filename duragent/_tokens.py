"""A simple, deterministic tokenizer: words and punctuation marks, roughly what BPE gives on English.

Used by the scripted model (and mock-llm) so usage and cost figures are real numbers even offline.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(r"\w+|[^\w\s]")


def count_tokens(text: str) -> int:
    """Number of tokens in ``text``."""
    return len(_TOKEN.findall(text))
