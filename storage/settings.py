"""Settings kept in the database (the deploy approval policy): one row per key, with who set it and when."""
from __future__ import annotations

from sqlite_utils import Database

from storage.db import now, write


def get(db: Database, key: str) -> dict | None:
    rows = list(db.query("SELECT * FROM settings WHERE key = ?", [key]))
    return dict(rows[0]) if rows else None


def upsert(db: Database, key: str, value: str, by: str, at: str) -> None:
    """Set one key (no transaction of its own: inside the caller's `write`)."""
    db.execute("INSERT INTO settings (key, value, set_by, set_at) VALUES (?, ?, ?, ?) ON CONFLICT(key) DO UPDATE"
               " SET value = excluded.value, set_by = excluded.set_by, set_at = excluded.set_at",
               [key, value, by, at])


def put(db: Database, key: str, value: str, by: str) -> dict:
    with write(db):
        upsert(db, key, value, by, now())
    return get(db, key)
