"""The example's SQLite sales database: regions, products and six months of orders (2026 H1).

The file is ``$DURAGENT_EXAMPLE_SALES_DB`` if set, else ``sales.db`` in ``$DURAGENT_HOME``, else
``.duragent/sales.db`` under the current directory. It is generated on first use from a fixed
seed, so every clone has the same rows and the same figures. The generator draws only from
``random.Random(SEED).random()``, the one part of ``random`` whose sequence Python promises to
keep across versions.

Creation is safe when several processes start at once: each builds the file under a private
temporary name and moves it into place with ``os.replace`` (atomic), so a reader sees either no
file or a complete one. ``DATA_VERSION`` is stored as ``PRAGMA user_version``: a file from an
older generator is rebuilt, never patched.

The query tool opens the file read-only (``connect_readonly``); nothing in the example writes
to it after creation.
"""

from __future__ import annotations

import os
import random
import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

ENV_VAR = "DURAGENT_EXAMPLE_SALES_DB"
FILE_NAME = "sales.db"
SEED = 20260101
DATA_VERSION = 1
FIRST_DAY, LAST_DAY = date(2026, 1, 1), date(2026, 6, 30)

SCHEMA = """
CREATE TABLE regions (
    region_id   INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE
);
CREATE TABLE products (
    product_id  INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    category    TEXT NOT NULL,
    unit_price_cents INTEGER NOT NULL      -- list price; money as integer cents, never floats
);
CREATE TABLE orders (
    order_id    INTEGER PRIMARY KEY,
    order_date  TEXT NOT NULL,             -- ISO date, YYYY-MM-DD
    region_id   INTEGER NOT NULL REFERENCES regions(region_id),
    product_id  INTEGER NOT NULL REFERENCES products(product_id),
    channel     TEXT NOT NULL,             -- online | retail | partner
    quantity    INTEGER NOT NULL CHECK (quantity > 0),
    unit_price_cents INTEGER NOT NULL,     -- the list price on the order date
    discount_pct INTEGER NOT NULL DEFAULT 0,
    amount_cents INTEGER NOT NULL          -- what was charged: quantity x price, less discount
);
CREATE INDEX orders_by_date ON orders(order_date);
"""

REGIONS = [(1, "North"), (2, "South"), (3, "East"), (4, "West")]
PRODUCTS = [
    (1, "Laptop Pro 14", "Computers", 129900),
    (2, "Monitor 27 4K", "Displays", 32900),
    (3, "USB-C Dock", "Accessories", 14900),
    (4, "Noise-cancelling Headset", "Audio", 19900),
    (5, "Mechanical Keyboard", "Accessories", 8900),
    (6, "Wireless Mouse", "Accessories", 2900),
]  # fmt: skip

# How often each region and product is ordered, and in what quantities.
_REGION_WEIGHTS = [0.34, 0.18, 0.28, 0.20]
_PRODUCT_WEIGHTS = [0.10, 0.16, 0.14, 0.18, 0.20, 0.22]
_MAX_QUANTITY = {1: 2, 2: 3, 3: 4, 4: 4, 5: 6, 6: 10}
_CHANNELS = [("online", 0.55), ("retail", 0.30), ("partner", 0.15)]
_DISCOUNTS = [(0, 0.70), (5, 0.15), (10, 0.10), (15, 0.05)]


def database_path() -> Path:
    """``$DURAGENT_EXAMPLE_SALES_DB``, else ``$DURAGENT_HOME/sales.db``, else ``.duragent/``."""
    if explicit := os.environ.get(ENV_VAR):
        return Path(explicit)
    return Path(os.environ.get("DURAGENT_HOME") or ".duragent") / FILE_NAME


def ensure_database() -> Path:
    """The database's path, generating the file first if it is missing or out of date."""
    path = database_path()
    if _version(path) != DATA_VERSION:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, scratch = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        os.close(fd)
        try:
            with closing(sqlite3.connect(scratch)) as conn:
                _generate(conn)
            os.replace(scratch, path)  # atomic: concurrent creators write identical files
        finally:
            Path(scratch).unlink(missing_ok=True)
    return path


@contextmanager
def connect_readonly() -> Iterator[sqlite3.Connection]:
    """A read-only connection (``mode=ro``, ``query_only``) to the database, closed on exit."""
    path = ensure_database()
    uri = f"{path.resolve().as_uri()}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True, timeout=5.0)) as conn:
        conn.execute("PRAGMA query_only = ON")
        yield conn


def _version(path: Path) -> int | None:
    if not path.is_file():
        return None
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as conn:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])
    except sqlite3.DatabaseError:
        return None  # not a database (a truncated or foreign file): rebuild it


def _pick(rng: random.Random, choices: Sequence[tuple[T, float]]) -> T:
    """One value, drawn with the given probabilities (which sum to 1)."""
    roll, upto = rng.random(), 0.0
    for value, weight in choices:
        upto += weight
        if roll < upto:
            return value
    return choices[-1][0]


def generate_orders(seed: int = SEED) -> list[tuple[int, str, int, int, str, int, int, int, int]]:
    """Every order row, in date order: deterministic for a seed.

    Business grows through the half year (about 2% more orders each week) and is quieter at
    weekends; prices are the list prices, with an occasional discount.
    """
    rng = random.Random(seed)
    regions = list(zip([r for r, _ in REGIONS], _REGION_WEIGHTS, strict=True))
    products = list(zip([p for p, *_ in PRODUCTS], _PRODUCT_WEIGHTS, strict=True))
    prices = {p: price for p, _, _, price in PRODUCTS}
    rows = []
    day, order_id = FIRST_DAY, 1
    while day <= LAST_DAY:
        expected = 1.6 * (1.02 ** ((day - FIRST_DAY).days / 7)) * (0.6 if day.weekday() >= 5 else 1)
        count = int(expected * 2 * rng.random() + 0.5)
        for _ in range(count):
            region = _pick(rng, regions)
            product = _pick(rng, products)
            quantity = 1 + int(rng.random() * _MAX_QUANTITY[product])
            channel = _pick(rng, _CHANNELS)
            discount = _pick(rng, _DISCOUNTS)
            price = prices[product]
            amount = quantity * price * (100 - discount) // 100
            rows.append(
                (
                    order_id,
                    day.isoformat(),
                    region,
                    product,
                    channel,
                    quantity,
                    price,
                    discount,
                    amount,
                )
            )
            order_id += 1
        day += timedelta(days=1)
    return rows


def _generate(conn: sqlite3.Connection) -> None:
    conn.executescript(SCHEMA)
    conn.executemany("INSERT INTO regions VALUES (?, ?)", REGIONS)
    conn.executemany("INSERT INTO products VALUES (?, ?, ?, ?)", PRODUCTS)
    conn.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", generate_orders())
    conn.execute(f"PRAGMA user_version = {DATA_VERSION}")
    conn.commit()
