"""Registered datasets."""
from __future__ import annotations

import sqlite3

from sqlite_utils import Database

from storage.db import dumps, loads, now, write
from storage.errors import Conflict, Missing

_JSON = ("labels", "label_counts", "split", "pii")


def _decode(row: dict) -> dict:
    row = dict(row)
    for k in _JSON:
        row[k] = loads(row.get(k), {} if k != "labels" else [])
    return row


def insert(db: Database, record: dict) -> dict:
    """Insert one dataset row. `record` holds the columns of `datasets` (JSON fields as Python values)."""
    rec = {k: (dumps(v) if k in _JSON else v) for k, v in record.items()}
    rec.setdefault("created_at", now())
    try:
        with write(db):
            db["datasets"].insert(rec)
    except sqlite3.IntegrityError as e:
        raise Conflict(f"a dataset named {record.get('name')!r} already exists; pick another name") from e
    return get(db, record["name"])


def get(db: Database, name: str) -> dict:
    rows = list(db.query("SELECT * FROM datasets WHERE name = ?", [name]))
    if not rows:
        known = [r["name"] for r in db.query("SELECT name FROM datasets ORDER BY name")]
        hint = f"known datasets: {', '.join(known)}" if known else "no dataset is registered yet; add one with `dataset add NAME PATH`"
        raise Missing(f"no dataset named {name!r}; {hint}")
    return _decode(rows[0])


def exists(db: Database, name: str) -> bool:
    return bool(list(db.query("SELECT 1 FROM datasets WHERE name = ?", [name])))


def list_all(db: Database) -> list[dict]:
    return [_decode(r) for r in db.query("SELECT * FROM datasets ORDER BY created_at DESC, id DESC")]
