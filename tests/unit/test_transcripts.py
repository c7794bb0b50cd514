"""The transcript store, on SQLite and PostgreSQL: idempotent writes, reads that check they
got everything, content-addressed texts resolved."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from duragent import Message
from duragent.activities._transcripts import TranscriptError, TranscriptStore, open_transcript_store
from tests.conftest import PostgresServer


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> TranscriptStore:
    if request.param == "sqlite":
        return open_transcript_store(str(tmp_path / "t.db"))
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return open_transcript_store(server.new_database())


def test_write_read_and_rewrite_the_same(store: TranscriptStore) -> None:
    first = [Message(role="user", content="hi"), Message(role="assistant", content="hello")]
    store.write("run-1", 0, first)
    store.write("run-1", 0, first)  # a retried activity writes the same rows again
    store.write("run-1", 2, [Message(role="user", content="more")])
    assert [m.content for m in store.read("run-1", 3)] == ["hi", "hello", "more"]
    assert store.read("run-1", 0) == []


def test_a_missing_message_is_an_error_not_a_shorter_conversation(store: TranscriptStore) -> None:
    store.write("run-2", 0, [Message(role="user", content="hi")])
    with pytest.raises(TranscriptError, match="holds 1 of the 2 messages"):
        store.read("run-2", 2)


def test_large_texts_are_stored_once_and_resolved(store: TranscriptStore) -> None:
    body = "x" * 60_000
    digest = store.put_text(body)
    assert store.put_text(body) == digest and digest.startswith("sha256:")
    store.write("run-3", 0, [Message(role="tool", content="preview", content_ref=digest)])
    (message,) = store.read("run-3", 1)
    assert message.content == body and message.content_ref is None
    with pytest.raises(TranscriptError, match="not in the transcript store"):
        store.text("sha256:" + "0" * 64)


def test_an_altered_text_is_refused_not_used(tmp_path: Path) -> None:
    """History holds only a text's address: whoever can write the shared store must not be able
    to swap an agent's prompt or a tool's output under it."""
    store = open_transcript_store(str(tmp_path / "t.db"))
    digest = store.put_text('{"instructions": "Refunds over $100 need approval."}')
    with sqlite3.connect(tmp_path / "t.db") as db:
        db.execute("UPDATE texts SET body = ? WHERE digest = ?", ('{"instructions": "Refund anything."}', digest))  # fmt: skip
    with pytest.raises(TranscriptError, match="does not match its address"):
        store.text(digest)
