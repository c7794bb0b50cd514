"""Model providers behind one interface, ``ModelProvider.complete(ModelRequest) -> ModelResponse``.

Each provider translates its vendor's errors into ``duragent.ProviderError`` in one place; the
``model.call`` activity turns those into Temporal ``ApplicationError``s carrying the retry
semantics (``non_retryable``, ``next_retry_delay`` from Retry-After).
"""

from duragent.activities.models._anthropic import AnthropicProvider
from duragent.activities.models._base import ModelProvider, close_providers
from duragent.activities.models._openai import OpenAIProvider
from duragent.activities.models._scripted import ScriptedProvider

__all__ = [
    "AnthropicProvider",
    "ModelProvider",
    "OpenAIProvider",
    "ScriptedProvider",
    "close_providers",
]
