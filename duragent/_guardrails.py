"""Guardrails: rules that allow, block, require approval or review, or redact, per stage.

A rule looks at one stage of a run (``input``, each ``tool_call``, ``output``). Of the rules that
match, the most severe action decides (block > require_approval > require_review > redact >
allow) and among equals the first rule in the policy: so adding an ``allow`` rule never relaxes
another rule, and a policy's order only chooses which message is shown.

Determinism: ``evaluate`` runs inside the ``AgentRun`` workflow, so its decisions are recorded in
history and replay identically. It is a pure function of its inputs: no I/O, clock, randomness
or environment, no mutable module state (mappings below are read-only). Regexes are compiled at
import or once per rule (see ``duragent._conditions``); the tool-call arguments are serialized at
most once per evaluation, and only when a text test needs them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Literal, get_args

from pydantic import AliasChoices, Field, field_validator, model_validator

from duragent._conditions import (
    Comparison,
    Condition,
    PiiKind,
    RiskLevel,
    _Frozen,
)

__all__ = [
    "PII_KINDS",
    "RISK_SCORES",
    "SEVERITY",
    "Action",
    "Comparison",
    "Condition",
    "Decision",
    "EvalContext",
    "PiiKind",
    "RiskLevel",
    "Rule",
    "Stage",
    "evaluate",
    "find_pii",
    "redact_text",
    "validate_policy",
]

Stage = Literal["input", "tool_call", "output"]
Action = Literal["allow", "block", "require_approval", "require_review", "redact"]
PII_KINDS: tuple[PiiKind, ...] = get_args(PiiKind)

RISK_SCORES: Mapping[str, float] = MappingProxyType(
    {"read": 0.1, "write": 0.5, "external": 0.6, "destructive": 0.9}
)
"""The risk score of a tool call whose context gives a risk level but no score."""

SEVERITY: Mapping[str, int] = MappingProxyType(
    {"allow": 0, "redact": 1, "require_review": 2, "require_approval": 3, "block": 4}
)
"""Higher wins when several rules match."""
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


class _Scan:
    """The PII of one text, searched kind by kind on demand and remembered."""

    __slots__ = ("_clusters", "_found", "_lowered", "numbers", "text")

    def __init__(self, text: str, lowered: str | None = None, *, numbers: bool = True) -> None:
        self.text = text
        self._lowered = lowered
        self.numbers = numbers
        """False: skip the number kinds (see ``_redact``)."""
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


def _kinds(kinds: Iterable[PiiKind] | None) -> tuple[PiiKind, ...]:
    if kinds is None:
        return PII_KINDS
    chosen = tuple(dict.fromkeys(kinds))
    unknown = [k for k in chosen if k not in PII_KINDS]
    if unknown:
        raise ValueError(f"unknown PII kind {unknown[0]!r}; kinds: {', '.join(PII_KINDS)}")
    return chosen


def _find(scan: _Scan, kinds: tuple[PiiKind, ...]) -> list[tuple[int, int, PiiKind]]:
    found = sorted((start, -end, kind) for kind in kinds for start, end in scan.spans(kind))
    kept: list[tuple[int, int, PiiKind]] = []
    for start, neg_end, kind in found:  # earliest first, then longest: drop overlaps
        if -neg_end > start and (not kept or start >= kept[-1][1]):
            kept.append((start, -neg_end, kind))
    return kept


def find_pii(text: str, kinds: Iterable[PiiKind] | None = None) -> list[tuple[PiiKind, str]]:
    """PII-like substrings of ``text`` as ``(kind, match)``, in text order, without overlaps.

    ``kinds`` restricts the search (default: every kind). Credit cards must pass the Luhn check
    and IBANs the mod-97 check; phone numbers need a ``+`` country code or NANP separators.
    """
    return [(kind, text[start:end]) for start, end, kind in _find(_Scan(text), _kinds(kinds))]


def redact_text(text: str, kinds: Iterable[PiiKind] | None = None) -> tuple[str, list[str]]:
    """Replace PII with ``[REDACTED:<kind>]``; return the new text and the kind of each
    replacement, in order.

    Repeats until nothing is found, so the result holds no detectable PII of those kinds and
    redacting it again changes nothing (a redaction can expose PII its neighbour hid:
    ``a@b.com4111111111111111``). Placeholders never match a detector, so each pass shrinks the
    unredacted text and the loop ends.
    """
    return _redact(_Scan(text), _kinds(kinds))


def _redact(scan: _Scan, kinds: tuple[PiiKind, ...]) -> tuple[str, list[str]]:
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
        scan = _Scan(text, numbers=numbers)
    return text, redactions


# --- facts: what the conditions of one evaluation look at -----------------------------------


def _serialize(arguments: dict[str, Any]) -> str:
    try:
        return json.dumps(arguments, separators=(",", ":"), ensure_ascii=False, default=str)
    except (ValueError, TypeError, RecursionError):
        # Ints past Python's digit limit, odd keys: keep every string, so text tests see them.
        return " ".join(_strings(arguments, 0))


def _strings(value: Any, depth: int) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif depth < 100 and isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key, depth + 1)
            yield from _strings(item, depth + 1)
    elif depth < 100 and isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item, depth + 1)


class _Facts:
    """One evaluation's view of its context; text and PII findings are computed once, lazily."""

    __slots__ = (
        "_lowered",
        "_scan",
        "_text",
        "arguments",
        "confidence",
        "risk",
        "risk_score",
        "tool",
    )

    def __init__(self, context: EvalContext) -> None:
        self.tool = context.tool
        self.risk: str | None = context.risk
        self.arguments = context.arguments
        self.confidence = context.confidence
        self.risk_score = context.risk_score
        if self.risk_score is None and context.risk is not None:
            self.risk_score = RISK_SCORES[context.risk]
        # A tool call's text is its arguments as JSON, unless the caller gave text.
        uses_arguments = context.stage == "tool_call" and not context.text
        self._text: str | None = None if uses_arguments else context.text
        self._lowered: str | None = None
        self._scan: _Scan | None = None

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = "" if self.arguments is None else _serialize(self.arguments)
        return self._text

    @property
    def lowered(self) -> str:
        if self._lowered is None:
            self._lowered = self.text.lower()
        return self._lowered

    def scan(self) -> _Scan:
        if self._scan is None:
            self._scan = _Scan(self.text, self._lowered)
        return self._scan

    def pii(self, kinds: tuple[PiiKind, ...] | None) -> list[PiiKind]:
        scan = self.scan()
        return (
            [kind for kind in PII_KINDS if scan.spans(kind)]
            if kinds is None
            else [kind for kind in kinds if scan.spans(kind)]
        )


