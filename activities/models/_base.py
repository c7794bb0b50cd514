"""The provider interface."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from duragent import ModelRequest, ModelResponse


class ModelProvider(Protocol):
    """Answers one model call. Raise ``duragent.ProviderError`` (classified) on failure.

    Providers holding connections also define ``async aclose()``; workers call it on shutdown.
    """

    async def complete(self, request: ModelRequest) -> ModelResponse: ...


async def close_providers(providers: Mapping[str, ModelProvider]) -> None:
    """Close every provider that holds connections (those with an ``aclose`` method)."""
    for provider in providers.values():
        aclose = getattr(provider, "aclose", None)
        if aclose is not None:
            await aclose()
