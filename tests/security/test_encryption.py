"""The payload codec and the stores under encryption: round trips, rotation, refusals, and no
plaintext where an operator of Temporal or of the stores could read it."""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.exceptions import ApplicationError

from duragent import Message, RunRequest
from duragent.activities._transcripts import TranscriptError, open_transcript_store
from duragent.encryption import (
    ENCODING,
    KEY_ID,
    EncryptionCodec,
    KeyRing,
    KeyRingError,
    load_key_ring,
    new_key,
)
from duragent.settings import Settings
from duragent.workers._client import key_ring
from duragent.workers._payloads import THRESHOLD, data_converter

CANARY = "canary-7f3a-plaintext"
K1, K2 = base64.b64decode(new_key()), base64.b64decode(new_key())


def ring(*ids: str, active: str | None = None) -> KeyRing:
    keys = {"k1": K1, "k2": K2}
    return KeyRing({i: keys[i] for i in ids}, active or ids[0])


async def test_round_trip_and_the_metadata_holds_no_plaintext() -> None:
    converter = data_converter("/nonexistent", ring("k1"))
    request = RunRequest(agent="support", input=f"my card is {CANARY}")
    (payload,) = await converter.encode([request])
    assert dict(payload.metadata) == {"encoding": ENCODING, KEY_ID: b"k1"}
    assert CANARY.encode() not in payload.SerializeToString()
    assert b"RunRequest" not in payload.SerializeToString()  # nor the type name
    (decoded,) = await converter.decode([payload], [RunRequest])
    assert decoded == request


async def test_rotation_old_payloads_decode_and_new_ones_use_the_new_key() -> None:
    old = EncryptionCodec(ring("k1"))
    (sealed_k1,) = await old.encode([Payload(data=CANARY.encode())])
    rotated = EncryptionCodec(ring("k2", "k1"))  # k2 added and made active; k1 kept
    (sealed_k2,) = await rotated.encode([Payload(data=b"new")])
    assert sealed_k2.metadata[KEY_ID] == b"k2"
    assert [p.data for p in await rotated.decode([sealed_k1, sealed_k2])] == [
        CANARY.encode(),
        b"new",
    ]


async def test_an_unknown_key_id_says_which_key_to_add_back() -> None:
    (sealed,) = await EncryptionCodec(ring("k1")).encode([Payload(data=b"x")])
    with pytest.raises(KeyRingError, match="key 'k1', which is not in") as caught:
        await EncryptionCodec(ring("k2")).decode([sealed])
    assert "add key 'k1' back to the ring" in str(caught.value)
    assert caught.value.key_id == "k1"


async def test_tampered_ciphertext_or_a_reused_key_id_is_refused() -> None:
    codec = EncryptionCodec(ring("k1"))
    (sealed,) = await codec.encode([Payload(data=b"refund 100")])
    tampered = Payload()
    tampered.CopyFrom(sealed)
    tampered.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    with pytest.raises(KeyRingError, match="key 'k1' failed authentication"):
        await codec.decode([tampered])
    impostor = EncryptionCodec(KeyRing({"k1": K2}, "k1"))  # another key under the same id
    with pytest.raises(KeyRingError, match="failed authentication"):
        await impostor.decode([sealed])


async def test_plaintext_payloads_still_decode() -> None:
    # Histories from before encryption was turned on, and `temporal workflow signal --input`.
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'"hi"')
    assert await EncryptionCodec(ring("k1")).decode([plain]) == [plain]


async def test_failure_messages_and_stack_traces_are_encrypted() -> None:
    converter = data_converter("/nonexistent", ring("k1"))
    try:
        raise ApplicationError(f"tool failed for {CANARY}", type="tool_error")
    except ApplicationError as exc:
        failure = Failure()
        await converter.encode_failure(exc, failure)
    assert CANARY not in failure.message and CANARY not in failure.stack_trace
    assert CANARY.encode() not in failure.SerializeToString()
    decoded = await converter.decode_failure(failure)
    assert CANARY in str(decoded)


