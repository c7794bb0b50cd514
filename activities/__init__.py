"""Side effects: model providers, tool execution, spec resolution. Built and wired in ``workers``."""

from duragent.activities._approvals import ApprovalActivities, load_approver_keys
from duragent.activities._audit import AuditActivities
from duragent.activities._circuit import CircuitBreaker
from duragent.activities._eval import EvalActivities
from duragent.activities._models import ModelActivities
from duragent.activities._spec_store import SpecStore
from duragent.activities._specs import SpecActivities
from duragent.activities._tools import ToolActivities
from duragent.activities._transcripts import TranscriptError, TranscriptStore, open_transcript_store

__all__ = [
    "ApprovalActivities",
    "AuditActivities",
    "CircuitBreaker",
    "EvalActivities",
    "ModelActivities",
    "SpecActivities",
    "SpecStore",
    "ToolActivities",
    "TranscriptError",
    "TranscriptStore",
    "load_approver_keys",
    "open_transcript_store",
]
