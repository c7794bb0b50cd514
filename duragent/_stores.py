"""Where a store lives, from the one string a user writes: the audit log and the transcript store.

``postgresql://…`` (or ``postgres://…``) is PostgreSQL; ``sqlite:///path`` or a plain path is a
SQLite file. Any other ``scheme://`` is refused rather than taken as a path: taken as one,
``postgresql+psycopg://user:pw@host/db`` became a local SQLite file named with the password,
and workers silently stopped sharing their store. Pure: parsing only, nothing is opened.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

__all__ = ["StoreLocation", "UnsupportedStoreError", "parse_store_location"]

_POSTGRES = ("postgresql://", "postgres://")
_SQLITE = "sqlite:///"


class UnsupportedStoreError(ValueError):
    """A location with a scheme no store supports. The message never holds the rest of the URL,
    which may carry a password."""


@dataclass(frozen=True, kw_only=True)
class StoreLocation:
    """A parsed store location: a PostgreSQL DSN, or a SQLite file path."""

    kind: Literal["postgres", "sqlite"]
    target: str
    """The DSN as written (``postgres``), or the file path without ``sqlite:///`` (``sqlite``)."""


def parse_store_location(location: str | os.PathLike[str], *, what: str) -> StoreLocation:
    """Parse ``location``; ``what`` names the store in the error ("audit log")."""
    text = os.fspath(location)
    if text.startswith(_POSTGRES):
        return StoreLocation(kind="postgres", target=text)
    if text.startswith(_SQLITE):
        return StoreLocation(kind="sqlite", target=text.removeprefix(_SQLITE))
    if "://" in text:
        scheme = text.split("://", 1)[0][:40]  # the rest may hold a password
        raise UnsupportedStoreError(
            f"unsupported {what} scheme {scheme!r}: use a file path, sqlite:///path or "
            "postgresql://user@host/db"
        )
    return StoreLocation(kind="sqlite", target=text)
