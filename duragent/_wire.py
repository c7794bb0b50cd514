"""The one base of every model that crosses a Temporal boundary or is recorded in history.

Rolling upgrades: during a deploy, old and new workers and clients share runs, so a payload may
carry a field this code does not know yet. Read off the wire (JSON: histories, workflow and
activity inputs and results) an unknown field is ignored, so an old worker does not fail a run
a newer one touched. Written in Python (``RunRequest(agnet=...)``, ``Agent(nmae=...)``, a YAML
spec, an approval decision), an unknown field is a typo and fails, naming the field.

Governance models (guardrail rules, conditions, comparisons) do not use this base: they refuse
an unknown field in both modes, so a rule feature an old worker does not understand fails the
run (closed) instead of running the rule weakened.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo, model_validator


class Wire(BaseModel):
    """Frozen; unknown fields read from JSON are dropped, in Python they are refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _drop_unknown_from_the_wire(cls, data: Any, info: ValidationInfo) -> Any:
        if info.mode == "json" and isinstance(data, dict):
            fields = cls.model_fields
            if not data.keys() <= fields.keys():
                return {key: value for key, value in data.items() if key in fields}
        return data
