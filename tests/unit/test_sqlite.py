"""WAL mode on a file another process holds: wait for it, within the timeout."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from duragent._sqlite import enable_wal


def locked(path: Path) -> sqlite3.Connection:
    """Another process's connection, holding the file's exclusive lock (as WAL recovery does)."""
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    return holder


def test_wal_waits_for_the_lock_to_go(tmp_path: Path) -> None:
    holder = locked(tmp_path / "shared.db")
    release = threading.Timer(0.3, holder.execute, ["COMMIT"])
    release.start()
    # timeout=0: SQLite's busy handler does not wait, as it does not during WAL recovery.
    conn = sqlite3.connect(tmp_path / "shared.db", timeout=0, isolation_level=None)
    enable_wal(conn, timeout_s=5)
    release.join()
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_wal_gives_up_at_the_timeout(tmp_path: Path) -> None:
    holder = locked(tmp_path / "shared.db")
    conn = sqlite3.connect(tmp_path / "shared.db", timeout=0, isolation_level=None)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        enable_wal(conn, timeout_s=0.2)
    holder.execute("COMMIT")
