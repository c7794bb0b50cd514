"""Closed vocabularies that specs, histories, metrics and reports share: one definition each.

Each is a ``Literal`` type (what the type checker and pydantic validate against) and the tuple
of its values (what code iterates over), the tuple derived from the type so the two cannot
drift. The values are written in users' YAML, recorded in workflow histories and used as metric
labels: add values, never rename one. Pure: no I/O, safe inside the workflow sandbox.
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = ["LAYERS", "PROVIDERS", "RISK_LEVELS", "Layer", "ProviderName", "RiskLevel"]

RiskLevel = Literal["read", "write", "destructive", "external"]
"""What a tool call can do: a tool declares one, guardrail rules match on it."""
RISK_LEVELS: tuple[RiskLevel, ...] = get_args(RiskLevel)

ProviderName = Literal["openai", "anthropic", "scripted"]
"""The model providers a spec can name (``provider/name``); workers hold one client each."""
PROVIDERS: tuple[ProviderName, ...] = get_args(ProviderName)

Layer = Literal["input", "reasoning", "output", "tool", "approval", "orchestration"]
"""Where a run's wall time goes: ``LatencyBreakdown.<layer>_ms``, the ``layer`` label of the
``duragent_layer_duration_seconds`` metric and the columns of ``duragent report``."""
LAYERS: tuple[Layer, ...] = get_args(Layer)
