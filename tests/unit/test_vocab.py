"""The shared vocabularies and the one store-location parser (duragent._vocab, duragent._stores)."""

from __future__ import annotations

from pathlib import Path

import pytest

from duragent._guardrails import RISK_SCORES
from duragent._messages import LatencyBreakdown
from duragent._stores import UnsupportedStoreError, parse_store_location
from duragent._vocab import LAYERS, PROVIDERS, RISK_LEVELS
from duragent.activities import TranscriptError, open_transcript_store
from duragent.activities.models import close_providers
from duragent.audit import AuditError, open_audit_log
from duragent.report import LAYERS as REPORT_COLUMNS
from duragent.workers import build_providers


def test_every_risk_level_has_a_score() -> None:
    assert set(RISK_SCORES) == set(RISK_LEVELS)


def test_every_layer_is_a_field_of_the_latency_breakdown() -> None:
    fields = {name.removesuffix("_ms") for name in LatencyBreakdown.model_fields}
    assert fields == {"total", *LAYERS}
    assert REPORT_COLUMNS == ("total", *LAYERS)


@pytest.mark.parametrize(
    ("location", "kind", "target"),
    [
        ("postgresql://u@h/db", "postgres", "postgresql://u@h/db"),
        ("postgres://u@h/db", "postgres", "postgres://u@h/db"),
        ("sqlite:///var/x.db", "sqlite", "var/x.db"),
        ("sqlite:////abs/x.db", "sqlite", "/abs/x.db"),
        ("runs/x.db", "sqlite", "runs/x.db"),
        (Path("runs/x.db"), "sqlite", "runs/x.db"),
    ],
)
def test_store_locations(location: str | Path, kind: str, target: str) -> None:
    parsed = parse_store_location(location, what="store")
    assert (parsed.kind, parsed.target) == (kind, target)


def test_an_unknown_scheme_is_refused_without_echoing_the_password() -> None:
    with pytest.raises(UnsupportedStoreError) as caught:
        parse_store_location("postgresql+psycopg://u:hunter2@h/db", what="audit log")
    assert "postgresql+psycopg" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_both_stores_refuse_an_unknown_scheme_with_their_own_error() -> None:
    url = "mysql://u:hunter2@h/db"
    with pytest.raises(AuditError, match="unsupported audit log scheme 'mysql'"):
        open_audit_log(url)
    with pytest.raises(TranscriptError, match="unsupported transcript store scheme 'mysql'"):
        open_transcript_store(url)


async def test_a_worker_serves_every_provider_a_spec_may_name() -> None:
    providers = build_providers(env={})
    try:
        assert set(providers) == set(PROVIDERS)
    finally:
        await close_providers(providers)
