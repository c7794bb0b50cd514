"""The transcript store the workers share: content-addressed texts and each run's message list.

SQLite by default (a file every worker on the host opens; WAL, ``BEGIN IMMEDIATE``);
PostgreSQL for workers on several hosts (``postgresql://…``). Writes are
idempotent: texts by their content address, transcript positions by (key, position), so a retried
activity, or two workers racing on one run, write the same rows. The workflow decides what each
position holds (its history is the truth), so a rewrite of a position with other content only
happens on replay after a change, and the workflow's version wins.

With a key ring (``DURAGENT_ENCRYPTION_KEYS_FILE``) texts and messages are stored sealed with
the same AES-GCM keys as Temporal's payloads, as ``enc:v1:<key id>:<base64>``, each bound to its
row (a text to its digest, a message to its transcript key and position) so rows cannot be
swapped. Rows written before encryption was turned on still read. Digests stay sha256 of the
plaintext: the store must find a text by its address, and the address travels inside encrypted
payloads only; what a digest tells a reader of the store is whether a text equals one they can
guess exactly (tool outputs over 2 KB), and which runs share a text.
"""

from __future__ import annotations

import base64
import contextlib
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from duragent._messages import Message
from duragent._sqlite import enable_wal
from duragent._stores import UnsupportedStoreError, parse_store_location
from duragent._transcript import content_digest

if TYPE_CHECKING:
    from duragent.encryption import KeyRing

_TIMEOUT_S = 10.0
_SCHEMA = """
CREATE TABLE IF NOT EXISTS texts (digest TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS transcripts (
    key TEXT NOT NULL, position INTEGER NOT NULL, message TEXT NOT NULL,
    PRIMARY KEY (key, position)
);
"""


_SEALED = "enc:v1:"


class TranscriptError(RuntimeError):
    """The store does not hold what a request refers to (another store, or data lost)."""


class _Sealing:
    """Encryption of stored values with the key ring, when there is one."""

    keys: KeyRing | None = None

    def _seal(self, value: str, aad: str) -> str:
        if self.keys is None:
            return value
        key_id, blob = self.keys.encrypt(value.encode(), aad.encode())
        return f"{_SEALED}{key_id}:{base64.b64encode(blob).decode()}"

    def _open(self, stored: str, aad: str, what: str) -> str:
        if not stored.startswith(_SEALED):
            return stored
        key_id, _, blob = stored[len(_SEALED) :].partition(":")
        if self.keys is None:
            raise TranscriptError(
                f"{what} in the transcript store is encrypted (key {key_id!r}) and this worker "
                "has no key ring: set DURAGENT_ENCRYPTION_KEYS_FILE as on the other workers"
            )
        return self.keys.decrypt(
            key_id, base64.b64decode(blob), aad.encode(), what=f"{what} in the transcript store"
        ).decode()

    def _seal_message(self, key: str, position: int, message: Message) -> str:
        return self._seal(message.model_dump_json(), f"{key}\x00{position}")

    def _open_message(self, key: str, position: int, stored: str) -> Message:
        text = self._open(stored, f"{key}\x00{position}", f"message {position} of {key!r}")
        return Message.model_validate_json(text)

    def _open_text(self, digest: str, stored: str) -> str:
        if stored.startswith(_SEALED) and content_digest(stored) == digest:
            return stored  # a plaintext text that merely starts like a sealed one
        text = self._open(stored, digest, f"text {digest}")
        if content_digest(text) != digest:
            # Content-addressed: a row whose body is not what its address names was altered
            # (prompts and tool outputs are read from here; history only holds the address).
            raise TranscriptError(
                f"text {digest} in the transcript store does not match its address: the row "
                "was altered; restore the store, or let the worker that wrote it resend it"
            )
        return text


