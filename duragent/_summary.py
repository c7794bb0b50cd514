"""The static summary the Web UI shows for a run. Pure: used by clients and by workflows that
start agents as children."""

from __future__ import annotations

from duragent._messages import RunRequest
from duragent._pii import redact_text

SUMMARY_WORDS = 12


def run_summary(request: RunRequest) -> str:
    """The agent and the first words of the input, with PII-like data (cards, emails, phone
    numbers, ...) redacted: it is shown to everyone who can list runs."""
    words = redact_text(request.input)[0].split()
    text = " ".join(words[:SUMMARY_WORDS]) + (" …" if len(words) > SUMMARY_WORDS else "")
    return f"{request.agent}: {text}"
