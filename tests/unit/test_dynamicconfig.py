"""The compose cluster's Temporal dynamic config carries every setting `duragent dev` applies.

`duragent dev` passes ``TUNING`` as ``--dynamic-config-value KEY=JSON``; the compose server reads
``deploy/temporal/dynamicconfig.yaml``. When the two drifted, retry backoffs on the cluster fired
up to 1 s late (a 100 ms backoff measured 0.99 s) while they were on time under `duragent dev`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from duragent.workers import TUNING

DYNAMIC_CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "temporal" / "dynamicconfig.yaml"


def tuning() -> dict[str, Any]:
    """``TUNING`` as the dev server reads it: key = JSON value."""
    settings: dict[str, Any] = {}
    for item in TUNING:
        key, _, value = item.partition("=")
        settings[key] = json.loads(value)
    return settings


def test_tuning_parses_into_settings() -> None:
    settings = tuning()
    assert "history.timerProcessorMaxTimeShift" in settings
    assert len(settings) == len(TUNING)


def test_compose_dynamic_config_carries_every_dev_server_setting() -> None:
    config = yaml.safe_load(DYNAMIC_CONFIG.read_text())
    assert isinstance(config, dict)
    for key, value in tuning().items():
        assert key in config, (
            f"{DYNAMIC_CONFIG.name} lacks {key} (duragent dev sets it to {value!r})"
        )
        entries = config[key]
        assert isinstance(entries, list) and entries, (
            f"{key}: expected a list of {{value, constraints}}"
        )
        # The unconstrained entry is the one that applies everywhere.
        everywhere = [e for e in entries if e.get("constraints") == {}]
        assert len(everywhere) == 1, f"{key}: expected one entry with `constraints: {{}}`"
        assert everywhere[0]["value"] == value, (
            f"{key} is {everywhere[0]['value']!r} on the compose cluster but {value!r} under duragent dev"
        )


def test_every_entry_has_the_server_format() -> None:
    """The server ignores a key whose entries are not ``{value, constraints}`` maps."""
    config = yaml.safe_load(DYNAMIC_CONFIG.read_text())
    for key, entries in config.items():
        assert isinstance(entries, list), key
        for entry in entries:
            assert set(entry) <= {"value", "constraints"} and "value" in entry, (key, entry)
            assert isinstance(entry.get("constraints", {}), dict), (key, entry)
