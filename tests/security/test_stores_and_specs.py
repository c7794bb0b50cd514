"""Second-round findings on stores and specs: each fails closed, and no message holds a secret.

From the red-team pass over the issue-12 work: a transcript store URL the code did not know
became a local SQLite file named with the password; the audit log's error quoted its URL; a JSON
pricing file kept the last of two entries for one model; a payload claim could name any path; a
"billion laughs" spec loaded small and expanded to gigabytes when hashed; a spec's base_url
carried a password into every run's history.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.converter import StorageDriverClaim

from duragent import Agent
from duragent._loader import load_agents
from duragent.activities._transcripts import TranscriptError, open_transcript_store
from duragent.audit import open_audit_log
from duragent.audit._model import AuditError
from duragent.errors import SpecError
from duragent.pricing import load_pricing
from duragent.workers._payloads import FolderStorageDriver

PASSWORD = "hunter2-canary-9c4e"


def test_an_unknown_transcript_store_scheme_is_refused_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TranscriptError, match="unsupported transcript store scheme") as info:
        open_transcript_store(f"postgresql+psycopg://admin:{PASSWORD}@127.0.0.1:1/x")
    assert PASSWORD not in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_audit_log_scheme_names_no_password() -> None:
    with pytest.raises(AuditError) as info:
        open_audit_log(f"postgresql+psycopg://admin:{PASSWORD}@127.0.0.1:1/x")
    assert PASSWORD not in str(info.value) and "postgresql+psycopg" in str(info.value)


def test_a_json_pricing_file_with_a_model_twice_is_refused(tmp_path: Path) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(
        '{"openai/gpt-x": {"input": 5, "output": 15},\n "openai/gpt-x": {"input": 0, "output": 0}}'
    )
    with pytest.raises(Exception, match="duplicate key"):
        load_pricing(prices)


async def test_a_payload_claim_cannot_name_a_path(tmp_path: Path) -> None:
    driver = FolderStorageDriver(tmp_path / "payloads")
    claim = StorageDriverClaim(claim_data={"sha256": "../../../../etc/passwd"})
    with pytest.raises(ValueError, match="not a payload digest"):
        await driver.retrieve(None, [claim])  # type: ignore[arg-type]


def test_a_billion_laughs_spec_is_refused(tmp_path: Path) -> None:
    levels = ["  lol0: &l0 [x, x, x, x, x, x, x, x, x]"]
    levels += [f"  lol{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, 9)]
    spec = tmp_path / "agents.yaml"
    spec.write_text(
        "agents:\n  - name: a\n    model:\n      provider: scripted\n      name: a\n      params:\n"
        + "\n".join("      " + line.strip() for line in levels)
        + "\n"
    )
    with pytest.raises(SpecError, match="expands to more than"):
        load_agents(spec)


def test_a_spec_base_url_with_a_password_is_refused() -> None:
    with pytest.raises(SpecError, match="base_url holds credentials") as info:
        Agent(
            name="a",
            model={"provider": "openai", "name": "m",
                   "base_url": f"http://ops:{PASSWORD}@127.0.0.1:8100/v1"},
        )  # fmt: skip
    assert PASSWORD not in str(info.value)
    Agent(name="a", model={"provider": "openai", "name": "m", "base_url": "http://127.0.0.1/v1"})