async def test_a_large_payload_reaches_the_payload_store_encrypted(tmp_path: Path) -> None:
    converter = data_converter(tmp_path, ring("k1"))
    big = CANARY * (THRESHOLD // len(CANARY) + 10)
    (reference,) = await converter.encode([big])
    assert CANARY.encode() not in reference.SerializeToString()
    (stored,) = stored_payloads(tmp_path)
    assert stored.metadata["encoding"] == ENCODING and CANARY.encode() not in stored.data
    assert await converter.decode([reference], [str]) == [big]


def stored_payloads(folder: Path) -> list[Payload]:
    out = []
    for file in (f for f in folder.rglob("*") if f.is_file()):
        assert len(file.read_bytes()) > THRESHOLD
        out.append(Payload.FromString(file.read_bytes()))
    return out


def test_transcript_rows_are_ciphertext_and_read_back(tmp_path: Path) -> None:
    store = open_transcript_store(tmp_path / "t.db", keys=ring("k1"))
    store.write("run-1", 0, [Message(role="user", content=f"hello {CANARY}")])
    long_text = CANARY * 200
    digest = store.put_text(long_text)
    raw = sqlite3.connect(tmp_path / "t.db")
    rows = raw.execute("SELECT message FROM transcripts").fetchall()
    rows += raw.execute("SELECT body FROM texts").fetchall()
    raw.close()
    assert rows and all(r[0].startswith("enc:v1:k1:") and CANARY not in r[0] for r in rows)
    assert store.read("run-1", 1)[0].content == f"hello {CANARY}"
    assert store.text(digest) == long_text
    # After rotation the same store reads old rows; without a ring it says what is missing.
    assert open_transcript_store(tmp_path / "t.db", keys=ring("k2", "k1")).text(digest) == long_text
    with pytest.raises(TranscriptError, match="set DURAGENT_ENCRYPTION_KEYS_FILE"):
        open_transcript_store(tmp_path / "t.db").read("run-1", 1)


def test_transcript_rows_cannot_be_swapped(tmp_path: Path) -> None:
    store = open_transcript_store(tmp_path / "t.db", keys=ring("k1"))
    store.write("run-a", 0, [Message(role="user", content="refund 10")])
    store.write("run-b", 0, [Message(role="user", content="refund 9000")])
    raw = sqlite3.connect(tmp_path / "t.db", isolation_level=None)
    (theirs,) = raw.execute("SELECT message FROM transcripts WHERE key = 'run-b'").fetchone()
    raw.execute("UPDATE transcripts SET message = ? WHERE key = 'run-a'", (theirs,))
    raw.close()
    with pytest.raises(KeyRingError, match="failed authentication"):
        store.read("run-a", 1)


def test_plaintext_rows_from_before_encryption_still_read(tmp_path: Path) -> None:
    before = open_transcript_store(tmp_path / "t.db")
    before.write("run-1", 0, [Message(role="user", content="hi")])
    odd = "enc:v1:k1:" + "looks sealed but is not " * 100  # a text that merely looks sealed
    digest = before.put_text(odd)
    after = open_transcript_store(tmp_path / "t.db", keys=ring("k1"))
    assert after.read("run-1", 1)[0].content == "hi"
    assert after.text(digest) == odd


def test_key_ring_file_and_its_errors(tmp_path: Path) -> None:
    k1, k2 = new_key(), new_key()
    path = tmp_path / "keys.yaml"
    path.write_text(f"active: k2\nkeys:\n  - {{id: k2, key: {k2}}}\n  - {{id: k1, key: {k1}}}\n")
    loaded = key_ring(Settings.from_env({"DURAGENT_ENCRYPTION_KEYS_FILE": str(path)}))
    assert loaded is not None and loaded.active == "k2" and loaded.ids == ["k2", "k1"]
    assert k1 not in repr(loaded) and key_ring(Settings.from_env({})) is None
    cases = {
        f"keys:\n  - {{id: k1, key: {k1}}}\n  - {{id: k1, key: {k2}}}\n": "appears twice",
        "keys:\n  - {id: k1, key: c2hvcnQ=}\n": "is 5 bytes",
        f"active: k9\nkeys:\n  - {{id: k1, key: {k1}}}\n": "active key 'k9' is not in",
        "keys:\n  - {id: k1, key: '%%%'}\n": "not valid base64",
        "keys: []\n": "no keys",
    }
    for text, message in cases.items():
        path.write_text(text)
        with pytest.raises(KeyRingError, match=message) as caught:
            load_key_ring(path)
        assert k1 not in str(caught.value) and k2 not in str(caught.value)
    with pytest.raises(KeyRingError, match="not found"):
        load_key_ring(tmp_path / "missing.yaml")