# --- rules ----------------------------------------------------------------------------------

_NAME = r"^[a-z][a-z0-9_-]{0,62}$"
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)", re.ASCII)
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def _seconds(value: Any) -> Any:
    """``90``, ``"90"``, ``"90s"``, ``"30m"``, ``"1h30m"``, ``"2d"`` -> seconds."""
    if isinstance(value, bool):
        raise ValueError("'timeout' must be a number of seconds or a duration such as '30m'")
    if not isinstance(value, str):
        return value
    compact = value.replace(" ", "").lower()
    try:
        return float(compact)
    except ValueError:
        pass
    parts = _DURATION.findall(compact)
    if not compact or "".join(n + u for n, u in parts) != compact:
        raise ValueError(
            f"'timeout' must be a number of seconds or a duration such as '90s', '30m', "
            f"'1h' or '2d' (got {value!r})"
        )
    return sum(float(number) * _SECONDS[unit] for number, unit in parts)


class Rule(_Frozen):
    """One guardrail: at ``stage``, when ``when`` holds, take ``action``.

    ``mode`` is the guide's approval strategy: ``conditional`` (the default) applies the rule when
    ``when`` holds, ``always`` applies it to every event of its stage, ``never`` disables it (only
    allowed in a spec whose environment is ``test``). The approval fields (approvers, roles,
    timeout, escalation, token) are used by ``require_approval`` and ``require_review`` rules;
    ``timeout`` accepts seconds or a duration string (``"90s"``, ``"30m"``, ``"1h"``, ``"2d"``).
    """

    name: str = Field(pattern=_NAME)
    stage: Stage
    mode: Literal["always", "conditional", "never"] = "conditional"
    when: Condition | None = None
    action: Action
    message: str = ""
    """The reason shown to users, approvers and the model; generated from the match if empty."""
    on_block: Literal["end_run", "tell_model"] = "end_run"
    approvers: list[str] = Field(default_factory=list)
    approver_roles: list[str] = Field(default_factory=list)
    allow_self_approval: bool = False
    require_token: bool = False
    timeout_s: float = Field(
        default=3600.0,
        gt=0,
        allow_inf_nan=False,
        validation_alias=AliasChoices("timeout_s", "timeout"),
    )
    on_timeout: Literal["reject", "escalate"] = "reject"
    escalate_to: list[str] = Field(default_factory=list)
    """Approver names or roles asked when the first approvers time out."""
    on_reject: Literal["tell_model", "end_run"] = "tell_model"
    redact: list[PiiKind] = Field(default_factory=list)
    """For ``action: redact``: the PII kinds to redact (empty: every kind)."""

    _timeout = field_validator("timeout_s", mode="before")(_seconds)

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        def fail(problem: str) -> ValueError:
            return ValueError(f"rule {self.name!r}: {problem}")

        if self.mode == "conditional" and self.when is None:
            raise fail(
                "'when' is required when mode is 'conditional' (the default); "
                "add a condition, or set mode: always"
            )
        if self.action == "require_approval" and not (self.approvers or self.approver_roles):
            raise fail(
                "a require_approval rule needs 'approvers' or 'approver_roles'; "
                "without them nobody could approve"
            )
        if self.action == "require_review" and self.stage != "output":
            raise fail(
                f"require_review applies to the output stage only; use require_approval "
                f"for {'tool calls' if self.stage == 'tool_call' else 'input'}"
            )
        if self.action == "redact" and self.stage == "tool_call":
            raise fail(
                "redact applies to the input and output stages only; a tool call's arguments "
                "cannot be redacted: use block or require_approval"
            )
        if self.redact and self.action != "redact":
            raise fail(
                f"'redact' lists PII kinds but the action is {self.action!r}; set action: redact"
            )
        if self.action == "block" and self.on_block == "tell_model" and self.stage == "input":
            raise fail(
                "on_block 'tell_model' needs a model to tell, so it works on tool_call and "
                "output rules only; use on_block: end_run on input"
            )
        if self.on_timeout == "escalate" and not self.escalate_to:
            raise fail(
                "on_timeout 'escalate' needs 'escalate_to': the approvers or roles to ask next"
            )
        return self


