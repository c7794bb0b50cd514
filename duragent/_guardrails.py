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
from collections.abc import Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Literal

from pydantic import AliasChoices, Field, field_validator, model_validator

from duragent._comparisons import Comparison, _Frozen
from duragent._conditions import Condition, PiiKind
from duragent._pii import PII_KINDS, TextScan, pii_kinds, redact_scan, redact_text
from duragent._vocab import RiskLevel

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
    "redact_text",
    "validate_policy",
]

Stage = Literal["input", "tool_call", "output"]
Action = Literal["allow", "block", "require_approval", "require_review", "redact"]
RISK_SCORES: Mapping[str, float] = MappingProxyType(
    {"read": 0.1, "write": 0.5, "external": 0.6, "destructive": 0.9}
)
"""The risk score of a tool call whose context gives a risk level but no score."""

SEVERITY: Mapping[str, int] = MappingProxyType(
    {"allow": 0, "redact": 1, "require_review": 2, "require_approval": 3, "block": 4}
)
"""Higher wins when several rules match."""
# --- facts: what the conditions of one evaluation look at -----------------------------------


def _serialize(arguments: dict[str, Any]) -> str:
    r"""A tool call's text: its arguments as compact JSON, then every key and string value as
    written. JSON escapes a tab as the two characters ``\t`` (and doubles backslashes, escapes
    quotes), so ``matches: 'drop\s+table'`` would miss ``"DROP\tTABLE"`` in the JSON alone."""
    plain = "\n".join(_strings(arguments, 0))
    try:
        compact = json.dumps(arguments, separators=(",", ":"), ensure_ascii=False, default=str)
    except (ValueError, TypeError, RecursionError):
        return plain  # ints past Python's digit limit, odd keys: the strings still count
    return f"{compact}\n{plain}" if plain else compact


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
        self._scan: TextScan | None = None

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

    def scan(self) -> TextScan:
        if self._scan is None:
            self._scan = TextScan(self.text, self._lowered)
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
    approval_rules: list[Rule] = Field(default_factory=list)
    """Every matching ``require_approval`` rule, in policy order: each must be satisfied."""


def evaluate(rules: Sequence[Rule], context: EvalContext) -> Decision:
    """Decide what happens at one stage: the most severe action of the matching rules.

    Only rules of ``context.stage`` whose mode is not ``never`` are considered. Never raises for
    any context a validated ``EvalContext`` can hold.
    """
    facts = _Facts(context)
    deciding: Rule | None = None
    matched: list[str] = []
    redacting: list[Rule] = []
    approving: list[Rule] = []
    unknown: set[str] = set()
    for rule in rules:
        if rule.stage != context.stage or rule.mode == "never":
            continue
        # A conditional rule without `when` cannot pass validation; if one is built without
        # validation anyway, it matches (fail closed) rather than being silently skipped.
        if rule.mode == "conditional" and rule.when is not None:
            outcome = rule.when.test(facts)
            if outcome is False:
                continue
            if outcome is None:
                # Fail closed: a condition that cannot be evaluated (a NaN, a string against a
                # number) matches every rule but an allow rule, which must never widen by it.
                if rule.action == "allow":
                    continue
                unknown.add(rule.name)
        matched.append(rule.name)
        if deciding is None or SEVERITY[rule.action] > SEVERITY[deciding.action]:
            deciding = rule
        if rule.action == "redact":
            redacting.append(rule)
        if rule.action == "require_approval":
            approving.append(rule)
    if deciding is None:
        return Decision(action="allow", reason="no rule matched")
    redacted: str | None = None
    redactions: list[str] = []
    if redacting:
        every = any(not rule.redact for rule in redacting)
        kinds = None if every else [kind for rule in redacting for kind in rule.redact]
        # Redact rules exist on input and output only, where the facts' text is context.text:
        # the first pass reuses what the conditions already found.
        redacted, redactions = redact_scan(facts.scan(), pii_kinds(kinds))
    return Decision(
        action=deciding.action,
        rule=deciding,
        matched=matched,
        reason=_reason(deciding, facts, unknown=deciding.name in unknown),
        redacted_text=redacted,
        redactions=redactions,
        approval_rules=approving,
    )


def _reason(rule: Rule, facts: _Facts, *, unknown: bool = False) -> str:
    if unknown:
        assert rule.when is not None
        return (
            f"rule {rule.name!r} could not evaluate its condition ({rule.when.explain(facts)}): "
            "treated as matched"
        ) + (f". {rule.message}" if rule.message else "")
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
