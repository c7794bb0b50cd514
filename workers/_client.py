"""Connecting to Temporal with duragent's data converter, and registering search attributes."""

from __future__ import annotations

import structlog
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError

from duragent._names import SEARCH_ATTRIBUTES
from duragent.settings import Settings

log = structlog.get_logger("duragent.client")

_INDEXED = {
    "KEYWORD": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "DOUBLE": IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
    "INT": IndexedValueType.INDEXED_VALUE_TYPE_INT,
}


async def connect(settings: Settings) -> Client:
    """A client for ``settings.address``/``namespace`` using the pydantic data converter."""
    return await Client.connect(
        settings.address, namespace=settings.namespace, data_converter=pydantic_data_converter
    )


async def ensure_search_attributes(client: Client) -> list[str]:
    """Register duragent's search attributes where missing; return the names added.

    The dev server gets them at start; on a cluster this needs operator permissions, and
    a worker without them logs what an operator must run instead of failing.
    """
    namespace = client.namespace
    existing = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
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
        log.warning(
            "search attributes missing and could not be registered",
            missing=sorted(missing),
            error=str(exc),
            fix="temporal operator search-attribute create --name DuragentStatus --type Keyword ...",
        )
        return []
    return sorted(missing)
