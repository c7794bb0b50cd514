"""Alert rules that ``duragent report --alerts`` evaluates over a report.

The defaults are the guide's: P99 latency above 5 s, a mean cost above $0.10 per request, an
error rate above 5%. They carry the names of the Prometheus rules under ``deploy/``, so an alert
reads the same whichever of the two raised it. A rule never fires on missing data: with no
finished runs in the window there is nothing to alert on.

A rules file is YAML::

    rules:
      - name: DuragentHighP99Latency
        metric: p99_latency_s        # any name in METRICS
        op: ">"                      # >, >=, <, <=
        threshold: 5
        description: P99 run latency above 5 s
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from duragent._loader import describe_yaml_error, load_yaml
from duragent.errors import SpecError
from duragent.report._model import METRICS, Report


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


Op = Literal[">", ">=", "<", "<="]
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


class AlertRule(_Frozen):
    """Fires when the report's ``metric`` compares to ``threshold`` as ``op`` says."""

    name: str = Field(min_length=1)
    metric: str
    """One of ``METRICS``, e.g. ``p99_latency_s``, ``cost_per_request_usd``, ``error_rate``."""
    op: Op = ">"
    threshold: float
    description: str = ""

    @field_validator("metric")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in METRICS:
            raise ValueError(
                f"unknown metric {value!r}; use one of {', '.join(METRICS)}"
                if value
                else f"metric is empty; use one of {', '.join(METRICS)}"
            )
        return value


class AlertRules(_Frozen):
    """A rules file: a mapping with one key, ``rules``."""

    rules: list[AlertRule] = Field(min_length=1)


class AlertResult(_Frozen):
    """A rule's verdict on one report: the value it saw (``None``: no data) and whether it fired."""

    rule: AlertRule
    value: float | None
    firing: bool

    @property
    def message(self) -> str:
        if self.value is None:
            return f"{self.rule.name}: no data for {self.rule.metric}"
        verdict = "FIRING" if self.firing else "ok"
        return (
            f"{self.rule.name} {verdict}: {self.rule.metric} = {self.value:.6g} "
            f"(fires when {self.rule.op} {self.rule.threshold:g})"
            + (f" — {self.rule.description}" if self.rule.description else "")
        )


DEFAULT_RULES: tuple[AlertRule, ...] = (
    AlertRule(
        name="DuragentHighP99Latency",
        metric="p99_latency_s",
        threshold=5.0,
        description="P99 run latency above 5 s",
    ),
    AlertRule(
        name="DuragentHighCostPerRequest",
        metric="cost_per_request_usd",
        threshold=0.10,
        description="mean cost above $0.10 per request",
    ),
    AlertRule(
        name="DuragentHighErrorRate",
        metric="error_rate",
        threshold=0.05,
        description="more than 5% of runs failed",
    ),
)


def evaluate_alerts(
    report: Report, rules: Sequence[AlertRule] = DEFAULT_RULES
) -> list[AlertResult]:
    """Each rule's verdict, in the rules' order."""
    metrics = report.metrics()
    verdicts = []
    for rule in rules:
        value = metrics[rule.metric]
        firing = value is not None and _OPS[rule.op](value, rule.threshold)
        verdicts.append(AlertResult(rule=rule, value=value, firing=firing))
    return verdicts


def load_alert_rules(path: str | Path) -> list[AlertRule]:
    """The rules of a YAML file. Raises ``SpecError`` naming the file and the field at fault."""
    file = str(path)
    try:
        data = load_yaml(Path(path).read_text(encoding="utf-8"))  # strict: no duplicate keys
    except OSError as exc:
        raise SpecError(f"cannot read the alert rules: {exc.strerror or exc}", file=file) from None
    except yaml.YAMLError as exc:
        raise SpecError(f"not valid YAML: {describe_yaml_error(exc)}", file=file) from None
    if not isinstance(data, dict):
        raise SpecError(
            "an alert rules file is a mapping with one key, rules: a list of "
            "{name, metric, op, threshold, description}",
            file=file,
        )
    try:
        return list(AlertRules.model_validate(data).rules)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        raise SpecError(message, file=file, field=field or None) from None
