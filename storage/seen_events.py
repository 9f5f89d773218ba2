"""Slack delivery de-duplication that survives restarts: one delivery → one action."""
from __future__ import annotations

import sqlite3

from sqlite_utils import Database

from storage.db import now, write


def first_time(db: Database, *keys: str) -> bool:
    """Record every key; True only if none of them was seen before."""
    keys = tuple(k for k in keys if k)
    if not keys:
        return True
    with write(db):
        seen = db.execute(f"SELECT COUNT(*) FROM seen_deliveries WHERE key IN ({','.join('?' * len(keys))})",
                          list(keys)).fetchone()[0]
        for k in keys:
            db.execute("INSERT OR IGNORE INTO seen_deliveries (key, at) VALUES (?, ?)", [k, now()])
    return seen == 0


def prune(db: Database, older_than: str) -> int:
    with write(db):
        return db.execute("DELETE FROM seen_deliveries WHERE at < ?", [older_than]).rowcount
