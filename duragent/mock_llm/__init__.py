"""``duragent mock-llm``: a local server speaking the OpenAI and Anthropic APIs, for tests, the
demo and load runs.

Answers come from scripted rules (the same ``ScriptRule``s as the ``scripted`` model), with
configurable latency (time to first token, time per token) and injected faults (429 with
Retry-After, 500, hangs, slow first tokens; forced per request with the ``x-mock-fault``
header or the ``mock_fault`` body field). A forced 401 echoes the API key the client
presented, whole, as some OpenAI-compatible servers and proxies do: the secret-redaction tests
check that it never reaches a record. Clients reach it over real HTTP through the real SDKs, so
it exercises the providers end to end.

Not imported by ``duragent`` itself: it does I/O and never runs inside a workflow.
"""

from duragent.mock_llm._config import (
    FAULT_FIELD,
    FAULT_HEADER,
    FAULT_HEADER_VALUES,
    FaultKind,
    FaultProfile,
    MockConfig,
)
from duragent.mock_llm._server import MockLLM, serve

__all__ = [
    "FAULT_FIELD",
    "FAULT_HEADER",
    "FAULT_HEADER_VALUES",
    "FaultKind",
    "FaultProfile",
    "MockConfig",
    "MockLLM",
    "serve",
]
