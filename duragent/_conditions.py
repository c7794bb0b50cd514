"""The condition language of guardrail rules: ``Condition`` (``Comparison`` and argument paths
live in ``duragent._comparisons``).

Determinism: guardrails are evaluated inside the ``AgentRun`` workflow, so that each decision is
in history and replays identically. This module does no I/O, reads no clock, randomness or
environment and keeps no mutable module state. Only ``re``, ``json``, ``math`` and pydantic.

Speed: a validator compiles each condition once into a ``_Plan`` of plain objects (regexes
compiled, lists turned into sets, paths split), and evaluation walks only that plan. Reading a
pydantic private attribute costs about a microsecond, so the hot path reads the plan from
``__pydantic_private__`` directly and nothing else.

Evaluation never raises, and fails closed: a test that cannot be evaluated (``gt: 100`` against
``"abc"`` or a NaN, ``matches`` against a number) is *unknown*, not false, and a rule that
blocks or asks a human treats an unknown condition as matched (``Condition.test``). A missing
argument path fails every operator except ``exists: false``; a null value fails ``contains``
and ``matches``.
"""

from __future__ import annotations

import re
from typing import Any, Literal, Protocol

from pydantic import (
    Field,
    PrivateAttr,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from duragent._comparisons import (
    MISSING,
    Comparison,
    _check,
    _check_path,
    _compile,
    _describe_at,
    _Frozen,
    _resolve,
    _show,
    _Steps,
    _steps,
    _Tests,
)
from duragent._vocab import RiskLevel

__all__ = ["MISSING", "Comparison", "Condition", "Facts", "PiiKind", "RiskLevel"]

PiiKind = Literal["email", "phone", "credit_card", "ssn", "iban", "ip_address", "api_key"]


class Facts(Protocol):
    """What a condition looks at. ``duragent._guardrails`` builds one per evaluation."""

    tool: str | None
    risk: str | None
    arguments: dict[str, Any] | None
    confidence: float | None
    risk_score: float | None

    @property
    def text(self) -> str: ...

    @property
    def lowered(self) -> str: ...

    def pii(self, kinds: tuple[PiiKind, ...] | None) -> list[PiiKind]:
        """The kinds (of ``kinds``; ``None`` = all) found in the text."""
        ...


# --- conditions -----------------------------------------------------------------------------

_CONDITION_TESTS = (
    "all", "any", "not", "tool", "risk", "args", "contains", "matches", "pii", "confidence", "risk_score",
)  # fmt: skip


def _number(value: float | None) -> Any:
    return MISSING if value is None else value


class _Plan:
    """A condition compiled to plain objects; see the module docstring."""

    __slots__ = (
        "all", "any", "args", "confidence", "kinds", "needles", "not_", "pii", "regex", "risk_score",
        "risks", "tools",
    )  # fmt: skip

    def __init__(self) -> None:
        self.tools: frozenset[str] | None = None
        self.risks: frozenset[str] | None = None
        self.args: tuple[tuple[_Steps, _Tests], ...] = ()
        self.confidence: _Tests | None = None
        self.risk_score: _Tests | None = None
        self.needles: tuple[str, ...] = ()
        self.regex: re.Pattern[str] | None = None
        self.pii: bool | None = None
        self.kinds: tuple[PiiKind, ...] | None = None
        self.all: tuple[_Plan, ...] | None = None
        self.any: tuple[_Plan, ...] | None = None
        self.not_: _Plan | None = None

    def __eq__(self, other: object) -> bool:
        # Conditions compare equal when their fields do; their plans must not spoil that.
        return isinstance(other, _Plan) and all(
            getattr(self, name) == getattr(other, name) for name in self.__slots__
        )

    __hash__ = None  # type: ignore[assignment]

    def holds(self, facts: Facts) -> bool | None:
        """True, False, or ``None`` when an argument test cannot be evaluated (unknown).

        Three-valued: ``all`` is false if any part is, else unknown if any part is; ``any`` is
        true if any part is, else unknown if any part is; ``not`` keeps unknown unknown.
        """
        # Cheap tests first; the text is serialized, lowercased or scanned only if needed.
        if self.tools is not None and facts.tool not in self.tools:
            return False
        if self.risks is not None and facts.risk not in self.risks:
            return False
        verdict: bool | None = True
        for steps, tests in self.args:
            outcome = _check_path(tests, _resolve(facts.arguments, steps))
            if outcome is False:
                return False
            if outcome is None:
                verdict = None
        numbers: tuple[tuple[_Tests | None, float | None], ...] = (
            (self.confidence, facts.confidence),
            (self.risk_score, facts.risk_score),
        )
        for number_tests, number in numbers:
            if number_tests is not None:
                outcome = _check(number_tests, _number(number))
                if outcome is False:
                    return False
                if outcome is None:
                    verdict = None
        if self.needles:
            lowered = facts.lowered
            if not any(needle in lowered for needle in self.needles):
                return False
        if self.regex is not None and self.regex.search(facts.text) is None:
            return False
        if self.pii is not None and bool(facts.pii(self.kinds)) is not self.pii:
            return False
        if self.all is not None:
            for plan in self.all:
                outcome = plan.holds(facts)
                if outcome is False:
                    return False
                if outcome is None:
                    verdict = None
        if self.any is not None:
            outcomes = [plan.holds(facts) for plan in self.any]
            if True not in outcomes:
                if None not in outcomes:
                    return False
                verdict = None
        if self.not_ is not None:
            outcome = self.not_.holds(facts)
            if outcome is True:
                return False
            if outcome is None:
                verdict = None
        return verdict


def _plan_of(condition: Condition) -> _Plan:
    plan: _Plan = condition.__pydantic_private__["_plan"]  # type: ignore[index]
    return plan


class Condition(_Frozen):
    """A test on one stage: every test given must hold (AND); ``all``/``any``/``not`` combine.

    ``all: []`` holds and ``any: []`` does not (the identities of AND and OR). ``contains`` and
    ``matches`` are case-insensitive and look at the stage's text (for a tool call: its
    arguments as compact JSON, unless text is given). ``pii: true`` holds when the text has PII
    of any kind, ``pii: [email, phone]`` when it has one of those, ``pii: false`` when it has
    none. ``args`` maps dotted paths (``customer.email``, ``items.0.sku``, ``items.*.amount`` for any
    item; a name stepped into a list is unknown) to comparisons;
    ``confidence`` and ``risk_score`` compare numbers, and fail when the number is absent.
    """

    all: list[Condition] | None = None
    any: list[Condition] | None = None
    not_: Condition | None = Field(default=None, alias="not")
    tool: str | list[str] | None = None
    risk: RiskLevel | list[RiskLevel] | None = None
    args: dict[str, Comparison] | None = None
    contains: str | list[str] | None = None
    matches: str | None = None
    pii: bool | list[PiiKind] | None = None
    confidence: Comparison | None = None
    risk_score: Comparison | None = None

    _plan: _Plan = PrivateAttr(default_factory=_Plan)

    @model_validator(mode="before")
    @classmethod
    def _known_tests(cls, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = [key for key in data if key not in _CONDITION_TESTS and key != "not_"]
            if unknown:
                raise ValueError(
                    f"unknown condition test {unknown[0]!r}; tests: {', '.join(_CONDITION_TESTS)}"
                )
        return data

    @model_validator(mode="after")
    def _prepare(self) -> Condition:
        if all(getattr(self, name) is None for name in type(self).model_fields):
            raise ValueError(f"a condition needs at least one test: {', '.join(_CONDITION_TESTS)}")
        for name in ("tool", "risk", "contains", "pii", "args"):
            value = getattr(self, name)
            if isinstance(value, list | dict) and not value:
                raise ValueError(f"'{name}' is empty, so it could never match; remove it")
        plan = _Plan()
        if self.tool is not None:
            plan.tools = frozenset([self.tool] if isinstance(self.tool, str) else self.tool)
        if self.risk is not None:
            plan.risks = frozenset([self.risk] if isinstance(self.risk, str) else self.risk)
        plan.args = tuple((_steps(path), c._tests) for path, c in (self.args or {}).items())
        plan.confidence = None if self.confidence is None else self.confidence._tests
        plan.risk_score = None if self.risk_score is None else self.risk_score._tests
        if self.contains is not None:
            needles = [self.contains] if isinstance(self.contains, str) else self.contains
            if not all(needles):
                raise ValueError("'contains' has an empty string, which matches any text")
            plan.needles = tuple(needle.lower() for needle in needles)
        if self.matches is not None:
            plan.regex = _compile(self.matches, "matches", re.IGNORECASE)
        if self.pii is not None:
            plan.pii = self.pii is not False
            plan.kinds = tuple(dict.fromkeys(self.pii)) if isinstance(self.pii, list) else None
        plan.all = None if self.all is None else tuple(map(_plan_of, self.all))
        plan.any = None if self.any is None else tuple(map(_plan_of, self.any))
        plan.not_ = None if self.not_ is None else _plan_of(self.not_)
        self._plan = plan
        return self

    @model_serializer(mode="wrap")
    def _given_only(self, handler: SerializerFunctionWrapHandler) -> Any:
        # None means "not tested": leave it out, so specs and history read like the YAML.
        return {key: value for key, value in handler(self).items() if value is not None}

    def holds(self, facts: Facts) -> bool:
        """Whether the condition certainly holds for ``facts`` (unknown is not a hold)."""
        return _plan_of(self).holds(facts) is True

    def test(self, facts: Facts) -> bool | None:
        """True, False, or ``None`` when a test cannot be evaluated (a NaN, a string compared
        with a number): rules that block or ask a human read ``None`` as a match."""
        return _plan_of(self).holds(facts)

    def explain(self, facts: Facts) -> str:
        """Why the condition holds (call it only when it does): ``refund_order amount 250 > 100``."""
        parts = [
            f"{path} {_describe_at(comparison, _resolve(facts.arguments, _steps(path)))}"
            for path, comparison in (self.args or {}).items()
        ]
        if self.risk is not None:
            parts.append(f"risk {facts.risk}")
        if self.confidence is not None:
            parts.append(f"confidence {self.confidence.describe(_number(facts.confidence))}")
        if self.risk_score is not None:
            parts.append(f"risk score {self.risk_score.describe(_number(facts.risk_score))}")
        needles = self._plan.needles
        if needles:
            found = [needle for needle in needles if needle in facts.lowered] or needles
            parts.append(f"text contains {_show(found[0])}")
        if self.matches is not None:
            parts.append(f"text matches {_show(self.matches)}")
        if self.pii is not None:
            kinds = facts.pii(self._plan.kinds)
            parts.append(f"text contains {', '.join(kinds)}" if kinds else "text has no PII")
        parts += [condition.explain(facts) for condition in self.all or ()]
        held = [condition for condition in self.any or () if condition.test(facts) is not False]
        if held:
            parts.append(held[0].explain(facts))
        if self.not_ is not None:
            parts.append(f"not ({self.not_.describe()})")
        text = ", ".join(part for part in parts if part)
        if self.tool is not None:
            text = f"{facts.tool} {text}".rstrip()
        return text or "the condition holds"

    def describe(self) -> str:
        """The condition in words: ``tool refund_order and amount > 100``."""
        parts = []
        if self.tool is not None:
            parts.append(
                "tool " + "|".join([self.tool] if isinstance(self.tool, str) else self.tool)
            )
        if self.risk is not None:
            parts.append(
                "risk " + "|".join([self.risk] if isinstance(self.risk, str) else self.risk)
            )
        parts += [f"{path} {c.describe()}" for path, c in (self.args or {}).items()]
        if self.confidence is not None:
            parts.append(f"confidence {self.confidence.describe()}")
        if self.risk_score is not None:
            parts.append(f"risk score {self.risk_score.describe()}")
        if self.contains is not None:
            parts.append("text contains " + " or ".join(map(_show, self._plan.needles)))
        if self.matches is not None:
            parts.append(f"text matches {_show(self.matches)}")
        if self.pii is not None:
            kinds = "PII" if self._plan.kinds is None else "/".join(self._plan.kinds)
            parts.append(f"text has {kinds}" if self.pii is not False else "text has no PII")
        if self.all is not None:
            parts.append(
                f"({' and '.join(c.describe() for c in self.all)})" if self.all else "true"
            )
        if self.any is not None:
            parts.append(
                f"({' or '.join(c.describe() for c in self.any)})" if self.any else "false"
            )
        if self.not_ is not None:
            parts.append(f"not ({self.not_.describe()})")
        return " and ".join(parts)
