"""The provider interface."""

from __future__ import annotations

from typing import Protocol

from duragent import ModelRequest, ModelResponse


class ModelProvider(Protocol):
    """Answers one model call. Raise ``duragent.ProviderError`` (classified) on failure."""

    async def complete(self, request: ModelRequest) -> ModelResponse: ...
