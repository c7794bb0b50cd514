"""Connecting to Temporal with duragent's data converter, and registering search attributes.

A client process imports this and nothing of the worker: no activity, no provider SDK, no
OpenTelemetry SDK (``Telemetry`` is a type here only). ``tests/unit/test_public_api.py`` checks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError

from duragent._names import SEARCH_ATTRIBUTES
from duragent.errors import DuragentError
from duragent.settings import Settings
from duragent.workers._payloads import data_converter

if TYPE_CHECKING:
    from duragent.encryption import KeyRing
    from duragent.workers._telemetry import Telemetry

log = structlog.get_logger("duragent.client")

_INDEXED = {
    "KEYWORD": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "DOUBLE": IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
    "INT": IndexedValueType.INDEXED_VALUE_TYPE_INT,
}


def key_ring(settings: Settings) -> KeyRing | None:
    """The key ring ``settings`` names, or None when encryption is off."""
    if settings.encryption_keys_file is None:
        return None
    from duragent.encryption import load_key_ring

    return load_key_ring(settings.encryption_keys_file)


async def connect(settings: Settings, telemetry: Telemetry | None = None) -> Client:
    """A client for ``settings.address``/``namespace``: pydantic payloads, and those over
    256 KiB kept in ``settings.payload_store`` (Temporal external storage), all encrypted when
    ``settings.encryption_keys_file`` names a key ring. With
    ``telemetry`` (``start_telemetry``), runs it starts and workers built on it are traced and
    the SDK's metrics are exported."""
    return await Client.connect(
        settings.address,
        namespace=settings.namespace,
        data_converter=data_converter(settings.payload_store, key_ring(settings)),
        plugins=telemetry.plugins() if telemetry else [],
        runtime=telemetry.runtime if telemetry else None,
    )


SA_TYPE_NAMES = {"KEYWORD": "Keyword", "DOUBLE": "Double", "INT": "Int"}


def _fix(missing: list[str]) -> str:
    types = {key.name: SA_TYPE_NAMES[key.indexed_value_type.name] for key in SEARCH_ATTRIBUTES}
    commands = "; ".join(
        f"temporal operator search-attribute create --name {name} --type {types[name]}"
        for name in missing
    )
    return (
        f"an operator can run: {commands}. Or, where the server cannot hold them (the "
        "time-skipping test server), start workers with DURAGENT_SEARCH_ATTRIBUTES=off"
    )


async def ensure_search_attributes(client: Client) -> list[str]:
    """Register duragent's search attributes where missing; return the names added.

    Runs would otherwise fail every workflow task on their first upsert and be stuck, so a
    worker that cannot have them refuses to start, saying what an operator must run.
    """
    namespace = client.namespace
    everything = [key.name for key in SEARCH_ATTRIBUTES]
    try:
        existing = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
    except RPCError as exc:
        raise DuragentError(
            f"cannot list the search attributes of namespace {namespace!r} ({exc.message}); "
            + _fix(everything)
        ) from None
    missing = {
        key.name: _INDEXED[key.indexed_value_type.name]
        for key in SEARCH_ATTRIBUTES
        if key.name not in existing.custom_attributes
    }
    if not missing:
        return []
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
    except RPCError as exc:
        raise DuragentError(
            f"search attributes {', '.join(sorted(missing))} are missing in namespace "
            f"{namespace!r} and could not be registered ({exc.message}); " + _fix(sorted(missing))
        ) from None
    log.info("registered search attributes", names=sorted(missing), namespace=namespace)
    return sorted(missing)