class EvalContext(_Frozen):
    """What one evaluation looks at. For ``tool_call``, text tests read the arguments as JSON
    unless ``text`` is given; ``risk_score`` defaults to ``RISK_SCORES[risk]``."""

    stage: Stage
    text: str = ""
    tool: str | None = None
    risk: RiskLevel | None = None
    arguments: dict[str, Any] | None = None
    confidence: float | None = None
    risk_score: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_risk_score(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("risk_score") is None:
            risk = data.get("risk")
            if isinstance(risk, str) and risk in RISK_SCORES:
                return {**data, "risk_score": RISK_SCORES[risk]}
        return data


class Decision(_Frozen):
    """The outcome of ``evaluate``.

    ``rule`` is the deciding rule (the first matching rule with the most severe action), or
    ``None`` when nothing matched. ``redacted_text`` is set whenever a matching rule redacts,
    even if a more severe action decides, so that what a reviewer sees is already redacted;
    ``redactions`` names the kind of each replacement, in text order.
    """

    action: Action
    rule: Rule | None = None
    matched: list[str] = Field(default_factory=list)
    reason: str
    redacted_text: str | None = None
    redactions: list[str] = Field(default_factory=list)


def evaluate(rules: Sequence[Rule], context: EvalContext) -> Decision:
    """Decide what happens at one stage: the most severe action of the matching rules.

    Only rules of ``context.stage`` whose mode is not ``never`` are considered. Never raises for
    any context a validated ``EvalContext`` can hold.
    """
    facts = _Facts(context)
    deciding: Rule | None = None
    matched: list[str] = []
    redacting: list[Rule] = []
    for rule in rules:
        if rule.stage != context.stage or rule.mode == "never":
            continue
        # A conditional rule without `when` cannot pass validation; if one is built without
        # validation anyway, it matches (fail closed) rather than being silently skipped.
        if rule.mode == "conditional" and rule.when is not None and not rule.when.holds(facts):
            continue
        matched.append(rule.name)
        if deciding is None or SEVERITY[rule.action] > SEVERITY[deciding.action]:
            deciding = rule
        if rule.action == "redact":
            redacting.append(rule)
    if deciding is None:
        return Decision(action="allow", reason="no rule matched")
    redacted: str | None = None
    redactions: list[str] = []
    if redacting:
        every = any(not rule.redact for rule in redacting)
        kinds = None if every else [kind for rule in redacting for kind in rule.redact]
        # Redact rules exist on input and output only, where the facts' text is context.text:
        # the first pass reuses what the conditions already found.
        redacted, redactions = _redact(facts.scan(), _kinds(kinds))
    return Decision(
        action=deciding.action,
        rule=deciding,
        matched=matched,
        reason=_reason(deciding, facts),
        redacted_text=redacted,
        redactions=redactions,
    )


def _reason(rule: Rule, facts: _Facts) -> str:
    if rule.message:
        return rule.message
    if rule.mode == "always" or rule.when is None:
        return f"rule {rule.name!r} applies to every {rule.stage.replace('_', ' ')} (mode 'always')"
    return f"rule {rule.name!r} matched: {rule.when.explain(facts)}"


def validate_policy(rules: Sequence[Rule], *, environment: str) -> None:
    """Checks across rules, raising ``ValueError`` naming the rule: names are unique, and mode
    ``never`` (no guardrail at all) appears only in a spec whose environment is ``test``."""
    seen: set[str] = set()
    for rule in rules:
        if rule.name in seen:
            raise ValueError(
                f"rule {rule.name!r} is defined more than once; rule names must be unique, "
                "since decisions record them"
            )
        seen.add(rule.name)
        if rule.mode == "never" and environment != "test":
            raise ValueError(
                f"rule {rule.name!r}: mode 'never' is only allowed when the spec's environment "
                f"is 'test' (it is {environment!r}); use mode 'conditional' or 'always'"
            )
