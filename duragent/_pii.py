"""PII-like data in text: finding it and redacting it.

Conservative by design: a pattern plus a checksum or structure check where one exists (Luhn for
cards, mod-97 for IBANs), so an order number or a price is not PII. Pure and deterministic, like
every module the ``AgentRun`` workflow imports.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import get_args

from duragent._conditions import PiiKind

PII_KINDS: tuple[PiiKind, ...] = get_args(PiiKind)

# --- PII detection -------------------------------------------------------------------------
# Conservative by design: a pattern plus a checksum or structure check where one exists, so an
# order number or a price is not PII. Fast by design: one pass finds the clusters of digits and
# separators, and the number detectors run only on clusters that could hold their kind; email
# runs only around an "@", API-key patterns only after a cheap substring hint. re.ASCII keeps
# \d and \w to ASCII ("²" is not a digit).


def _luhn(candidate: str) -> bool:
    digits = [ord(c) - 48 for c in candidate if "0" <= c <= "9"]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _iban(candidate: str) -> bool:
    compact = candidate.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _phone(candidate: str) -> bool:
    return 9 <= len(candidate.translate(_SEPARATORS)) <= 15


def _random(candidate: str) -> bool:
    # Keys are random, so they mix letters and digits; "sk-not-a-real-key-at-all" is prose.
    return any(c.isdigit() for c in candidate) and any(c.isalpha() for c in candidate)


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.ASCII)


_SEPARATORS = str.maketrans("", "", " .()+-")
_CLUSTER = _rx(r"\d(?:[ .()+-]{0,2}\d)*")
_LOCAL_FIRST = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_LOCAL = _LOCAL_FIRST | frozenset(".%+-")
_DOMAIN = _rx(r"(?:[A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,24}(?![\w-])")
_IBAN = _rx(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"

_Check = Callable[[str], bool] | None
_NUMBERS: dict[str, tuple[int, str, re.Pattern[str], _Check, bool]] = {
    # kind: (minimum digits in the cluster, a character the cluster needs, pattern, check,
    #        retry shorter by dropping trailing groups: "4111 1111 1111 1111 2024")
    "phone": (
        9,
        "",
        _rx(
            r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(\d{1,4}\))?[ .-]?\d+(?:[ .-]\d+){0,5}(?!\w|\.\d)"  # +44 20 7946 0958
            r"|(?<![\w+.-])(?:\([2-9]\d\d\)[ .-]?|[2-9]\d\d[ .-])\d{3}[ .-]\d{4}(?![\w-]|\.\d)"  # (415) 555-2671
        ),
        _phone,
        False,
    ),
    "credit_card": (
        13,
        "",
        _rx(r"(?<![\d.-])[1-9](?:\d{12,18}|\d{3}(?:[ -]\d{3,6}){2,4})(?!\w|\.\d)"),
        _luhn,
        True,
    ),
    "ssn": (
        9,
        "-",
        _rx(r"(?<![\d-])(?!000|666|9)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d-])"),
        None,
        False,
    ),
    "ip_address": (4, ".", _rx(rf"(?<![\d.])(?:{_OCTET}\.){{3}}{_OCTET}(?!\d|\.\d)"), None, False),
}
_KEYS: tuple[tuple[tuple[str, ...], re.Pattern[str], int, _Check], ...] = (
    # (hints: one must occur in the lowercased text, pattern, group holding the key, check)
    (("sk-",), _rx(r"(?<![\w-])sk-[A-Za-z0-9_-]{20,}"), 0, _random),
    (("akia",), _rx(r"\bAKIA[0-9A-Z]{16}\b"), 0, None),
    (("ghp_", "gho_", "ghu_", "ghs_", "ghr_"), _rx(r"\bgh[pousr]_[A-Za-z0-9]{36,255}\b"), 0, None),
    (("xox",), _rx(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), 0, _random),
    (  # a long random value right after a key or token word: api_key=..., "token": "..."
        ("key", "token", "secret"),
        _rx(
            r"(?i:\b(?:api[_-]?key|access[_-]?key|secret[_-]?key|key|token|secret)\b)"
            r"[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9+/_-]{20,}={0,2})"
        ),
        1,
        _random,
    ),
    (("bearer",), _rx(r"\b(?i:bearer)\s+([A-Za-z0-9._~+/-]{20,}=*)"), 1, _random),
)


_DIGIT = _rx(r"\d")
_NEAR = _rx(r"[0-9A-Z]")
_IBAN_START = _rx(r"[A-Z]{2}\d")
_KEY_HINT = _rx(r"sk-|akia|gh[pousr]_|xox|key|token|secret|bearer")


def _matches(
    found: Iterable[re.Match[str]], group: int, check: _Check, retry_shorter: bool
) -> list[tuple[int, int]]:
    spans = []
    for match in found:
        start, end = match.span(group)
        candidate = match.string[start:end]
        while check is not None and not check(candidate):
            cut = max(candidate.rfind(" "), candidate.rfind("-")) if retry_shorter else -1
            if cut <= 0:
                break
            candidate = candidate[:cut]
        else:
            spans.append((start, start + len(candidate)))
    return spans


class TextScan:
    """The PII of one text, searched kind by kind on demand and remembered."""

    __slots__ = ("_clusters", "_found", "_lowered", "numbers", "text")

    def __init__(self, text: str, lowered: str | None = None, *, numbers: bool = True) -> None:
        self.text = text
        self._lowered = lowered
        self.numbers = numbers
        """False: skip the number kinds (see ``redact_scan``)."""
        self._clusters: list[tuple[int, int, str]] | None = None
        self._found: dict[str, list[tuple[int, int]]] = {}

    def spans(self, kind: str) -> list[tuple[int, int]]:
        """Where ``kind`` occurs, in text order (spans of different kinds may overlap)."""
        spans = self._found.get(kind)
        if spans is None:
            spans = self._found[kind] = self._search(kind)
        return spans

    def _search(self, kind: str) -> list[tuple[int, int]]:
        text = self.text
        spans: list[tuple[int, int]] = []
        if kind == "email":
            # From each "@": the local part backwards (1-64 characters, starting with a letter,
            # digit or "_"), then the domain forwards with an anchored match.
            floor, at = 0, text.find("@")
            while at >= 0:
                start = at
                while start > floor and at - start <= 64 and text[start - 1] in _LOCAL:
                    start -= 1
                domain = _DOMAIN.match(text, at + 1)
                if (
                    domain is not None
                    and 0 < at - start <= 64
                    and (start == 0 or text[start - 1] not in _LOCAL)
                    and text[start] in _LOCAL_FIRST
                ):
                    spans.append((start, domain.end()))
                    floor = domain.end()
                at = text.find("@", max(at + 1, floor))
            return spans
        if kind == "api_key":
            if self._lowered is None:
                self._lowered = text.lower()
            lowered = self._lowered
            if _KEY_HINT.search(lowered) is None:
                return spans
            for hints, pattern, group, check in _KEYS:
                if any(hint in lowered for hint in hints):
                    spans += _matches(pattern.finditer(text), group, check, False)
            return sorted(spans)
        if not self.numbers:
            return spans
        clusters = self._clusters
        if clusters is None:
            clusters = self._clusters = [
                (m.start(), m.end(), m[0]) for m in _CLUSTER.finditer(text)
            ]
        if kind == "iban":  # the check digits, after two capital letters, start a cluster
            for start, _, _ in clusters:
                if start >= 2 and "A" <= text[start - 2] <= "Z" and "A" <= text[start - 1] <= "Z":
                    spans += _matches(filter(None, [_IBAN.match(text, start - 2)]), 0, _iban, True)
            return spans
        minimum, needs, pattern, check, retry = _NUMBERS[kind]
        for start, end, chunk in clusters:
            if (
                end - start >= minimum
                and needs in chunk
                and len(chunk.translate(_SEPARATORS)) >= minimum
            ):
                window = pattern.finditer(text, max(0, start - 1), end + 2)
                spans += _matches(window, 0, check, retry)
        return spans


def pii_kinds(kinds: Iterable[PiiKind] | None) -> tuple[PiiKind, ...]:
    if kinds is None:
        return PII_KINDS
    chosen = tuple(dict.fromkeys(kinds))
    unknown = [k for k in chosen if k not in PII_KINDS]
    if unknown:
        raise ValueError(f"unknown PII kind {unknown[0]!r}; kinds: {', '.join(PII_KINDS)}")
    return chosen


def _find(scan: TextScan, kinds: tuple[PiiKind, ...]) -> list[tuple[int, int, PiiKind]]:
    found = sorted((start, -end, kind) for kind in kinds for start, end in scan.spans(kind))
    kept: list[tuple[int, int, PiiKind]] = []
    for start, neg_end, kind in found:  # earliest first, then longest: drop overlaps
        if -neg_end > start and (not kept or start >= kept[-1][1]):
            kept.append((start, -neg_end, kind))
    return kept


def redact_text(text: str, kinds: Iterable[PiiKind] | None = None) -> tuple[str, list[str]]:
    """Replace PII with ``[REDACTED:<kind>]``; return the new text and the kind of each
    replacement, in order.

    Repeats until nothing is found, so the result holds no detectable PII of those kinds and
    redacting it again changes nothing (a redaction can expose PII its neighbour hid:
    ``a@b.com4111111111111111``). Placeholders never match a detector, so each pass shrinks the
    unredacted text and the loop ends.
    """
    return redact_scan(TextScan(text), pii_kinds(kinds))


def redact_scan(scan: TextScan, kinds: tuple[PiiKind, ...]) -> tuple[str, list[str]]:
    text = scan.text
    redactions: list[str] = []
    for _ in range(len(text) + 1):
        found = _find(scan, kinds)
        if not found:
            break
        pieces: list[str] = []
        placeholders: list[tuple[int, int]] = []
        position = length = 0
        for start, end, kind in found:
            placeholder = f"[REDACTED:{kind}]"
            length += start - position
            placeholders.append((length, length + len(placeholder)))
            length += len(placeholder)
            pieces += [text[position:start], placeholder]
            position = end
            redactions.append(kind)
        text = "".join(pieces) + text[position:]
        # The number kinds depend only on a digit cluster and at most 4 characters around it,
        # so text farther from every placeholder was scanned already: numbers can only appear
        # near one with a digit at most 4 characters away. An IBAN, a run of [A-Z0-9 ], can
        # only appear starting right after a placeholder or ending right before one.
        numbers = any(
            _DIGIT.search(text, max(0, left - 4), left)
            or _DIGIT.search(text, right, right + 4)
            or _NEAR.search(text, max(0, left - 2), left)
            or _IBAN_START.match(text, right)
            for left, right in placeholders
        )
        scan = TextScan(text, numbers=numbers)
    return text, redactions
