"""``find_pii``: what the detectors match, for tests that check them without redacting."""

from __future__ import annotations

from collections.abc import Iterable

from duragent._pii import PiiKind, TextScan, _find, pii_kinds


def find_pii(text: str, kinds: Iterable[PiiKind] | None = None) -> list[tuple[PiiKind, str]]:
    """PII-like substrings of ``text`` as ``(kind, match)``, in text order, without overlaps
    (the spans ``redact_text`` replaces in its first pass)."""
    return [(kind, text[start:end]) for start, end, kind in _find(TextScan(text), pii_kinds(kinds))]
