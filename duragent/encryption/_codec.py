"""The payload codec: every Temporal payload sealed with AES-256-GCM under the ring's active key.

A payload's whole protobuf (its data *and* its metadata, such as ``encoding: json/plain`` or a
pydantic type name) becomes the ciphertext; the encrypted payload's metadata holds only
``encoding: binary/encrypted`` and ``encryption-key-id: <id>``, so the server and a history export
see no plaintext but which key to ask for.

The SDK applies the codec before external storage, so payloads over 256 KiB reach the payload
store already encrypted. Payloads that are not encrypted (sent before encryption was turned on,
or by a tool such as ``temporal workflow signal --input``) decode as they are.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from duragent.encryption._keys import SETTING, KeyRing, KeyRingError

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
_AAD = b"duragent/payload/v1"
log = structlog.get_logger("duragent.encryption")


class _Lenient:
    """A worker's codec must not raise on a payload it cannot decode.

    The SDK decodes a workflow activation (every signal and update input in it) before any
    handler runs; a raise there fails the workflow task, and since the payload stays in history,
    every retry fails too: one signal with a forged ciphertext (or an encrypted one sent to a
    worker without the ring) would wedge the run for good. So a worker's codec (``lenient``,
    set by ``build_worker``) logs and passes such a payload on undecoded: the payload converter
    then fails inside the handler, where a signal is dropped and an update refused, and the
    run goes on. Clients stay strict, so ``duragent show`` says what is missing.
    """

    lenient = False

    def _undecodable(self, payload: Payload, problem: Exception) -> Payload:
        if not self.lenient:
            raise problem
        key_id = payload.metadata.get(KEY_ID, b"?").decode(errors="replace")
        log.warning("payload left undecoded", key_id=key_id[:40], problem=str(problem)[:300])
        return payload


class EncryptionCodec(_Lenient, PayloadCodec):
    """Encrypts with ``keys.active``; decrypts with whichever key a payload names."""

    def __init__(self, keys: KeyRing) -> None:
        self.keys = keys

    def encrypt(self, payload: Payload) -> Payload:
        key_id, blob = self.keys.encrypt(payload.SerializeToString(deterministic=True), _AAD)
        return Payload(metadata={"encoding": ENCODING, KEY_ID: key_id.encode()}, data=blob)

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        raw_id = payload.metadata.get(KEY_ID)
        if raw_id is None:
            raise KeyRingError(
                f"an encrypted payload carries no {KEY_ID!r}: it was written by another codec, "
                "not duragent's; decode it with that codec"
            )
        key_id = raw_id.decode(errors="replace")
        decrypted = Payload()
        decrypted.ParseFromString(self.keys.decrypt(key_id, payload.data, _AAD))
        return decrypted

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for payload in payloads:
            try:
                out.append(self.decrypt(payload))
            except Exception as problem:  # a forged blob, an unknown key, a corrupt protobuf
                out.append(self._undecodable(payload, problem))
        return out


class PlaintextCodec(_Lenient, PayloadCodec):
    """The codec of a client or worker without a key ring: encodes nothing, and meeting an
    encrypted payload says which setting is missing instead of "Unknown payload encoding"."""

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        for payload in payloads:
            if payload.metadata.get("encoding") == ENCODING:
                key_id = payload.metadata.get(KEY_ID, b"?").decode(errors="replace")
                problem = KeyRingError(
                    f"a payload is encrypted (key {key_id!r}) and encryption is off here: set "
                    f"{SETTING} to the key ring the workers use",
                    key_id=key_id,
                )
                self._undecodable(payload, problem)
        return list(payloads)
