"""Where audit records live: the ``AuditLog`` interface, the SQL algorithm, and SQLite.

Invariants every backend keeps:

- **Append-only, chained.** Records get consecutive sequence numbers and each hash covers the
  previous one (see ``_chain``); triggers refuse UPDATE and DELETE on the records, so only a
  deliberate edit can change them, and ``verify`` reports that edit.
- **Exactly once.** A record is keyed by ``(workflow_id, run_id, step_id)``. Re-appending a key
  with the same content is a no-op, so a retried activity never writes twice; re-appending it
  with different content raises ``AuditConflictError`` instead of being silently accepted.
- **Serialized.** A batch is appended in one write transaction that holds the log's write lock
  from reading the head to updating it, so threads and processes never fork the chain.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self

from duragent._sqlite import enable_wal
from duragent._stores import UnsupportedStoreError, parse_store_location
from duragent.audit._chain import (
    COLUMNS,
    GENESIS,
    ChainWalk,
    Row,
    canonical_json,
    chain_hash,
    same_content,
    utc_iso,
)
from duragent.audit._model import AuditConflictError, AuditEntry, AuditError, VerifyReport

TABLE = "duragent_audit"
HEAD = "duragent_audit_head"
IMMUTABLE = "duragent audit records are append-only"
PAGE = 1000
"""Rows per query in ``verify`` and ``export``, so neither holds a whole log in memory."""
DEFAULT_LOCATION = ".duragent/audit.db"


class AuditLog(ABC):
    """An append-only, hash-chained log of audit records. Use as a context manager."""

    @abstractmethod
    def append(self, entries: Iterable[AuditEntry]) -> int:
        """Write the entries not yet recorded, in order; return how many were newly written.

        Raises ``AuditConflictError`` when a key already exists with different content; then
        nothing of the batch is written.
        """

    @abstractmethod
    def verify(self) -> VerifyReport:
        """Walk the whole chain and report every modified, missing or out-of-place record."""

    @abstractmethod
    def export(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        workflow_id: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Records in seq order, recorded in ``[since, until)``; naive datetimes mean UTC.

        Each is a dict of ``seq, workflow_id, run_id, step_id, recorded_at, prev_hash, hash``
        and ``entry`` (the ``AuditEntry`` as JSON data).
        """

    def records_for(self, workflow_id: str) -> list[dict[str, Any]]:
        """Every record of one workflow (all its runs), in seq order."""
        return list(self.export(workflow_id=workflow_id))

    @abstractmethod
    def close(self) -> None:
        """Release the connection. Calling it twice is fine."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class Db(Protocol):
    """What the shared algorithm needs from a connection inside a transaction."""

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement (``?`` placeholders) and return its rows, if any."""
        ...

    def now(self) -> datetime:
        """The time to stamp on the records being appended."""
        ...


