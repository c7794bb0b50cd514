"""Large payloads through Temporal's external storage (the claim-check pattern), not around it.

Any payload over 256 KiB (a huge user input, a long answer, a big result) is written once to a
content-addressed folder and history holds a small reference. Clients and workers of a
deployment must share the folder, as they share the transcript store.

With a key ring (``DURAGENT_ENCRYPTION_KEYS_FILE``) every payload is encrypted by
``duragent.encryption.EncryptionCodec``, failure messages and stack traces included
(``EncodedUserFacingFailureConverter`` moves them into a payload the codec seals), and a refused
approval decision leaves with its reason alone, no stack trace (``UserFacingFailureConverter``).
The SDK encodes before it stores externally, so the folder's files are ciphertext too (named by
the digest of their ciphertext: a random nonce per write means the same payload written twice is
two files, not one).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hashlib
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.contrib.pydantic import (
    PydanticJSONPlainPayloadConverter,
    PydanticPayloadConverter,
    pydantic_data_converter,
)
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultFailureConverter,
    DefaultFailureConverterWithEncodedAttributes,
    EncodingPayloadConverter,
    ExternalStorage,
    FailureConverter,
    PayloadConverter,
    StorageDriver,
    StorageDriverClaim,
    StorageDriverRetrieveContext,
    StorageDriverStoreContext,
)
from temporalio.exceptions import ApplicationError

from duragent._approvals import DECISION_REFUSED

if TYPE_CHECKING:
    from duragent.encryption import KeyRing

THRESHOLD = 256 * 1024
_DIGEST = re.compile(r"[0-9a-f]{64}")


class FolderStorageDriver(StorageDriver):
    """Payloads as files named by the sha256 of their bytes: idempotent, immutable."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def name(self) -> str:
        return "duragent-folder"

    def type(self) -> str:
        return "duragent.folder"

    def _path(self, digest: str) -> Path:
        # The digest comes from history (a claim): never a path of its own choosing.
        if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
            raise ValueError(f"not a payload digest: {str(digest)[:80]!r}")
        return self.folder / digest[:2] / digest

    def _write(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        path = self._path(digest)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(f".{os.getpid()}.partial")
            partial.write_bytes(data)
            partial.replace(path)  # atomic: readers never see half a payload
        return digest

    async def store(
        self, context: StorageDriverStoreContext, payloads: Sequence[Payload]
    ) -> list[StorageDriverClaim]:
        digests = await asyncio.to_thread(
            lambda: [self._write(p.SerializeToString(deterministic=True)) for p in payloads]
        )
        return [StorageDriverClaim(claim_data={"sha256": d}) for d in digests]

    async def retrieve(
        self, context: StorageDriverRetrieveContext, claims: Sequence[StorageDriverClaim]
    ) -> list[Payload]:
        def read() -> list[Payload]:
            out = []
            for claim in claims:
                digest = claim.claim_data["sha256"]
                path = self._path(digest)
                try:
                    data = path.read_bytes()
                except FileNotFoundError:
                    raise FileNotFoundError(
                        f"payload {digest} is not in {self.folder}: do all clients and workers "
                        "share DURAGENT_PAYLOAD_STORE?"
                    ) from None
                payload = Payload()
                payload.ParseFromString(data)
                out.append(payload)
            return out

        return await asyncio.to_thread(read)


class UserFacingFailureConverter(DefaultFailureConverter):
    """Temporal's failure converter, except that a refusal meant for a person (a ``decide``
    update refused: ``duragent._approvals.refusal``) leaves with its message alone: no stack
    trace, no cause. The SDK would put the worker's traceback, file paths and all, into
    ``Failure.stack_trace``, and the Web UI's Update dialog and every client would show it."""

    def to_failure(
        self, exception: BaseException, payload_converter: PayloadConverter, failure: Failure
    ) -> None:
        if isinstance(exception, ApplicationError) and exception.type == DECISION_REFUSED:
            exception = ApplicationError(
                exception.message, type=DECISION_REFUSED, non_retryable=True
            )
        super().to_failure(exception, payload_converter, failure)


class EncodedUserFacingFailureConverter(UserFacingFailureConverter):
    """``UserFacingFailureConverter`` with failure messages and stack traces moved into a
    payload the codec seals (Temporal's ``DefaultFailureConverterWithEncodedAttributes``)."""

    def __init__(self) -> None:
        super().__init__(encode_common_attributes=True)


def user_facing_failures(converter: DataConverter) -> DataConverter:
    """``converter`` with Temporal's stock failure converter swapped for the user-facing one
    (plain or encoded alike); a failure converter of the user's own is left alone."""
    ours: dict[type[FailureConverter], type[FailureConverter]] = {
        DefaultFailureConverter: UserFacingFailureConverter,
        DefaultFailureConverterWithEncodedAttributes: EncodedUserFacingFailureConverter,
    }
    own = ours.get(converter.failure_converter_class)
    return converter if own is None else dataclasses.replace(converter, failure_converter_class=own)


class CompactPayloadConverter(PydanticPayloadConverter):
    """Temporal's pydantic converter, writing duragent's own activity traffic without the fields
    left at their defaults.

    The inputs and results of duragent's activities (their models, read off the activity contracts
    in ``duragent._contracts``: model and tool calls, the resolved specs, the audit batch, ...) pass only between its workflow and its activities:
    there a field equal to its default is not written and reads back as that default, so history
    carries what the run decided, not the schema's defaults again (a 3-turn run's history: 16.8 KB
    before, 11.5 KB after, mostly the recorded specs and the model calls). What users read stays
    whole: a run's input and result, queries, signals and updates (a client or a Web UI reading
    them as JSON finds every key). Chosen by the value's type, not by Temporal's serialization
    context: the SDK drops the context of an activity's result when external storage is on.

    The defaults of every model written compactly are therefore part of the wire format: a
    recorded run that left a field at its default reads whatever default the worker replaying it
    has. tests/unit/test_wire_defaults.py pins them, so changing one is a decision, not an
    accident."""

    def __init__(self) -> None:
        # The SDK builds a payload converter for every DataConverter it derives (a serialization
        # context per payload, a store context per command): sharing the encoders keeps that
        # cheap and keeps one cache of pydantic type adapters per process, not one per payload.
        CompositePayloadConverter.__init__(self, *_encoders())


class _JSON(PydanticJSONPlainPayloadConverter):
    """Pydantic JSON; duragent's activity traffic without fields left at their defaults."""

    def to_payload(self, value: Any) -> Payload | None:
        if type(value) not in _compact_types():
            return super().to_payload(value)
        return Payload(
            metadata={"encoding": b"json/plain"},
            data=self._schema_serializer.to_json(value, exclude_unset=True, exclude_defaults=True),
        )


@functools.cache
def _compact_types() -> frozenset[type]:
    from duragent._contracts import activity_models

    return activity_models()


@functools.cache
def _encoders() -> tuple[EncodingPayloadConverter, ...]:
    return tuple(
        _JSON() if isinstance(c, PydanticJSONPlainPayloadConverter) else c
        for c in PydanticPayloadConverter().converters.values()
    )


def data_converter(payload_store: str | Path, keys: KeyRing | None = None) -> DataConverter:
    """The pydantic data converter with payloads over 256 KiB kept in ``payload_store``, and
    with ``keys`` every payload and failure message encrypted."""
    storage = ExternalStorage(
        drivers=[FolderStorageDriver(payload_store)], payload_size_threshold=THRESHOLD
    )
    from duragent.encryption import EncryptionCodec, PlaintextCodec

    if keys is None:
        return dataclasses.replace(
            pydantic_data_converter,
            payload_converter_class=CompactPayloadConverter,
            external_storage=storage,
            payload_codec=PlaintextCodec(),
            failure_converter_class=UserFacingFailureConverter,
        )

    return dataclasses.replace(
        pydantic_data_converter,
        payload_converter_class=CompactPayloadConverter,
        external_storage=storage,
        payload_codec=EncryptionCodec(keys),
        failure_converter_class=EncodedUserFacingFailureConverter,
    )
