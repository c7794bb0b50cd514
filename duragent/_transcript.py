"""References that keep workflow history linear in the number of turns.

The known failure of agent workflows is that every model call carries the whole conversation,
so history grows with the square of the turns. Here a model activity receives a
``TranscriptRef`` (the messages before position ``start`` are already in the workers' shared
transcript store under ``key``) plus only the messages since; and a large tool output is stored
once, content-addressed, with only a preview in history (``Message.content_ref``).
Pure: the workflow imports this module.
"""

from __future__ import annotations

import hashlib

from pydantic import Field

from duragent._wire import Wire

INLINE_LIMIT = 2_048
"""Tool outputs longer than this (characters) are stored by reference; history keeps a preview."""
PREVIEW_CHARS = 400


class TranscriptRef(Wire):
    """Messages ``[0, start)`` of the conversation stored under ``key``."""

    key: str
    start: int = Field(ge=0)


def content_digest(text: str) -> str:
    """The content address of a text: ``sha256:<hex>``."""
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def preview(text: str, limit: int = PREVIEW_CHARS) -> str:
    """The start of a long text, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit} more characters stored by reference]"


class PromptRef(Wire):
    """The model-facing part of an agent's spec (``AgentPrompt``), stored once under ``digest``
    in the workers' shared store, instead of in every model call. Each flag says which part the
    call takes from it: a grader call, say, takes only the script."""

    digest: str
    instructions: bool = True
    tools: bool = True
    """The agent's tool and handoff schemas, placed before the request's own ``tools``."""
    script: bool = False
    """Set for calls to the ``scripted`` provider only."""
