"""SQLite files that several worker processes share (the audit log, the transcript store)."""

from __future__ import annotations

import sqlite3
import time


def enable_wal(conn: sqlite3.Connection, timeout_s: float) -> None:
    """Put the database in WAL mode, waiting out other processes.

    Right after a worker sharing the file was killed, the next one to open it recovers the
    write-ahead log under an exclusive lock, and SQLite answers "database is locked" at once
    instead of waiting in its busy handler: retry until the timeout.
    """
    deadline = time.monotonic() + timeout_s
    delay = 0.02
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
