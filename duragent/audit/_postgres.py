"""The audit log in PostgreSQL, for deployments that have one (``postgresql://…``).

Same tables, chain and semantics as SQLite. Appends are serialized across every worker by
``LOCK TABLE … IN EXCLUSIVE MODE`` (readers are not blocked); record times come from the
database's clock, so workers on different hosts stamp records in seq order. Needs psycopg 3:
``pip install 'psycopg[binary]'``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from duragent.audit._chain import GENESIS
from duragent.audit._model import AuditError
from duragent.audit._store import HEAD, IMMUTABLE, TABLE, Db, SqlAuditLog

if TYPE_CHECKING:
    import psycopg

SCHEMA_LOCK = 0x6475726167656E74  # "durag" "ent": one advisory lock id for creating the tables

_SCHEMA = (
    f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK})",
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        seq BIGINT PRIMARY KEY,
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
        last_seq BIGINT NOT NULL,
        last_hash TEXT NOT NULL
    )""",
    # A fresh log only: a log whose head row was deleted must stay visibly broken.
    f"""INSERT INTO {HEAD} (id, last_seq, last_hash)
        SELECT 1, 0, '{GENESIS}'
        WHERE NOT EXISTS (SELECT 1 FROM {HEAD}) AND NOT EXISTS (SELECT 1 FROM {TABLE})""",
    f"""CREATE OR REPLACE FUNCTION {TABLE}_immutable() RETURNS trigger LANGUAGE plpgsql AS
        $$ BEGIN RAISE EXCEPTION '{IMMUTABLE}'; END $$""",
    f"""CREATE OR REPLACE TRIGGER {TABLE}_no_change BEFORE UPDATE OR DELETE ON {TABLE}
        FOR EACH ROW EXECUTE FUNCTION {TABLE}_immutable()""",
    f"""CREATE OR REPLACE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE}
        FOR EACH STATEMENT EXECUTE FUNCTION {TABLE}_immutable()""",
)


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise AuditError(
            "pip install 'psycopg[binary]' to use a PostgreSQL audit log "
            "(or point DURAGENT_AUDIT_LOG at a SQLite file)"
        ) from None
    return psycopg


class _PgDb:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cursor = self._conn.execute(sql.replace("?", "%s") if params else sql, params)
        return cursor.fetchall() if cursor.description else []

    def now(self) -> datetime:
        value = self._conn.execute("SELECT clock_timestamp()").fetchone()
        assert value is not None
        moment: datetime = value[0]
        return moment


class PostgresAuditLog(SqlAuditLog):
    """The audit log in PostgreSQL; one connection per instance, reconnected when it breaks."""

    def __init__(self, dsn: str, *, connect_timeout_s: int = 10) -> None:
        self._psycopg = _psycopg()
        self._dsn = dsn
        self._connect_timeout_s = connect_timeout_s
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[Any] | None = None
        try:
            with self._transaction("BEGIN") as db:
                for statement in _SCHEMA:
                    db.rows(statement)
        except self._psycopg.OperationalError as exc:
            self.close()
            raise AuditError(f"cannot open the PostgreSQL audit log: {exc}") from None
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        return "PostgresAuditLog(...)"  # the DSN may hold a password

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            if self._conn is not None:
                self._conn.close()
            self._conn = self._psycopg.connect(
                self._dsn, autocommit=True, connect_timeout=self._connect_timeout_s
            )
        return self._conn

    @contextmanager
    def _transaction(self, begin: str, *statements: str) -> Iterator[Db]:
        with self._lock:
            conn = self._connection()
            conn.execute(begin)
            try:
                for statement in statements:
                    conn.execute(statement)
                yield _PgDb(conn)
                conn.execute("COMMIT")
            except BaseException:
                if not conn.closed and not conn.broken:
                    conn.execute("ROLLBACK")
                raise

    def _write(self) -> AbstractContextManager[Db]:
        # EXCLUSIVE blocks other writers until commit and lets readers (verify, export) through.
        return self._transaction("BEGIN", f"LOCK TABLE {TABLE} IN EXCLUSIVE MODE")

    def _read(self) -> AbstractContextManager[Db]:
        return self._transaction("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
