"""Scored files: who scored which file (its sha256) with which run, how many rows, the decisions and the drift."""
from __future__ import annotations

from sqlite_utils import Database

from storage.db import dumps, loads, now, write


def _row(r) -> dict:
    r = dict(r)
    r["counts"], r["drift"] = loads(r["counts"], {}), loads(r["drift"], {})
    r["explanations"] = loads(r.get("explanations"), [])
    return r


def add(db: Database, *, run_id: int, scope: str | None, scored_by: str, file_name: str, file_sha256: str, rows: int,
        counts: dict, drift: dict, channel: str | None = None, explanations: list | None = None) -> dict:
    with write(db):
        pk = db["scorings"].insert({"run_id": int(run_id), "scope": scope, "scored_by": scored_by, "scored_at": now(),
                                    "file_name": file_name, "file_sha256": file_sha256, "rows": int(rows),
                                    "counts": dumps(counts), "drift": dumps(drift), "channel": channel,
                                    "explanations": dumps(explanations or [])}).last_pk
    return _row(db["scorings"].get(pk))


def get(db: Database, scoring_id: int) -> dict:
    from storage.errors import Missing
    rows = list(db.query("SELECT * FROM scorings WHERE id = ?", [int(scoring_id)]))
    if not rows:
        raise Missing(f"no scored file #{scoring_id}")
    return _row(rows[0])


def latest(db: Database, run_id: int) -> dict | None:
    rows = list(db.query("SELECT * FROM scorings WHERE run_id = ? ORDER BY id DESC LIMIT 1", [int(run_id)]))
    return _row(rows[0]) if rows else None
