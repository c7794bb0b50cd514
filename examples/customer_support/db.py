"""The example's SQLite database: orders, accounts, support tickets, refunds, password resets.

The file is ``$DURAGENT_EXAMPLE_DB`` if set, else ``.duragent/customer_support.db`` under the
current directory; it is created with its schema and seed data on first use. Creation is safe
when several threads or worker processes start at once: each call opens its own connection
(with a busy timeout), and the schema is built inside one ``BEGIN IMMEDIATE`` transaction that
re-checks ``PRAGMA user_version`` after taking the write lock, so exactly one creator seeds.

Upgrades: every statement of the schema is ``CREATE ... IF NOT EXISTS`` and every seed row
``INSERT OR IGNORE``, so running the whole schema again on an older file adds what is missing and
changes nothing else. ``SCHEMA_VERSION`` counts schema changes (2 added ``refunds`` and
``password_resets``): a file with a lower ``user_version`` is brought up to date on first use.
Only ever add tables, indexes or seed rows here; a change to an existing table needs a migration.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

ENV_VAR = "DURAGENT_EXAMPLE_DB"
DEFAULT_PATH = Path(".duragent") / "customer_support.db"
SCHEMA_VERSION = 2
BUSY_TIMEOUT_S = 10.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    email       TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    plan        TEXT NOT NULL,          -- free | pro | business
    status      TEXT NOT NULL,          -- active | locked | past_due | closed
    member_since TEXT NOT NULL,
    renews_on   TEXT
);
CREATE TABLE IF NOT EXISTS orders (
    order_id    TEXT PRIMARY KEY,
    email       TEXT NOT NULL REFERENCES accounts(email),
    item        TEXT NOT NULL,
    quantity    INTEGER NOT NULL,
    total_cents INTEGER NOT NULL,       -- money as integer cents, never floats
    status      TEXT NOT NULL,          -- pending | processing | shipped | delayed | delivered
                                        -- | cancelled | refunded
    placed_on   TEXT NOT NULL,
    updated_on  TEXT NOT NULL,
    carrier     TEXT,
    tracking_number TEXT,
    estimated_delivery TEXT
);
CREATE TABLE IF NOT EXISTS tickets (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,  -- one ticket per tool step, however often retried
    subject     TEXT NOT NULL,
    details     TEXT NOT NULL,
    priority    TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'open',
    customer_email TEXT,
    agent       TEXT,
    workflow_id TEXT,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE TABLE IF NOT EXISTS refunds (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,  -- one refund per tool step, however often retried
    order_id    TEXT NOT NULL REFERENCES orders(order_id),
    amount_cents INTEGER NOT NULL CHECK (amount_cents > 0),
    reason      TEXT NOT NULL DEFAULT '',
    agent       TEXT,
    workflow_id TEXT,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE TABLE IF NOT EXISTS password_resets (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,  -- one reset per tool step, however often retried
    email       TEXT NOT NULL REFERENCES accounts(email),
    unlocked    INTEGER NOT NULL DEFAULT 0,  -- 1 when the reset lifted a sign-in lock
    agent       TEXT,
    workflow_id TEXT,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE INDEX IF NOT EXISTS orders_by_email ON orders(email);
CREATE INDEX IF NOT EXISTS refunds_by_order ON refunds(order_id);
"""

ACCOUNTS = [
    ("jane@example.com", "Jane Doe", "pro", "active", "2023-02-14", "2027-02-14"),
    ("sam@example.com", "Sam Lee", "free", "active", "2025-08-01", None),
    ("alex@example.com", "Alex Kim", "business", "locked", "2022-11-30", "2026-11-30"),
    ("maria@example.com", "Maria Garcia", "pro", "past_due", "2024-05-09", "2026-11-09"),
]

_ORDER_COLUMNS = (
    "order_id, email, item, quantity, total_cents, status, placed_on, updated_on, "
    "carrier, tracking_number, estimated_delivery"
)
ORDERS = [
    ("1001", "jane@example.com", "Wireless headphones", 1, 12999, "shipped",
     "2026-11-18", "2026-11-20", "UPS", "1Z999AA10123456784", "2026-11-25"),
    ("1002", "jane@example.com", "USB-C charging cable", 2, 2398, "delivered",
     "2026-11-02", "2026-11-06", "USPS", "9400111899223100012345", "2026-11-06"),
    ("1003", "sam@example.com", "Mechanical keyboard", 1, 8950, "processing",
     "2026-11-22", "2026-11-22", None, None, "2026-11-28"),
    ("1004", "sam@example.com", "Laptop stand", 1, 4500, "refunded",
     "2026-10-12", "2026-10-27", "FedEx", "771234567890", None),
    ("1005", "alex@example.com", "27-inch 4K monitor", 2, 75800, "delayed",
     "2026-11-10", "2026-11-19", "DHL", "JD014600006281234567", "2026-11-29"),
    ("1006", "alex@example.com", "Ergonomic office chair", 1, 34900, "delivered",
     "2026-10-03", "2026-10-09", "FedEx", "771234567891", "2026-10-09"),
    ("1007", "maria@example.com", "Noise-cancelling earbuds", 1, 19900, "pending",
     "2026-11-23", "2026-11-23", None, None, None),
    ("1008", "maria@example.com", "Phone case", 3, 5997, "cancelled",
     "2026-11-01", "2026-11-01", None, None, None),
    ("1009", "jane@example.com", "Smart watch", 1, 24900, "shipped",
     "2026-11-19", "2026-11-21", "FedEx", "771234567892", "2026-11-24"),
    ("1010", "sam@example.com", "Webcam 1080p", 1, 6999, "delivered",
     "2026-09-15", "2026-09-19", "UPS", "1Z999AA10123456785", "2026-09-19"),
    ("1011", "alex@example.com", "Docking station", 1, 21900, "processing",
     "2026-11-21", "2026-11-23", None, None, "2026-11-27"),
    ("1012", "maria@example.com", "Portable SSD 1 TB", 1, 10999, "shipped",
     "2026-11-20", "2026-11-22", "USPS", "9400111899223100067890", "2026-11-26"),
]  # fmt: skip


def database_path() -> Path:
    """Where the database lives: ``$DURAGENT_EXAMPLE_DB``, else ``.duragent/`` in the cwd."""
    return Path(os.environ.get(ENV_VAR) or DEFAULT_PATH)


@contextmanager
def connect() -> Iterator[sqlite3.Connection]:
    """A fresh connection to an initialized database, closed on exit.

    The connection is in autocommit mode: single statements commit at once; use
    ``transaction(conn)`` to group writes.
    """
    path = database_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)) as conn:
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys = ON")
        if conn.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
            _initialize(conn)
        yield conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on error): takes the write lock up front."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _initialize(conn: sqlite3.Connection) -> None:
    with transaction(conn):
        # Another process may have initialized the file while we waited for the lock; a newer
        # file (from a later version of the example) already has everything this one needs.
        if conn.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION:
            return
        for statement in SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.executemany("INSERT OR IGNORE INTO accounts VALUES (?, ?, ?, ?, ?, ?)", ACCOUNTS)
        conn.executemany(
            f"INSERT OR IGNORE INTO orders ({_ORDER_COLUMNS}) VALUES ({', '.join('?' * 11)})",
            ORDERS,
        )
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
