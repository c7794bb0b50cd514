"""Provider SDK clients, one per (base_url, API key), built with ``max_retries=0``: Temporal
alone retries. Shared by the OpenAI and Anthropic providers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from duragent.errors import ProviderError

PLACEHOLDER_KEY = "unused"
"""Sent to a ``base_url`` server that needs no key: both SDKs refuse to build without one."""

C = TypeVar("C", bound=Any)


class ClientCache(Generic[C]):
    def __init__(
        self,
        factory: Callable[..., C],
        *,
        api_key: str | None,
        timeout_s: float,
        provider: str,
        missing_key: str,
    ) -> None:
        self._factory = factory
        self._api_key = api_key
        self._timeout_s = timeout_s
        self._provider = provider
        self._missing_key = missing_key
        self._clients: dict[tuple[str | None, str], C] = {}

    def missing(self, base_url: str | None) -> str | None:
        """What is missing to call the provider at ``base_url`` (its key), or ``None``."""
        return self._missing_key if self._api_key is None and base_url is None else None

    def get(self, base_url: str | None) -> C:
        """The client for ``base_url`` (``None``: the provider's own); raises ``auth`` when no
        key is configured and no ``base_url`` says the server needs none."""
        key = self._api_key
        if key is None:
            if base_url is None:
                raise ProviderError(self._missing_key, kind="auth", provider=self._provider)
            key = PLACEHOLDER_KEY
        client = self._clients.get((base_url, key))
        if client is None:
            # An explicit api_key also keeps the SDKs from looking for credentials on disk.
            client = self._factory(
                api_key=key, base_url=base_url, timeout=self._timeout_s, max_retries=0
            )
            self._clients[(base_url, key)] = client
        return client

    async def aclose(self) -> None:
        """Close the cached clients (their connection pools)."""
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.close()
