"""Model prices, USD per million tokens, and the cost of a call.

The table is a starting point, not a quote: override it per deployment with
``load_pricing(path)`` (YAML or JSON mapping ``provider/model`` to ``{input, output, cached}``)
or by passing ``prices=`` explicitly. An unknown model is priced as *unknown* (``None``), never
silently as zero; a run that used one reports ``cost_complete=False``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from duragent._messages import Usage


class Price(BaseModel):
    """USD per million tokens."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cached: float | None = Field(default=None, ge=0)
    """Price of cached input tokens; defaults to the input price."""


DEFAULT_PRICES: Mapping[str, Price] = {
    # The guide's 2026 figures for its flagship model: $2.50 / $10 per million tokens.
    "openai/gpt-5.5": Price(input=2.50, output=10.00, cached=0.25),
    "openai/gpt-5.4": Price(input=1.25, output=10.00, cached=0.125),
    "openai/gpt-5.3": Price(input=1.25, output=10.00, cached=0.125),
    "openai/gpt-5.2": Price(input=1.25, output=10.00, cached=0.125),
    "openai/gpt-5": Price(input=1.25, output=10.00, cached=0.125),
    "openai/gpt-5-mini": Price(input=0.25, output=2.00, cached=0.025),
    "openai/gpt-4.1": Price(input=2.00, output=8.00, cached=0.50),
    "openai/gpt-4.1-mini": Price(input=0.40, output=1.60, cached=0.10),
    "openai/gpt-4o": Price(input=2.50, output=10.00, cached=1.25),
    "openai/gpt-4o-mini": Price(input=0.15, output=0.60, cached=0.075),
    "anthropic/claude-opus-4-5": Price(input=5.00, output=25.00, cached=0.50),
    "anthropic/claude-sonnet-4-5": Price(input=3.00, output=15.00, cached=0.30),
    "anthropic/claude-haiku-4-5": Price(input=1.00, output=5.00, cached=0.10),
    # Scripted models are priced like the guide's flagship so offline runs show real figures.
    "scripted/*": Price(input=2.50, output=10.00, cached=0.25),
}


def price_for(model: str, prices: Mapping[str, Price] | None = None) -> Price | None:
    """The price of ``provider/name``: exact match, then ``provider/*``; ``None`` if unknown."""
    table = DEFAULT_PRICES if prices is None else prices
    if model in table:
        return table[model]
    provider = model.partition("/")[0]
    return table.get(f"{provider}/*")


def cost_usd(model: str, usage: Usage, prices: Mapping[str, Price] | None = None) -> float | None:
    """Cost of one call in USD, or ``None`` when the model's price is unknown."""
    price = price_for(model, prices)
    if price is None:
        return None
    cached = min(usage.cached_tokens, usage.input_tokens)
    cached_price = price.input if price.cached is None else price.cached
    return (
        (usage.input_tokens - cached) * price.input
        + cached * cached_price
        + usage.output_tokens * price.output
    ) / 1_000_000


def load_pricing(path: str | Path) -> dict[str, Price]:
    """Default prices updated with those in a YAML or JSON file."""
    # Local imports keep this module cheap to import in the workflow sandbox.
    import yaml

    from duragent._loader import describe_yaml_error, load_yaml

    text = Path(path).read_text()
    try:
        # Strict YAML: a model priced twice must not keep only one of its prices, silently.
        # JSON too through the strict YAML loader (JSON is YAML): json.loads keeps the last of
        # two entries for one model, so a second "price 0" line would silently disable budgets.
        raw = load_yaml(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: {describe_yaml_error(exc)}") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping of 'provider/model' to prices")
    table = dict(DEFAULT_PRICES)
    for model, price in raw.items():
        table[str(model)] = Price.model_validate(price)
    return table