class TranscriptStore(_Sealing):
    """The SQLite store (the base of the PostgreSQL one: same rows, same checks)."""

    def __init__(self, path: str | Path, *, keys: KeyRing | None = None) -> None:
        self.keys = keys
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._connect() as db:
            enable_wal(db, _TIMEOUT_S)
            db.executescript(_SCHEMA)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # A connection per thread, kept: activities call in from worker threads, and closing a
        # file's last connection checkpoints and truncates the WAL, an fsync or two (a write
        # took 0.9 ms through a fresh connection, 0.15 ms through a kept one).
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = sqlite3.connect(
                self.path, timeout=_TIMEOUT_S, isolation_level=None
            )
        yield db

    def put_text(self, text: str) -> str:
        """Store a text; return its content address."""
        digest = content_digest(text)
        with self._connect() as db:
            db.execute(
                "INSERT OR IGNORE INTO texts VALUES (?, ?)", (digest, self._seal(text, digest))
            )
        return digest

    def text(self, digest: str) -> str:
        with self._connect() as db:
            row = db.execute("SELECT body FROM texts WHERE digest = ?", (digest,)).fetchone()
        if row is None:
            raise TranscriptError(f"text {digest} is not in the transcript store at {self.path}")
        return self._open_text(digest, str(row[0]))

    def write(self, key: str, start: int, messages: Sequence[Message]) -> None:
        """Messages at positions ``start``, ``start + 1``, ...: written, or rewritten the same."""
        if not messages:
            return
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(
                    "INSERT OR REPLACE INTO transcripts VALUES (?, ?, ?)",
                    [
                        (key, start + i, self._seal_message(key, start + i, m))
                        for i, m in enumerate(messages)
                    ],
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def read(self, key: str, upto: int) -> list[Message]:
        """Messages ``[0, upto)`` of a transcript, their referenced texts resolved."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT position, message FROM transcripts WHERE key = ? AND position < ? "
                "ORDER BY position",
                (key, upto),
            ).fetchall()
        if len(rows) != upto or any(row[0] != i for i, row in enumerate(rows)):
            raise TranscriptError(
                f"transcript {key!r} holds {len(rows)} of the {upto} messages the run refers to; "
                f"do all workers share the store at {self.path}?"
            )
        return [self.resolve(self._open_message(key, row[0], row[1])) for row in rows]

    def resolve(self, message: Message) -> Message:
        """The message with its full content, when it holds a reference."""
        if message.content_ref is None:
            return message
        return message.model_copy(
            update={"content": self.text(message.content_ref), "content_ref": None}
        )


class PostgresTranscriptStore(TranscriptStore):
    """The same store in PostgreSQL, for workers on several hosts."""

    def __init__(self, dsn: str, *, keys: KeyRing | None = None) -> None:
        self.keys = keys
        try:
            import psycopg
        except ImportError:
            raise RuntimeError(
                "a PostgreSQL transcript store needs psycopg: pip install 'duragent[postgres]'"
            ) from None
        self._psycopg = psycopg
        self.path = Path(dsn.split("@")[-1])  # for messages; never the password
        self._dsn = dsn
        with self._connect() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS duragent_texts (digest TEXT PRIMARY KEY, body TEXT NOT NULL)"
            )
            db.execute(
                "CREATE TABLE IF NOT EXISTS duragent_transcripts (key TEXT NOT NULL, "
                "position INTEGER NOT NULL, message TEXT NOT NULL, PRIMARY KEY (key, position))"
            )

    @contextlib.contextmanager
    def _connect(self) -> Iterator[Any]:
        with self._psycopg.connect(self._dsn, autocommit=True) as db:
            yield db

    def put_text(self, text: str) -> str:
        digest = content_digest(text)
        with self._connect() as db:
            db.execute(
                "INSERT INTO duragent_texts VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (digest, self._seal(text, digest)),
            )
        return digest

    def text(self, digest: str) -> str:
        with self._connect() as db:
            row = db.execute(
                "SELECT body FROM duragent_texts WHERE digest = %s", (digest,)
            ).fetchone()
        if row is None:
            raise TranscriptError(f"text {digest} is not in the transcript store")
        return self._open_text(digest, str(row[0]))

    def write(self, key: str, start: int, messages: Sequence[Message]) -> None:
        if not messages:
            return
        with self._connect() as db, db.transaction():
            db.cursor().executemany(
                "INSERT INTO duragent_transcripts VALUES (%s, %s, %s) ON CONFLICT (key, position) "
                "DO UPDATE SET message = EXCLUDED.message",
                [
                    (key, start + i, self._seal_message(key, start + i, m))
                    for i, m in enumerate(messages)
                ],
            )

    def read(self, key: str, upto: int) -> list[Message]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT position, message FROM duragent_transcripts WHERE key = %s AND position < %s "
                "ORDER BY position",
                (key, upto),
            ).fetchall()
        if len(rows) != upto or any(row[0] != i for i, row in enumerate(rows)):
            raise TranscriptError(
                f"transcript {key!r} holds {len(rows)} of the {upto} messages the run refers to"
            )
        return [self.resolve(self._open_message(key, row[0], row[1])) for row in rows]


def open_transcript_store(location: str | Path, *, keys: KeyRing | None = None) -> TranscriptStore:
    """``postgresql://…`` opens PostgreSQL; anything else is a SQLite file path. With ``keys``
    the store writes ciphertext."""
    try:
        where = parse_store_location(location, what="transcript store")
    except UnsupportedStoreError as exc:
        raise TranscriptError(str(exc)) from None
    if where.kind == "postgres":
        return PostgresTranscriptStore(where.target, keys=keys)
    return TranscriptStore(where.target, keys=keys)