class SqlAuditLog(AuditLog):
    """The algorithm over any SQL database; subclasses provide the transactions."""

    @abstractmethod
    def _write(self) -> AbstractContextManager[Db]:
        """A transaction holding the log's write lock until it commits or rolls back."""

    @abstractmethod
    def _read(self) -> AbstractContextManager[Db]:
        """A read-only transaction over one consistent snapshot."""

    def append(self, entries: Iterable[AuditEntry]) -> int:
        batch = [(entry, canonical_json(entry)) for entry in entries]
        if not batch:
            return 0
        written = 0
        with self._write() as db:
            head = db.rows(f"SELECT last_seq, last_hash FROM {HEAD} WHERE id = 1")
            if not head:
                raise AuditError(
                    f"the audit log's head row ({HEAD}) is missing: the log was damaged or "
                    "tampered with; run `duragent audit verify` and restore it from a backup"
                )
            seq, last_hash = int(head[0][0]), str(head[0][1])
            recorded_at = utc_iso(db.now())
            for entry, text in batch:
                existing = db.rows(
                    f"SELECT entry_json FROM {TABLE} "
                    "WHERE workflow_id = ? AND run_id = ? AND step_id = ?",
                    entry.key,
                )
                if existing:
                    if not same_content(existing[0][0], entry, text):
                        raise AuditConflictError(*entry.key)
                    continue
                seq, prev_hash = seq + 1, last_hash
                last_hash = chain_hash(prev_hash, seq, recorded_at, text)
                db.rows(
                    f"INSERT INTO {TABLE} ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (seq, *entry.key, recorded_at, text, prev_hash, last_hash),
                )
                written += 1
            if written:
                db.rows(
                    f"UPDATE {HEAD} SET last_seq = ?, last_hash = ? WHERE id = 1", (seq, last_hash)
                )
        return written

    def verify(self) -> VerifyReport:
        walk = ChainWalk()
        with self._read() as db:
            head = db.rows(f"SELECT last_seq, last_hash FROM {HEAD} WHERE id = 1")
            after: int | None = None
            while True:
                page = _page(db, "", (), after)
                for row in page:
                    walk.add(row)
                if len(page) < PAGE:
                    break
                after = page[-1].seq
        return walk.finish((int(head[0][0]), str(head[0][1])) if head else None)

    def export(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        workflow_id: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        where, params = "", []
        if since is not None:
            where += " AND recorded_at >= ?"
            params.append(utc_iso(since))
        if until is not None:
            where += " AND recorded_at < ?"
            params.append(utc_iso(until))
        if workflow_id is not None:
            where += " AND workflow_id = ?"
            params.append(workflow_id)
        after: int | None = None
        while True:
            # One short transaction per page: a consumer that stops early leaves nothing open.
            with self._read() as db:
                page = _page(db, where, params, after)
            for row in page:
                yield row.as_dict()
            if len(page) < PAGE:
                return
            after = page[-1].seq


def _page(db: Db, where: str, params: Sequence[Any], after: int | None) -> list[Row]:
    """Up to ``PAGE`` rows with ``seq > after``, in seq order."""
    keyset = ("AND seq > ?", (after,)) if after is not None else ("", ())
    rows = db.rows(
        f"SELECT {COLUMNS} FROM {TABLE} WHERE 1 = 1 {keyset[0]}{where} ORDER BY seq LIMIT ?",
        (*keyset[1], *params, PAGE),
    )
    return [Row(int(v[0]), *(str(x) for x in v[1:])) for v in rows]


_SQLITE_SCHEMA = (
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        seq INTEGER PRIMARY KEY,
        workflow_id TEXT NOT NULL,
        run_id TEXT NOT NULL,
        step_id TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        entry_json TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL,
        UNIQUE (workflow_id, run_id, step_id)
    )""",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_recorded_at ON {TABLE} (recorded_at)",
    f"""CREATE TABLE IF NOT EXISTS {HEAD} (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        last_seq INTEGER NOT NULL,
        last_hash TEXT NOT NULL
    )""",
    # A fresh log only: a log whose head row was deleted must stay visibly broken.
    f"""INSERT INTO {HEAD} (id, last_seq, last_hash)
        SELECT 1, 0, '{GENESIS}'
        WHERE NOT EXISTS (SELECT 1 FROM {HEAD}) AND NOT EXISTS (SELECT 1 FROM {TABLE})""",
    f"""CREATE TRIGGER IF NOT EXISTS {TABLE}_no_update BEFORE UPDATE ON {TABLE}
        BEGIN SELECT RAISE(ABORT, '{IMMUTABLE}'); END""",
    f"""CREATE TRIGGER IF NOT EXISTS {TABLE}_no_delete BEFORE DELETE ON {TABLE}
        BEGIN SELECT RAISE(ABORT, '{IMMUTABLE}'); END""",
)


class _SQLiteDb:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._conn.execute(sql, params).fetchall()

    def now(self) -> datetime:
        return datetime.now(UTC)


class SQLiteAuditLog(SqlAuditLog):
    """The audit log in one SQLite file (WAL mode): safe across threads and processes on a host.

    One connection per instance, used by one thread at a time; other processes are kept out
    by SQLite's own lock (``BEGIN IMMEDIATE``), waiting up to ``timeout_s`` for it.
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(
            self.path, timeout=timeout_s, isolation_level=None, check_same_thread=False
        )
        try:
            enable_wal(self._conn, timeout_s)
            with self._transaction("BEGIN IMMEDIATE") as db:
                for statement in _SQLITE_SCHEMA:
                    db.rows(statement)
        except BaseException:
            self._conn.close()
            raise

    def __repr__(self) -> str:
        return f"SQLiteAuditLog({str(self.path)!r})"

    @contextmanager
    def _transaction(self, begin: str) -> Iterator[Db]:
        with self._lock:
            self._conn.execute(begin)
            try:
                yield _SQLiteDb(self._conn)
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    def _write(self) -> AbstractContextManager[Db]:
        return self._transaction("BEGIN IMMEDIATE")

    def _read(self) -> AbstractContextManager[Db]:
        # In WAL mode a deferred transaction reads one snapshot from its first SELECT on.
        return self._transaction("BEGIN")

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def default_audit_log_location(env: Mapping[str, str] | None = None) -> str:
    """``DURAGENT_AUDIT_LOG`` if set, else ``.duragent/audit.db``."""
    env = os.environ if env is None else env
    return env.get("DURAGENT_AUDIT_LOG") or DEFAULT_LOCATION


def open_audit_log(url_or_path: str | os.PathLike[str], *, create: bool = True) -> AuditLog:
    """Open an audit log: ``postgresql://…`` (PostgreSQL), ``sqlite:///path`` or a plain path.

    With ``create=False`` a SQLite file that does not exist is an error rather than a new log.
    """
    try:
        location = parse_store_location(url_or_path, what="audit log")
    except UnsupportedStoreError as exc:
        raise AuditError(str(exc)) from None
    if location.kind == "postgres":
        from duragent.audit._postgres import PostgresAuditLog

        return PostgresAuditLog(location.target)
    path = Path(location.target).expanduser()
    if not create and not path.exists():
        raise AuditError(
            f"no audit log at {path}: pass --log, or set DURAGENT_AUDIT_LOG to the log workers "
            "write to"
        )
    return SQLiteAuditLog(path)
