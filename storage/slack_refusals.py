"""Slack deliveries that were refused: what, where, why, and by which path the requester heard instead."""
from __future__ import annotations

from sqlite_utils import Database

from storage.db import now, write


def add(db: Database, *, kind: str, ref, channel: str | None, user: str | None, method: str, error: str,
        path: str) -> int:
    with write(db):
        return db["delivery_failures"].insert({"at": now(), "kind": kind, "ref": None if ref is None else str(ref),
                                               "channel": channel, "user": user, "method": method, "error": error,
                                               "path": path}).last_pk


def list_all(db: Database, kind: str | None = None, ref=None) -> list[dict]:
    where, args = [], []
    if kind:
        where.append("kind = ?"); args.append(kind)
    if ref is not None:
        where.append("ref = ?"); args.append(str(ref))
    sql = "SELECT * FROM delivery_failures" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id"
    return [dict(r) for r in db.query(sql, args)]


def set_run_problem(db: Database, run_id: int, problem: str, channel: str | None) -> None:
    with write(db):
        db.execute("UPDATE runs SET delivery_problem = ?, delivery_channel = ? WHERE id = ?",
                   [problem, channel, run_id])


def prune(db: Database, older_than: str) -> int:
    with write(db):
        return db.execute("DELETE FROM delivery_failures WHERE at < ?", [older_than]).rowcount
